"""IPv6 address modes: Neutron's rules for them, EUI-64 addresses, and IPAM on /64 pools without enumerating
them."""

from __future__ import annotations

import pytest

from common.settings import Settings
from network import ipam, ipv6, networks, ports, security_group_rules, subnets
from network.exceptions import InvalidInput, InvalidIpForSubnet, IpAddressAlreadyAllocated
from network.models import Port, Subnet
from tests.unit.network.records import ADMIN, network_row


def test_eui64_is_the_prefix_and_the_mac_with_fffe_and_the_universal_bit_flipped():
    assert str(ipv6.eui64("2001:db8::/64", "fa:16:3e:12:34:56")) == "2001:db8::f816:3eff:fe12:3456"
    assert str(ipv6.eui64("2001:db8:1::/64", "00:00:00:00:00:01")) == "2001:db8:1:0:200:ff:fe00:1"


@pytest.mark.parametrize(
    ("ra", "address", "auto"),
    [("slaac", "slaac", True), (None, "dhcpv6-stateless", True), ("slaac", None, True), (None, None, False),
     ("dhcpv6-stateful", "dhcpv6-stateful", False)],
)  # fmt: skip
def test_auto_address_is_either_mode_slaac_or_stateless(ra, address, auto):
    assert ipv6.is_auto_address(ra, address) is auto


@pytest.mark.parametrize(
    ("attrs", "version", "cidr", "dhcp", "words"),
    [
        ({"ipv6_ra_mode": "slaac"}, 4, "10.0.0.0/24", True, "ipv6_ra_mode is not valid when ip_version is 4"),
        ({"ipv6_address_mode": "slaac"}, 4, "10.0.0.0/24", True, "ipv6_address_mode is not valid"),
        ({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateless"}, 6, "2001:db8::/64", True, "same value"),
        ({"ipv6_address_mode": "dhcpv6-stateful"}, 6, "2001:db8::/64", False, "enable_dhcp is set to False"),
        ({"ipv6_address_mode": "slaac"}, 6, "2001:db8::/96", True, "requires the prefix to be /64"),
        ({"ipv6_ra_mode": "bogus"}, 6, "2001:db8::/64", True, "is not one of"),
    ],
)  # fmt: skip
def test_mode_combinations_neutron_refuses(attrs, version, cidr, dhcp, words):
    with pytest.raises(InvalidInput, match=words):
        ipv6.check_modes(attrs, version, cidr, dhcp)


def test_mode_combinations_neutron_accepts():
    for mode in ipv6.MODES:
        ipv6.check_modes({"ipv6_ra_mode": mode, "ipv6_address_mode": mode}, 6, "2001:db8::/64", True)
    ipv6.check_modes({"ipv6_address_mode": "dhcpv6-stateful"}, 6, "2001:db8::/80", True)  # stateful: any prefix
    ipv6.check_modes({}, 6, "2001:db8::/64", False)
    with pytest.raises(InvalidInput, match="Cannot disable enable_dhcp"):
        ipv6.check_dhcp_update("slaac", None, {"enable_dhcp": False})
    ipv6.check_dhcp_update(None, None, {"enable_dhcp": False})


def _subnet(session, cidr: str, **fields) -> tuple[object, Subnet]:
    network = network_row()
    session.add(network)
    session.flush()
    modes = {k: fields.pop(k) for k in ("ipv6_ra_mode", "ipv6_address_mode") if k in fields}
    subnet = Subnet(network_id=network.id, project_id="alice", **subnets.plan({"cidr": cidr, "ip_version": 6}), **modes)
    session.add(subnet)
    session.flush()
    return network, subnet


def _port(session, network, mac: str) -> Port:
    port = Port(network_id=network.id, project_id="alice", mac_address=mac)
    session.add(port)
    session.flush()
    return port


def test_a_v6_pool_is_the_whole_subnet_but_the_anycast_and_gateway_and_allocation_stays_cheap(db):
    plan = subnets.plan({"cidr": "2001:db8::/64", "ip_version": 6})
    assert plan["gateway_ip"] == "2001:db8::1"
    assert plan["allocation_pools"] == [{"start": "2001:db8::2", "end": "2001:db8::ffff:ffff:ffff:ffff"}]
    with db.session() as session:
        network, subnet = _subnet(session, "2001:db8::/64")
        lowest = ipam.allocate(session, subnet, _port(session, network, "fa:16:3e:00:00:01").id, lowest=True)
        assert lowest == "2001:db8::2"  # a 2**64 pool: only the used addresses are read, never the pool
        with pytest.raises(InvalidIpForSubnet):
            ipam.allocate(session, subnet, _port(session, network, "fa:16:3e:00:00:02").id, "2001:db8::")
        with pytest.raises(IpAddressAlreadyAllocated):  # the gateway is the router's
            ipam.allocate(session, subnet, _port(session, network, "fa:16:3e:00:00:03").id, "2001:db8::1")


def test_slaac_subnets_give_eui64_addresses_and_refuse_named_ones_except_to_routers(db):
    with db.session() as session:
        network, subnet = _subnet(session, "2001:db8:5::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
        port = _port(session, network, "fa:16:3e:aa:bb:cc")
        given = ipam.allocate(session, subnet, port.id, mac=port.mac_address)
        assert given == "2001:db8:5:0:f816:3eff:feaa:bbcc"
        with pytest.raises(ipv6.AllocationOnAutoAddressSubnet) as refused:
            ipam.allocate(session, subnet, _port(session, network, "fa:16:3e:00:00:09").id, "2001:db8:5::9")
        assert refused.value.code == 400 and "cannot be directly assigned" in str(refused.value)
        router_port = _port(session, network, "fa:16:3e:00:00:0a")
        gateway = ipam.allocate(
            session, subnet, router_port.id, "2001:db8:5::1", device_owner="network:router_interface"
        )
        assert gateway == "2001:db8:5::1"


@pytest.mark.parametrize("protocol", ["icmp", "icmpv6", "ipv6-icmp", "ICMP"])
def test_ipv6_icmp_rules_are_stored_as_neutron_spells_them(protocol):
    checked = security_group_rules.check_rule({"direction": "ingress", "ethertype": "IPv6", "protocol": protocol})
    assert checked.protocol == "ipv6-icmp"
    number = security_group_rules.check_rule({"direction": "ingress", "ethertype": "IPv6", "protocol": "1"})
    assert number.protocol == "58"
    if protocol in ("icmp", "ICMP"):
        four = security_group_rules.check_rule({"direction": "ingress", "ethertype": "IPv4", "protocol": protocol})
        assert four.protocol == "icmp"


def test_ports_get_eui64_addresses_on_every_auto_subnet_but_routers_and_floating_ips_do_not(db):
    with db.session() as session:
        network = networks.create_network(session, ADMIN, Settings(), {"name": "n"})
        four = subnets.create_subnet(session, ADMIN, {"network_id": network.id, "cidr": "10.0.0.0/24"})
        slaac = subnets.create_subnet(
            session,
            ADMIN,
            {"network_id": network.id, "cidr": "2001:db8:9::/64", "ip_version": 6, "ipv6_address_mode": "slaac"},
        )
        vm = ports.create_port(session, ADMIN, {"network_id": network.id, "mac_address": "fa:16:3e:00:00:42"})
        assert {(a.subnet_id, a.ip_address) for a in vm.fixed_ips} >= {(slaac.id, "2001:db8:9:0:f816:3eff:fe00:42")}
        named = ports.create_port(session, ADMIN, {"network_id": network.id, "fixed_ips": [{"subnet_id": four.id}]})
        assert {a.subnet_id for a in named.fixed_ips} == {four.id, slaac.id}  # implied, as in Neutron
        for owner in ("network:floatingip", "network:router_interface"):
            attrs = {"network_id": network.id, "device_owner": owner, "fixed_ips": [{"subnet_id": four.id}]}
            assert [a.subnet_id for a in ports.create_port(session, ADMIN, attrs).fixed_ips] == [four.id]
        with pytest.raises(ipv6.AllocationOnAutoAddressSubnet):
            fixed = [{"subnet_id": slaac.id, "ip_address": "2001:db8:9::99"}]
            ports.create_port(session, ADMIN, {"network_id": network.id, "fixed_ips": fixed})
