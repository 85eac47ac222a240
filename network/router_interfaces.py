"""A router's interfaces: attaching it to a subnet (Neutron's ``add_router_interface``) and detaching it.

An interface is a port with ``device_owner`` ``ROUTER_INTERFACE_OWNER`` and ``device_id`` the router's id. Given
a subnet, the router makes that port itself with the subnet's gateway address (so a subnet without a gateway
cannot be attached, and a subnet whose gateway another router holds is a 409 ``IpAddressAlreadyAllocated``);
given a port, it claims the user's unattached port by compare-and-swap. A router has one interface per subnet
and none of its subnets overlap (400). Detaching deletes the port, unless a floating IP is associated through
it or an extra route's nexthop is on it (409). An interface port's fixed IPs may be changed through the ports
API, as Neutron allows (``update_port``): the router then answers on the new address, under the same rules as an
attachment. All of these lock the router's row first and work inside the caller's transaction.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from common.exceptions import BadRequest
from network import ports
from network.access import MAX_ID_LENGTH, Caller, get_port, get_router, get_subnet, usable_network
from network.db import begin_write
from network.exceptions import (
    BadRouterRequest,
    RouterInterfaceInUseByFloatingIP,
    RouterInterfaceNotFound,
    RouterInterfaceNotFoundForSubnet,
)
from network.models import ROUTER_INTERFACE_OWNER, FloatingIP, IPAllocation, Port, PortSecurityGroup, Router, Subnet
from network.routers import SERVICE, check_overlaps, check_routes_avoid

INTERFACE_FIELDS = tuple(f for f in ports.SERVICE_FIELDS if f != "fixed_ips")
"""What an interface port may not change through the ports API: its addresses may, with ``update_port``."""


class SubnetMismatchForPort(BadRequest):
    msg_fmt = "Subnet on port {port_id} does not match the requested subnet {subnet_id}."
    fault_type = "SubnetMismatchForPort"


@dataclass(frozen=True)
class Interface:
    """What Neutron answers to an interface change: the router, the port and its subnets."""

    router_id: str
    project_id: str
    port_id: str
    network_id: str
    subnet_ids: list[str]

    def view(self) -> dict[str, object]:
        return {
            "id": self.router_id,
            "tenant_id": self.project_id,
            "project_id": self.project_id,
            "port_id": self.port_id,
            "network_id": self.network_id,
            "subnet_id": self.subnet_ids[0] if self.subnet_ids else None,
            "subnet_ids": list(self.subnet_ids),
        }


def _one_of(subnet_id: str | None, port_id: str | None) -> None:
    if subnet_id and port_id:
        raise BadRouterRequest(reason="Cannot specify both subnet-id and port-id")
    if not subnet_id and not port_id:
        raise BadRouterRequest(reason="Either subnet_id or port_id must be specified")


def _interface(router: Router, port: Port, subnet_ids: list[str]) -> Interface:
    return Interface(router.id, router.project_id, port.id, port.network_id, subnet_ids)


def _check_new_subnets(session: Session, router: Router, subnets: list[Subnet], port_id: str | None = None) -> None:
    """400 when another of the router's interfaces (not ``port_id``) is already on one of ``subnets``."""
    attached = set(
        session.scalars(
            select(IPAllocation.subnet_id)
            .join(Port, Port.id == IPAllocation.port_id)
            .where(Port.device_id == router.id, Port.device_owner == ROUTER_INTERFACE_OWNER, Port.id != port_id)
        )
    )
    for subnet in subnets:
        if subnet.id in attached:
            raise BadRouterRequest(reason=f"Router already has a port on subnet {subnet.id}")


def add_interface(
    session: Session, caller: Caller, router_id: str, subnet_id: str | None = None, port_id: str | None = None
) -> Interface:
    router = get_router(session, caller, router_id, for_update=True)
    _one_of(subnet_id, port_id)
    begin_write(session)
    if subnet_id:
        port = _add_by_subnet(session, caller, router, subnet_id)
    else:
        port = _add_by_port(session, caller, router, port_id or "")
    session.flush()
    check_overlaps(session, router)
    subnet_ids = [a.subnet_id for a in port.fixed_ips]
    return _interface(router, port, subnet_ids)


def _add_by_subnet(session: Session, caller: Caller, router: Router, subnet_id: str) -> Port:
    subnet = get_subnet(session, caller, subnet_id)
    network = usable_network(session, caller, subnet.network_id)
    if not subnet.gateway_ip:
        raise BadRouterRequest(reason="Subnet for router interface must have a gateway IP")
    if subnet.ip_version == 6 and subnet.ipv6_ra_mode is None and subnet.ipv6_address_mode is not None:
        raise BadRouterRequest(
            reason=f"IPv6 subnet {subnet.id} configured to receive RAs from an external router cannot be added to "
            "Neutron Router."
        )
    _check_new_subnets(session, router, [subnet])
    attrs = {
        "network_id": network.id,
        "fixed_ips": [{"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}],
        "device_owner": ROUTER_INTERFACE_OWNER,
        "device_id": router.id,
        "port_security_enabled": False,
    }
    port = ports.create_port(session, SERVICE, attrs, check_quota=False)
    port.project_id = subnet.project_id  # Neutron gives the interface port the subnet's project
    return port


def _add_by_port(session: Session, caller: Caller, router: Router, port_id: str) -> Port:
    port = get_port(session, caller, port_id)
    if port.device_id or port.device_owner:
        raise ports.PortInUse(port_id=port.id, net_id=port.network_id, device_id=port.device_id or port.device_owner)
    if not port.fixed_ips:
        raise BadRouterRequest(reason=f"Router port {port.id} must have at least one fixed IP")
    subnets = [session.get_one(Subnet, a.subnet_id) for a in port.fixed_ips]
    if sum(1 for s in subnets if s.ip_version == 4) > 1:
        raise BadRouterRequest(reason="Cannot have multiple IPv4 subnets on router port")
    _check_new_subnets(session, router, subnets)
    port = ports.claim_port(session, caller, port.id, router.id, ROUTER_INTERFACE_OWNER)
    # A router routes for every address behind it: no anti-spoofing and no security groups on its ports.
    session.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port.id))
    port.port_security_enabled, port.allowed_address_pairs = False, []
    session.expire(port, ["security_group_bindings"])
    return port


def update_port(session: Session, caller: Caller, port_id: str, attrs: Mapping[str, Any]) -> Port:
    """``PUT /ports/{id}`` of a router interface port (404 unless the caller sees the port). Its fixed IPs may
    change, as in Neutron: to another address of the same subnet (the router's interface moves there once the
    router is synced), or to other subnets of the port's network under the rules of an attachment (one IPv4
    subnet, at least one address, no subnet another interface of the router has, no overlap: 400). A subnet the
    port leaves must not carry a floating IP's or an extra route's traffic through the router (409). Its owner,
    device and MAC stay the router's (409 ``ServicePortInUse``)."""
    port = get_port(session, caller, port_id)
    router = get_router(session, SERVICE, port.device_id, for_update=True)
    before = {a.subnet_id for a in port.fixed_ips}
    port = ports.update_port(session, caller, port_id, attrs, fixed=INTERFACE_FIELDS)
    if "fixed_ips" not in attrs:
        return port
    if not port.fixed_ips:
        raise BadRouterRequest(reason=f"Router port {port.id} must have at least one fixed IP")
    subnets = {a.subnet_id: session.get_one(Subnet, a.subnet_id) for a in port.fixed_ips}
    if sum(1 for a in port.fixed_ips if subnets[a.subnet_id].ip_version == 4) > 1:
        raise BadRouterRequest(reason="Cannot have multiple IPv4 subnets on router port")
    _check_new_subnets(session, router, [s for sid, s in subnets.items() if sid not in before], port.id)
    check_overlaps(session, router)
    for subnet_id in sorted(before - subnets.keys()):
        _check_unused(session, router, port, session.get_one(Subnet, subnet_id))
    return port


def remove_interface(
    session: Session, caller: Caller, router_id: str, subnet_id: str | None = None, port_id: str | None = None
) -> Interface:
    router = get_router(session, caller, router_id, for_update=True)
    if not subnet_id and not port_id:
        raise BadRouterRequest(reason="Either subnet_id or port_id must be specified")
    begin_write(session)
    if port_id:
        port = _interface_port(session, router, port_id)
        subnet_ids = [a.subnet_id for a in port.fixed_ips]
        if subnet_id and subnet_id not in subnet_ids:
            raise SubnetMismatchForPort(port_id=port.id, subnet_id=subnet_id)
    else:
        get_subnet(session, caller, subnet_id or "")  # 404 for a subnet the caller cannot see
        port = _interface_on_subnet(session, router, subnet_id or "")
        subnet_ids = [a.subnet_id for a in port.fixed_ips]
    for subnet in (session.get_one(Subnet, sid) for sid in subnet_ids):
        _check_unused(session, router, port, subnet)
    found = _interface(router, port, subnet_ids)
    session.delete(port)
    session.flush()
    return found


def _interface_port(session: Session, router: Router, port_id: str) -> Port:
    query = select(Port).where(
        Port.id == port_id, Port.device_id == router.id, Port.device_owner == ROUTER_INTERFACE_OWNER
    )
    port = session.scalars(query).one_or_none() if len(port_id) <= MAX_ID_LENGTH else None
    if port is None:
        raise RouterInterfaceNotFound(router_id=router.id, port_id=port_id)
    return port


def _interface_on_subnet(session: Session, router: Router, subnet_id: str) -> Port:
    query = (
        select(Port)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .where(
            Port.device_id == router.id,
            Port.device_owner == ROUTER_INTERFACE_OWNER,
            IPAllocation.subnet_id == subnet_id,
        )
    )
    port = session.scalars(query.limit(1)).first()
    if port is None:
        raise RouterInterfaceNotFoundForSubnet(router_id=router.id, subnet_id=subnet_id)
    return port


def _check_unused(session: Session, router: Router, port: Port, subnet: Subnet) -> None:
    """No floating IP translates through this interface to an address on ``subnet``, no route goes through it."""
    network = ipaddress.ip_network(subnet.cidr)
    query = select(FloatingIP.fixed_ip_address).where(
        FloatingIP.router_id == router.id,
        FloatingIP.port_id.in_(select(IPAllocation.port_id).where(IPAllocation.subnet_id == subnet.id)),
    )
    for address in session.scalars(query):
        if address and ipaddress.ip_address(address) in network:
            raise RouterInterfaceInUseByFloatingIP(router_id=router.id, subnet_id=subnet.id)
    check_routes_avoid(router, subnet)
