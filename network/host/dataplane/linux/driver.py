"""The Linux dataplane: converges one host's bridges, VXLAN devices, veths, DHCP servers and nftables rules.

Order matters for safety, so ``apply`` always runs in three steps: load the firewall for every wanted port
(a port the rules do not know carries no traffic, so plugging a port before its rules exist would only drop its
packets, never pass them unfiltered), then converge each network on its own (one failing network is reported
and the others go on), then each router (``router``: its namespace needs its networks' bridges; one failing router
is reported and the others go on), and last remove what is no longer wanted. Every step compares the kernel's
actual state, read at the start, with the wanted one and writes only differences.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from network.devicenames import HOST_UNDERLAY, network_bridge, vif_names, vxlan_device
from network.host.dataplane.base import ApplyResult, DataplaneDriver, DataplaneError, HostUnderlay
from network.host.dataplane.linux import fdb, firewall, inspect, shaping
from network.host.dataplane.linux.dhcp import DhcpServers
from network.host.dataplane.linux.host import HostNamespace
from network.host.dataplane.linux.inspect import Link, owner_tag
from network.host.dataplane.linux.links import Namespace, ensure_veth
from network.host.dataplane.linux.nftables import Firewall
from network.host.dataplane.linux.router import OWNER as ROUTER_OWNER
from network.host.dataplane.linux.router import Routers
from network.host.dataplane.linux.runner import Runner
from network.host.dataplane.tokens import UnsafeValue
from network.wire import HostWiring, NetworkWiring

LOG = logging.getLogger(__name__)
VXLAN_PORT = 4789
UNDERLAY_FILE = "underlay.json"
QUIET_BRIDGE = {"mcast_snooping": 0}
"""A snooping bridge joins the multicast-router-discovery groups and sends IGMP/MLD reports into the tenant's
network from the host; flooding multicast like broadcast is also what a VXLAN segment does anyway."""
VXLAN_OVERHEAD = 50
"""Outer IPv4 20 + UDP 8 + VXLAN 8 + the inner Ethernet header 14 bytes; an IPv6 underlay adds 20."""


def _vxlan_args(network: NetworkWiring, underlay: HostUnderlay, device: str) -> list[str]:
    args = ["vxlan", "id", str(network.vni), "local", underlay.underlay_ip, "dstport", str(VXLAN_PORT)]
    return [*args, "nolearning", *(["dev", device] if device else [])]


def _vxlan_matches(link: Link, network: NetworkWiring, underlay: HostUnderlay, device: str) -> bool:
    data = link.info
    return (
        data.get("id") == network.vni
        and data.get("local") == underlay.underlay_ip
        and data.get("port") == VXLAN_PORT
        and data.get("learning") is False
        and (not device or data.get("link") == device)
    )


class LinuxDataplane(DataplaneDriver):
    """``state_dir``: the service's state directory; this host's files go under ``dataplane/<host>/``."""

    def __init__(self, host: str, state_dir: Path | str, runner: Runner | None = None) -> None:
        self.host = host
        self.directory = Path(state_dir) / "dataplane" / host
        self.runner = runner or Runner()
        self.dhcp = DhcpServers(self.runner, host, self.directory / "dhcp")
        self.routers = Routers(self.runner, host, self.directory / "routers")
        self.underlay: HostUnderlay | None = None
        self.last: ApplyResult | None = None
        """The result of the state in effect (kept in memory: after a restart the first state is applied)."""
        self._lock = threading.Lock()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One converge at a time per host, across threads and across processes (an agent restarting while the
        old one still finishes a task)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.directory / "lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _host(self) -> HostNamespace:
        if self.underlay is None:
            raise DataplaneError(reason=f"host {self.host}: init_host was not called")
        return HostNamespace(self.runner, self.host, self.underlay)

    def _device(self) -> str:
        assert self.underlay is not None
        if self.underlay.namespace:
            return HOST_UNDERLAY
        return self.underlay.underlay_device

    def init_host(self, underlay: HostUnderlay) -> None:
        with self._exclusive():
            HostNamespace(self.runner, self.host, underlay).ensure()
            self.underlay = underlay
            # What ``retire`` needs once this host's agent is gone: where the host's namespace and veth are.
            (self.directory / UNDERLAY_FILE).write_text(json.dumps(underlay.to_dict()))

    def retire(self) -> None:
        recorded = self.directory / UNDERLAY_FILE
        if not self.directory.is_dir():
            return  # never ran on this machine
        if recorded.is_file():
            self.underlay = HostUnderlay.from_dict(json.loads(recorded.read_text()))
        self.teardown()

    def apply(self, wiring: HostWiring) -> ApplyResult:
        with self._exclusive():
            if self.last is not None and wiring.generation < self.last.generation:
                return dataclasses.replace(self.last, stale=True)
            self.last = self._converge(wiring)
            return self.last

    def _converge(self, wiring: HostWiring) -> ApplyResult:
        host = self._host()
        if not host.exists():  # deleted under us: the host is part of the state, so make it again
            LOG.warning("dataplane: namespace %s of host %s is gone; making it again", host.netns, self.host)
            host.ensure()
        host_ns = Namespace(self.runner, host.netns).refresh()
        root_ns = host_ns if host.netns is None else Namespace(self.runner, None).refresh()
        namespaces = inspect.namespaces(self.runner)
        forwarding = inspect.vxlan_entries(self.runner, host.netns)
        root_qdiscs = shaping.read(self.runner, None)
        qdiscs = (root_qdiscs, root_qdiscs if host.netns is None else shaping.read(self.runner, host.netns))
        errors: dict[str, str] = {}
        refused = firewall.refused_ports(wiring.networks)  # a hostile value stops its own port, not the host
        try:
            script = firewall.render(wiring.networks, skip=refused)
            Firewall(self.runner, host.netns, self.directory).converge(script)
            firewall_error = ""
        except (DataplaneError, ValueError) as exc:
            firewall_error = f"firewall: {exc}"
        wired: list[str] = []
        for network in wiring.networks:
            vm_ports = [port for port in network.ports if port.kind == "vm"]
            reasons = [refused[port.port_id] for port in vm_ports if port.port_id in refused]
            if reasons:
                errors[network.network_id] = "firewall: " + "; ".join(reasons)
                vm_ports = [port for port in vm_ports if port.port_id not in refused]
            try:
                self._network(network, host_ns, root_ns, namespaces, forwarding, qdiscs)
            except DataplaneError as exc:
                errors[network.network_id] = exc.message
                continue
            except UnsafeValue as exc:  # refused before it was written: this network only, the others go on
                errors[network.network_id] = str(exc)
                continue
            if firewall_error and vm_ports:
                errors[network.network_id] = firewall_error
                vm_ports = []
            wired += [port.port_id for port in vm_ports]
            if network.dhcp is not None:
                wired.append(network.dhcp.port_id)
        if any(router.gateway is not None for router in wiring.routers):
            host.ensure_physical_bridges()  # shared: the last other host of the machine to go removed them
        applied = self._routers(wiring, host_ns, root_ns, errors)
        for router in wiring.routers:
            if router.router_id in applied:
                wired += [i.port_id for i in router.interfaces]
                wired += [router.gateway.port_id] if router.gateway is not None else []
        errors.update(self._sweep(wiring, host_ns, root_ns, namespaces))
        return ApplyResult(generation=wiring.generation, wired=tuple(wired), errors=errors, routers=tuple(applied))

    def _routers(self, wiring: HostWiring, host_ns: Namespace, root_ns: Namespace, errors: dict[str, str]) -> list[str]:
        """Converge each router; the ids of those that converged without error (the others' are in ``errors``)."""
        assert self.underlay is not None
        networks = {n.network_id: n for n in wiring.networks if n.network_id not in errors}
        bridges = dict(self.underlay.physical_bridges)
        applied = []
        for router in wiring.routers:
            try:
                self.routers.converge(router, host_ns, root_ns, networks, bridges)
            except DataplaneError as exc:
                errors[router.router_id] = exc.message
                continue
            except (UnsafeValue, ValueError) as exc:  # refused before it was written: this router only
                errors[router.router_id] = str(exc)
                continue
            applied.append(router.router_id)
        return applied

    def _network(
        self,
        network: NetworkWiring,
        host_ns: Namespace,
        root_ns: Namespace,
        namespaces: set[str],
        forwarding: dict[str, set[tuple[str, str]]],
        qdiscs: tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]],
    ) -> None:
        """Converge one network's bridge, VXLAN device, forwarding entries, ports (with their QoS shaping:
        ``qdiscs`` are the root and host namespaces' token buckets as read) and DHCP server."""
        underlay = self.underlay
        assert underlay is not None
        overhead = VXLAN_OVERHEAD + (20 if ":" in underlay.underlay_ip else 0)
        if network.mtu > underlay.underlay_mtu - overhead:
            raise DataplaneError(
                reason=f"network MTU {network.mtu} does not fit the underlay's {underlay.underlay_mtu} "
                f"less {overhead} bytes of VXLAN headers"
            )
        tag = owner_tag(self.host, network.network_id)
        bridge = network_bridge(network.network_id)
        host_ns.ensure(bridge, ["bridge"], mtu=network.mtu, tag=tag, options=QUIET_BRIDGE)
        vxlan, device = vxlan_device(network.vni), self._device()
        made = host_ns.ensure(
            vxlan,
            _vxlan_args(network, underlay, device),
            mtu=network.mtu,
            tag=tag,
            master=bridge,
            matches=lambda link: _vxlan_matches(link, network, underlay, device),
        )
        actual = set() if made else forwarding.get(vxlan, set())
        fdb.converge(self.runner, host_ns.netns, vxlan, actual, fdb.wanted(network, underlay.underlay_ip))
        for port in network.ports:
            if port.kind != "vm":
                continue
            names, port_tag = vif_names(port.port_id), owner_tag(self.host, port.port_id)
            root_ns.ensure(names.bridge, ["bridge"], mtu=network.mtu, tag=port_tag, options=QUIET_BRIDGE)
            made = ensure_veth(
                root_ns,
                names.qvb,
                host_ns,
                names.qvo,
                mtu=network.mtu,
                tag=port_tag,
                a_master=names.bridge,
                b_master=bridge,
            )
            actual = ({}, {}) if made else qdiscs  # a new veth has no qdisc, whatever an old one of its name had
            shaping.converge_port(self.runner, port, network.mtu, (root_ns.netns, host_ns.netns), actual)
        if network.dhcp is not None:
            self.dhcp.converge(network, host_ns, bridge, namespaces)

    def _sweep(
        self, wiring: HostWiring, host_ns: Namespace, root_ns: Namespace, namespaces: set[str]
    ) -> dict[str, str]:
        """Delete this host's devices and DHCP servers that ``wiring`` no longer wants."""
        wanted: set[str] = set()  # device names
        for network in wiring.networks:
            wanted |= {network_bridge(network.network_id), vxlan_device(network.vni)}
            for port in network.ports:
                if port.kind == "vm":
                    names = vif_names(port.port_id)
                    wanted |= {names.bridge, names.qvb, names.qvo}
            if network.dhcp is not None:
                wanted.add(vif_names(network.dhcp.port_id).tap)
        errors: dict[str, str] = {}
        for space in dict.fromkeys([root_ns, host_ns]):  # once when they are the same namespace
            for link in list(space.links.values()):
                owner = link.owned_by(self.host)
                if owner is None or owner == "underlay" or owner.startswith(ROUTER_OWNER) or link.name in wanted:
                    continue  # a router's devices go with the router, below
                try:
                    space.delete(link.name)
                except DataplaneError as exc:
                    errors[owner] = exc.message
        running = {router.router_id for router in wiring.routers}
        for router_id in sorted(self.routers.owned(root_ns, host_ns) - running):
            try:
                self.routers.remove(router_id, host_ns, root_ns, namespaces)
            except DataplaneError as exc:
                errors[router_id] = exc.message
        served = {network.network_id for network in wiring.networks if network.dhcp is not None}
        for network_id in sorted(self.dhcp.owned() - served):
            try:
                self.dhcp.remove(network_id, namespaces)
            except DataplaneError as exc:
                errors[network_id] = exc.message
        return errors

    def teardown(self) -> None:
        with self._exclusive():
            host = self._host() if self.underlay is not None else None
            if host is not None and host.exists():
                errors = self._converge(HostWiring(host=self.host)).errors
            else:
                # No host namespace (never initialised here, or deleted by hand): the DHCP servers live in their
                # own namespaces and the port bridges in the root one, and must go all the same.
                root = Namespace(self.runner, None).refresh()
                errors = self._sweep(HostWiring(host=self.host), root, root, inspect.namespaces(self.runner))
            if host is not None:
                host.remove()
            if errors:
                raise DataplaneError(reason=f"host {self.host}: teardown left {errors}")
            self.last = None
        shutil.rmtree(self.directory, ignore_errors=True)
