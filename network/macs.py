"""MAC addresses of ports: Neutron's ``fa:16:3e`` prefix (locally administered, unicast) and three random octets.

Uniqueness is per network (the ``ports (network_id, mac_address)`` constraint); ``network.ports`` retries a
generated MAC that a concurrent create took first. Requested MACs are checked here so that a bad one is a
400 naming the field rather than a frame nobody can receive.
"""

from __future__ import annotations

import random
import re

from network.exceptions import InvalidAttribute

PREFIX = (0xFA, 0x16, 0x3E)
_FORMAT = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")
_rng = random.SystemRandom()


def generate(rng: random.Random = _rng) -> str:
    octets = (*PREFIX, rng.randrange(256), rng.randrange(256), rng.randrange(256))
    return ":".join(f"{octet:02x}" for octet in octets)


def normalise(value: str) -> str:
    """A requested MAC as stored (lower case, colons); 400 if it is malformed, multicast, broadcast or zero."""
    mac = value.strip().lower()
    if not _FORMAT.match(mac):
        raise InvalidAttribute(attribute="mac_address", reason=f"'{value}' is not a valid MAC address")
    mac = mac.replace("-", ":")
    first = int(mac[:2], 16)
    if first & 1 or mac == "00:00:00:00:00:00":
        raise InvalidAttribute(attribute="mac_address", reason=f"'{value}' is not a valid unicast MAC address")
    return mac
