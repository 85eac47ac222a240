"""Security groups on the real kernel: a rule taken away stops what it allowed, anti-spoofing, and connection
tracking that keeps each network's connections to itself. Each failing ping or packet comes right after one that
passed, so a failure means the firewall stopped it."""

from __future__ import annotations

import sys

import pytest

from network.wire import PortWiring, Rule
from tests.e2e.network.conftest import Cloud, MakeGuest, Net, port, random_mac
from tests.e2e.network.probes import UDP_SEND, udp_arrives

pytestmark = pytest.mark.e2e


def test_removing_the_icmp_rule_stops_new_pings_while_replies_still_pass(cloud: Cloud, guests: MakeGuest) -> None:
    a, b = port("10.0.0.11"), port("10.0.0.12")
    net = Net(vni=next(cloud.vnis)).place("h1", a).place("h2", b)
    cloud.apply([net])
    ga, gb = guests(a, "10.0.0.11/24"), guests(b, "10.0.0.12/24")
    assert ga.ping_until("10.0.0.12") and gb.ping("10.0.0.11")
    net.placed[0] = ("h1", PortWiring(**{**vars(a), "rules": (Rule("egress", "IPv4"),)}))
    cloud.apply([net])
    assert not gb.ping("10.0.0.11", count=2), "ICMP reached a port whose group no longer allows it"
    assert ga.ping("10.0.0.12", count=2), "replies to the port's own pings must pass"


def test_spoofed_addresses_are_dropped_and_allowed_pairs_pass(cloud: Cloud, guests: MakeGuest) -> None:
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


def test_connections_of_one_network_never_admit_another_networks_packets(cloud: Cloud, guests: MakeGuest) -> None:
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
