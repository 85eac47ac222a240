"""The ports compute gives its servers: the one in-process interface between compute and network.

Why in-process and not a ``network.client`` task: a server's ports are made (or claimed) in the server create's own
transaction and freed in the server delete's, so a request that fails leaves no port behind and a deleted server
leaves none either. Compute therefore calls these functions with its own ``Session``; everything else it asks of
network (wiring a host, syncing a network's hosts after a commit) goes over ``network.client``. This is the
compute→network contract os-vif's ``plug``/``unplug`` is for Nova, at the level of ports rather than wires. The
last two functions answer what compute's control side must know of the hosts that wire those ports: whether a
host's network agent is alive (a build waiting for its ports on a host whose agent is dead must move), and
forgetting a retired host's agent.

Contract of every function: it works inside the caller's transaction and never commits; on error it raises one of
``network.exceptions`` (404 for a port, network or group the caller may not see, 409 for a port in use) and the
caller rolls back. Ports cross this boundary as ``VifPort`` values, never as ORM rows. A function that changes
ports returns the ids of the networks it touched: the caller sends ``network.client.ports_changed`` for each once
its transaction commits, so the hosts of those networks converge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from network import access, liveness, ports, security_groups
from network.access import Caller
from network.models import DHCP_OWNER, FloatingIP, IPAllocation, Network, NetworkHost, Port, Subnet

__all__ = [
    "Caller",
    "FixedAddress",
    "Interface",
    "PortAddress",
    "VifPort",
    "auto_network_ids",
    "claim_port",
    "create_port",
    "detach_port",
    "find_port",
    "fixed_addresses",
    "forget_agent",
    "interfaces",
    "live_agents",
    "port_addresses",
    "release_ports",
    "security_group_ids",
    "usable_network_id",
]


@dataclass(frozen=True)
class VifPort:
    """A port as compute sees it: enough to record it on the server and to check it may be used."""

    id: str
    network_id: str
    project_id: str
    device_id: str

    @classmethod
    def of(cls, port: Port) -> VifPort:
        return cls(id=port.id, network_id=port.network_id, project_id=port.project_id, device_id=port.device_id)


@dataclass(frozen=True)
class FixedAddress:
    """One fixed IP of a server's port, with what Nova's ``addresses`` shows of it."""

    device_id: str
    network_id: str
    network_name: str | None
    mac_address: str
    ip_address: str


def auto_network_ids(session: Session, project_id: str | None, limit: int = 2) -> list[str]:
    """Up to ``limit`` networks a server of the project may be put on without naming one: the project's own and
    shared ones, never an external network (Nova's ``networks: "auto"``; more than one is the caller's 409)."""
    query = select(Network.id).where(
        or_(Network.project_id == project_id, Network.shared.is_(True)), Network.router_external.is_(False)
    )
    return list(session.scalars(query.limit(limit)))


def usable_network_id(session: Session, caller: Caller, network_id: str) -> str:
    """The id of a network the caller may put ports on (its own or a shared one); ``NetworkNotFound`` otherwise."""
    return access.usable_network(session, caller, network_id).id


def find_port(session: Session, caller: Caller, port_id: str) -> VifPort:
    """A port the caller may see (its project's; any for an admin); ``PortNotFound`` otherwise."""
    return VifPort.of(access.get_port(session, caller, port_id))


def security_group_ids(session: Session, project_id: str, names_or_ids: Iterable[str]) -> list[str]:
    """Ids of the project's groups named or identified by ``names_or_ids`` (a server create's ``security_groups``;
    ``default`` is made on first use); ``SecurityGroupNotFound`` for one that is not the project's, or ambiguous."""
    return security_groups.resolve(session, project_id, names_or_ids)


def create_port(
    session: Session,
    caller: Caller,
    network_id: str,
    device_id: str,
    device_owner: str,
    group_ids: list[str],
    fixed_ip: str | None = None,
) -> VifPort:
    """A new port for a server on ``network_id`` with an address (``fixed_ip`` if given) and the groups; the port
    quota of the caller's project is checked. Deleted by ``release_ports`` with the server."""
    attrs: dict[str, Any] = {
        "network_id": network_id,
        "device_id": device_id,
        "device_owner": device_owner,
        "security_groups": group_ids,
    }
    if fixed_ip:
        attrs["fixed_ips"] = [{"ip_address": fixed_ip}]
    return VifPort.of(ports.create_port(session, caller, attrs))


def claim_port(session: Session, caller: Caller, port_id: str, device_id: str, device_owner: str) -> VifPort:
    """Give a port the user made to a server, by compare-and-swap (409 ``PortInUse`` if another device has it).
    Only detached again by ``release_ports`` (``preserved``): the user's port outlives the server."""
    return VifPort.of(ports.claim_port(session, caller, port_id, device_id, device_owner))


def release_ports(session: Session, device_id: str, project_id: str, preserved: Iterable[str] = ()) -> list[str]:
    """Free a deleted server's ports: the ``preserved`` ones (the user brought them) are detached and unbound, every
    other port of ``device_id`` in ``project_id`` is deleted with its addresses. Safe to repeat (a deleted port
    stays gone, a detached one detached). Returns the sorted ids of the networks whose hosts must be told."""
    networks = {ports.release_port(session, port_id) for port_id in preserved}
    networks.update(ports.delete_device_ports(session, device_id, project_id))
    return sorted(n for n in networks if n)


def unbind_ports(session: Session, device_id: str, project_id: str) -> list[str]:
    """Unbind a server's ports from its host and keep them (a shelved server leaving its host): binding them
    again (``network.client.bind_instance``) wires them wherever it is placed next. Returns the sorted ids of the
    networks whose hosts must be told."""
    return ports.unbind_device_ports(session, device_id, project_id)


def fixed_addresses(session: Session, devices: Mapping[str, str]) -> list[FixedAddress]:
    """The fixed IPs of the ports of many servers (``{device_id: project_id}``) in one query, ordered by port
    creation. A port counts only in the server's own project: any project may write any ``device_id`` on its
    ports, and such a port must never show among another project's server's addresses."""
    if not devices:
        return []
    rows = session.execute(
        select(Port.device_id, Port.project_id, Port.mac_address, Network.name, Network.id, IPAllocation.ip_address)
        .join(Network, Network.id == Port.network_id)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .where(Port.device_id.in_(list(devices)))
        .order_by(Port.created_at, Port.id, IPAllocation.id)
    )
    return [
        FixedAddress(device_id, network_id, network_name, mac, address)
        for device_id, project_id, mac, network_name, network_id, address in rows
        if devices[device_id] == project_id
    ]


def live_agents(session: Session, hosts: Iterable[str], down_after: timedelta, now: datetime | None = None) -> set[str]:
    """Which of ``hosts`` have a network agent that gave a sign of life within ``down_after`` (``now`` lets a caller
    judge many records at one instant). A host whose agent never registered is not live."""
    names = list(hosts)
    return liveness.live_hosts(session, down_after, names, now) if names else set()


def forget_agent(session: Session, host: str) -> bool:
    """Remove a retired host's network agent record, so no host keeps a forwarding entry to it and its DHCP servers
    move to live hosts; True if there was one. Idempotent."""
    record = session.get(NetworkHost, host)
    if record is None:
        return False
    session.delete(record)
    return True


@dataclass(frozen=True)
class PortAddress:
    """One fixed IP of a server's port with what the guest needs to configure it without DHCP (its metadata's
    ``network_data.json``): the subnet, its gateway, DNS servers and host routes, the network's DHCP server on that
    subnet (where the metadata service answers), and the floating IP translated to it, if any."""

    port_id: str
    network_id: str
    mac_address: str
    ip_address: str
    cidr: str
    gateway_ip: str | None
    dns_nameservers: tuple[str, ...]
    host_routes: tuple[tuple[str, str], ...]
    dhcp_ip: str | None
    floating_ip: str | None


def port_addresses(session: Session, device_id: str, project_id: str) -> list[PortAddress]:
    """The fixed IPs of a server's ports, in port creation order; like ``fixed_addresses``, only ports of the
    server's own project count."""
    rows = session.execute(
        select(Port.id, Port.network_id, Port.mac_address, IPAllocation.ip_address, Subnet)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .join(Subnet, Subnet.id == IPAllocation.subnet_id)
        .where(Port.device_id == device_id, Port.project_id == project_id)
        .order_by(Port.created_at, Port.id, IPAllocation.id)
    ).all()
    if not rows:
        return []
    subnet_ids = {row[4].id for row in rows}
    dhcp = dict(
        session.execute(
            select(IPAllocation.subnet_id, IPAllocation.ip_address)
            .join(Port, Port.id == IPAllocation.port_id)
            .where(Port.device_owner == DHCP_OWNER, IPAllocation.subnet_id.in_(subnet_ids))
        ).all()
    )
    floating = {
        (port_id, fixed): address
        for port_id, fixed, address in session.execute(
            select(FloatingIP.port_id, FloatingIP.fixed_ip_address, FloatingIP.floating_ip_address).where(
                FloatingIP.port_id.in_({row[0] for row in rows})
            )
        )
    }
    return [
        PortAddress(
            port_id=port_id,
            network_id=network_id,
            mac_address=mac,
            ip_address=address,
            cidr=subnet.cidr,
            gateway_ip=subnet.gateway_ip,
            dns_nameservers=tuple(subnet.dns_nameservers or ()),
            host_routes=tuple((r["destination"], r["nexthop"]) for r in subnet.host_routes or ()),
            dhcp_ip=dhcp.get(subnet.id) if subnet.enable_dhcp else None,
            floating_ip=floating.get((port_id, address)),
        )
        for port_id, network_id, mac, address, subnet in rows
    ]


@dataclass(frozen=True)
class Interface:
    """A server's port as Nova's ``os-interface`` shows it: state, MAC, network and fixed IPs (subnet, address)."""

    port_id: str
    network_id: str
    mac_address: str
    status: str
    fixed_ips: tuple[tuple[str, str], ...]


def interfaces(session: Session, device_id: str, project_id: str) -> list[Interface]:
    """A server's ports (of its own project), in creation order, with their fixed IPs."""
    found = list(
        session.scalars(
            select(Port)
            .where(Port.device_id == device_id, Port.project_id == project_id)
            .order_by(Port.created_at, Port.id)
        )
    )
    addresses = ports.addresses_of(session, [p.id for p in found])
    return [
        Interface(
            port_id=p.id,
            network_id=p.network_id,
            mac_address=p.mac_address,
            status=p.status,
            fixed_ips=tuple((a.subnet_id, a.ip_address) for a in addresses.get(p.id, [])),
        )
        for p in found
    ]


def detach_port(session: Session, port_id: str, delete: bool) -> str | None:
    """Take one port off its server (an interface detach): deleted with its addresses when compute made it for the
    server (``delete``), else given back to the user unbound. Safe to repeat. Returns the network to tell."""
    if not delete:
        return ports.release_port(session, port_id)
    port = session.get(Port, port_id)
    if port is None:
        return None
    network_id = port.network_id
    ports.disassociate_floating_ips(session, [port_id])
    session.delete(port)
    session.flush()
    return network_id
