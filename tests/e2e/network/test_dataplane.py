"""The Linux dataplane on the real kernel: two simulated hosts, VXLAN between them, guests in namespaces.

What must work (pings that pass) and what must not (pings that fail, each right after one that passed, so a
failure means the dataplane stopped it and not that the path was never there). Every apply in these tests is
applied twice, and the second one must write nothing (see ``Cloud.apply``).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from network.devicenames import dhcp_namespace, network_bridge, vif_names, vxlan_device
from network.host.dataplane.linux.driver import LinuxDataplane
from network.host.dataplane.linux.runner import Runner
from network.wire import DhcpSubnet, DhcpWiring, HostWiring, PortWiring, Rule
from tests.e2e.network.conftest import OPEN, RUN, Cloud, MakeGuest, Net, RealHost, port, random_mac, sh
from tests.e2e.network.probes import dhcp_lease, link_names, vxlan_packets

pytestmark = pytest.mark.e2e


def test_guests_on_two_hosts_ping_across_vxlan(cloud: Cloud, guests: MakeGuest) -> None:
    a, b = port("10.0.0.11"), port("10.0.0.12")
    net = Net(vni=next(cloud.vnis)).place("h1", a).place("h2", b)
    results = cloud.apply([net])
    assert results["h1"].wired == (a.port_id,) and results["h2"].wired == (b.port_id,)
    assert not results["h1"].errors and not results["h2"].errors
    ga, gb = guests(a, "10.0.0.11/24"), guests(b, "10.0.0.12/24")
    assert ga.ping_until("10.0.0.12")
    assert gb.ping("10.0.0.11")
    assert ga.mac_of("10.0.0.12") == b.mac


def test_underlay_carries_udp_4789_with_the_networks_vni(cloud: Cloud, guests: MakeGuest, tmp_path: Path) -> None:
    a, b = port("10.0.0.11"), port("10.0.0.12")
    net = Net(vni=next(cloud.vnis)).place("h1", a).place("h2", b)
    cloud.apply([net])
    ga, _ = guests(a, "10.0.0.11/24"), guests(b, "10.0.0.12/24")
    assert ga.ping_until("10.0.0.12")
    capture = tmp_path / "underlay.pcap"
    with subprocess.Popen(
        ["tcpdump", "-i", cloud.bridge, "-n", "--immediate-mode", "-U", "-w", str(capture), "udp", "port", "4789"],
        stderr=subprocess.PIPE,
        text=True,
    ) as dump:
        try:
            assert dump.stderr is not None and "listening on" in dump.stderr.readline()
            assert ga.ping("10.0.0.12", count=2)
            time.sleep(0.2)  # let tcpdump write the last reply before it is interrupted
        finally:
            dump.send_signal(signal.SIGINT)
            dump.wait(timeout=5)
    packets = vxlan_packets(capture.read_bytes())
    h1, h2 = cloud.underlays["h1"].underlay_ip, cloud.underlays["h2"].underlay_ip
    assert {(p[0], p[1]) for p in packets} == {(h1, h2), (h2, h1)}
    assert {p[2] for p in packets} == {net.vni}
    unicast = [(p[3], p[4]) for p in packets if not int(p[4][:2], 16) & 1]
    assert len(unicast) >= 4 and set(unicast) == {(a.mac, b.mac), (b.mac, a.mac)}  # the echo requests and replies


def test_two_networks_on_the_same_cidr_are_isolated(cloud: Cloud, guests: MakeGuest) -> None:
    """No filtering at all (port security off): only the VNI keeps the networks apart. B's guests hold the very
    addresses A's guests hold on the other host."""
    a1, a2, a3 = (port(ip, port_security=False) for ip in ("10.0.0.11", "10.0.0.12", "10.0.0.15"))
    b1, b2 = (port(ip, port_security=False) for ip in ("10.0.0.12", "10.0.0.11"))
    net_a = Net(vni=next(cloud.vnis)).place("h1", a1).place("h2", a2, a3)
    net_b = Net(vni=next(cloud.vnis)).place("h1", b1).place("h2", b2)
    cloud.apply([net_a, net_b])
    ga1, _, _ = guests(a1, "10.0.0.11/24"), guests(a2, "10.0.0.12/24"), guests(a3, "10.0.0.15/24")
    gb1, _ = guests(b1, "10.0.0.12/24"), guests(b2, "10.0.0.11/24")
    assert ga1.ping_until("10.0.0.12") and ga1.mac_of("10.0.0.12") == a2.mac  # not b1, on the same host
    assert gb1.ping_until("10.0.0.11") and gb1.mac_of("10.0.0.11") == b2.mac  # not a1, on the same host
    assert ga1.ping("10.0.0.15")
    assert not gb1.ping("10.0.0.15", count=2), "a guest of network B reached network A"


def test_guest_takes_its_address_and_mtu_by_dhcp_across_hosts(cloud: Cloud, guests: MakeGuest, tmp_path: Path) -> None:
    guest_port = port("10.0.0.21")
    dhcp = DhcpWiring(
        port_id=str(uuid.uuid4()),
        mac=random_mac(),
        ip="10.0.0.2",
        mtu=1400,
        subnets=(DhcpSubnet("10.0.0.0/24", "10.0.0.1", ("192.0.2.53",), (("192.168.7.0/24", "10.0.0.9"),)),),
        hosts=((guest_port.mac, "10.0.0.21", "vm-21"),),
    )
    net = Net(vni=next(cloud.vnis), mtu=1400).place("h2", guest_port)
    net.dhcp = ("h1", dhcp)
    results = cloud.apply([net])
    assert results["h1"].wired == (dhcp.port_id,) and results["h2"].wired == (guest_port.port_id,)
    guest = guests(guest_port, None, mtu=1400)
    env = dhcp_lease(guest, tmp_path)
    assert (env["ip"], env["mask"], env["mtu"]) == ("10.0.0.21", "24", "1400")
    assert env["router"] == "10.0.0.1" and env["dns"].strip() == "192.0.2.53" and env["hostname"] == "vm-21"
    routes = ["192.168.7.0/24", "10.0.0.9", "0.0.0.0/0", "10.0.0.1", "169.254.169.254/32", "10.0.0.2"]
    assert env["staticroutes"].split() == routes  # the metadata address via the DHCP server
    assert guest.ping("10.0.0.2")


def test_a_dhcp_server_moving_to_another_host_keeps_serving_when_the_new_host_applies_first(
    cloud: Cloud, guests: MakeGuest, tmp_path: Path
) -> None:
    """Regression: simulated hosts share the machine's namespace names, so when a network's DHCP server moved (a
    host earlier by name joined the network), the old host's removal, applied after the new host had taken the
    ``qdhcp-`` namespace over, killed the new host's dnsmasq and deleted the namespace."""
    a = port("10.0.0.11")
    dhcp = DhcpWiring(
        port_id=str(uuid.uuid4()),
        mac=random_mac(),
        ip="10.0.0.2",
        subnets=(DhcpSubnet("10.0.0.0/24"),),
        hosts=((a.mac, "10.0.0.11", ""),),
    )
    net = Net(vni=next(cloud.vnis)).place("h1", a)
    net.dhcp = ("h2", dhcp)
    cloud.apply([net])
    net.dhcp = ("h1", dhcp)
    cloud.apply([net])  # h1 applies first (and the second apply of each host must write nothing)
    assert dhcp_namespace(net.network_id) in sh("ip", "netns", "list").stdout
    assert dhcp_lease(guests(a, None), tmp_path)["ip"] == "10.0.0.11"


class Overtaking(Runner):
    """A runner that runs ``then`` right after its ``reading``-th reading of the machine's namespaces: another
    simulated host's agent applying between this one's reading and its use of it."""

    def __init__(self) -> None:
        super().__init__()
        self.readings = 0
        self.reading = 0
        self.then: Callable[[], object] | None = None

    def run(self, argv: Sequence[str], netns: str | None = None, **options: Any) -> subprocess.CompletedProcess[str]:
        result = super().run(argv, netns, **options)
        if list(argv) == ["ip", "-j", "netns", "list"]:
            self.readings += 1
            if self.then is not None and self.readings == self.reading:
                then, self.then = self.then, None
                then()
        return result


def test_a_dhcp_server_moving_to_a_host_whose_reading_was_overtaken_by_the_old_host_serves(
    cloud: Cloud, guests: MakeGuest, tmp_path: Path
) -> None:
    """Regression: the new DHCP host read the machine's namespaces, the old host then removed the ``qdhcp-``
    namespace, and the new host, trusting its reading, could not enter it ("Cannot open network namespace"): the
    network failed on that host, and so did the build of the server that had made it the DHCP host."""
    a = port("10.0.0.11")
    dhcp = DhcpWiring(
        port_id=str(uuid.uuid4()),
        mac=random_mac(),
        ip="10.0.0.2",
        subnets=(DhcpSubnet("10.0.0.0/24"),),
        hosts=((a.mac, "10.0.0.11", ""),),
    )
    net = Net(vni=next(cloud.vnis)).place("h1", a)
    net.dhcp = ("h2", dhcp)
    cloud.apply([net])
    net.dhcp = ("h1", dhcp)
    states = cloud.states([net])
    h1 = cloud.drivers["h1"]
    runner = Overtaking()
    new_host = LinuxDataplane(h1.host, h1.directory.parent.parent, runner)
    new_host.init_host(cloud.underlays["h1"])
    # An apply reads the namespaces twice before its DHCP servers: is the host's own there, and then all of them.
    runner.readings, runner.reading = 0, 2
    runner.then = lambda: cloud.drivers["h2"].apply(states["h2"])
    result = new_host.apply(states["h1"])
    assert runner.then is None, "the old host never applied in between"
    assert not result.errors and dhcp.port_id in result.wired
    assert dhcp_lease(guests(a, None), tmp_path)["ip"] == "10.0.0.11"
    cloud.apply([net])  # the module's own driver of h1 agrees with what is there


def test_a_bridge_deleted_by_hand_is_repaired_without_breaking_a_running_ping(cloud: Cloud, guests: MakeGuest) -> None:
    a, b = port("10.0.0.11"), port("10.0.0.12")
    net = Net(vni=next(cloud.vnis)).place("h1", a).place("h2", b)
    cloud.apply([net])
    ga, _ = guests(a, "10.0.0.11/24"), guests(b, "10.0.0.12/24")
    assert ga.ping_until("10.0.0.12")
    pinging = subprocess.Popen(
        ["ip", "netns", "exec", ga.netns, "ping", "-n", "-q", "-i", "0.02", "-c", "150", "-W", "1", "10.0.0.12"],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    bridge = network_bridge(net.network_id)
    sh("ip", "-n", cloud.ns("h1"), "link", "del", "dev", bridge)
    mark = cloud.drivers["h1"].runner.mark()
    cloud.apply([net], generation=cloud.current("h1"))
    repaired = [str(c) for c in cloud.drivers["h1"].runner.writes(since=mark)]
    out, _ = pinging.communicate(timeout=20)
    summary = re.search(r"(\d+) received", out)
    assert summary is not None, out
    received = int(summary.group(1))
    assert any(f"link add {bridge}" in c for c in repaired)
    masters = json.loads(sh("ip", "-n", cloud.ns("h1"), "-j", "link", "show", "master", bridge).stdout)
    assert {m["ifname"] for m in masters} == {vxlan_device(net.vni), vif_names(a.port_id).qvo}
    assert received >= 140, f"only {received} of 150 pings passed while the bridge was repaired"
    # A VXLAN device whose type arguments differ is made again (with learning on it would not be ours any more),
    # and a new device needs its forwarding entries again.
    sh("ip", "-n", cloud.ns("h1"), "link", "set", "dev", vxlan_device(net.vni), "type", "vxlan", "learning")
    cloud.apply([net], generation=cloud.current("h1"))
    assert ga.ping_until("10.0.0.12", timeout=3), "the VXLAN device came back without its forwarding entries"


def test_one_broken_network_does_not_stop_the_others(cloud: Cloud, guests: MakeGuest) -> None:
    a, b, c = port("10.0.0.11"), port("10.0.0.12"), port("10.0.0.13")
    good = Net(vni=next(cloud.vnis)).place("h1", a).place("h2", b)
    broken = Net(vni=next(cloud.vnis), mtu=1500).place("h1", c)  # no room for VXLAN's 50 bytes
    results = cloud.apply([good, broken], errors=True)
    assert set(results["h1"].errors) == {broken.network_id} and "MTU" in results["h1"].errors[broken.network_id]
    assert results["h1"].wired == (a.port_id,)
    ga, _ = guests(a, "10.0.0.11/24"), guests(b, "10.0.0.12/24")
    assert ga.ping_until("10.0.0.12")


def test_a_state_older_than_the_one_applied_is_ignored(cloud: Cloud) -> None:
    a = port("10.0.0.11")
    net = Net(vni=next(cloud.vnis)).place("h1", a)
    cloud.apply([net])
    driver = cloud.drivers["h1"]
    current = cloud.current("h1")
    mark = driver.runner.mark()
    result = driver.apply(HostWiring(host="h1", generation=current - 1))
    assert result.stale and result.wired == (a.port_id,) and not driver.runner.writes(since=mark)


def test_applying_the_same_state_again_only_reads_and_changes_write_only_what_differs(cloud: Cloud) -> None:
    """The same state again: reads, no writes. A changed rule reloads the firewall and nothing else; a new
    static lease only signals dnsmasq."""
    a, b = port("10.0.0.11"), port("10.0.0.12", allowed_pairs=((random_mac(), "10.0.5.0/24"),))
    dhcp = DhcpWiring(
        port_id=str(uuid.uuid4()),
        mac=random_mac(),
        ip="10.0.0.2",
        subnets=(DhcpSubnet("10.0.0.0/24", "10.0.0.1"),),
        hosts=((a.mac, "10.0.0.11", "a"),),
    )
    net = Net(vni=next(cloud.vnis)).place("h1", a).place("h2", b)
    net.dhcp = ("h1", dhcp)
    other = Net(vni=next(cloud.vnis)).place("h1", port("10.1.0.5")).place("h2", port("10.1.0.6"))
    cloud.apply([net, other])
    driver = cloud.drivers["h1"]
    mark = driver.runner.mark()
    driver.apply(cloud.states([net, other])["h1"])
    assert driver.runner.commands(since=mark) and not driver.runner.writes(since=mark)

    def writes_of(change: list[Net]) -> list[str]:
        mark = driver.runner.mark()
        cloud.apply(change)
        return [str(command) for command in driver.runner.writes(since=mark)]

    net.placed[0] = ("h1", PortWiring(**{**vars(a), "rules": (*OPEN, Rule("ingress", "IPv4", "tcp", 22))}))
    assert [c.split("] ", 1)[-1] for c in writes_of([net, other])] == ["nft -f -"]
    net.dhcp = ("h1", DhcpWiring(**{**vars(dhcp), "hosts": (*dhcp.hosts, (b.mac, "10.0.0.12", "b"))}))
    assert [c.split(" ")[:2] for c in writes_of([net, other])] == [["kill", "-SIGHUP"]]


def test_empty_state_and_teardown_leave_nothing_behind(tmp_path: Path) -> None:
    own = Cloud(f"{RUN}t", tmp_path)
    try:
        own.up()
        a, b = port("10.0.0.11"), port("10.0.0.12", port_security=False)
        dhcp = DhcpWiring(
            port_id=str(uuid.uuid4()), mac=random_mac(), ip="10.0.0.2", subnets=(DhcpSubnet("10.0.0.0/24", "10.0.0.1"),)
        )
        net = Net(vni=next(own.vnis)).place("h1", a).place("h2", b)
        net.dhcp = ("h2", dhcp)
        own.apply([net])
        conf = tmp_path / "dataplane" / own.drivers["h2"].host / "dhcp" / net.network_id / "dnsmasq.conf"
        assert sh("pgrep", "-f", "--", f"--conf-file={conf}", check=False).returncode == 0
        ours = (net.network_id[:11], a.port_id[:11], b.port_id[:11], dhcp.port_id[:11], f"vxlan-{net.vni}")

        own.apply([])
        for host in ("h1", "h2"):
            assert not [n for n in link_names(own.ns(host)) if n.endswith(ours)], f"devices left on {host}"
            assert sh("nft", "list", "tables", netns=own.ns(host)).stdout.strip() == ""
        assert not [n for n in link_names(None) if n.endswith(ours)]
        assert dhcp_namespace(net.network_id) not in sh("ip", "netns", "list").stdout
        assert sh("pgrep", "-f", "--", f"--conf-file={conf}", check=False).returncode == 1

        own.teardown()
        namespaces = sh("ip", "netns", "list").stdout
        assert own.ns("h1") not in namespaces and own.ns("h2") not in namespaces
        assert not [n for n in link_names(None) if f"s{RUN}t" in n or n == own.bridge]
        assert not (tmp_path / "dataplane" / own.drivers["h1"].host).exists()
    finally:
        own.force_clean()


def test_a_retired_host_leaves_nothing_when_its_agent_is_gone(tmp_path: Path) -> None:
    """``make up HOSTS=N`` with fewer hosts stops a host's agents; ``retire`` from a new driver (another process,
    as stratus-manage retire-hosts is) removes the namespace, veth, bridges and dnsmasq the host left behind. Before,
    they stayed, and the retired host's dnsmasq kept its network's DHCP namespace."""
    own = Cloud(f"{RUN}r", tmp_path)
    try:
        own.up()
        dhcp = DhcpWiring(
            port_id=str(uuid.uuid4()), mac=random_mac(), ip="10.0.0.2", subnets=(DhcpSubnet("10.0.0.0/24", "10.0.0.1"),)
        )
        net = Net(vni=next(own.vnis)).place("h1", port("10.0.0.11")).place("h2", port("10.0.0.12"))
        net.dhcp = ("h2", dhcp)
        own.apply([net])
        retired = own.drivers["h2"].host
        conf = tmp_path / "dataplane" / retired / "dhcp" / net.network_id / "dnsmasq.conf"
        assert sh("pgrep", "-f", "--", f"--conf-file={conf}", check=False).returncode == 0

        LinuxDataplane(retired, tmp_path).retire()

        namespaces = sh("ip", "netns", "list").stdout
        assert own.ns("h2") not in namespaces and dhcp_namespace(net.network_id) not in namespaces
        assert sh("pgrep", "-f", "--", f"--conf-file={conf}", check=False).returncode == 1
        assert not (tmp_path / "dataplane" / retired).exists()
        assert own.ns("h1") in namespaces  # the host still run keeps its wiring
        LinuxDataplane(retired, tmp_path).retire()  # again, or for a host that never ran here: nothing to do
    finally:
        own.force_clean()


def test_a_real_host_wires_everything_in_its_root_namespace(
    cloud: Cloud, real_host: RealHost, guests: MakeGuest
) -> None:
    """The layout of a production host: network bridges, VXLAN, port bridges and the firewall all in the one
    namespace the agent runs in, VXLAN bound to the NIC, the underlay address taken from the default route."""
    a, r = port("10.0.0.11"), port("10.0.0.13", allowed_pairs=((random_mac(), "10.0.0.64/26"),))
    dhcp = DhcpWiring(
        port_id=str(uuid.uuid4()), mac=random_mac(), ip="10.0.0.2", subnets=(DhcpSubnet("10.0.0.0/24", "10.0.0.1"),)
    )
    net = Net(vni=next(cloud.vnis)).place("h1", a).place("real", r)
    net.dhcp = ("real", dhcp)
    cloud.dhcp_namespaces.add(dhcp_namespace(net.network_id))
    real_ip = cloud.underlays["h1"].underlay_ip.rsplit(".", 1)[0] + ".3"
    ips = {"h1": cloud.underlays["h1"].underlay_ip, "h2": cloud.underlays["h2"].underlay_ip, "real": real_ip}
    gen = next(cloud.generation)
    cloud.drivers["h1"].apply(HostWiring(host="h1", generation=gen, networks=(net.wiring("h1", ips),)))
    cloud.drivers["h2"].apply(HostWiring(host="h2", generation=gen))
    state = HostWiring(host="real", generation=gen, networks=(net.wiring("real", ips),))
    first = real_host.apply(state)
    assert first["underlay"]["underlay_ip"] == real_ip
    assert first["result"]["errors"] == {} and set(first["result"]["wired"]) == {r.port_id, dhcp.port_id}
    assert real_host.apply(state)["writes"] == [], "a second apply in a new agent process wrote"
    names = vif_names(r.port_id)
    here = link_names(real_host.netns)
    assert {network_bridge(net.network_id), vxlan_device(net.vni), names.bridge, names.qvb, names.qvo} <= here
    vxlan = json.loads(sh("ip", "-n", real_host.netns, "-j", "-d", "link", "show", vxlan_device(net.vni)).stdout)
    assert vxlan[0]["linkinfo"]["info_data"]["link"] == "eth0"
    ga, gr = guests(a, "10.0.0.11/24"), guests(r, "10.0.0.13/24", host_netns=real_host.netns)
    assert ga.ping_until("10.0.0.13") and gr.ping("10.0.0.11") and gr.ping("10.0.0.2")
    real_host.agent("teardown")
    assert link_names(real_host.netns) - {names.tap} == {"lo", "eth0"}
    assert sh("nft", "list", "tables", netns=real_host.netns).stdout.strip() == ""
    assert dhcp_namespace(net.network_id) not in sh("ip", "netns", "list").stdout


def test_a_host_namespace_deleted_by_hand_is_made_again(tmp_path: Path, guests: MakeGuest) -> None:
    """Everything in it comes back on the next apply, its DHCP server serves again; and a teardown after the
    namespace vanished once more still stops that DHCP server, which lives in a namespace of its own."""
    own = Cloud(f"{RUN}n", tmp_path)
    try:
        own.up()
        a = port("10.0.0.11")
        dhcp = DhcpWiring(
            port_id=str(uuid.uuid4()),
            mac=random_mac(),
            ip="10.0.0.2",
            subnets=(DhcpSubnet("10.0.0.0/24"),),
            hosts=((a.mac, "10.0.0.11", ""),),
        )
        net = Net(vni=next(own.vnis)).place("h1", a)
        net.dhcp = ("h2", dhcp)
        own.apply([net])
        conf = tmp_path / "dataplane" / own.drivers["h2"].host / "dhcp" / net.network_id / "dnsmasq.conf"
        started = sh("pgrep", "-f", "--", f"--conf-file={conf}").stdout.split()
        sh("ip", "netns", "del", own.ns("h2"))
        time.sleep(0.2)  # the kernel takes the namespace's devices down asynchronously
        own.apply([net])
        assert network_bridge(net.network_id) in link_names(own.ns("h2"))
        assert sh("pgrep", "-f", "--", f"--conf-file={conf}").stdout.split() != started, "dnsmasq not restarted"
        assert dhcp_lease(guests(a, None), tmp_path)["ip"] == "10.0.0.11"
        sh("ip", "netns", "del", own.ns("h2"))
        own.teardown()
        assert sh("pgrep", "-f", "--", f"--conf-file={conf}", check=False).returncode == 1
        assert dhcp_namespace(net.network_id) not in sh("ip", "netns", "list").stdout
    finally:
        own.force_clean()
