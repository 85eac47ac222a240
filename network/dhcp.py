"""The DHCP port of a network: one per network, with one address on each of its DHCP-enabled subnets.

It exists from the first DHCP-enabled subnet to the last, belongs to the network's project, and is owned by
``network:dhcp`` with device ``dhcp-<network_id>``. Its address on a subnet is the first free one of the
pools (the gateway excluded), so it is predictable: ``10.0.0.2`` on a fresh ``10.0.0.0/24``. The network
control side reads it to run the network's dnsmasq; it is never filtered by security groups.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from network import ipam, ports
from network.access import Caller
from network.models import DHCP_OWNER, IPAllocation, Network, Port, Subnet


def device_id(network_id: str) -> str:
    return f"dhcp-{network_id}"


def find_port(session: Session, network_id: str) -> Port | None:
    query = select(Port).where(Port.network_id == network_id, Port.device_owner == DHCP_OWNER)
    return session.scalars(query.order_by(Port.created_at)).first()


def add_subnet(session: Session, network: Network, subnet: Subnet) -> Port:
    """Give the DHCP port an address on ``subnet``, creating the port on the network's first DHCP subnet."""
    port = find_port(session, network.id)
    if port is None:
        owner = Caller(project_id=network.project_id, is_admin=True)
        attrs = {
            "network_id": network.id,
            "project_id": network.project_id,
            "device_owner": DHCP_OWNER,
            "device_id": device_id(network.id),
            "fixed_ips": [{"subnet_id": subnet.id}],
        }
        return ports.create_port(session, owner, attrs, check_quota=False)
    if not any(a.subnet_id == subnet.id for a in port.fixed_ips):
        ipam.allocate(session, subnet, port.id, lowest=True, device_owner=DHCP_OWNER, mac=port.mac_address)
        session.expire(port, ["fixed_ips"])
    return port


def remove_subnet(session: Session, network_id: str, subnet_id: str) -> None:
    """Free the DHCP port's address on ``subnet_id``; the port goes with its last DHCP-enabled subnet."""
    port = find_port(session, network_id)
    if port is None:
        return
    ipam.release(session, port.id, [subnet_id])
    session.expire(port, ["fixed_ips"])
    still_serving = select(IPAllocation.id).join(Subnet, Subnet.id == IPAllocation.subnet_id)
    still_serving = still_serving.where(IPAllocation.port_id == port.id, Subnet.enable_dhcp.is_(True))
    if session.scalars(still_serving.limit(1)).first() is None:
        session.delete(port)
    session.flush()
