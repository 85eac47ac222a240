"""What one host must look like: the ``HostWiring`` the control side computes from the database for a host agent.

A host has a network when a server's port on it is bound to the host, or when a router placed on the host has an
interface on it (``router_wiring``: that host also gets the router's namespace). For each such network the host gets its
ports here (with their security group rules resolved to addresses), every port of the network on other hosts
(L2 population: unicast forwarding entries, no multicast) and the other hosts' VTEPs, and, on the one host that
serves the network's DHCP, the DHCP server with a static lease per port. The DHCP host is the one the DHCP port is
bound to while that host has the network's servers and is live, else the first by name of the live hosts that have
them: every computation agrees (they read the same binding), and the server moves only when its host leaves the
network or goes down (``network.liveness``; ``network.control.relocation`` pushes the move at once). A router's
host is deliberately no DHCP candidate unless it also has servers of the network: the choice stays among the hosts
whose guests need the server, and a router moving never moves a DHCP server.
Reads are done in bulk (a few queries per host, whatever the number of ports).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from network import dhcp_options, ipv6, liveness, qos
from network.control import router_wiring
from network.models import (
    DHCP_OWNER,
    ROUTER_INTERFACE_OWNER,
    IPAllocation,
    Network,
    NetworkHost,
    Port,
    PortSecurityGroup,
    Router,
    SecurityGroupRule,
)
from network.states import PortStatus
from network.wire import (
    BandwidthLimit,
    DhcpSubnet,
    DhcpWiring,
    HostWiring,
    NetworkWiring,
    PortWiring,
    RemotePort,
    Rule,
)

LOG = logging.getLogger(__name__)
_T = TypeVar("_T")
COMPUTE_OWNER_PREFIX = "compute:"
PROTOCOL_ALIASES = {"ipv6-icmp": "icmpv6", "icmpv6": "icmpv6", "any": None}


def is_server_port(port: Port) -> bool:
    return port.device_owner.startswith(COMPUTE_OWNER_PREFIX)


MIGRATING_TO = "migrating_to"
"""Neutron's ``binding:profile`` key for a live migration's target (``network.control.migration``)."""


def migrating_to(port: Port) -> str:
    """The host a live migration moves the port's server to, or "": the port is wired there too meanwhile."""
    profile = port.binding_profile if isinstance(port.binding_profile, dict) else {}
    target = profile.get(MIGRATING_TO)
    return target if isinstance(target, str) and port.binding_host_id else ""


def wired_on(port: Port, host: str) -> bool:
    """Whether ``host`` wires the server port: it is bound there, or its server is live-migrating there."""
    return port.binding_host_id == host or migrating_to(port) == host


def migrating_here(host: str) -> Any:
    """The condition that picks the server ports whose server is live-migrating to ``host``."""
    return (
        (Port.binding_profile[MIGRATING_TO].as_string() == host)
        & (Port.binding_host_id != "")
        & Port.device_owner.like(f"{COMPUTE_OWNER_PREFIX}%")
    )


def is_router_interface(port: Port) -> bool:
    return port.device_owner == ROUTER_INTERFACE_OWNER


def networks_of_host(session: Session, host: str) -> set[str]:
    """Networks of the server ports bound to ``host`` and of the interfaces of the routers placed on it."""
    query = select(Port.network_id).where(
        Port.binding_host_id == host, Port.device_owner.like(f"{COMPUTE_OWNER_PREFIX}%")
    )
    routed = (
        select(Port.network_id)
        .join(Router, Router.id == Port.device_id)
        .where(Port.device_owner == ROUTER_INTERFACE_OWNER, Router.host == host, Router.admin_state_up.is_(True))
    )
    migrating = select(Port.network_id).where(migrating_here(host))
    return set(session.scalars(query)) | set(session.scalars(routed)) | set(session.scalars(migrating))


def server_hosts_of_network(session: Session, network_id: str) -> set[str]:
    """Hosts with a server port of the network bound to them (the DHCP server's candidates)."""
    query = select(Port.binding_host_id).where(
        Port.network_id == network_id, Port.binding_host_id != "", Port.device_owner.like(f"{COMPUTE_OWNER_PREFIX}%")
    )
    return set(session.scalars(query))


def hosts_of_network(session: Session, network_id: str) -> set[str]:
    """Hosts with a server port of the network bound to them, and the hosts of the routers with an interface on it."""
    routed = (
        select(Router.host)
        .join(Port, Port.device_id == Router.id)
        .where(
            Port.network_id == network_id,
            Port.device_owner == ROUTER_INTERFACE_OWNER,
            Router.host != "",
            Router.admin_state_up.is_(True),
        )
    )
    return server_hosts_of_network(session, network_id) | set(session.scalars(routed))


def dhcp_host(hosts: Iterable[str], current: str = "", live: set[str] | None = None) -> str | None:
    """Where a network's DHCP server runs: where it runs now while that host still has the network's servers
    (a move restarts it, and a host joining the network is no reason to), else the first host by name. With
    ``live``, hosts that are down are no candidates: their DHCP server moves to a live host."""
    candidates = set(hosts) if live is None else set(hosts) & live
    return current if current in candidates else min(candidates, default=None)


def _addresses(session: Session, port_ids: Iterable[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    ids = list(port_ids)
    if ids:
        rows = session.execute(
            select(IPAllocation.port_id, IPAllocation.ip_address)
            .where(IPAllocation.port_id.in_(ids))
            .order_by(IPAllocation.id)
        )
        for port_id, address in rows:
            found[port_id].append(address)
    return found


def _protocol(value: str | None) -> str | None:
    if value is None:
        return None
    lowered = value.lower()
    return PROTOCOL_ALIASES.get(lowered, lowered)


def _rules(session: Session, ports: list[Port]) -> dict[str, tuple[Rule, ...]]:
    """Each port's rules: the union of its groups' rules, remote groups resolved to their members' addresses."""
    memberships = defaultdict(list)
    for binding in session.scalars(
        select(PortSecurityGroup).where(PortSecurityGroup.port_id.in_([p.id for p in ports]))
    ):
        memberships[binding.port_id].append(binding.security_group_id)
    group_ids = {g for groups in memberships.values() for g in groups}
    if not group_ids:
        return {}
    rules = list(session.scalars(select(SecurityGroupRule).where(SecurityGroupRule.security_group_id.in_(group_ids))))
    remote_groups = {r.remote_group_id for r in rules if r.remote_group_id}
    members: dict[str, list[str]] = defaultdict(list)
    if remote_groups:
        rows = session.execute(
            select(PortSecurityGroup.security_group_id, IPAllocation.ip_address)
            .join(IPAllocation, IPAllocation.port_id == PortSecurityGroup.port_id)
            .where(PortSecurityGroup.security_group_id.in_(remote_groups))
        )
        for group_id, address in rows:
            members[group_id].append(address)
    by_group: dict[str, list[Rule]] = defaultdict(list)
    for rule in rules:
        try:
            remote: tuple[str, ...] | None = None
            if rule.remote_ip_prefix:
                remote = (rule.remote_ip_prefix,)
            elif rule.remote_group_id:
                remote = tuple(sorted(set(members.get(rule.remote_group_id, []))))
            by_group[rule.security_group_id].append(
                Rule(
                    direction=rule.direction,
                    ethertype=rule.ethertype,
                    protocol=_protocol(rule.protocol),
                    port_min=rule.port_range_min,
                    port_max=rule.port_range_max,
                    remote_ips=remote,
                )
            )
        except ValueError as exc:  # a rule the dataplane cannot express must not take the host's wiring down
            LOG.warning("security group rule %s skipped: %s", rule.id, exc)
    return {
        port_id: tuple(dict.fromkeys(rule for group in groups for rule in by_group[group]))
        for port_id, groups in memberships.items()
    }


def _options(ports: list[Port]) -> tuple[tuple[str, str, str], ...]:
    """The servers' IPv4 extra DHCP options (mac, name, value); a stored one DHCPv4 cannot carry (an IPv6 address
    value) or the catalogue refuses (an old row) is left out and logged, not the network's whole DHCP server."""
    found = []
    for port in ports:
        for option in port.extra_dhcp_opts or []:
            if option.get("ip_version", 4) != 4:
                continue  # dnsmasq serves DHCPv4 only here
            try:
                _name, value, _version = dhcp_options.check(option.get("opt_name"), option.get("opt_value"), 4)
            except ValueError as exc:  # an IPv6 address in a DHCPv4 option (stored as Neutron does), an old row
                LOG.info("DHCP option of port %s not sent by DHCPv4: %s", port.id, exc)
                continue
            found.append((port.mac_address, option["opt_name"], value))
    return tuple(found)


def _dhcp(
    network: Network,
    dhcp_port: Port,
    addresses: dict[str, list[str]],
    leases: list[tuple[str, str]],
    lease_time: int,
    options: tuple[tuple[str, str, str], ...] = (),
) -> DhcpWiring | None:
    subnets = [s for s in network.subnets if s.enable_dhcp]
    own = addresses.get(dhcp_port.id, [])
    if not subnets or not own:
        return None
    served = [
        DhcpSubnet(
            cidr=s.cidr,
            gateway_ip=s.gateway_ip,
            dns_nameservers=tuple(s.dns_nameservers or ()),
            host_routes=tuple((r["destination"], r["nexthop"]) for r in s.host_routes or ()),
            ipv6_ra_mode=s.ipv6_ra_mode if s.ip_version == 6 else None,
            ipv6_address_mode=s.ipv6_address_mode if s.ip_version == 6 else None,
        )
        for s in subnets
    ]
    # Static leases on the subnets whose addresses DHCP hands out: IPv4, and IPv6 unless hosts make their own
    # (SLAAC, DHCPv6-stateless: ``network.ipv6``).
    networks = [
        ipaddress.ip_network(s.cidr) for s in subnets if not ipv6.is_auto_address(s.ipv6_ra_mode, s.ipv6_address_mode)
    ]
    hosts = tuple(
        (mac, ip, "host-" + ip.replace(".", "-").replace(":", "-"))
        for mac, ip in leases
        if any(ipaddress.ip_address(ip) in n for n in networks)
    )
    return DhcpWiring(
        port_id=dhcp_port.id,
        mac=dhcp_port.mac_address,
        ip=own[0],
        extra_ips=tuple(own[1:]),
        subnets=tuple(served),
        hosts=hosts,
        mtu=network.mtu,
        lease_time=lease_time,
        options=tuple(option for option in options if option[0] in {mac for mac, _ip, _name in hosts}),
    )


@dataclass
class _Facts:
    """Everything read for one host's computation, in bulk."""

    host: str
    networks: dict[str, Network]
    ports: list[Port]  # every port of those networks, DHCP ports included
    addresses: dict[str, list[str]]
    vteps: dict[str, str]  # host → underlay address, for hosts whose agent reported
    rules: dict[str, tuple[Rule, ...]]
    live: set[str] | None = None  # hosts whose agent is alive (None: every host counts as live)
    router_hosts: dict[str, str] | None = None  # router id -> its host, for the routers with an interface here
    bandwidth: dict[str, tuple[tuple[str, int, int], ...]] = dataclasses.field(default_factory=dict)
    """Local server ports' QoS limits (``network.qos.effective_limits``): port id -> (direction, kbps, burst)."""

    def first_ip(self, port_id: str) -> str:
        return (self.addresses.get(port_id) or [""])[0]


def _read(session: Session, host: str, network_ids: set[str], down_after: timedelta | None = None) -> _Facts:
    networks = {n.id: n for n in session.scalars(select(Network).where(Network.id.in_(network_ids)))}
    ports = list(session.scalars(select(Port).where(Port.network_id.in_(network_ids))))
    local = [p for p in ports if is_server_port(p) and wired_on(p, host)]
    router_ids = {p.device_id for p in ports if is_router_interface(p)}
    routers = session.execute(
        select(Router.id, Router.host).where(Router.id.in_(router_ids), Router.admin_state_up.is_(True))
    )
    return _Facts(
        host=host,
        networks=networks,
        ports=ports,
        addresses=_addresses(session, [p.id for p in ports]),
        vteps={h.host: h.underlay_ip for h in session.scalars(select(NetworkHost))},
        rules=_rules(session, local),
        live=None if down_after is None else liveness.live_hosts(session, down_after),
        router_hosts={router_id: router_host for router_id, router_host in routers if router_host},
        bandwidth=qos.effective_limits(session, local, {n.id: n.qos_policy_id for n in networks.values()}),
    )


def _port(facts: _Facts, port: Port) -> PortWiring:
    return PortWiring(
        port_id=port.id,
        mac=port.mac_address,
        ips=tuple(facts.addresses.get(port.id, [])),
        allowed_pairs=tuple((a["mac_address"], a["ip_address"]) for a in port.allowed_address_pairs or []),
        port_security=port.port_security_enabled,
        rules=facts.rules.get(port.id, ()),
        bandwidth=tuple(BandwidthLimit(*limit) for limit in facts.bandwidth.get(port.id, ())),
    )


def _network(facts: _Facts, network: Network, lease_time: int) -> NetworkWiring:
    host = facts.host
    servers = [p for p in facts.ports if p.network_id == network.id and is_server_port(p)]
    bound = [(p, p.binding_host_id) for p in servers if p.binding_host_id]
    server_hosts = {h for _, h in bound}
    targets = {migrating_to(p) for p in servers} - {""}  # they wire ports too, so they flood to and from here
    router_hosts = facts.router_hosts or {}
    routed = [
        (p, router_hosts[p.device_id])
        for p in facts.ports
        if p.network_id == network.id and is_router_interface(p) and p.device_id in router_hosts
    ]
    hosts = server_hosts | targets | {h for _, h in routed}
    # A port migrating here is local already. Elsewhere, while it moves, it has no forwarding entry: its frames are
    # flooded to every host of the network, the source and the target among them (a unicast entry has one
    # destination), so the guest gets them from its first instant on the target, not only once the switch has been
    # pushed to every host: a live migration loses only its downtime.
    remote = [
        _checked(RemotePort, f"port {p.id}", p.mac_address, facts.first_ip(p.id), facts.vteps[where])
        for p, where in [*bound, *routed]
        if where != host
        and where in facts.vteps
        and not (is_server_port(p) and wired_on(p, host))
        and not (is_server_port(p) and migrating_to(p))
    ]
    dhcp = None
    dhcp_port = next((p for p in facts.ports if p.network_id == network.id and p.device_owner == DHCP_OWNER), None)
    serving = dhcp_host(server_hosts, dhcp_port.binding_host_id if dhcp_port is not None else "", facts.live)
    if dhcp_port is not None and serving == host:
        leases = [(p.mac_address, ip) for p in servers for ip in facts.addresses.get(p.id, [])]
        dhcp = _checked(
            _dhcp,
            f"DHCP of network {network.id}",
            network,
            dhcp_port,
            facts.addresses,
            leases,
            lease_time,
            _options(servers),
        )
        _bind_dhcp_port(dhcp_port, host)
    elif dhcp_port is not None and serving in facts.vteps:
        dhcp_ip = facts.first_ip(dhcp_port.id)
        remote.append(
            _checked(RemotePort, f"port {dhcp_port.id}", dhcp_port.mac_address, dhcp_ip, facts.vteps[serving])
        )
    return NetworkWiring(
        network_id=network.id,
        vni=network.segmentation_id,
        mtu=network.mtu,
        ports=tuple(
            wired
            for wired in (_checked(_port, f"port {p.id}", facts, p) for p in servers if wired_on(p, host))
            if wired is not None
        ),
        remote=tuple(r for r in remote if r is not None),
        remote_vteps=tuple(sorted({facts.vteps[h] for h in hosts if h != host and h in facts.vteps})),
        dhcp=dhcp,
    )


def host_wiring(
    session: Session, host: str, lease_time: int = 86400, down_after: timedelta | None = None
) -> HostWiring:
    """The complete desired state of ``host``. DHCP ports of the networks it serves are bound to it here. With
    ``down_after``, hosts whose agent was not heard from within it serve no DHCP. The routers placed on ``host``
    come with it (``router_wiring``), and their ports are bound to it here."""
    generation = time.time_ns()  # taken before reading: a later computation always carries a later generation
    network_ids = networks_of_host(session, host)
    routers = router_wiring.router_wiring(session, host, router_wiring.routers_on(session, host))
    if not network_ids:
        return HostWiring(host=host, networks=(), routers=tuple(routers), generation=generation)
    facts = _read(session, host, network_ids, down_after)
    # A flat network (the external one) has no VNI and no bridge of its own here: servers on it are not wired.
    wanted = [facts.networks[n] for n in sorted(network_ids) if n in facts.networks]
    networks = [_network(facts, n, lease_time) for n in wanted if n.segmentation_id is not None]
    return HostWiring(host=host, networks=tuple(networks), routers=tuple(routers), generation=generation)


def _checked(build: Callable[..., _T], what: str, *args: Any) -> _T | None:
    """``build(*args)``, or None when the stored values it holds are refused by the dataplane's types (an address
    that is not plain): that port or DHCP server is left out and logged, and the rest of the host is wired."""
    try:
        return build(*args)
    except ValueError as exc:
        LOG.error("%s left out of the host's wiring: %s", what, exc)
        return None


def _bind_dhcp_port(port: Port, host: str) -> None:
    if port.binding_host_id != host:
        port.binding_host_id, port.binding_vif_type, port.status = host, "tap", PortStatus.DOWN
        port.binding_vif_details = {"port_filter": False, "connectivity": "l2"}
        port.revision_number += 1
