"""A server's ``addresses`` as Nova shows them: by network name, each fixed IP with its version, type and MAC,
read from the network service's ports in one query for a whole page of servers.

A server's ports are those naming it *in its project*, as Nova lists them (``tenant_id`` and ``device_id``): any
project may write any ``device_id`` on its own ports, and such a port must never show among another's addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compute.models import Instance
from network.models import IPAllocation, Network, Port

Addresses = dict[str, list[dict[str, Any]]]


def of_servers(session: Session, instances: Iterable[Instance]) -> dict[str, Addresses]:
    projects = {instance.id: instance.project_id for instance in instances}
    found: dict[str, Addresses] = {}
    if not projects:
        return found
    rows = session.execute(
        select(Port.device_id, Port.project_id, Port.mac_address, Network.name, Network.id, IPAllocation.ip_address)
        .join(Network, Network.id == Port.network_id)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .where(Port.device_id.in_(list(projects)))
        .order_by(Port.created_at, Port.id, IPAllocation.id)
    )
    for device_id, project_id, mac, network_name, network_id, address in rows:
        if projects[device_id] != project_id:
            continue
        label = network_name or network_id
        found.setdefault(device_id, {}).setdefault(label, []).append(
            {
                "version": ipaddress.ip_address(address).version,
                "addr": address,
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": mac,
            }
        )
    return found
