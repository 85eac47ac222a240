"""A server's ``addresses`` as Nova shows them: by network name, each fixed IP with its version, type and MAC,
read from the network service's ports in one query for a whole page of servers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from network.models import IPAllocation, Network, Port

Addresses = dict[str, list[dict[str, Any]]]


def of_servers(session: Session, instance_ids: Iterable[str]) -> dict[str, Addresses]:
    ids = list(instance_ids)
    found: dict[str, Addresses] = {}
    if not ids:
        return found
    rows = session.execute(
        select(Port.device_id, Port.mac_address, Network.name, Network.id, IPAllocation.ip_address)
        .join(Network, Network.id == Port.network_id)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .where(Port.device_id.in_(ids))
        .order_by(Port.created_at, Port.id, IPAllocation.id)
    )
    for device_id, mac, network_name, network_id, address in rows:
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
