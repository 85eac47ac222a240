"""A server's ``addresses`` as Nova shows them: by network name, each fixed IP with its version, type and MAC,
read from the network service's ports in one query for a whole page of servers.

A server's ports are those naming it *in its project*, as Nova lists them (``tenant_id`` and ``device_id``): any
project may write any ``device_id`` on its own ports, and such a port must never show among another's addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from compute.models import Instance
from network import vif

Addresses = dict[str, list[dict[str, Any]]]


def of_servers(session: Session, instances: Iterable[Instance]) -> dict[str, Addresses]:
    found: dict[str, Addresses] = {}
    for fixed in vif.fixed_addresses(session, {instance.id: instance.project_id for instance in instances}):
        label = fixed.network_name or fixed.network_id
        found.setdefault(fixed.device_id, {}).setdefault(label, []).append(
            {
                "version": ipaddress.ip_address(fixed.ip_address).version,
                "addr": fixed.ip_address,
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": fixed.mac_address,
            }
        )
    return found
