"""Floating IPs: allocating an external network's address to a project, and associating it with a port.

The address is held by a port on the external network (``FLOATING_IP_OWNER``, ``device_id`` the floating IP's
id, ``project_id`` "", never bound to a host), made and deleted with the floating IP in one transaction, so
IPAM's unique constraint keeps concurrent allocations apart and the floating IP quota is counted in the same
locked transaction as the create.

Association follows Neutron's rules: the port must be the floating IP's project's (another project's port is a
404), not a router's or DHCP port, and have the IPv4 address asked for (or exactly one); a router must connect
that address's subnet (an interface) to the floating IP's network (its gateway), else 404
``ExternalGatewayForFloatingIPNotFound``; that router becomes ``router_id``. One fixed address has at most one
floating IP per external network (409). The port's row is locked while associating, so two floating IPs
racing for one address cannot both win. ``status`` is DOWN until the router's host has wired the translation.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.db import new_uuid
from network import addresses, ports, quota
from network.access import MAX_ID_LENGTH, Caller, get_floating_ip, get_network, get_port
from network.db import begin_write
from network.exceptions import (
    BadFloatingIPRequest,
    ExternalGatewayForFloatingIPNotFound,
    FloatingIPPortAlreadyAssociated,
    InvalidInput,
    PortNotFound,
)
from network.models import (
    FLOATING_IP_OWNER,
    ROUTER_INTERFACE_OWNER,
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
)
from network.states import PortStatus

SERVICE = Caller(project_id=None, is_admin=True)


def create_floating_ip(session: Session, caller: Caller, attrs: Mapping[str, Any]) -> FloatingIP:
    """A floating IP for ``attrs["project_id"]`` on ``attrs["floating_network_id"]`` (an external network), at
    ``floating_ip_address`` or on ``subnet_id`` if given, associated at once when ``port_id`` is given."""
    project_id = attrs.get("project_id") or caller.project_id
    if not project_id:
        raise InvalidInput(error_message="a floating IP belongs to a project: use a project-scoped token")
    network = get_network(session, caller, attrs["floating_network_id"])
    if not network.router_external:
        raise BadFloatingIPRequest(reason=f"Network {network.id} is not a valid external network")
    begin_write(session)
    quota.check(session, project_id, "floatingip")
    floating_ip_id = new_uuid()
    port = ports.create_port(
        session,
        SERVICE,
        {
            "network_id": network.id,
            "device_owner": FLOATING_IP_OWNER,
            "device_id": floating_ip_id,
            "port_security_enabled": False,
            "fixed_ips": [_address_request(network, attrs)],
        },
        check_quota=False,
    )
    port.project_id = ""
    floating_ip = FloatingIP(
        id=floating_ip_id,
        project_id=project_id,
        floating_network_id=network.id,
        floating_port_id=port.id,
        floating_ip_address=port.fixed_ips[0].ip_address,
        description=attrs.get("description") or "",
        tags=list(dict.fromkeys(attrs.get("tags") or [])),
    )
    session.add(floating_ip)
    session.flush()
    if attrs.get("port_id"):
        _associate(session, caller, floating_ip, attrs["port_id"], attrs.get("fixed_ip_address"))
    elif attrs.get("fixed_ip_address"):
        raise BadFloatingIPRequest(reason="fixed_ip_address cannot be specified without a port_id")
    session.flush()
    return floating_ip


def _address_request(network: Network, attrs: Mapping[str, Any]) -> dict[str, str]:
    """The one IPv4 address the floating IP's port asks IPAM for."""
    request: dict[str, str] = {}
    if attrs.get("floating_ip_address"):
        address = _ipv4(attrs["floating_ip_address"], "floating_ip_address")
        request["ip_address"] = address
    if attrs.get("subnet_id"):
        request["subnet_id"] = attrs["subnet_id"]
    if not request:
        subnet = next((s for s in network.subnets if s.ip_version == 4), None)
        if subnet is None:
            raise BadFloatingIPRequest(reason=f"Network {network.id} does not contain any IPv4 subnet")
        request["subnet_id"] = subnet.id
    return request


def _ipv4(value: str, field: str) -> str:
    try:
        address = addresses.parse_address(value)
    except ValueError as exc:
        raise BadFloatingIPRequest(reason=f"Invalid input for {field}: {exc}") from None
    if address.version != 4:
        raise BadFloatingIPRequest(reason=f"{field} {value} is not an IPv4 address")
    return str(address)


def update_floating_ip(
    session: Session, caller: Caller, floating_ip_id: str, attrs: Mapping[str, Any]
) -> tuple[FloatingIP, str | None]:
    """Change the description or the association (``port_id`` None disassociates). Returns the floating IP and
    the router it was associated through before (which must be told too)."""
    floating_ip = get_floating_ip(session, caller, floating_ip_id, for_update=True)
    begin_write(session)
    before = floating_ip.router_id
    if "description" in attrs:
        floating_ip.description = attrs["description"] or ""
    if "port_id" in attrs:
        if attrs["port_id"]:
            _associate(session, caller, floating_ip, attrs["port_id"], attrs.get("fixed_ip_address"))
        else:
            _disassociate(floating_ip)
    elif attrs.get("fixed_ip_address"):
        raise BadFloatingIPRequest(reason="fixed_ip_address cannot be specified without a port_id")
    floating_ip.revision_number += 1
    session.flush()
    return floating_ip, before


def delete_floating_ip(session: Session, caller: Caller, floating_ip_id: str) -> FloatingIP:
    """Delete the floating IP and the port holding its address; returns the deleted record (its router and
    network must be told)."""
    floating_ip = get_floating_ip(session, caller, floating_ip_id, for_update=True)
    begin_write(session)
    port_id = floating_ip.floating_port_id
    session.delete(floating_ip)
    session.flush()
    if port_id is not None:
        port = session.get(Port, port_id)
        if port is not None:
            session.delete(port)
            session.flush()
    return floating_ip


def _disassociate(floating_ip: FloatingIP) -> None:
    floating_ip.port_id = floating_ip.fixed_ip_address = floating_ip.router_id = None
    floating_ip.status = PortStatus.DOWN


def _locked_port(session: Session, caller: Caller, floating_ip: FloatingIP, port_id: str) -> Port:
    """The port to associate, its row locked. Another project's port is one the caller cannot see (404); an
    admin associating a project's floating IP with a third project's port is refused (400), as in Neutron."""
    get_port(session, caller, port_id)
    query = select(Port).where(Port.id == port_id).with_for_update()
    port = session.scalars(query).one_or_none() if len(port_id) <= MAX_ID_LENGTH else None
    if port is None:
        raise PortNotFound(port_id=port_id)
    if port.project_id != floating_ip.project_id:
        raise BadFloatingIPRequest(
            reason=f"Port {port.id} is associated with a different tenant than Floating IP {floating_ip.id} and "
            "therefore cannot be bound"
        )
    if port.device_owner.startswith("network:"):
        raise BadFloatingIPRequest(reason=f"Port {port.id} has owner {port.device_owner} and cannot be associated")
    return port


def _fixed_address(port: Port, requested: str | None) -> IPAllocation:
    ipv4 = [a for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
    if requested is not None:
        address = _ipv4(requested, "fixed_ip_address")
        found = next((a for a in ipv4 if a.ip_address == address), None)
        if found is None:
            raise BadFloatingIPRequest(reason=f"Port {port.id} does not have fixed ip {address}")
        return found
    if not ipv4:
        raise BadFloatingIPRequest(reason=f"Cannot add floating IP to port {port.id} that has no fixed IPv4 addresses")
    if len(ipv4) > 1:
        raise BadFloatingIPRequest(
            reason=f"Port {port.id} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when "
            "assigning a floating IP"
        )
    return ipv4[0]


def router_between(session: Session, subnet_id: str, external_network_id: str) -> str | None:
    """A router with an interface on ``subnet_id`` and its gateway on ``external_network_id`` (the oldest, so
    the answer is stable)."""
    query = (
        select(Router.id)
        .join(Port, Port.device_id == Router.id)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .where(
            Port.device_owner == ROUTER_INTERFACE_OWNER,
            IPAllocation.subnet_id == subnet_id,
            Router.gateway_network_id == external_network_id,
        )
        .order_by(Router.created_at, Router.id)
    )
    return session.scalars(query.limit(1)).first()


def _associate(
    session: Session, caller: Caller, floating_ip: FloatingIP, port_id: str, fixed_ip_address: str | None
) -> None:
    port = _locked_port(session, caller, floating_ip, port_id)
    allocation = _fixed_address(port, fixed_ip_address)
    router_id = router_between(session, allocation.subnet_id, floating_ip.floating_network_id)
    if router_id is None:
        raise ExternalGatewayForFloatingIPNotFound(
            external_network_id=floating_ip.floating_network_id, subnet_id=allocation.subnet_id, port_id=port.id
        )
    taken = select(FloatingIP).where(
        FloatingIP.floating_network_id == floating_ip.floating_network_id,
        FloatingIP.port_id == port.id,
        FloatingIP.fixed_ip_address == allocation.ip_address,
        FloatingIP.id != floating_ip.id,
    )
    other = session.scalars(taken.limit(1)).first()
    if other is not None:
        raise FloatingIPPortAlreadyAssociated(
            floating_ip_address=floating_ip.floating_ip_address,
            fip_id=floating_ip.id,
            port_id=port.id,
            fixed_ip=allocation.ip_address,
            net_id=floating_ip.floating_network_id,
        )
    if (floating_ip.port_id, floating_ip.fixed_ip_address) != (port.id, allocation.ip_address):
        floating_ip.status = PortStatus.DOWN  # until the router's host has wired the new translation
    floating_ip.port_id, floating_ip.fixed_ip_address, floating_ip.router_id = (
        port.id,
        allocation.ip_address,
        router_id,
    )
