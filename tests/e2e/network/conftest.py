"""Two simulated hosts on one machine, guests that stand in for VMs, and the control side's job in miniature.

Hosts are network namespaces on a test-private underlay bridge with 198.18.x.y addresses (RFC 2544's benchmark
range, never routed); a guest is a namespace whose ``eth0`` is a veth whose outer end is named and placed exactly
as libvirt's tap would be: ``tap<id11>`` in ``qbr<id11>`` in the root namespace. Every name carries this run's
random tag, so the tests never touch anything else on the machine, and finalizers remove what was made even when
a test fails.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from network.devicenames import dhcp_namespace, vif_names
from network.host.dataplane.base import ApplyResult, HostUnderlay
from network.host.dataplane.linux.driver import LinuxDataplane
from network.wire import DhcpWiring, HostWiring, NetworkWiring, PortWiring, RemotePort, Rule
from tests.harness import wait_until

RUN = uuid.uuid4().hex[:5]
OPEN = (Rule("egress", "IPv4"), Rule("egress", "IPv6"), Rule("ingress", "IPv4", "icmp"))
"""Egress anywhere (as Neutron's default group) and ICMP in: what most tests need to ping."""
GUEST_NUMBERS = itertools.count(1)


def sh(*argv: str, netns: str | None = None, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    result = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def random_mac() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


def port(ip: str | None, rules: tuple[Rule, ...] = OPEN, **changes: object) -> PortWiring:
    return PortWiring(port_id=str(uuid.uuid4()), mac=random_mac(), ips=(ip,) if ip else (), rules=rules, **changes)


@dataclass
class Net:
    """A network as the control side knows it: which port is on which host, and who serves DHCP."""

    vni: int
    mtu: int = 1450
    network_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    placed: list[tuple[str, PortWiring]] = field(default_factory=list)
    dhcp: tuple[str, DhcpWiring] | None = None

    def place(self, host: str, *ports: PortWiring) -> Net:
        self.placed += [(host, p) for p in ports]
        return self

    def hosts(self) -> set[str]:
        return {host for host, _ in self.placed} | ({self.dhcp[0]} if self.dhcp else set())

    def wiring(self, host: str, underlay_ips: dict[str, str]) -> NetworkWiring:
        """L2 population: every port elsewhere as a forwarding entry, every other host as a flooding target."""
        remote = [RemotePort(p.mac, p.ips[0] if p.ips else "", underlay_ips[h]) for h, p in self.placed if h != host]
        if self.dhcp and self.dhcp[0] != host:
            remote.append(RemotePort(self.dhcp[1].mac, self.dhcp[1].ip, underlay_ips[self.dhcp[0]]))
        return NetworkWiring(
            network_id=self.network_id,
            vni=self.vni,
            mtu=self.mtu,
            ports=tuple(p for h, p in self.placed if h == host),
            remote=tuple(remote),
            remote_vteps=tuple(underlay_ips[h] for h in sorted(self.hosts()) if h != host),
            dhcp=self.dhcp[1] if self.dhcp and self.dhcp[0] == host else None,
        )


class Cloud:
    """Simulated hosts ``h1`` and ``h2`` with their drivers, and the computation of each host's state."""

    def __init__(self, tag: str, state_dir: Path) -> None:
        subnet = random.randrange(256)
        self.tag = tag
        self.dhcp_namespaces: set[str] = set()
        """DHCP namespaces any state of this cloud asked for (they are named after networks, not after the run)."""
        self.bridge = f"sul{tag}"
        self.underlays = {
            name: HostUnderlay(
                underlay_ip=f"198.18.{subnet}.{i}", namespace=f"s{tag}-{name}", underlay_bridge=self.bridge
            )
            for i, name in enumerate(("h1", "h2"), start=1)
        }
        self.drivers = {name: LinuxDataplane(f"{tag}-{name}", state_dir) for name in self.underlays}
        self.generation = itertools.count(1)
        self.vnis = iter(random.sample(range(1000, 1 << 24), 64))

    def up(self) -> Cloud:
        for name, driver in self.drivers.items():
            driver.init_host(self.underlays[name])
        return self

    def ns(self, host: str) -> str:
        namespace = self.underlays[host].namespace
        assert namespace is not None
        return namespace

    def states(self, nets: list[Net], generation: int | None = None) -> dict[str, HostWiring]:
        ips = {name: u.underlay_ip for name, u in self.underlays.items()}
        gen = next(self.generation) if generation is None else generation
        return {
            host: HostWiring(
                host=host, generation=gen, networks=tuple(n.wiring(host, ips) for n in nets if host in n.hosts())
            )
            for host in self.drivers
        }

    def current(self, host: str) -> int:
        """The generation in effect on ``host`` (to apply the same state again)."""
        last = self.drivers[host].last
        assert last is not None, f"nothing applied on {host}"
        return last.generation

    def apply(self, nets: list[Net], generation: int | None = None, errors: bool = False) -> dict[str, ApplyResult]:
        """Apply the state to both hosts; the second apply of it must write nothing (idempotency, every time).
        ``errors``: the test expects some; otherwise there must be none."""
        states = self.states(nets, generation)
        self.dhcp_namespaces |= {dhcp_namespace(net.network_id) for net in nets if net.dhcp}
        results = {host: self.drivers[host].apply(state) for host, state in states.items()}
        if not errors:
            assert all(not result.errors for result in results.values()), results
        for host, state in states.items():
            mark = self.drivers[host].runner.mark()
            self.drivers[host].apply(state)
            again = self.drivers[host].runner.writes(since=mark)
            assert not again, f"second apply on {host} wrote: {[str(c) for c in again]}"
        return results

    def teardown(self) -> None:
        for driver in self.drivers.values():
            driver.teardown()

    def force_clean(self) -> None:
        """Whatever a failed test or a broken teardown left: nothing of this cloud may outlive it."""
        for netns in _namespaces():
            if netns.startswith(f"s{self.tag}-") or netns in self.dhcp_namespaces:
                for pid in sh("ip", "netns", "pids", netns, check=False).stdout.split():
                    sh("kill", "-9", pid, check=False)
                sh("ip", "netns", "del", netns, check=False)
        for link in _root_links():
            if link.startswith(("qbr", "qvb", "tap")) and _alias(link).startswith(f"stratus:{self.tag}-"):
                sh("ip", "link", "del", link, check=False)
        sh("ip", "link", "del", self.bridge, check=False)


def _namespaces() -> list[str]:
    out = sh("ip", "-j", "netns", "list").stdout.strip()
    return [entry["name"] for entry in json.loads(out)] if out else []


def _root_links() -> list[str]:
    return [entry["ifname"] for entry in json.loads(sh("ip", "-j", "link", "show").stdout)]


def _alias(link: str) -> str:
    found = json.loads(sh("ip", "-j", "link", "show", "dev", link, check=False).stdout or "[]")
    return found[0].get("ifalias", "") if found else ""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """Two hosts shared by the module's tests; each test applies its complete state, replacing the last one's."""
    made = Cloud(RUN, tmp_path_factory.mktemp("dataplane"))
    try:
        yield made.up()
        made.teardown()
    finally:
        made.force_clean()


@dataclass
class Guest:
    """A stand-in for a VM on ``port``: a namespace whose eth0 has the port's MAC."""

    netns: str
    port: PortWiring

    def run(self, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        return sh(*argv, netns=self.netns, check=check, timeout=timeout)

    def ping(self, ip: str, count: int = 1, wait: float = 1) -> bool:
        return self.run("ping", "-n", "-q", "-c", str(count), "-W", str(wait), ip, check=False).returncode == 0

    def ping_until(self, ip: str, timeout: float = 10) -> bool:
        """The first ping of a path waits for ARP and forwarding entries; later ones must pass at once. False when
        none passed within ``timeout``, so the caller's assertion says what it meant."""
        try:
            return wait_until(lambda: self.ping(ip, wait=0.5), timeout, interval=0)  # each ping waits itself
        except AssertionError:
            return False

    def mac_of(self, ip: str) -> str:
        out = self.run("ip", "-j", "neigh", "show", ip).stdout
        entries = [e for e in json.loads(out or "[]") if "lladdr" in e]
        return entries[0]["lladdr"] if entries else ""


MakeGuest = Callable[..., Guest]


@pytest.fixture
def guests() -> Iterator[MakeGuest]:
    """``make(port, cidr, mtu)``: plug a guest into its port's ``qbr`` as libvirt plugs a tap."""
    made: list[tuple[str, str]] = []

    def make(p: PortWiring, cidr: str | None, mtu: int = 1450, host_netns: str | None = None) -> Guest:
        """``host_netns``: the namespace that plays a real host's root namespace (default: the real one)."""
        netns, tap = f"s{RUN}-g{next(GUEST_NUMBERS)}", vif_names(p.port_id).tap
        on_host = ["-n", host_netns] if host_netns else []
        made.append((netns, tap, on_host))
        sh("ip", "netns", "add", netns)
        sh("ip", *on_host, "link", "add", tap, "mtu", str(mtu), "type", "veth", "peer", "name", "eth0", "netns", netns)
        sh("ip", "-n", netns, "link", "set", "dev", "eth0", "address", p.mac, "mtu", str(mtu), "up")
        sh("ip", "-n", netns, "link", "set", "dev", "lo", "up")
        if cidr:
            sh("ip", "-n", netns, "addr", "add", cidr, "dev", "eth0")
        sh("ip", *on_host, "link", "set", "dev", tap, "master", vif_names(p.port_id).bridge, "up")
        return Guest(netns, p)

    yield make
    for netns, tap, on_host in made:
        sh("ip", "netns", "del", netns, check=False)
        sh("ip", *on_host, "link", "del", tap, check=False)


AGENT = """
import json, sys
from common.settings import Settings
from network.host.dataplane import driver_for, underlay_for
from network.wire import HostWiring
settings = Settings(network_dataplane="linux", host=sys.argv[1], state_dir=sys.argv[2], network_underlay_device="eth0")
driver = driver_for(settings)
underlay = underlay_for(settings)
driver.init_host(underlay)
mark = driver.runner.mark()
if sys.argv[3] == "teardown":
    driver.teardown()
    result = {}
else:
    result = driver.apply(HostWiring.from_dict(json.loads(sys.argv[3]))).to_dict()
writes = [str(command) for command in driver.runner.writes(since=mark)]
print(json.dumps({"underlay": underlay.to_dict(), "result": result, "writes": writes}))
"""


@dataclass
class RealHost:
    """A host whose dataplane lives in the root namespace, played by an agent process started in a namespace of
    its own (for that process it *is* the root one): one NIC ``eth0`` on the test's underlay with a default
    route, so the underlay address is found as on a real host."""

    netns: str
    state_dir: Path
    host: str = "real"

    def agent(self, command: str) -> dict:
        out = sh(
            "ip", "netns", "exec", self.netns, sys.executable, "-c", AGENT, self.host, str(self.state_dir), command
        )
        return json.loads(out.stdout)

    def apply(self, state: HostWiring) -> dict:
        return self.agent(json.dumps(state.to_dict()))


@pytest.fixture
def real_host(cloud: Cloud, tmp_path: Path) -> Iterator[RealHost]:
    netns, outer = f"s{RUN}-real", f"u{RUN}real"
    prefix = cloud.underlays["h1"].underlay_ip.rsplit(".", 1)[0]
    try:
        sh("ip", "netns", "add", netns)
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", netns)
        sh("ip", "link", "set", "dev", outer, "master", cloud.bridge, "up")
        sh("ip", "-n", netns, "addr", "add", f"{prefix}.3/24", "dev", "eth0")
        sh("ip", "-n", netns, "link", "set", "dev", "eth0", "up")
        sh("ip", "-n", netns, "link", "set", "dev", "lo", "up")
        sh("ip", "-n", netns, "route", "add", "default", "via", f"{prefix}.254", "dev", "eth0")
        yield RealHost(netns, tmp_path)
    finally:
        for pid in sh("ip", "netns", "pids", netns, check=False).stdout.split():
            sh("kill", "-9", pid, check=False)
        sh("ip", "netns", "del", netns, check=False)
        sh("ip", "link", "del", outer, check=False)
