"""Which server a proxied request comes from: the port on the signed network holding the signed address, and the
live server of that port's own project that records it."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.orm import Session

from compute.models import Instance, ports_of
from network.models import IPAllocation, Port

SERVER_OWNER_PREFIX = "compute:"


def server_at(session: Session, network_id: str, address: str) -> Instance | None:
    """The server whose port on ``network_id`` has the fixed IP ``address``, or None. Any project may write any
    ``device_id`` on its own ports, so the server must be of the port's project and list the port among its own:
    a port cannot make its address speak for another project's server."""
    try:
        canonical = str(ipaddress.ip_address(address))
    except ValueError:
        return None
    rows = session.execute(
        select(Port.id, Port.project_id, Port.device_id)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .where(
            Port.network_id == network_id,
            IPAllocation.ip_address == canonical,
            Port.device_owner.startswith(SERVER_OWNER_PREFIX),
        )
    ).all()
    for port_id, project_id, device_id in rows:
        instance = session.get(Instance, device_id) if device_id else None
        if instance is None or instance.deleted or instance.project_id != project_id:
            continue
        if any(entry.get("port_id") == port_id for entry in ports_of(instance)):
            return instance
    return None
