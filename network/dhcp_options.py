"""Neutron's ``extra_dhcp_opt``: the DHCP options a port may carry, each with the type of its value.

Neutron writes a port's ``opt_name``/``opt_value`` into dnsmasq's options file as given; here an option is one
of a fixed catalogue of dnsmasq's option names, and its value is parsed as that option's type (an address, a list
of addresses, a number, a host name, or a plain token of a closed character set) and written back from the
parsed value. Nothing a user typed reaches dnsmasq's configuration as syntax: no comma (dnsmasq's separator),
quote, space, ``#`` or control character can be in a value, and the option name is the catalogue's own text.

Used three times: by the API when a port is written (a 400 for a bad option), by ``network.wire`` when the
control side's desired state is decoded on the host, and by the dnsmasq renderer as it writes each line.
Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from network import addresses

MAX_VALUE = 255
_TOKEN = re.compile(r"[A-Za-z0-9._/:@+=?&%~-]{1,255}")
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?:\.(?!-)[A-Za-z0-9-]{1,63})*\.?")


def _address(value: str, version: int) -> str:
    """An address of ``version``; version 0 (the API's reading) takes either family, as Neutron stores an
    IPv6 address in an option left at its default ``ip_version`` 4 (Tempest's IPv6 case does)."""
    address = addresses.parse_address(value)
    if version and address.version != version:
        raise ValueError(f"'{value}' is not an IPv{version} address")
    return str(address)


def _addresses(value: str, version: int) -> str:
    parts = value.split(",")
    if not 1 <= len(parts) <= 8:
        raise ValueError("one to eight addresses, separated by commas")
    return ",".join(_address(part.strip(), version) for part in parts)


def _number(low: int, high: int) -> Callable[[str, int], str]:
    def parse(value: str, _version: int) -> str:
        if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
            raise ValueError(f"'{value}' is not a number in {low}..{high}")
        return str(int(value))

    return parse


def _token(value: str, _version: int) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"'{value}' has a character outside letters, digits and ._/:@+=?&%~-")
    return value


def _hostname(value: str, _version: int) -> str:
    if len(value) > 253 or not _HOSTNAME.fullmatch(value):
        raise ValueError(f"'{value}' is not a domain name")
    return value


def _hostnames(value: str, version: int) -> str:
    parts = value.split(",")
    if not 1 <= len(parts) <= 6:
        raise ValueError("one to six domain names, separated by commas")
    return ",".join(_hostname(part.strip(), version) for part in parts)


def _tftp_server(value: str, version: int) -> str:
    """Option 66 is a server *name*; an address (what Tempest and most PXE setups give) is a valid one."""
    try:
        return _address(value, version)
    except ValueError:
        return _hostname(value, version)


Parser = Callable[[str, int], str]
CATALOGUE: dict[str, Parser] = {
    # name (as dnsmasq knows it, and as Neutron users pass it) -> how its value is read
    "bootfile-name": _token,
    "tftp-server": _tftp_server,
    "server-ip-address": _address,
    "tftp-server-address": _addresses,
    "root-path": _token,
    "domain-name": _hostname,
    "domain-search": _hostnames,
    "dns-server": _addresses,
    "ntp-server": _addresses,
    "log-server": _addresses,
    "router": _address,
    "mtu": _number(68, 65535),
    "T1": _number(1, 1 << 31),
    "T2": _number(1, 1 << 31),
    "boot-file-size": _number(1, 65535),
}
"""Neutron lets ``opt_name`` be any of dnsmasq's names or a number; those outside this list are refused."""


def check(name: object, value: object, version: object, *, strict: bool = True) -> tuple[str, str, int]:
    """``(name, value, ip_version)`` canonical, or ValueError saying why (a name outside the catalogue, a value
    that is not of the option's type, an IP version other than 4 or 6). ``strict`` False (what the API stores):
    an address value may be of either family; True (what dnsmasq is given): it must be of ``version``'s."""
    if version not in (4, 6) or isinstance(version, bool):
        raise ValueError(f"ip_version must be 4 or 6, not {version!r}")
    if not isinstance(name, str) or name not in CATALOGUE:
        raise ValueError(f"unsupported DHCP option {name!r}; supported: {', '.join(sorted(CATALOGUE))}")
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE:
        raise ValueError(f"the value of {name} must be a string of 1 to {MAX_VALUE} characters")
    family = int(version) if strict else 0  # type: ignore[call-overload]
    return name, CATALOGUE[name](value, family), int(version)  # type: ignore[call-overload]
