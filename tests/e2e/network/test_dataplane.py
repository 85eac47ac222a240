"""The Linux dataplane on the real kernel: two simulated hosts, VXLAN between them, guests in namespaces.

What must work (pings that pass) and what must not (pings that fail, each right after one that passed, so a
failure means the dataplane stopped it and not that the path was never there). Every apply in these tests is
applied twice, and the second one must write nothing (see ``Cloud.apply``).
"""

from __future__ import annotations

import json
import re
import signal
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from network.dataplane.base import DhcpSubnet, DhcpWiring, HostWiring, PortWiring, Rule
from network.dataplane.names import dhcp_namespace, network_bridge, vif_names, vxlan_device
from tests.e2e.network.conftest import OPEN, RUN, Cloud, Net, port, random_mac, sh

pytestmark = pytest.mark.e2e


def link_names(netns: str | None) -> set[str]:
    return {entry["ifname"] for entry in json.loads(sh("ip", *(["-n", netns] if netns else []), "-j", "link").stdout)}


def test_guests_on_two_hosts_ping_across_vxlan(cloud: Cloud, guests) -> None:  # type: ignore[no-untyped-def]
    a, b = port("10.0.0.11"), port("10.0.0.12")
    net = Net(vni=next(cloud.vnis)).place("h1", a).place("h2", b)
    results = cloud.apply([net])
    assert results["h1"].wired == (a.port_id,) and results["h2"].wired == (b.port_id,)
    assert not results["h1"].errors and not results["h2"].errors
    ga, gb = guests(a, "10.0.0.11/24"), guests(b, "10.0.0.12/24")
    assert ga.ping_until("10.0.0.12")
    assert gb.ping("10.0.0.11")
    assert ga.mac_of("10.0.0.12") == b.mac


def vxlan_packets(pcap: bytes) -> list[tuple[str, str, int, str, str]]:
    """(outer source, outer destination, VNI, inner source MAC, inner destination MAC) of each VXLAN packet in
    a classic little-endian Ethernet pcap."""
    magic, *_ = struct.unpack_from("<I", pcap)
    assert magic == 0xA1B2C3D4, "not a little-endian microsecond pcap"
    found, offset = [], 24
    while offset + 16 <= len(pcap):
        _, _, length, _ = struct.unpack_from("<IIII", pcap, offset)
        frame, offset = pcap[offset + 16 : offset + 16 + length], offset + 16 + length
        if struct.unpack_from("!H", frame, 12)[0] != 0x0800:
            continue
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        if ip[9] != 17 or struct.unpack_from("!H", ip, header + 2)[0] != 4789:
            continue
        vxlan = ip[header + 8 : header + 16]
        assert vxlan[0] & 0x08, "VXLAN header without the valid-VNI flag"
        inner = ip[header + 16 :]
        found.append(
            (
                ".".join(map(str, ip[12:16])),
                ".".join(map(str, ip[16:20])),
                int.from_bytes(vxlan[4:7], "big"),
                inner[6:12].hex(":"),
                inner[0:6].hex(":"),
            )
        )
    return found


def test_underlay_carries_udp_4789_with_the_networks_vni(cloud: Cloud, guests, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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


def test_two_networks_on_the_same_cidr_are_isolated(cloud: Cloud, guests) -> None:  # type: ignore[no-untyped-def]
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


def dhcp_lease(guest, directory: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Run busybox's DHCP client in the guest; the options of the lease it bound (its script's environment)."""
    script, lease = directory / "udhcpc.sh", directory / "lease.env"
    lease.unlink(missing_ok=True)
    script.write_text(
        f'#!/bin/sh\nif [ "$1" = bound ]; then env > {lease}; ip addr add "$ip/$mask" dev "$interface"; fi\n'
    )
    script.chmod(0o755)
    udhcpc = ["busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "10", "-T", "1", "-O", "staticroutes"]
    guest.run(*udhcpc, "-s", str(script), timeout=30)
    return dict(line.split("=", 1) for line in lease.read_text().splitlines() if "=" in line)


def test_guest_takes_its_address_and_mtu_by_dhcp_across_hosts(cloud: Cloud, guests, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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
    assert env["staticroutes"].split() == ["192.168.7.0/24", "10.0.0.9", "0.0.0.0/0", "10.0.0.1"]
    assert guest.ping("10.0.0.2")


def test_removing_the_icmp_rule_stops_new_pings_while_replies_still_pass(cloud: Cloud, guests) -> None:  # type: ignore[no-untyped-def]
    a, b = port("10.0.0.11"), port("10.0.0.12")
    net = Net(vni=next(cloud.vnis)).place("h1", a).place("h2", b)
    cloud.apply([net])
    ga, gb = guests(a, "10.0.0.11/24"), guests(b, "10.0.0.12/24")
    assert ga.ping_until("10.0.0.12") and gb.ping("10.0.0.11")
    net.placed[0] = ("h1", PortWiring(**{**vars(a), "rules": (Rule("egress", "IPv4"),)}))
    cloud.apply([net])
    assert not gb.ping("10.0.0.11", count=2), "ICMP reached a port whose group no longer allows it"
    assert ga.ping("10.0.0.12", count=2), "replies to the port's own pings must pass"


def test_spoofed_addresses_are_dropped_and_allowed_pairs_pass(cloud: Cloud, guests) -> None:  # type: ignore[no-untyped-def]
    a, b = port("10.0.0.11"), port("10.0.0.12")
    net = Net(vni=next(cloud.vnis)).place("h1", a).place("h2", b)
    cloud.apply([net])
    ga, _ = guests(a, "10.0.0.11/24"), guests(b, "10.0.0.12/24")
    assert ga.ping_until("10.0.0.12")
    ga.run("ip", "addr", "flush", "dev", "eth0")
    ga.run("ip", "addr", "add", "10.0.0.99/24", "dev", "eth0")
    ga.run("ip", "neigh", "replace", "10.0.0.12", "lladdr", b.mac, "dev", "eth0")  # no ARP: the IP check alone
    assert not ga.ping("10.0.0.12", count=2), "a packet from an address not the port's passed"
    net.placed[0] = ("h1", PortWiring(**{**vars(a), "allowed_pairs": ((a.mac, "10.0.0.96/30"),)}))
    cloud.apply([net])
    assert ga.ping_until("10.0.0.12", timeout=5), "an allowed address pair was dropped"
    ga.run("ip", "link", "set", "dev", "eth0", "address", random_mac())
    assert not ga.ping("10.0.0.12", count=2), "a frame from a MAC not the port's passed"


def test_a_bridge_deleted_by_hand_is_repaired_without_breaking_a_running_ping(cloud: Cloud, guests) -> None:  # type: ignore[no-untyped-def]
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
    writes = len(cloud.drivers["h1"].runner.writes())
    cloud.apply([net], generation=cloud.drivers["h1"].last.generation)  # type: ignore[union-attr]
    repaired = [str(c) for c in cloud.drivers["h1"].runner.writes()[writes:]]
    out, _ = pinging.communicate(timeout=20)
    received = int(re.search(r"(\d+) received", out).group(1))  # type: ignore[union-attr]
    assert any(f"link add {bridge}" in c for c in repaired)
    masters = json.loads(sh("ip", "-n", cloud.ns("h1"), "-j", "link", "show", "master", bridge).stdout)
    assert {m["ifname"] for m in masters} == {vxlan_device(net.vni), vif_names(a.port_id).qvo}
    assert received >= 140, f"only {received} of 150 pings passed while the bridge was repaired"
    # A VXLAN device whose type arguments differ is made again (with learning on it would not be ours any more),
    # and a new device needs its forwarding entries again.
    sh("ip", "-n", cloud.ns("h1"), "link", "set", "dev", vxlan_device(net.vni), "type", "vxlan", "learning")
    cloud.apply([net], generation=cloud.drivers["h1"].last.generation)  # type: ignore[union-attr]
    assert ga.ping_until("10.0.0.12", timeout=3), "the VXLAN device came back without its forwarding entries"


def test_one_broken_network_does_not_stop_the_others(cloud: Cloud, guests) -> None:  # type: ignore[no-untyped-def]
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
    current = driver.last.generation  # type: ignore[union-attr]
    before = len(driver.runner.writes())
    result = driver.apply(HostWiring(host="h1", generation=current - 1))
    assert result.stale and result.wired == (a.port_id,) and len(driver.runner.writes()) == before


def test_changes_write_only_what_differs(cloud: Cloud) -> None:
    """A changed rule reloads the firewall and nothing else; a new static lease only signals dnsmasq."""
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

    def writes_of(change: list[Net]) -> list[str]:
        before = len(driver.runner.writes())
        cloud.apply(change)
        return [str(command) for command in driver.runner.writes()[before:]]

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


UDP_SEND = (
    "import socket,sys; s=socket.socket(2,2); s.bind((sys.argv[1],int(sys.argv[2])));"
    "s.sendto(b'x',(sys.argv[3],int(sys.argv[4])))"
)
UDP_RECEIVE = (
    "import socket,sys; s=socket.socket(2,2); s.bind(('0.0.0.0',int(sys.argv[1]))); s.settimeout(float(sys.argv[2]));\n"
    "try: print(s.recvfrom(64)[1][0])\nexcept TimeoutError: print('timeout')"
)


def udp_arrives(sender, receiver, source: tuple[str, int], target: tuple[str, int]) -> bool:  # type: ignore[no-untyped-def]
    with subprocess.Popen(
        ["ip", "netns", "exec", receiver.netns, sys.executable, "-c", UDP_RECEIVE, str(target[1]), "1.5"],
        stdout=subprocess.PIPE,
        text=True,
    ) as listening:
        time.sleep(0.3)
        sender.run(sys.executable, "-c", UDP_SEND, source[0], str(source[1]), target[0], str(target[1]))
        out, _ = listening.communicate(timeout=10)
    return out.strip() == source[0]


def test_connections_of_one_network_never_admit_another_networks_packets(cloud: Cloud, guests) -> None:  # type: ignore[no-untyped-def]
    """Both networks use the same addresses on the same hosts: one connection tracking table for the host would
    take B's packet for the reply of A's connection. Each network has its own conntrack zone."""
    a1, a2, b1, b2 = port("10.0.0.11"), port("10.0.0.12"), port("10.0.0.11"), port("10.0.0.12")
    net_a = Net(vni=next(cloud.vnis)).place("h1", a1).place("h2", a2)
    net_b = Net(vni=next(cloud.vnis)).place("h1", b1).place("h2", b2)
    cloud.apply([net_a, net_b])
    ga1, ga2 = guests(a1, "10.0.0.11/24"), guests(a2, "10.0.0.12/24")
    gb1, gb2 = guests(b1, "10.0.0.11/24"), guests(b2, "10.0.0.12/24")
    assert ga1.ping_until("10.0.0.12") and gb1.ping_until("10.0.0.12")
    ga1.run(sys.executable, "-c", UDP_SEND, "10.0.0.11", "5000", "10.0.0.12", "6000")  # A's connection, from h1
    assert not udp_arrives(gb2, gb1, ("10.0.0.12", 6000), ("10.0.0.11", 5000)), "B's packet passed as A's reply"
    assert udp_arrives(ga2, ga1, ("10.0.0.12", 6000), ("10.0.0.11", 5000)), "the reply of A's connection was dropped"


def test_a_real_host_wires_everything_in_its_root_namespace(cloud: Cloud, real_host, guests) -> None:  # type: ignore[no-untyped-def]
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


def test_a_host_namespace_deleted_by_hand_is_made_again(tmp_path: Path, guests) -> None:  # type: ignore[no-untyped-def]
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
