"""The network control side's workflows: push each affected host its whole desired state, bind a server's ports
to the host it was placed on, and turn the agents' reports into port status and "network ready" for compute.

Everything is level-triggered: a change to a network pushes the complete ``HostWiring`` of every host that has
the network or had it at the last push (so it can remove it), and every agent asks for its state again at start
and periodically, which repairs lost messages. Pushes carry an increasing generation; an agent ignores an
overtaken one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compute import client as compute_client
from network import client, devicenames, liveness
from network.control import placement, router_wiring, wiring
from network.control.context import NetworkControl
from network.models import ROUTER_INTERFACE_OWNER, FloatingIP, Network, NetworkHost, Port, Router
from network.states import PortStatus

LOG = logging.getLogger(__name__)


def push_host(control: NetworkControl, host: str, request_id: str = "") -> str:
    """Compute and send ``host`` its whole desired state (nothing when its agent never reported)."""
    with control.db.session() as session:
        record = session.get(NetworkHost, host)
        if record is None:
            return "no agent"
        down_after = timedelta(seconds=control.settings.compute_host_down_after)
        state = wiring.host_wiring(session, host, control.settings.network_dhcp_lease_time, down_after)
        record.networks = [n.network_id for n in state.networks]
        record.routers = [r.router_id for r in state.routers]
    client.agent_apply(control.app, host, state.to_dict(), request_id)
    return f"pushed {len(state.networks)} networks, {len(state.routers)} routers"


def sync_network(control: NetworkControl, network_id: str, request_id: str = "") -> list[str]:
    """Push every host that has the network, or had it at its last push."""
    hosts = hosts_with(control, network_id)
    for host in sorted(hosts):
        push_host(control, host, request_id)
    return sorted(hosts)


def sync_router(control: NetworkControl, router_id: str, request_id: str = "") -> list[str]:
    """Place the router (``placement``) and push the hosts concerned: the one that runs it, the one that ran it
    (it moved, or it was deleted: the hosts whose last push had it), and the hosts of its interfaces' networks,
    which learn where its ports are. Returns the hosts pushed."""
    down_after = timedelta(seconds=control.settings.compute_host_down_after)
    with control.db.session() as session:
        targets = {r.host for r in session.scalars(select(NetworkHost)) if router_id in (r.routers or [])}
        router = session.get(Router, router_id)
        networks: set[str] = set()
        if router is not None:
            previous = router.host
            chosen = placement.choose_host(session, previous, liveness.live_hosts(session, down_after))
            if chosen != previous:
                LOG.info("[%s] router %s placed on %r (was %r)", request_id, router_id, chosen, previous)
                router.host = chosen
            interfaces = router_wiring.interface_ports(session, [router_id])
            gateway = session.get(Port, router.gateway_port_id) if router.gateway_port_id else None
            for port in [*interfaces, *([gateway] if gateway else [])]:
                if chosen:
                    router_wiring.bind(port, chosen)
                elif port.binding_host_id:  # no live host: nowhere to run, and nobody to say it is up
                    port.binding_host_id, port.status = "", PortStatus.DOWN
            networks = {p.network_id for p in interfaces}
            targets |= {h for h in (previous, chosen) if h}
    for network_id in sorted(networks):
        targets |= hosts_with(control, network_id)
    for host in sorted(targets):
        push_host(control, host, request_id)
    return sorted(targets)


def agent_report(control: NetworkControl, host: str, underlay_ip: str, namespace: str, request_id: str = "") -> str:
    """An agent started or reports in: remember its VTEP; if it moved, the other hosts' entries must follow."""
    with control.db.session() as session:
        record = session.get(NetworkHost, host)
        moved = record is None or record.underlay_ip != underlay_ip
        if record is None:
            record = NetworkHost(
                host=host, underlay_ip=underlay_ip, namespace=namespace or "", networks=[], created_at=datetime.now(UTC)
            )
            session.add(record)
        record.underlay_ip, record.namespace, record.last_seen = underlay_ip, namespace or "", datetime.now(UTC)
        networks = wiring.networks_of_host(session, host) if moved else set()
    push_host(control, host, request_id)
    for network_id in sorted(networks):  # a new or moved VTEP: every other host of its networks learns it
        sync_network(control, network_id, request_id)
    return "registered" if moved else "seen"


def server_ports(instance_id: str, project_id: str) -> Any:
    """The condition that picks a server's ports: its device id *and* its project, as Nova lists them. A port
    another project points at the server (``device_id`` is the user's to write) is never bound, wired or
    waited for with the server's own."""
    return (Port.device_id == instance_id) & (Port.project_id == project_id)


def nics_of(session: Session, instance_id: str, project_id: str) -> list[dict[str, Any]]:
    """What compute needs to plug a server's ports: MAC, MTU and the device names of the hybrid plug."""
    rows = session.execute(
        select(Port.id, Port.mac_address, Port.network_id, Network.mtu)
        .join(Network, Network.id == Port.network_id)
        .where(server_ports(instance_id, project_id))
        .order_by(Port.created_at, Port.id)
    )
    nics = []
    for port_id, mac, network_id, mtu in rows:
        devices = devicenames.vif_names(port_id)
        nics.append(
            {"port_id": port_id, "mac": mac, "network_id": network_id, "mtu": mtu, "tap": devices.tap,
             "bridge": devices.bridge}
        )  # fmt: skip
    return nics


def bind_instance(control: NetworkControl, instance_id: str, project_id: str, host: str, request_id: str = "") -> str:
    """Bind the server's ports (those of its project) to ``host`` and wire them there (compute waits for
    "network ready")."""
    with control.db.session() as session:
        ports = list(session.scalars(select(Port).where(server_ports(instance_id, project_id))))
        for port in ports:
            if port.binding_host_id != host:
                port.binding_host_id, port.binding_vif_type, port.status = host, "tap", PortStatus.DOWN
                port.binding_vif_details = {"port_filter": True, "connectivity": "l2"}
                port.revision_number += 1
        networks = sorted({p.network_id for p in ports})
        ready = all(p.status == PortStatus.ACTIVE for p in ports)
        nics = nics_of(session, instance_id, project_id) if ready else []
    # This host gets the ports; the other hosts of their networks learn their MACs; a host they were bound to
    # before (a build that is being rescheduled) loses them.
    for target in sorted({host} | {h for network_id in networks for h in hosts_with(control, network_id)}):
        push_host(control, target, request_id)
    if ready:  # already wired (a redelivered bind): compute is told at once
        compute_client.network_ready(control.app, instance_id, host, nics, request_id)
    return f"bound {len(ports)} ports to {host}"


def hosts_with(control: NetworkControl, network_id: str) -> set[str]:
    """Hosts that have the network now, or had it at their last push (so a push can remove it)."""
    with control.db.session() as session:
        hosts = wiring.hosts_of_network(session, network_id)
        for record in session.scalars(select(NetworkHost)):
            if network_id in (record.networks or []):
                hosts.add(record.host)
    return hosts


def ports_wired(
    control: NetworkControl,
    host: str,
    generation: int,
    wired: list[str],
    errors: dict[str, str],
    request_id: str = "",
    routers: list[str] | None = None,
) -> dict[str, int]:
    """An agent applied a state: ports bound here are ACTIVE when wired, DOWN when not. Servers whose ports all
    just became ACTIVE are "network ready"; servers waiting on a network that failed here fail their build.
    ``routers``: the routers the host applied without error (None from an agent that does not report them):
    their associated floating IPs become ACTIVE, those of the host's other routers DOWN."""
    done = set(wired)
    ready: list[tuple[str, list[dict[str, Any]]]] = []
    # A server is its device id within its project: ports of two projects naming one device are not one server.
    failed: dict[str, str] = {}
    with control.db.session() as session:
        if (record := session.get(NetworkHost, host)) is not None:
            record.last_seen = datetime.now(UTC)
        ports = list(session.scalars(select(Port).where(Port.binding_host_id == host)))
        done |= _interfaces_of_down_routers(session, host)
        became_active = set()
        for port in ports:
            status = PortStatus.ACTIVE if port.id in done else PortStatus.DOWN
            if port.status != status:
                port.status = status
                if status == PortStatus.ACTIVE and wiring.is_server_port(port):
                    became_active.add((port.device_id, port.project_id))
            if status == PortStatus.DOWN and port.network_id in errors and wiring.is_server_port(port):
                failed[port.device_id] = (
                    f"network {port.network_id} could not be wired on {host}: " + errors[port.network_id]
                )
        if routers is not None:
            _floating_status(session, host, set(routers))
        by_device: dict[tuple[str, str], list[Port]] = {}
        for port in ports:
            by_device.setdefault((port.device_id, port.project_id), []).append(port)
        for device_id, project_id in sorted(became_active):
            wired_all = all(p.status == PortStatus.ACTIVE for p in by_device[(device_id, project_id)])
            if wired_all and device_id not in failed:
                ready.append((device_id, nics_of(session, device_id, project_id)))
        ready += _migrating_ready(session, host, done, errors, failed)
    for instance_id, nics in ready:
        compute_client.network_ready(control.app, instance_id, host, nics, request_id)
    for instance_id, reason in failed.items():
        compute_client.network_failed(control.app, instance_id, host, reason, request_id)
    active = [p for p in ports if p.status == PortStatus.ACTIVE]
    return {"active": len(active), "ready": len(ready), "failed": len(failed)}


def _migrating_ready(
    session: Session, host: str, done: set[str], errors: dict[str, str], failed: dict[str, str]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Servers live-migrating to ``host`` whose ports this host has all wired: the target is ready for them
    (``network.control.migration``). Told at each report while the move lasts; compute takes the first. A network
    the target could not wire fails the move (added to ``failed``)."""
    migrating = list(session.scalars(select(Port).where(wiring.migrating_here(host))))
    for port in migrating:
        if port.id not in done and port.network_id in errors:
            failed[port.device_id] = (
                f"network {port.network_id} could not be wired on {host}: {errors[port.network_id]}"
            )
    ready = []
    for device_id, project_id in sorted({(p.device_id, p.project_id) for p in migrating}):
        ports = session.scalars(select(Port.id).where(server_ports(device_id, project_id)))
        if device_id not in failed and all(port_id in done for port_id in ports):
            ready.append((device_id, nics_of(session, device_id, project_id)))
    return ready


def _interfaces_of_down_routers(session: Session, host: str) -> set[str]:
    """The interface ports of the administratively down routers placed on ``host``: no namespace runs them, but
    as in Neutron (OVN, whose router ports are up whatever the router's state) they are ACTIVE on their network,
    so a client waiting for an interface to come up before removing it is not left waiting for ever."""
    down = select(Router.id).where(Router.host == host, Router.admin_state_up.is_(False))
    query = select(Port.id).where(Port.device_owner == ROUTER_INTERFACE_OWNER, Port.device_id.in_(down))
    return set(session.scalars(query))


def _floating_status(session: Session, host: str, applied: set[str]) -> None:
    """Neutron's floating IP status: ACTIVE while associated and wired by its router's host, else DOWN."""
    here = select(Router.id).where(Router.host == host)
    query = select(FloatingIP).where(FloatingIP.router_id.in_(here) | FloatingIP.router_id.in_(sorted(applied)))
    for fip in session.scalars(query):
        associated = fip.port_id is not None and fip.fixed_ip_address is not None
        status = "ACTIVE" if associated and fip.router_id in applied else "DOWN"
        if fip.status != status:
            fip.status = status
