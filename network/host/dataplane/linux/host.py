"""The host itself: its namespace and underlay wire when it is simulated, and the sysctls filtering needs.

A simulated host is a network namespace with one veth (``ul0`` inside, ``ul-<name>`` outside) into a root
namespace bridge shared by all simulated hosts of the machine: that bridge is the underlay network, and each
host's VXLAN traffic leaves by its own address on it, exactly as real hosts' traffic would on a switch.

Every host, simulated or real, also has the root-namespace bridges of its flat physical networks (the external
network's wire, into which routers plug their gateways). Simulated hosts share them like the underlay bridge; the
external one carries the machine's own address there, so the machine reaches floating IPs, and the edge guard
(``edge``) keeps tenants from opening connections to the machine through it. Nothing is routed or NATed from them
to the machine's uplink.
"""

from __future__ import annotations

from network.devicenames import HOST_UNDERLAY, underlay_veth
from network.host.dataplane.base import EXTERNAL_PHYSNET, DataplaneError, HostUnderlay
from network.host.dataplane.linux import edge, inspect
from network.host.dataplane.linux.inspect import TAG, owner_tag
from network.host.dataplane.linux.links import Namespace, ensure_veth
from network.host.dataplane.linux.runner import CommandFailed, Runner

SHARED_TAG = f"{TAG}::underlay"
"""Alias of an underlay bridge a driver created; it belongs to no single host and goes when no host uses it."""
PHYSNET_TAG = f"{TAG}::physnet"
"""Alias of a physical network's bridge a driver created; shared like the underlay bridge."""
SYSCTLS = {
    # Bridged IPv4/IPv6 packets traverse the inet hooks, where connection tracking (and so the security groups'
    # "replies of allowed connections") works; the bridge family has no conntrack on our kernels.
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
}


class HostNamespace:
    def __init__(self, runner: Runner, host: str, underlay: HostUnderlay) -> None:
        self.runner = runner
        self.host = host
        self.underlay = underlay

    @property
    def netns(self) -> str | None:
        return self.underlay.namespace

    def exists(self) -> bool:
        return self.netns is None or self.netns in inspect.namespaces(self.runner)

    def ensure(self) -> None:
        if self.netns is not None:
            self._ensure_simulated(self.netns)
        else:
            self._check_real()
        self.ensure_physical_bridges()
        for key, value in SYSCTLS.items():
            if inspect.sysctl(self.runner, self.netns, key) != value:
                self.runner.write(["sysctl", "-q", "-w", f"{key}={value}"], self.netns)

    def _shared_bridge(self, root: Namespace, name: str, mtu: int, tag: str, what: str) -> None:
        """A root-namespace bridge several hosts share: made when missing, brought up, otherwise left as it is (an
        operator's bridge keeps its settings)."""
        bridge = root.get(name)
        if bridge is None:
            try:
                root.ensure(name, ["bridge"], mtu=mtu, tag=tag)
            except CommandFailed:  # the agent of another simulated host, starting at the same time, made it
                bridge = root.refresh().get(name)
                if bridge is None:
                    raise
        if bridge is not None and bridge.kind != "bridge":
            raise DataplaneError(reason=f"{what} {name} exists and is a {bridge.kind}")
        if bridge is not None and not bridge.up:
            root.ip("link", "set", "dev", name, "up")

    def ensure_physical_bridges(self) -> None:
        """The physical networks' bridges, made again when another host of the machine removed them."""
        u = self.underlay
        if not u.physical_bridges:
            return
        root = Namespace(self.runner, None).refresh()
        for physnet, name in u.physical_bridges:
            self._shared_bridge(root, name, 1500, PHYSNET_TAG, f"bridge of physical network {physnet}")
            address = u.external_host_address if physnet == EXTERNAL_PHYSNET else ""
            if address and address not in inspect.addresses(self.runner, None, name):
                result = self.runner.run(["ip", "addr", "add", address, "dev", name], None, write=True, check=False)
                # Another host of the machine, starting at the same time, may have added it since: that is fine.
                if result.returncode != 0 and address not in inspect.addresses(self.runner, None, name):
                    raise CommandFailed(command=f"ip addr add dev {name}", stderr=result.stderr.strip())
            if address:
                self._guard(name)

    def _guard(self, bridge: str) -> None:
        """The edge guard of a bridge holding the machine's address, loaded when missing (deleted by hand, or
        never made): the same script on every host of the machine, so whichever loads it first is right."""
        if (edge.FAMILY, edge.table(bridge)) not in inspect.nft_tables(self.runner, None):
            self.runner.write(["nft", "-f", "-"], None, input=edge.render(bridge))

    def _ensure_simulated(self, netns: str) -> None:
        u = self.underlay
        root = Namespace(self.runner, None).refresh()
        self._shared_bridge(root, u.underlay_bridge, u.underlay_mtu, SHARED_TAG, "underlay bridge")
        if not self.exists():
            self.runner.ip("netns", "add", netns)
        inner = Namespace(self.runner, netns).refresh()
        lo = inner.get("lo")
        if lo is not None and not lo.up:
            inner.ip("link", "set", "dev", "lo", "up")
        ensure_veth(
            root,
            underlay_veth(netns),
            inner,
            HOST_UNDERLAY,
            mtu=u.underlay_mtu,
            tag=owner_tag(self.host, "underlay"),
            a_master=u.underlay_bridge,
        )
        wanted = f"{u.underlay_ip}/{u.underlay_prefix}"
        actual = inspect.addresses(self.runner, netns, HOST_UNDERLAY)
        for address in sorted(actual - {wanted}):
            inner.ip("addr", "del", address, "dev", HOST_UNDERLAY)
        if wanted not in actual:
            inner.ip("addr", "add", wanted, "dev", HOST_UNDERLAY, *(["nodad"] if ":" in wanted else []))

    def _check_real(self) -> None:
        data = self.runner.read_json(["ip", "-j", "addr", "show"])
        local = {a["local"] for entry in data for a in entry.get("addr_info", ())}
        if self.underlay.underlay_ip not in local:
            raise DataplaneError(reason=f"underlay address {self.underlay.underlay_ip} is not on this host")
        device = self.underlay.underlay_device
        if device and device not in {entry["ifname"] for entry in data}:
            raise DataplaneError(reason=f"underlay device {device} does not exist")

    def remove(self) -> None:
        """Delete a simulated host's namespace (its devices and its end of the underlay veth go with it), and
        the shared underlay and physical networks' bridges we made once no port is left on them. A real host keeps
        its sysctls."""
        root = Namespace(self.runner, None).refresh()
        if self.netns is None:
            self._remove_unused(root, [(name, PHYSNET_TAG) for _, name in self.underlay.physical_bridges])
            return
        # The outer end first: a namespace is destroyed asynchronously, and its veths with it.
        root.delete(underlay_veth(self.netns))
        if self.exists():
            self.runner.ip("netns", "del", self.netns)
        shared = [(self.underlay.underlay_bridge, SHARED_TAG)]
        shared += [(name, PHYSNET_TAG) for _, name in self.underlay.physical_bridges]
        self._remove_unused(root.refresh(), shared)

    @staticmethod
    def _remove_unused(root: Namespace, shared: list[tuple[str, str]]) -> None:
        for name, tag in shared:
            bridge = root.get(name)
            in_use = any(link.master == name for link in root.links.values())
            if bridge is not None and bridge.alias == tag and not in_use:
                root.delete(name)
                if tag == PHYSNET_TAG and (edge.FAMILY, edge.table(name)) in inspect.nft_tables(root.runner, None):
                    root.runner.write(["nft", "delete", "table", edge.FAMILY, edge.table(name)], None)
