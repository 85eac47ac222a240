"""dnsmasq's configuration and hosts file for a network, against golden text (an IPv4 subnet with a gateway, DNS
servers and host routes, one without a gateway, an IPv6 subnet), and the DHCP port's addresses."""

from __future__ import annotations

from pathlib import Path

from network.host.dataplane.linux import dnsmasq
from network.wire import DhcpSubnet, DhcpWiring
from tests.unit.network.host.dataplane.test_firewall import assert_golden

DHCP = DhcpWiring(
    port_id="9d2e1a7c-5b3f-4e21-8c6d-0a1b2c3d4e5f",
    mac="fa:16:3e:00:00:03",
    ip="10.0.0.2",
    extra_ips=("172.16.5.2", "2001:db8::2"),
    subnets=(
        DhcpSubnet("10.0.0.0/24", "10.0.0.1", ("192.0.2.53", "192.0.2.54"), (("169.254.169.254/32", "10.0.0.1"),)),
        DhcpSubnet("172.16.5.0/26"),
        DhcpSubnet("2001:db8::/64", "2001:db8::1", ("2001:db8::53", "192.0.2.53")),
    ),
    hosts=(
        ("fa:16:3e:00:00:05", "10.0.0.5", "vm-5.example.org"),
        ("fa:16:3e:00:00:01", "10.0.0.4", ""),
        ("fa:16:3e:00:00:07", "2001:db8::7", "vm-7"),
        ("fa:16:3e:00:00:08", "172.16.5.8", "bad_name"),
    ),
    mtu=1450,
    lease_time=3600,
)
FILES = dnsmasq.Files(Path("/srv/stratus/dataplane/h1/dhcp/3b0c2f4e-7a1d-4c55-9a0d-2f4e8c1b7a10"))


def test_config_matches_golden_text() -> None:
    assert_golden(dnsmasq.render_config(DHCP, FILES, "ns-9d2e1a7c-5b"), "dnsmasq.conf")


def test_hosts_file_matches_golden_text() -> None:
    assert_golden(dnsmasq.render_hosts(DHCP), "dnsmasq-hosts")


def test_empty_hosts_file_is_empty() -> None:
    assert dnsmasq.render_hosts(DhcpWiring(port_id=DHCP.port_id, mac=DHCP.mac, ip=DHCP.ip)) == ""


def test_gateway_becomes_the_default_classless_route_unless_one_is_given() -> None:
    routes = (("0.0.0.0/0", "10.0.0.254"), ("192.168.0.0/16", "10.0.0.3"))
    subnet = DhcpSubnet("10.0.0.0/24", "10.0.0.1", host_routes=routes)
    text = dnsmasq.render_config(
        DhcpWiring(port_id=DHCP.port_id, mac=DHCP.mac, ip=DHCP.ip, subnets=(subnet,)), FILES, "x"
    )
    assert (
        "option:classless-static-route,0.0.0.0/0,10.0.0.254,192.168.0.0/16,10.0.0.3,169.254.169.254/32,10.0.0.2\n"
        in text
    )


def test_metadata_address_is_routed_via_the_dhcp_port_with_the_default_route() -> None:
    subnet = DhcpSubnet("10.0.0.0/24", "10.0.0.1")
    text = dnsmasq.render_config(
        DhcpWiring(port_id=DHCP.port_id, mac=DHCP.mac, ip=DHCP.ip, subnets=(subnet,)), FILES, "x"
    )
    routes = "0.0.0.0/0,10.0.0.1,169.254.169.254/32,10.0.0.2"
    assert f"dhcp-option=tag:subnet-0,option:classless-static-route,{routes}\n" in text
    assert f"dhcp-option=tag:subnet-0,249,{routes}\n" in text


def test_a_subnet_without_gateway_still_gets_the_metadata_route() -> None:
    subnet = DhcpSubnet("10.0.0.0/24")
    wiring = DhcpWiring(port_id=DHCP.port_id, mac=DHCP.mac, ip=DHCP.ip, subnets=(subnet,))
    assert "option:classless-static-route,169.254.169.254/32,10.0.0.2\n" in dnsmasq.render_config(wiring, FILES, "x")


def test_a_subnet_the_dhcp_port_has_no_address_on_gets_no_metadata_route() -> None:
    subnet = DhcpSubnet("10.1.0.0/24", "10.1.0.1")
    wiring = DhcpWiring(port_id=DHCP.port_id, mac=DHCP.mac, ip=DHCP.ip, subnets=(subnet,))
    assert "classless-static-route,0.0.0.0/0,10.1.0.1\n" in dnsmasq.render_config(wiring, FILES, "x")


def test_dhcp_port_addresses_take_their_subnet_prefix() -> None:
    assert dnsmasq.interface_addresses(DHCP) == {"10.0.0.2/24", "172.16.5.2/26", "2001:db8::2/64"}
    lone = DhcpWiring(port_id=DHCP.port_id, mac=DHCP.mac, ip="10.9.9.9")
    assert dnsmasq.interface_addresses(lone) == {"10.9.9.9/32"}
