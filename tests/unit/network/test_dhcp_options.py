"""Extra DHCP options (Neutron's ``extra_dhcp_opt``) from the catalogue to dnsmasq's lines: values are read as
their option's type and written back from it, so no user string reaches dnsmasq's configuration as syntax; the
desired-state type and the renderer refuse what the API would have refused."""

from __future__ import annotations

from pathlib import Path

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Base, Database
from network import dhcp_options
from network.control import wiring
from network.host.dataplane import tokens
from network.host.dataplane.linux import dnsmasq
from network.models import NetworkHost
from network.wire import DhcpSubnet, DhcpWiring
from tests.unit.network.control.test_wiring import network, server_port

MAC = "fa:16:3e:00:00:05"
BASE = {
    "port_id": "9d2e1a7c-5b3f-4e21-8c6d-0a1b2c3d4e5f",
    "mac": "fa:16:3e:00:00:03",
    "ip": "10.0.0.2",
    "subnets": (DhcpSubnet("10.0.0.0/24", "10.0.0.1"),),
    "hosts": ((MAC, "10.0.0.5", ""), ("fa:16:3e:00:00:06", "10.0.0.6", "")),
}
FILES = dnsmasq.Files(Path("/srv/dhcp/net"))


@pytest.mark.parametrize(
    ("name", "value", "version", "expected"),
    [
        ("bootfile-name", "pxelinux.0", 4, "pxelinux.0"),
        ("tftp-server", "123.123.123.123", 4, "123.123.123.123"),
        ("tftp-server", "boot.example.org", 4, "boot.example.org"),
        ("server-ip-address", "123.123.123.45", 4, "123.123.123.45"),
        ("server-ip-address", "2015::BADD", 6, "2015::badd"),
        ("dns-server", "192.0.2.1, 192.0.2.2", 4, "192.0.2.1,192.0.2.2"),
        ("mtu", "01400", 4, "1400"),
        ("bootfile-name", "http://boot.example.org/ipxe?x=1", 4, "http://boot.example.org/ipxe?x=1"),
    ],
)
def test_values_are_read_as_their_options_type(name, value, version, expected) -> None:
    assert dhcp_options.check(name, value, version) == (name, expected, version)


@pytest.mark.parametrize(
    ("name", "value", "version"),
    [
        ("bootfile-name", "pxe\ndhcp-script=/bin/sh", 4),  # a newline would start a directive of its own
        ("bootfile-name", "a,b", 4),  # dnsmasq's separator
        ("bootfile-name", 'a"b', 4),
        ("bootfile-name", "a b", 4),
        ("bootfile-name", "#x", 4),
        ("bootfile-name", "x" * 256, 4),
        ("bootfile-name", "", 4),
        ("server-ip-address", "10.0.0.1\n", 4),
        ("server-ip-address", "fe80::1%eth0", 6),
        ("server-ip-address", "2015::1", 4),  # the wrong version
        ("tftp-server", "-oops", 4),
        ("mtu", "1e3", 4),
        ("mtu", "70000", 4),
        ("mtu", "²", 4),
        ("dhcp-script", "/bin/sh", 4),  # not in the catalogue
        ("option:router", "10.0.0.1", 4),
        ("bootfile-name", "pxelinux.0", 5),
        ("bootfile-name", "pxelinux.0", True),
        ("bootfile-name", None, 4),
        (None, "x", 4),
    ],
)
def test_hostile_options_are_refused(name, value, version) -> None:
    with pytest.raises(ValueError):
        dhcp_options.check(name, value, version)


def test_options_reach_only_their_ports_lease() -> None:
    dhcp = DhcpWiring(
        **BASE, options=((MAC, "bootfile-name", "pxelinux.0"), (MAC, "server-ip-address", "123.123.123.45"))
    )
    config = dnsmasq.render_config(dhcp, FILES, "ns-x")
    assert config.endswith(
        "dhcp-option-force=tag:port-fa163e000005,option:bootfile-name,pxelinux.0\n"
        "dhcp-option-force=tag:port-fa163e000005,option:server-ip-address,123.123.123.45\n"
    )
    assert (
        dnsmasq.render_hosts(dhcp) == "fa:16:3e:00:00:05,set:port-fa163e000005,10.0.0.5\nfa:16:3e:00:00:06,10.0.0.6\n"
    )


def test_the_api_stores_an_address_of_either_family_but_dnsmasq_gets_only_its_own() -> None:
    assert dhcp_options.check("tftp-server", "2015::DEAD", 4, strict=False) == ("tftp-server", "2015::dead", 4)
    with pytest.raises(ValueError):
        dhcp_options.check("tftp-server", "2015::dead", 4)
    with pytest.raises(ValueError):
        dhcp_options.check("bootfile-name", "a,b", 4, strict=False)


def test_the_desired_state_type_refuses_a_bad_option() -> None:
    with pytest.raises(ValueError, match="not a DHCP option"):
        DhcpWiring(**BASE, options=((MAC, "bootfile-name", "x\ndhcp-script=/tmp/x"),))
    with pytest.raises(ValueError):
        DhcpWiring(**BASE, options=(("not-a-mac", "bootfile-name", "x"),))
    decoded = DhcpWiring.from_dict(DhcpWiring(**BASE, options=((MAC, "mtu", "1400"),)).to_dict())
    assert decoded.options == ((MAC, "mtu", "1400"),)


def test_the_renderer_refuses_an_option_that_slipped_past_the_type() -> None:
    dhcp = DhcpWiring(**BASE)
    object.__setattr__(dhcp, "options", ((MAC, "bootfile-name", "x\ndhcp-script=/tmp/x"),))
    with pytest.raises(tokens.UnsafeValue):
        dnsmasq.render_config(dhcp, FILES, "ns-x")


def test_the_control_side_sends_a_ports_ipv4_options_to_its_dhcp_host(tmp_path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'wiring.db'}")
    Base.metadata.create_all(database.engine)
    try:
        with database.session() as session:
            session.add(NetworkHost(host="h1", underlay_ip="198.18.0.11", networks=[]))
            net = network(session)
            opts = [
                {"opt_name": "bootfile-name", "opt_value": "pxelinux.0", "ip_version": 4},
                {"opt_name": "server-ip-address", "opt_value": "2015::badd", "ip_version": 6},  # no DHCPv6 here
                {"opt_name": "dhcp-script", "opt_value": "/bin/sh", "ip_version": 4},  # an old row: left out
                {"opt_name": "tftp-server", "opt_value": "2015::dead", "ip_version": 4},  # not for DHCPv4
            ]
            port = server_port(session, net, "h1", extra_dhcp_opts=opts)
            plain = server_port(session, net, "h1")
            (state,) = wiring.host_wiring(session, "h1").networks
            assert state.dhcp is not None
            assert state.dhcp.options == ((port.mac_address, "bootfile-name", "pxelinux.0"),)
            assert f"{plain.mac_address}," in dnsmasq.render_hosts(state.dhcp)
            tag = "port-" + port.mac_address.replace(":", "")
            assert f"{port.mac_address},set:{tag}," in dnsmasq.render_hosts(state.dhcp)
    finally:
        database.dispose()
