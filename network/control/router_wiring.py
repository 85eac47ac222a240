"""The routers a host runs, as ``RouterWiring``: interfaces, gateway, SNAT, extra routes and floating IPs.

A router runs on one network host (``Router.host``, chosen by ``network.control.placement``); its interface and
gateway ports are bound to that host, so the tenant networks of its interfaces are that host's networks too
(``wiring.networks_of_host``) and every other host of those networks learns the router's MAC like a server
port's. Everything is read in bulk: a handful of queries per host, whatever the number of routers.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from network.models import (
    ROUTER_INTERFACE_OWNER,
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    Subnet,
)
from network.states import PortStatus
from network.wire import FloatingIPWiring, RouterGateway, RouterInterface, RouterWiring

LOG = logging.getLogger(__name__)


def interface_ports(session: Session, router_ids: Iterable[str]) -> list[Port]:
    ids = list(router_ids)
    if not ids:
        return []
    query = select(Port).where(Port.device_owner == ROUTER_INTERFACE_OWNER, Port.device_id.in_(ids))
    return list(session.scalars(query.order_by(Port.created_at, Port.id)))


def routers_on(session: Session, host: str) -> list[Router]:
    """Routers placed on ``host`` that run (an administratively down router has no namespace, as in Neutron)."""
    query = select(Router).where(Router.host == host, Router.admin_state_up.is_(True)).order_by(Router.id)
    return list(session.scalars(query))


def _allocations(session: Session, port_ids: list[str]) -> dict[str, list[tuple[str, Subnet]]]:
    """port id -> (address, subnet) of each fixed IP, in allocation order."""
    found: dict[str, list[tuple[str, Subnet]]] = defaultdict(list)
    if not port_ids:
        return found
    rows = session.execute(
        select(IPAllocation.port_id, IPAllocation.ip_address, Subnet)
        .join(Subnet, Subnet.id == IPAllocation.subnet_id)
        .where(IPAllocation.port_id.in_(port_ids))
        .order_by(IPAllocation.id)
    )
    for port_id, address, subnet in rows:
        found[port_id].append((address, subnet))
    return found


def _with_prefix(address: str, subnet: Subnet) -> str:
    return f"{address}/{ipaddress.ip_network(subnet.cidr, strict=False).prefixlen}"


def bind(port: Port, host: str) -> None:
    """A router's port lives where the router runs; it is DOWN until that host reports it wired."""
    if port.binding_host_id != host:
        port.binding_host_id, port.binding_vif_type, port.status = host, "tap", PortStatus.DOWN
        port.binding_vif_details = {"port_filter": False, "connectivity": "l2"}
        port.revision_number += 1


def _gateway(router: Router, port: Port | None, network: Network | None, fixed: list[tuple[str, Subnet]]):
    if port is None or network is None:
        return None
    if not network.physical_network:
        LOG.error("router %s: external network %s has no physical network; no gateway", router.id, network.id)
        return None
    v4 = [(a, s) for a, s in fixed if s.ip_version == 4]
    return RouterGateway(
        port_id=port.id,
        physical_network=network.physical_network,
        mac=port.mac_address,
        addresses=tuple(_with_prefix(a, s) for a, s in fixed),
        gateway_ip=next((s.gateway_ip for _, s in v4 if s.gateway_ip), None),
        mtu=network.mtu,
    )


def router_wiring(session: Session, host: str, routers: list[Router]) -> list[RouterWiring]:
    """The wiring of ``routers`` (all placed on ``host``); their ports are bound to ``host`` here. A router whose
    stored values the dataplane's types refuse is left out and logged; the others are wired."""
    if not routers:
        return []
    ids = [r.id for r in routers]
    interfaces = interface_ports(session, ids)
    gateway_ids = [r.gateway_port_id for r in routers if r.gateway_port_id]
    gateways = {p.id: p for p in session.scalars(select(Port).where(Port.id.in_(gateway_ids)))} if gateway_ids else {}
    external_ids = {r.gateway_network_id for r in routers if r.gateway_network_id}
    externals = {n.id: n for n in session.scalars(select(Network).where(Network.id.in_(external_ids)))}
    fixed = _allocations(session, [p.id for p in interfaces] + list(gateways))
    floating: dict[str, list[FloatingIP]] = defaultdict(list)
    query = select(FloatingIP).where(
        FloatingIP.router_id.in_(ids), FloatingIP.port_id.is_not(None), FloatingIP.fixed_ip_address.is_not(None)
    )
    for fip in session.scalars(query.order_by(FloatingIP.floating_ip_address)):
        floating[fip.router_id or ""].append(fip)
    by_router: dict[str, list[Port]] = defaultdict(list)
    for port in interfaces:
        by_router[port.device_id].append(port)
    wired = []
    for router in routers:
        own = by_router[router.id]
        gateway_port = gateways.get(router.gateway_port_id or "")
        for port in [*own, *([gateway_port] if gateway_port else [])]:
            bind(port, host)
        try:
            gateway = _gateway(
                router, gateway_port, externals.get(router.gateway_network_id or ""), fixed.get(gateway_port.id, [])
            ) if gateway_port else None  # fmt: skip
            wired.append(
                RouterWiring(
                    router_id=router.id,
                    interfaces=tuple(
                        RouterInterface(
                            port_id=p.id,
                            network_id=p.network_id,
                            mac=p.mac_address,
                            addresses=tuple(_with_prefix(a, s) for a, s in fixed.get(p.id, [])),
                        )
                        for p in own
                    ),
                    gateway=gateway,
                    enable_snat=bool(router.enable_snat),
                    snat_cidrs=tuple(
                        dict.fromkeys(s.cidr for p in own for _, s in fixed.get(p.id, []) if s.ip_version == 4)
                    ),
                    routes=tuple((r["destination"], r["nexthop"]) for r in router.routes or ()),
                    floating_ips=tuple(
                        FloatingIPWiring(f.floating_ip_address, f.fixed_ip_address or "") for f in floating[router.id]
                    )
                    if gateway is not None
                    else (),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            LOG.error("router %s left out of host %s's wiring: %s", router.id, host, exc)
    return wired
