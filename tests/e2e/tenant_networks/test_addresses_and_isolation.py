"""Addresses and isolation: one project's servers on two hosts get their addresses by DHCP and reach each
other; the other project, on the same CIDR and a1's very address, reaches neither; and the underlay carries
tenant traffic only inside VXLAN with the network's VNI."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.images import markers
from tests.e2e.kernel import capture, frames
from tests.e2e.network.probes import vxlan_packets
from tests.e2e.tenant_networks.world import UNDERLAY_BRIDGE, UNUSED_IP, VTEPS, World

pytestmark = pytest.mark.e2e


def test_servers_of_one_project_on_two_hosts_get_their_addresses_and_ping_each_other(world: World) -> None:
    a1, a2 = world.a1, world.a2
    demo = world.openstack.json("admin", "project", "show", "demo")["id"]
    for guest in (a1, a2):
        shown = world.openstack.json("admin", "server", "show", guest.server_id)
        assert shown["OS-EXT-SRV-ATTR:host"] == guest.host and shown["project_id"] == demo
        console = world.openstack("demo", "console", "log", "show", guest.server_id)
        assert markers.nics(console)["eth0"] == markers.Nic("eth0", guest.mac, f"{guest.ip}/24"), "no DHCP lease"
    assert a1.host != a2.host
    assert a1.reaches(a2.ip) and a2.reaches(a1.ip)
    assert a1.neighbour_mac(a2.ip) == a2.mac and a2.neighbour_mac(a1.ip) == a1.mac
    assert a1.unanswered(UNUSED_IP), "a ping to an address nobody holds was answered"


def test_a_project_on_the_same_cidr_and_address_cannot_reach_the_other(world: World, tmp_path: Path) -> None:
    """b1 holds a1's address on a2's host. Neighbour caches are flushed first, so every ping starts with a
    broadcast ARP: were the networks joined anywhere, the other side's guest would see it (and answer)."""
    a1, a2, b1 = world.a1, world.a2, world.b1
    assert b1.ip == a1.ip and b1.host == a2.host
    for guest in (a2, b1):
        guest.run("ip neigh flush dev eth0")
    with capture(b1.tap, tmp_path / "b1.pcap") as b1_saw, capture(a2.tap, tmp_path / "a2.pcap") as a2_saw:
        assert a2.reaches(a1.ip), "A's servers no longer reach each other"
        assert a2.neighbour_mac(a1.ip) == a1.mac, "a1's address answered by another MAC"
        assert b1.reaches("10.0.0.2"), "b1 does not reach its own network's DHCP server"
        assert b1.unanswered(a2.ip), "a server of project B reached project A's"
    at_b1 = {f.src for f in frames(b1_saw.read_bytes())}
    at_a2 = {f.src for f in frames(a2_saw.read_bytes())}
    assert b1.mac in at_b1 and a1.mac in at_a2, "the captures missed the traffic they were to see"
    assert a2.mac not in at_b1, "a frame of A's server reached B's"
    assert b1.mac not in at_a2, "a frame of B's server reached A's"
    assert a1.reaches(a2.ip)


def test_the_underlay_carries_tenant_traffic_only_in_vxlan_with_the_networks_vni(world: World, tmp_path: Path) -> None:
    a1, a2 = world.a1, world.a2
    vni, other_vni = world.vni("a-net"), world.vni("b-net")
    assert vni != other_vni
    with capture(UNDERLAY_BRIDGE, tmp_path / "underlay.pcap") as saw:
        assert a1.reaches(a2.ip, count=4)
    pcap = saw.read_bytes()
    tunnelled = vxlan_packets(pcap)
    ours = [p for p in tunnelled if {p[3], p[4]} == {a1.mac, a2.mac}]
    assert {(p[0], p[1]) for p in ours} == {(VTEPS[a1.host], VTEPS[a2.host]), (VTEPS[a2.host], VTEPS[a1.host])}
    assert len(ours) >= 8, f"expected the 4 requests and 4 replies in VXLAN, found {len(ours)}"
    assert {p[2] for p in tunnelled} == {vni}, "a packet in VXLAN carried another VNI than a-net's"
    plain = [f for f in frames(pcap) if f.ethertype == 0x0800 and f.udp_dport != 4789]
    assert not plain, f"IPv4 on the underlay outside VXLAN: {plain[:3]}"
    guest_macs = {g.mac for g in world.guests.values()}
    assert not [f for f in frames(pcap) if f.src in guest_macs], "a guest's frame on the underlay unencapsulated"
