"""Security groups and port security on real guests: a removed ICMP rule stops new pings at once and its
return lets them through; a guest that takes an address its port does not have is dropped at its port."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.kernel import capture, frames
from tests.e2e.tenant_networks.world import UNUSED_IP, World
from tests.harness import wait_until

pytestmark = pytest.mark.e2e


def test_removing_the_icmp_rule_stops_new_pings_to_the_guests_of_the_group(world: World) -> None:
    a1, a2 = world.a1, world.a2
    group = world.groups["demo"]
    rules = world.openstack.json("demo", "security", "group", "rule", "list", group)
    ingress = [r for r in rules if r["Direction"] == "ingress"]
    assert len(ingress) == 1 and ingress[0]["IP Protocol"] == "icmp", f"the group must decide by ICMP alone: {rules}"
    assert a2.reaches(a1.ip) and a1.reaches(a2.ip)
    world.openstack("demo", "security", "group", "rule", "delete", ingress[0]["ID"])
    try:
        wait_until(
            lambda: a2.unanswered(a1.ip, count=1),
            15,
            interval=0.2,
            message="pings to a1 still pass without the ICMP rule",
        )
        assert a2.unanswered(a1.ip) and a1.unanswered(a2.ip), "ICMP reached a guest whose group no longer allows it"
    finally:
        world.openstack("demo", "security", "group", "rule", "create", "--ingress", "--protocol", "icmp", group)
    wait_until(
        lambda: a2.reaches(a1.ip, count=1), 15, interval=0.2, message="pings to a1 do not pass again with the rule back"
    )
    assert a1.reaches(a2.ip)


def test_a_guest_that_takes_another_address_is_dropped_at_its_port(world: World, tmp_path: Path) -> None:
    """a1 swaps its address for one its port does not have, keeping a2's MAC in a static neighbour entry (so no
    ARP is needed): its pings leave the guest (a1's tap sees them) and are dropped before they reach a2's."""
    a1, a2 = world.a1, world.a2
    spoof = f"ip addr del {a1.ip}/24 dev eth0; ip addr add {UNUSED_IP}/24 dev eth0; arp -s {a2.ip} {a2.mac}"
    restore = f"ip addr del {UNUSED_IP}/24 dev eth0; ip addr add {a1.ip}/24 dev eth0; arp -d {a2.ip}"
    with capture(a1.tap, tmp_path / "a1.pcap") as sent, capture(a2.tap, tmp_path / "a2.pcap") as arrived:
        assert a1.reaches(a2.ip)
        try:
            assert a1.run(spoof)[0] == 0
            assert a1.unanswered(a2.ip), "a guest answered pings from an address not its port's"
        finally:
            a1.run(restore)

    def icmp_sources(pcap: Path) -> set[str]:
        return {f.ip_src for f in frames(pcap.read_bytes()) if f.ip_proto == 1 and f.ip_dst == a2.ip}

    assert icmp_sources(sent) == {a1.ip, UNUSED_IP}, "the spoofed pings never left the guest"
    assert icmp_sources(arrived) == {a1.ip}, "pings from an address not the port's reached a2"
    assert a1.reaches(a2.ip), "a1 does not reach a2 again with its own address back"
