"""The nftables script, rendered from the desired state: golden text for a host with a filtered port (fixed IPs,
allowed address pairs, several kinds of rules), an unfiltered port and a DHCP port, and the translation of single
rules. To change the golden file: change the code, read the diff the failure prints, copy the new text in by hand.
That the kernel accepts the script and enforces it is the end-to-end tests' business."""

from __future__ import annotations

import difflib
import ipaddress
from pathlib import Path

import pytest

from network.host.dataplane.linux import firewall, sgrules
from network.wire import NetworkWiring, PortWiring, Rule

GOLDEN = Path(__file__).parent / "golden"

FILTERED = PortWiring(
    port_id="6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10",
    mac="fa:16:3e:00:00:01",
    ips=("10.0.0.5", "2001:db8::5"),
    allowed_pairs=(("fa:16:3e:00:00:01", "10.0.0.0/28"), ("fa:16:3e:00:00:09", "10.0.1.7")),
    rules=(
        Rule("egress", "IPv4"),
        Rule("egress", "IPv6"),
        Rule("ingress", "IPv4", "icmp"),
        Rule("ingress", "IPv4", "tcp", 22, None, ("192.0.2.0/24", "198.51.100.7", "2001:db8::/64")),
        Rule("ingress", "IPv6", "udp", 5000, 5100),
        Rule("ingress", "IPv4", "tcp", 80, 80, ()),  # a remote group with no members: matches nothing
        Rule("ingress", "IPv4", "tcp", 22, None, ("192.0.2.0/24", "198.51.100.7")),  # a duplicate
    ),
)
UNFILTERED = PortWiring(
    port_id="0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d", mac="fa:16:3e:00:00:02", ips=("10.0.0.6",), port_security=False
)
DHCP = PortWiring(
    port_id="9d2e1a7c-5b3f-4e21-8c6d-0a1b2c3d4e5f", mac="fa:16:3e:00:00:03", ips=("10.0.0.2",), kind="dhcp"
)


OTHER = PortWiring(port_id="7f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10", mac="fa:16:3e:00:00:04", ips=("10.0.0.5",))
NETWORKS = (
    NetworkWiring("3b0c2f4e-7a1d-4c55-9a0d-2f4e8c1b7a10", 1001, ports=(FILTERED, UNFILTERED, DHCP)),
    NetworkWiring("1a0c2f4e-7a1d-4c55-9a0d-2f4e8c1b7a10", 1002, ports=(OTHER,)),  # the same address: own zone
)


def on_one_network(*ports: PortWiring) -> tuple[NetworkWiring, ...]:
    return (NetworkWiring("3b0c2f4e-7a1d-4c55-9a0d-2f4e8c1b7a10", 1001, ports=ports),)


def assert_golden(text: str, name: str) -> None:
    expected = (GOLDEN / name).read_text()
    if text != expected:
        diff = difflib.unified_diff(expected.splitlines(), text.splitlines(), f"golden/{name}", "rendered", lineterm="")
        pytest.fail("rendered text differs from the golden file:\n" + "\n".join(diff))


def test_host_ruleset_matches_golden_text() -> None:
    assert_golden(firewall.render(NETWORKS) or "", "firewall.nft")


def test_ruleset_does_not_depend_on_order() -> None:
    reordered = (NETWORKS[1], NetworkWiring(**{**vars(NETWORKS[0]), "ports": (DHCP, UNFILTERED, FILTERED)}))
    assert firewall.render(NETWORKS) == firewall.render(reordered)


def test_a_host_without_vm_ports_has_no_tables() -> None:
    assert firewall.render([]) is None
    assert firewall.render(on_one_network(DHCP)) is None


def test_each_network_has_its_own_conntrack_zone() -> None:
    text = firewall.render(NETWORKS) or ""
    assert '"brq1a0c2f4e-7a" : 1, "qbr7f1c0f1e-3b" : 1, "brq3b0c2f4e-7a" : 2, "qbr0a1b2c3d-4e" : 2' in text


def test_ports_get_consecutive_marks_by_port_id() -> None:
    second = PortWiring(port_id="7f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10", mac="fa:16:3e:00:00:04")
    text = firewall.render(on_one_network(second, FILTERED)) or ""
    assert "0x1 : jump egress_6f1c0f1e-3b" in text and "0x2 : jump egress_7f1c0f1e-3b" in text
    assert "0x20000 : jump ingress_7f1c0f1e-3b" in text


def test_overlapping_source_pairs_are_merged() -> None:
    """An interval set refuses overlapping elements; a fixed IP inside an allowed CIDR is common."""
    pairs = firewall.source_pairs(FILTERED)
    assert [(mac, str(net)) for mac, net in pairs[4]] == [
        ("fa:16:3e:00:00:01", "10.0.0.0/28"),
        ("fa:16:3e:00:00:09", "10.0.1.7/32"),
    ]


def test_link_local_is_derived_from_the_mac() -> None:
    assert firewall.link_local("fa:16:3e:00:00:01") == ipaddress.IPv6Address("fe80::f816:3eff:fe00:1")


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (Rule("ingress"), "meta nfproto ipv4 accept"),
        (Rule("egress", "IPv6"), "meta nfproto ipv6 accept"),
        (Rule("ingress", protocol="tcp", port_min=22), "meta nfproto ipv4 tcp dport 22 accept"),
        (Rule("ingress", protocol="6", port_min=1000, port_max=2000), "meta nfproto ipv4 tcp dport 1000-2000 accept"),
        (Rule("ingress", protocol="udp"), "meta nfproto ipv4 meta l4proto udp accept"),
        (Rule("ingress", protocol="sctp", port_min=9), "meta nfproto ipv4 sctp dport 9 accept"),
        (Rule("ingress", protocol="icmp", port_min=8), "meta nfproto ipv4 icmp type 8 accept"),
        (Rule("ingress", protocol="icmp", port_min=3, port_max=4), "meta nfproto ipv4 icmp type 3 icmp code 4 accept"),
        (Rule("ingress", "IPv6", "icmp"), "meta nfproto ipv6 meta l4proto ipv6-icmp accept"),
        (Rule("ingress", "IPv6", "icmpv6", 128), "meta nfproto ipv6 icmpv6 type 128 accept"),
        (Rule("ingress", protocol="gre"), "meta nfproto ipv4 meta l4proto 47 accept"),
        (Rule("ingress", protocol="112"), "meta nfproto ipv4 meta l4proto 112 accept"),
        (Rule("egress", remote_ips=("10.0.0.0/8",)), "meta nfproto ipv4 ip daddr 10.0.0.0/8 accept"),
        (
            Rule("ingress", remote_ips=("10.0.0.9", "10.0.0.3/32")),
            "meta nfproto ipv4 ip saddr { 10.0.0.3, 10.0.0.9 } accept",
        ),
        (
            Rule("ingress", "IPv6", remote_ips=("2001:db8::1", "10.0.0.1")),
            "meta nfproto ipv6 ip6 saddr 2001:db8::1 accept",
        ),
    ],
)
def test_rule_translation(rule: Rule, text: str) -> None:
    assert sgrules.render(rule, "accept") == text


def test_a_rule_with_no_address_of_its_ethertype_matches_nothing() -> None:
    assert sgrules.render(Rule("ingress", remote_ips=()), "accept") is None
    assert sgrules.render(Rule("ingress", "IPv6", remote_ips=("10.0.0.1",)), "accept") is None
