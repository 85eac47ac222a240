"""Routers and floating IPs on the real kernel, at the driver: two simulated hosts, guests in namespaces behind
routers, and the machine's root namespace standing for the outside world on a test-private external bridge.

The external network is 198.19.<random>.0/24 (the second half of RFC 2544's benchmark range, never routed) on a
bridge named after this run, so the tests never touch a cloud of ``make up`` (``stratus-ex``, 172.24.4.0/24) that
may run beside them. Every apply is applied twice and the second must write nothing (``Cloud.apply``).
"""

from __future__ import annotations

import dataclasses
import json
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from network.devicenames import router_namespace
from network.wire import (
    FloatingIPWiring,
    HostWiring,
    NetworkWiring,
    RemotePort,
    RouterGateway,
    RouterInterface,
    RouterWiring,
    Rule,
)
from tests.e2e.network.conftest import OPEN, Cloud, Guest, MakeGuest, Net, port, random_mac, sh
from tests.harness import wait_until

pytestmark = pytest.mark.e2e

TAG = uuid.uuid4().hex[:5]
SUBNET = random.randrange(256)
EXTERNAL = f"198.19.{SUBNET}"
ECHO_PORT = 7777
RULES = (*OPEN, Rule("ingress", "IPv4", "udp"))
ECHO = (
    "import socket,sys; s=socket.socket(2,2); s.bind(('0.0.0.0',int(sys.argv[1])))\n"
    "while True:\n d,a=s.recvfrom(64); s.sendto(sys.argv[2].encode(),a)"
)


@dataclass
class RoutedNet(Net):
    """A tenant network with router interfaces: the hosts without the router learn its port as a remote one."""

    interfaces: list[tuple[str, RouterInterface]] = field(default_factory=list)

    def hosts(self) -> set[str]:
        return super().hosts() | {host for host, _ in self.interfaces}

    def wiring(self, host: str, underlay_ips: dict[str, str]) -> NetworkWiring:
        base = super().wiring(host, underlay_ips)
        routers = tuple(
            RemotePort(i.mac, i.addresses[0].partition("/")[0], underlay_ips[h])
            for h, i in self.interfaces
            if h != host
        )
        return dataclasses.replace(base, remote=base.remote + routers)


class RoutedCloud(Cloud):
    """``routers``: host -> the routers it runs, added to each state the cloud computes."""

    def __init__(self, tag: str, state_dir: Path) -> None:
        super().__init__(tag, state_dir)
        self.external = f"sex{tag}"
        self.underlays = {
            name: dataclasses.replace(
                u, physical_bridges=(("public", self.external),), external_host_address=f"{EXTERNAL}.1/24"
            )
            for name, u in self.underlays.items()
        }
        self.routers: dict[str, list[RouterWiring]] = {}
        self.router_ids: set[str] = set()

    def states(self, nets: list[Net], generation: int | None = None) -> dict[str, HostWiring]:
        states = super().states(nets, generation)
        for routers in self.routers.values():
            self.router_ids |= {r.router_id for r in routers}
        return {
            host: dataclasses.replace(state, routers=tuple(self.routers.get(host, ())))
            for host, state in states.items()
        }

    def force_clean(self) -> None:
        super().force_clean()
        for router_id in self.router_ids:
            sh("ip", "netns", "del", router_namespace(router_id), check=False)
        for link in json.loads(sh("ip", "-j", "link", "show").stdout):
            if link.get("ifalias", "").startswith(f"stratus:{self.tag}-"):
                sh("ip", "link", "del", link["ifname"], check=False)
        sh("ip", "link", "del", self.external, check=False)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoutedCloud]:
    made = RoutedCloud(TAG, tmp_path_factory.mktemp("routers"))
    try:
        yield made.up()  # type: ignore[misc]
        made.teardown()
    finally:
        made.force_clean()


def router(
    nets: list[tuple[RoutedNet, str, str]],
    gateway_ip: str,
    floating: tuple[tuple[str, str], ...] = (),
    **changes: object,
) -> RouterWiring:
    """A router on ``host`` with an interface (address ``cidr``-style) on each net, placed on the nets."""
    interfaces = []
    for net, host, address in nets:
        interface = RouterInterface(str(uuid.uuid4()), net.network_id, random_mac(), (address,))
        net.interfaces.append((host, interface))
        interfaces.append(interface)
    return RouterWiring(
        router_id=str(uuid.uuid4()),
        interfaces=tuple(interfaces),
        gateway=RouterGateway(str(uuid.uuid4()), "public", random_mac(), (f"{gateway_ip}/24",), f"{EXTERNAL}.1"),
        snat_cidrs=tuple(sorted({a.rpartition(".")[0] + ".0/24" for _, _, a in nets})),
        floating_ips=tuple(FloatingIPWiring(f, fixed) for f, fixed in floating),
        **changes,  # type: ignore[arg-type]
    )


def guest_on(guests: MakeGuest, p, ip: str) -> Guest:
    guest = guests(p, f"{ip}/24")
    guest.run("ip", "route", "add", "default", "via", ip.rpartition(".")[0] + ".1")
    return guest


@pytest.fixture
def echoes() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        process.kill()
        process.wait(timeout=5)


def echo(started: list[subprocess.Popen], guest: Guest, name: str) -> None:
    """A UDP service in the guest that answers every datagram with ``name``: who answered a floating IP."""
    started.append(
        subprocess.Popen(["ip", "netns", "exec", guest.netns, sys.executable, "-c", ECHO, str(ECHO_PORT), name])
    )


def ask(address: str, sock: socket.socket | None = None, timeout: float = 0.5) -> str:
    """The name of whoever answers ``address``'s echo service ("" for nobody), from the machine's namespace."""
    own = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        own.settimeout(timeout)
        own.sendto(b"?", (address, ECHO_PORT))
        return own.recvfrom(64)[0].decode()
    except TimeoutError:
        return ""
    finally:
        if sock is None:
            own.close()


ASK_CONNECTED = (
    "import socket,sys; s=socket.socket(2,2); s.settimeout(0.5); s.connect((sys.argv[1],int(sys.argv[2])));"
    "s.send(b'?')\ntry: print(s.recv(64).decode())\nexcept OSError: print('')"
)


def ask_from(guest: Guest, address: str) -> str:
    """As ``ask``, from inside ``guest``, on a connected socket (answers from another address are dropped)."""
    return guest.run(sys.executable, "-c", ASK_CONNECTED, address, str(ECHO_PORT)).stdout.strip()


def answered_by(address: str, name: str, timeout: float = 10) -> bool:
    try:
        return wait_until(lambda: ask(address) == name, timeout, interval=0)
    except AssertionError:
        return False


def ping_from_machine(address: str) -> bool:
    return sh("ping", "-n", "-q", "-c", "1", "-W", "1", address, check=False).returncode == 0


def test_a_guest_behind_a_router_reaches_the_outside_as_the_routers_gateway_address(
    cloud: RoutedCloud, guests: MakeGuest, tmp_path: Path
) -> None:
    net = RoutedNet(vni=next(cloud.vnis))
    p = port("10.0.0.7", RULES)
    net.place("h1", p)
    routed = router([(net, "h1", "10.0.0.1/24")], f"{EXTERNAL}.5")
    cloud.routers = {"h1": [routed]}
    results = cloud.apply([net])
    assert results["h1"].routers == (routed.router_id,)
    assert {routed.interfaces[0].port_id, routed.gateway.port_id} <= set(results["h1"].wired)  # type: ignore[union-attr]
    guest = guest_on(guests, p, "10.0.0.7")
    capture = tmp_path / "external.pcap"
    with subprocess.Popen(
        ["tcpdump", "-i", cloud.external, "-n", "-l", "--immediate-mode", "icmp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as dump:
        try:
            assert dump.stderr is not None
            assert any("listening on" in dump.stderr.readline() for _ in range(3))
            assert guest.ping_until(f"{EXTERNAL}.1")
            time.sleep(0.3)
        finally:
            dump.send_signal(signal.SIGINT)
            out, _ = dump.communicate(timeout=5)
    capture.write_text(out)
    requests = [line for line in out.splitlines() if "echo request" in line]
    assert requests and all(f"IP {EXTERNAL}.5 > {EXTERNAL}.1" in line for line in requests), out
    assert "10.0.0.7" not in out


CONNECT = (
    "import socket,sys\ntry: socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2); print('open')\n"
    "except OSError: print('closed')"
)


def test_guests_behind_a_router_ping_the_machine_but_open_no_connection_to_it(
    cloud: RoutedCloud, guests: MakeGuest
) -> None:
    """The machine's address on the external bridge is reachable through SNAT (the gateway answers pings), but a
    service of the machine listening on all addresses is not: the bridge's edge guard drops new connections."""
    net = RoutedNet(vni=next(cloud.vnis))
    p = port("10.0.0.7", RULES)
    net.place("h1", p)
    cloud.routers = {"h1": [router([(net, "h1", "10.0.0.1/24")], f"{EXTERNAL}.5")]}
    cloud.apply([net])
    guest = guest_on(guests, p, "10.0.0.7")
    with socket.create_server(("0.0.0.0", 0)) as service:  # the machine's own service, on every address
        number = service.getsockname()[1]
        assert guest.ping_until(f"{EXTERNAL}.1")
        assert guest.run(sys.executable, "-c", CONNECT, f"{EXTERNAL}.1", str(number)).stdout.strip() == "closed"
        probe = socket.create_connection(("127.0.0.1", number), timeout=2)  # the service itself does answer
        probe.close()


def test_a_floating_ip_reaches_its_own_guest_and_only_it(
    cloud: RoutedCloud, guests: MakeGuest, echoes: list[subprocess.Popen]
) -> None:
    net = RoutedNet(vni=next(cloud.vnis))
    a, b = port("10.0.0.7", RULES), port("10.0.0.8", RULES)
    net.place("h1", a, b)
    routed = router([(net, "h1", "10.0.0.1/24")], f"{EXTERNAL}.5", ((f"{EXTERNAL}.50", "10.0.0.7"),))
    cloud.routers = {"h1": [routed]}
    cloud.apply([net])
    ga, gb = guest_on(guests, a, "10.0.0.7"), guest_on(guests, b, "10.0.0.8")
    echo(echoes, ga, "a")
    echo(echoes, gb, "b")
    assert answered_by(f"{EXTERNAL}.50", "a")
    assert ping_from_machine(f"{EXTERNAL}.50")
    assert not ping_from_machine(f"{EXTERNAL}.51"), "an unassociated address answered"
    assert ga.ping(f"{EXTERNAL}.1")
    # A connected socket takes answers from the floating IP only: without the hairpin translation a answers b
    # from its fixed address, directly on the subnet.
    assert wait_until(lambda: ask_from(gb, f"{EXTERNAL}.50") == "a", 10, interval=0), "no hairpin to a floating IP"


def test_two_projects_with_the_same_cidr_each_reach_only_their_own_guest(
    cloud: RoutedCloud, guests: MakeGuest, echoes: list[subprocess.Popen]
) -> None:
    one, two = RoutedNet(vni=next(cloud.vnis)), RoutedNet(vni=next(cloud.vnis))
    p1, p2 = port("10.0.0.7", RULES), port("10.0.0.7", RULES)
    one.place("h1", p1)
    two.place("h2", p2)
    r1 = router([(one, "h1", "10.0.0.1/24")], f"{EXTERNAL}.5", ((f"{EXTERNAL}.50", "10.0.0.7"),))
    r2 = router([(two, "h1", "10.0.0.1/24")], f"{EXTERNAL}.6", ((f"{EXTERNAL}.51", "10.0.0.7"),))
    cloud.routers = {"h1": [r1, r2]}
    cloud.apply([one, two])
    g1, g2 = guest_on(guests, p1, "10.0.0.7"), guest_on(guests, p2, "10.0.0.7")
    echo(echoes, g1, "one")
    echo(echoes, g2, "two")
    assert answered_by(f"{EXTERNAL}.50", "one")
    assert answered_by(f"{EXTERNAL}.51", "two")
    for _ in range(5):
        assert (ask(f"{EXTERNAL}.50"), ask(f"{EXTERNAL}.51")) == ("one", "two")


def test_a_floating_ip_moved_to_another_guest_answers_from_it_within_two_seconds(
    cloud: RoutedCloud, guests: MakeGuest, echoes: list[subprocess.Popen]
) -> None:
    net = RoutedNet(vni=next(cloud.vnis))
    a, b = port("10.0.0.7", RULES), port("10.0.0.8", RULES)
    net.place("h1", a).place("h2", b)
    first = router([(net, "h1", "10.0.0.1/24")], f"{EXTERNAL}.5", ((f"{EXTERNAL}.50", "10.0.0.7"),))
    cloud.routers = {"h1": [first]}
    cloud.apply([net])
    echo(echoes, guest_on(guests, a, "10.0.0.7"), "a")
    echo(echoes, guest_on(guests, b, "10.0.0.8"), "b")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # one source port: one conntrack entry to flush
    try:
        assert wait_until(lambda: ask(f"{EXTERNAL}.50", client) == "a", 10, interval=0)
        cloud.routers = {
            "h1": [dataclasses.replace(first, floating_ips=(FloatingIPWiring(f"{EXTERNAL}.50", "10.0.0.8"),))]
        }
        cloud.apply([net])
        moved = time.monotonic()
        assert wait_until(lambda: ask(f"{EXTERNAL}.50", client, 0.2) == "b", 2, interval=0)
        assert time.monotonic() - moved < 2
    finally:
        client.close()


def test_a_router_on_one_host_serves_a_guest_on_the_other_across_vxlan(
    cloud: RoutedCloud, guests: MakeGuest, echoes: list[subprocess.Popen]
) -> None:
    net = RoutedNet(vni=next(cloud.vnis))
    p = port("10.0.0.7", RULES)
    net.place("h1", p)
    routed = router([(net, "h2", "10.0.0.1/24")], f"{EXTERNAL}.5", ((f"{EXTERNAL}.50", "10.0.0.7"),))
    cloud.routers = {"h2": [routed]}
    results = cloud.apply([net])
    assert results["h2"].routers == (routed.router_id,) and results["h1"].routers == ()
    guest = guest_on(guests, p, "10.0.0.7")
    echo(echoes, guest, "far")
    assert answered_by(f"{EXTERNAL}.50", "far")
    assert guest.ping_until(f"{EXTERNAL}.1")


def test_a_deleted_namespace_or_a_flushed_ruleset_is_repaired_by_the_next_apply(
    cloud: RoutedCloud, guests: MakeGuest, echoes: list[subprocess.Popen]
) -> None:
    net = RoutedNet(vni=next(cloud.vnis))
    p = port("10.0.0.7", RULES)
    net.place("h1", p)
    routed = router([(net, "h1", "10.0.0.1/24")], f"{EXTERNAL}.5", ((f"{EXTERNAL}.50", "10.0.0.7"),))
    cloud.routers = {"h1": [routed]}
    cloud.apply([net])
    echo(echoes, guest_on(guests, p, "10.0.0.7"), "a")
    assert answered_by(f"{EXTERNAL}.50", "a")
    namespace = router_namespace(routed.router_id)
    sh("ip", "netns", "exec", namespace, "nft", "flush", "ruleset")
    assert ask(f"{EXTERNAL}.50") == ""
    cloud.apply([net])  # the same state again, as the periodic resync sends it
    assert answered_by(f"{EXTERNAL}.50", "a")
    sh("ip", "netns", "del", namespace)
    time.sleep(0.2)
    assert not ping_from_machine(f"{EXTERNAL}.50")
    cloud.apply([net])  # the same state again, as the periodic resync sends it
    assert answered_by(f"{EXTERNAL}.50", "a")


def test_removing_routers_leaves_no_namespace_device_route_or_rule(cloud: RoutedCloud, guests: MakeGuest) -> None:
    net = RoutedNet(vni=next(cloud.vnis))
    p = port("10.0.0.7", RULES)
    net.place("h1", p)
    routed = router(
        [(net, "h2", "10.0.0.1/24")],
        f"{EXTERNAL}.5",
        ((f"{EXTERNAL}.50", "10.0.0.7"),),
        routes=(("192.168.50.0/24", "10.0.0.99"),),
    )
    cloud.routers = {"h2": [routed]}
    cloud.apply([net])
    namespace = router_namespace(routed.router_id)
    routes = sh("ip", "-n", namespace, "route", "show", "proto", "static").stdout
    assert f"default via {EXTERNAL}.1" in routes and "192.168.50.0/24 via 10.0.0.99" in routes
    before = {link["ifname"] for link in json.loads(sh("ip", "-j", "link", "show", "master", cloud.external).stdout)}
    assert before, "the gateway is not on the external bridge"
    cloud.routers = {}
    cloud.apply([net])
    assert namespace not in sh("ip", "netns", "list").stdout
    after = json.loads(sh("ip", "-j", "link", "show", "master", cloud.external).stdout)
    assert after == []
    for host in ("h1", "h2"):
        links = json.loads(sh("ip", "-n", cloud.ns(host), "-j", "link", "show").stdout)
        assert not [link["ifname"] for link in links if ":router:" in link.get("ifalias", "")]
    assert not ping_from_machine(f"{EXTERNAL}.50")
    leftovers = json.loads(sh("ip", "-j", "link", "show").stdout)  # this router's only: other clouds may run here
    assert not [link["ifname"] for link in leftovers if f":router:{routed.router_id}" in link.get("ifalias", "")]


@pytest.mark.parametrize("first", ["h2", "h1"])
def test_a_router_moving_to_the_other_host_keeps_answering_whichever_host_applies_first(
    cloud: RoutedCloud, guests: MakeGuest, echoes: list[subprocess.Popen], first: str
) -> None:
    """Simulated hosts share the ``qrouter-`` namespace's name and the root bridge: the new host takes them over
    when it applies first, and the old host then leaves them alone; applied the other way round the old host
    removes its namespace and the new one makes it again."""
    net = RoutedNet(vni=next(cloud.vnis))
    p = port("10.0.0.7", RULES)
    net.place("h1", p)
    routed = router([(net, "h1", "10.0.0.1/24")], f"{EXTERNAL}.5", ((f"{EXTERNAL}.50", "10.0.0.7"),))
    cloud.routers = {"h1": [routed]}
    cloud.apply([net])
    echo(echoes, guest_on(guests, p, "10.0.0.7"), "a")
    assert answered_by(f"{EXTERNAL}.50", "a")
    _, interface = net.interfaces[0]
    net.interfaces[0] = ("h2", interface)
    cloud.routers = {"h2": [routed]}
    states = cloud.states([net])
    for name in (first, "h1" if first == "h2" else "h2"):
        assert not cloud.drivers[name].apply(states[name]).errors
    assert answered_by(f"{EXTERNAL}.50", "a")
    namespace = router_namespace(routed.router_id)
    owners = {
        link.get("ifalias", "").split(":")[1]
        for link in json.loads(sh("ip", "-n", namespace, "-j", "link", "show").stdout)
        if link.get("ifalias", "").startswith("stratus:")
    }
    assert owners == {f"{TAG}-h2"}
    cloud.apply([net])  # and the state in effect applied again on both writes nothing
