"""Routers: creating, changing and deleting them, their external gateway and their extra routes.

A router's gateway is a port on an ``router:external`` network (``ROUTER_GATEWAY_OWNER``, ``device_id`` the
router's id, ``project_id`` "" as in Neutron, so no project sees or pays for it) made and deleted with the
gateway; its interfaces are ``network.router_interfaces``. Each function works inside the caller's
transaction, locks the router's row first (so changes of one router are serialised), and leaves nothing
behind when it raises. The API sends ``network.client.router_changed`` after the commit.

Extra routes (Neutron's ``extraroute``) are checked against the router's subnets: a destination is a CIDR
(network address), a nexthop an address on one of the router's interface or gateway subnets that is not the
router's own, at most ``MAX_ROUTES`` of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from common.db import new_uuid
from network import addresses, ports, quota
from network.access import Caller, get_network, get_router
from network.db import begin_write
from network.exceptions import (
    BadRouterRequest,
    InvalidAttribute,
    InvalidInput,
    InvalidRoutes,
    RouterExternalGatewayInUseByFloatingIp,
    RouterInterfaceInUseByRoute,
    RouterInUse,
    RoutesExhausted,
)
from network.models import (
    ROUTER_GATEWAY_OWNER,
    ROUTER_INTERFACE_OWNER,
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    Subnet,
)

MAX_ROUTES = 30
"""Neutron's ``max_routes`` default."""
SERVICE = Caller(project_id=None, is_admin=True)
"""Who makes a router's ports: the service itself (the request's policy was enforced by the API)."""
SIMPLE_FIELDS = ("name", "description", "admin_state_up")


def router_ports(session: Session, router_id: str, owner: str) -> list[Port]:
    query = select(Port).where(Port.device_id == router_id, Port.device_owner == owner).order_by(Port.created_at)
    return list(session.scalars(query))


def router_subnets(session: Session, router: Router) -> list[Subnet]:
    """The subnets the router has an address on: its interfaces' and its gateway's."""
    query = (
        select(Subnet)
        .join(IPAllocation, IPAllocation.subnet_id == Subnet.id)
        .join(Port, Port.id == IPAllocation.port_id)
        .where(Port.device_id == router.id, Port.device_owner.in_((ROUTER_INTERFACE_OWNER, ROUTER_GATEWAY_OWNER)))
        .order_by(IPAllocation.id)
    )
    return list(dict.fromkeys(session.scalars(query)))


def _router_addresses(session: Session, router: Router) -> set[str]:
    query = (
        select(IPAllocation.ip_address)
        .join(Port, Port.id == IPAllocation.port_id)
        .where(Port.device_id == router.id, Port.device_owner.in_((ROUTER_INTERFACE_OWNER, ROUTER_GATEWAY_OWNER)))
    )
    return set(session.scalars(query))


def create_router(session: Session, caller: Caller, attrs: Mapping[str, Any]) -> Router:
    """A new router of ``attrs["project_id"]`` (the router quota checked), with a gateway if one is asked for."""
    project_id = attrs.get("project_id") or caller.project_id
    if not project_id:
        raise InvalidInput(error_message="a router belongs to a project: use a project-scoped token")
    begin_write(session)
    quota.check(session, project_id, "router")
    router = Router(
        id=new_uuid(),
        project_id=project_id,
        tags=list(dict.fromkeys(attrs.get("tags") or [])),
        **{field: attrs[field] for field in SIMPLE_FIELDS if attrs.get(field) is not None},
    )
    session.add(router)
    session.flush()
    if attrs.get("external_gateway_info"):
        set_gateway(session, caller, router, attrs["external_gateway_info"])
    return router


def update_router(session: Session, caller: Caller, router_id: str, attrs: Mapping[str, Any]) -> Router:
    router = get_router(session, caller, router_id, for_update=True)
    begin_write(session)
    for field in SIMPLE_FIELDS:
        if field in attrs:
            setattr(router, field, "" if attrs[field] is None else attrs[field])
    if "external_gateway_info" in attrs:
        set_gateway(session, caller, router, attrs["external_gateway_info"])
    if "routes" in attrs:
        router.routes = check_routes(session, router, attrs["routes"] or [])
    router.revision_number += 1
    session.flush()
    return router


def change_routes(
    session: Session, caller: Caller, router_id: str, routes: Sequence[Mapping[str, str]], add: bool
) -> Router:
    """Neutron's ``add_extraroutes``/``remove_extraroutes``: the given routes added to (or removed from) the
    router's, atomically, so concurrent clients never overwrite each other's routes."""
    router = get_router(session, caller, router_id, for_update=True)
    begin_write(session)
    given = [_route(route) for route in routes]
    if add:
        wanted = [*router.routes, *(r for r in given if r not in router.routes)]
    else:
        wanted = [r for r in router.routes if r not in given]
    router.routes = check_routes(session, router, wanted)
    router.revision_number += 1
    session.flush()
    return router


def delete_router(session: Session, caller: Caller, router_id: str) -> str | None:
    """Delete the router and its gateway port; 409 ``RouterInUse`` while it has interfaces. Returns the gateway's
    network id (its hosts must be told), if it had one."""
    router = get_router(session, caller, router_id, for_update=True)
    begin_write(session)
    if router_ports(session, router.id, ROUTER_INTERFACE_OWNER):
        raise RouterInUse(router_id=router.id)
    if session.scalars(select(FloatingIP.id).where(FloatingIP.router_id == router.id).limit(1)).first():
        raise RouterInUse(router_id=router.id, reason="still has floating IPs associated through it")
    network_id = router.gateway_network_id
    _remove_gateway_port(session, router)
    session.delete(router)
    session.flush()
    return network_id


# --- the external gateway ------------------------------------------------------------------------------------


def set_gateway(session: Session, caller: Caller, router: Router, info: Mapping[str, Any] | None) -> None:
    """Set, change or (``info`` empty or None) clear the router's gateway. A gateway that floating IPs are
    associated through stays (409), and so does one that an extra route's nexthop needs."""
    if not info:
        _clear_gateway(session, router)
        return
    if not info.get("network_id"):
        raise InvalidAttribute(attribute="external_gateway_info", reason="network_id is required")
    network = get_network(session, caller, info["network_id"])
    if not network.router_external:
        raise BadRouterRequest(reason=f"Network {network.id} is not an external network")
    fixed_ips = info.get("external_fixed_ips")
    moving = network.id != router.gateway_network_id
    if moving:
        _clear_gateway(session, router)
        _add_gateway_port(session, router, network, fixed_ips)
    elif fixed_ips is not None and not _same_addresses(session, router, fixed_ips):
        _check_routes_keep_nexthops(session, router)
        _remove_gateway_port(session, router)
        _add_gateway_port(session, router, network, fixed_ips)
    if info.get("enable_snat") is not None:
        router.enable_snat = info["enable_snat"]
    elif moving:
        router.enable_snat = True


def _same_addresses(session: Session, router: Router, fixed_ips: Sequence[Mapping[str, str]]) -> bool:
    held = session.execute(
        select(IPAllocation.subnet_id, IPAllocation.ip_address).where(IPAllocation.port_id == router.gateway_port_id)
    ).all()
    current = {(subnet_id, address) for subnet_id, address in held}
    if len(fixed_ips) != len(current):
        return False
    return all(
        any(
            (entry.get("subnet_id") in (None, subnet_id))
            and (entry.get("ip_address") is None or _canonical(entry["ip_address"]) == address)
            for subnet_id, address in current
        )
        for entry in fixed_ips
    )


def _canonical(value: str) -> str:
    try:
        return addresses.canonical_address(value)
    except ValueError:
        raise InvalidAttribute(attribute="external_fixed_ips", reason=f"'{value}' is not a valid IP address") from None


def _add_gateway_port(
    session: Session, router: Router, network: Network, fixed_ips: Sequence[Mapping[str, str]] | None
) -> None:
    if not network.subnets:
        raise BadRouterRequest(reason=f"External network {network.id} has no subnet for the router's gateway")
    attrs: dict[str, Any] = {
        "network_id": network.id,
        "device_owner": ROUTER_GATEWAY_OWNER,
        "device_id": router.id,
        "port_security_enabled": False,
    }
    if fixed_ips:
        attrs["fixed_ips"] = [dict(entry) for entry in fixed_ips]
    else:  # one IPv4 address, as Neutron gives a gateway by default
        subnet = next((s for s in network.subnets if s.ip_version == 4), network.subnets[0])
        attrs["fixed_ips"] = [{"subnet_id": subnet.id}]
    port = ports.create_port(session, SERVICE, attrs, check_quota=False)
    port.project_id = ""
    router.gateway_network_id, router.gateway_port_id = network.id, port.id
    session.flush()
    check_overlaps(session, router)


def check_overlaps(session: Session, router: Router) -> None:
    """Neutron refuses a router whose subnets (interfaces and gateway) overlap: it could not route between them."""
    subnets = router_subnets(session, router)
    for index, first in enumerate(subnets):
        for second in subnets[index + 1 :]:
            if ipaddress.ip_network(first.cidr).overlaps(ipaddress.ip_network(second.cidr)):  # type: ignore[arg-type]
                raise BadRouterRequest(
                    reason=f"Cidr {second.cidr} of subnet {second.id} overlaps with cidr {first.cidr} of subnet "
                    f"{first.id}"
                )


def _clear_gateway(session: Session, router: Router) -> None:
    if router.gateway_network_id is None:
        return
    used = select(FloatingIP.id).where(
        FloatingIP.router_id == router.id, FloatingIP.floating_network_id == router.gateway_network_id
    )
    if session.scalars(used.limit(1)).first() is not None:
        raise RouterExternalGatewayInUseByFloatingIp(router_id=router.id, net_id=router.gateway_network_id)
    _check_routes_keep_nexthops(session, router)
    _remove_gateway_port(session, router)


def _check_routes_keep_nexthops(session: Session, router: Router) -> None:
    """The gateway's subnets may go only if no extra route goes through them."""
    if router.gateway_port_id is None:
        return
    gateway_subnets = session.scalars(
        select(Subnet)
        .join(IPAllocation, IPAllocation.subnet_id == Subnet.id)
        .where(IPAllocation.port_id == router.gateway_port_id)
    )
    for subnet in gateway_subnets:
        check_routes_avoid(router, subnet)


def _remove_gateway_port(session: Session, router: Router) -> None:
    port_id = router.gateway_port_id
    router.gateway_network_id, router.gateway_port_id = None, None
    session.flush()
    if port_id is not None:
        session.execute(delete(Port).where(Port.id == port_id))
    # A gateway port left behind by an interrupted change would otherwise hold its address forever.
    session.execute(delete(Port).where(Port.device_id == router.id, Port.device_owner == ROUTER_GATEWAY_OWNER))
    session.flush()


# --- extra routes --------------------------------------------------------------------------------------------


def _route(route: Mapping[str, str]) -> dict[str, str]:
    """A route in canonical form; 400 ``InvalidRoutes`` for a destination that is no network address or a
    nexthop that is no address."""
    try:
        destination = addresses.parse_network(route["destination"], strict=True)
        nexthop = addresses.parse_address(route["nexthop"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRoutes(routes=dict(route), reason=str(exc)) from None
    if destination.version != nexthop.version:
        raise InvalidRoutes(routes=dict(route), reason="the destination and nexthop are of different IP versions")
    return {"destination": str(destination), "nexthop": str(nexthop)}


def check_routes(session: Session, router: Router, routes: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The routes canonical and without duplicates, each nexthop on one of the router's subnets."""
    found: list[dict[str, str]] = []
    for route in routes:
        entry = _route(route)
        if entry not in found:
            found.append(entry)
    if len(found) > MAX_ROUTES:
        raise RoutesExhausted(router_id=router.id, quota=MAX_ROUTES)
    if not found:
        return found
    networks = [ipaddress.ip_network(subnet.cidr) for subnet in router_subnets(session, router)]
    own = _router_addresses(session, router)
    for entry in found:
        nexthop = ipaddress.ip_address(entry["nexthop"])
        if entry["nexthop"] in own:
            raise InvalidRoutes(routes=entry, reason="the nexthop is used by router")
        if not any(nexthop in network for network in networks):
            raise InvalidRoutes(routes=entry, reason="the nexthop is not connected with router")
    return found


def check_routes_avoid(router: Router, subnet: Subnet) -> None:
    """409 ``RouterInterfaceInUseByRoute`` if an extra route's nexthop is on ``subnet``."""
    network = ipaddress.ip_network(subnet.cidr)
    for route in router.routes or []:
        if ipaddress.ip_address(route["nexthop"]) in network:
            raise RouterInterfaceInUseByRoute(router_id=router.id, subnet_id=subnet.id)
