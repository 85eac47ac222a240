"""IPv6 subnets and rules as the host renders them: dnsmasq's DHCPv6 range mode and router advertisements per
Neutron's ``ipv6_ra_mode``/``ipv6_address_mode`` (and a configuration dnsmasq itself accepts), and IPv6 security
group rules as ``ip6``/``icmpv6`` matches of checked values."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from network.control.wiring import PROTOCOL_ALIASES
from network.host.dataplane.linux import dnsmasq, sgrules
from network.wire import DhcpSubnet, DhcpWiring, Rule

PORT = "9d2e1a7c-5b3f-4e21-8c6d-0a1b2c3d4e5f"


def _wiring(*subnets: DhcpSubnet) -> DhcpWiring:
    return DhcpWiring(
        port_id=PORT,
        mac="fa:16:3e:00:00:03",
        ip="10.0.0.2",
        extra_ips=("2001:db8:1::2", "2001:db8:2:0:f816:3eff:fe00:3", "2001:db8:3:0:f816:3eff:fe00:3"),
        subnets=(DhcpSubnet("10.0.0.0/24", "10.0.0.1"), *subnets),
        hosts=(("fa:16:3e:00:00:07", "2001:db8:1::7", "host-2001-db8-1--7"),),
        lease_time=3600,
    )


MIXED = _wiring(
    DhcpSubnet("2001:db8:1::/64", "2001:db8:1::1", ("2001:4860:4860::8888",), (), "dhcpv6-stateful", "dhcpv6-stateful"),
    DhcpSubnet("2001:db8:2::/64", "2001:db8:2::1", (), (), "dhcpv6-stateless", "dhcpv6-stateless"),
    DhcpSubnet("2001:db8:3::/64", "2001:db8:3::1", (), (), "slaac", "slaac"),
)


def test_each_address_mode_has_its_range_mode_and_router_advertisements_are_on() -> None:
    text = dnsmasq.render_config(MIXED, dnsmasq.Files(Path("/srv/d")), "ns-9d2e1a7c-5b")
    lines = text.splitlines()
    assert "enable-ra" in lines and "ra-param=ns-9d2e1a7c-5b,30,0" in lines
    assert "dhcp-range=set:subnet-1,2001:db8:1::,static,64,3600s" in lines
    assert "dhcp-option=tag:subnet-1,option6:dns-server,[2001:4860:4860::8888]" in lines
    assert "dhcp-range=set:subnet-2,2001:db8:2::,ra-stateless,64,3600s" in lines
    assert "dhcp-range=set:subnet-3,2001:db8:3::,ra-only,64,3600s" in lines
    assert dnsmasq.render_hosts(MIXED) == "fa:16:3e:00:00:07,[2001:db8:1::7],host-2001-db8-1--7\n"


def test_without_an_ra_mode_no_router_advertisements_are_sent() -> None:
    quiet = _wiring(DhcpSubnet("2001:db8:1::/64", "2001:db8:1::1", (), (), None, "dhcpv6-stateful"))
    text = dnsmasq.render_config(quiet, dnsmasq.Files(Path("/srv/d")), "ns-x")
    assert "enable-ra" not in text.splitlines() and "ra-param" not in text
    assert "dhcp-range=set:subnet-1,2001:db8:1::,static,64,3600s" in text.splitlines()


def test_a_mode_outside_neutrons_is_refused_where_the_state_is_decoded() -> None:
    with pytest.raises(ValueError, match="not an IPv6 mode"):
        DhcpSubnet("2001:db8::/64", ipv6_ra_mode="slaac\nenable-tftp")


@pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq is not installed")
def test_dnsmasq_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    files = dnsmasq.Files(tmp_path)
    files.config.write_text(dnsmasq.render_config(MIXED, files, "ns-9d2e1a7c-5b"))
    files.hosts.write_text(dnsmasq.render_hosts(MIXED))
    checked = subprocess.run(["dnsmasq", "--test", f"--conf-file={files.config}"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (Rule("ingress", "IPv6", PROTOCOL_ALIASES["ipv6-icmp"], 128, 0), "icmpv6 type 128 icmpv6 code 0"),
        (Rule("ingress", "IPv6", "icmp"), "meta l4proto ipv6-icmp"),
        (Rule("ingress", "IPv6", "tcp", 22, 22, ("2001:db8::/48",)), "ip6 saddr 2001:db8::/48 tcp dport 22"),
        (Rule("egress", "IPv6", "udp", 546, 547, ("2001:DB8::1/128",)), "ip6 daddr 2001:db8::1 udp dport 546-547"),
    ],
)  # fmt: skip
def test_v6_rules_render_into_ip6_matches(rule: Rule, text: str) -> None:
    assert sgrules.render(rule, "accept") == f"meta nfproto ipv6 {text} accept"


def test_a_v6_rule_with_only_v4_remotes_matches_nothing_and_a_hostile_prefix_never_decodes() -> None:
    assert sgrules.render(Rule("ingress", "IPv6", "tcp", 22, None, ("10.0.0.0/8",)), "accept") is None
    with pytest.raises(ValueError):
        Rule("ingress", "IPv6", remote_ips=("2001:db8::%x\nflush ruleset",))
