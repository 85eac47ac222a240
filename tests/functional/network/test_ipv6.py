"""IPv6 in the Network API as Neutron serves it (and as Tempest's IPv6 test classes call it): subnet defaults of a
/64, stateful allocation from the pool, EUI-64 addresses on SLAAC and DHCPv6-stateless subnets (and refused
fixed IPs there), Neutron's mode rules, router interfaces on IPv6 subnets, IPv6 security group rules, and the
CLI's ``subnet create --ip-version 6 --ipv6-ra-mode slaac``."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tests.functional.network import BASE, cli_json, create, delete, fault, get, network, port
from tests.functional.network.l3 import put, router

pytestmark = [pytest.mark.functional]


def _subnet6(cloud: Any, token: str, network_id: str, cidr: str, **attrs: Any) -> dict[str, Any]:
    return create(cloud, token, "subnet", "subnets", network_id=network_id, cidr=cidr, ip_version=6, **attrs)


def _eui64(cidr: str, mac: str) -> str:
    octets = bytes(int(part, 16) for part in mac.split(":"))
    interface_id = bytes([octets[0] ^ 2]) + octets[1:3] + b"\xff\xfe" + octets[3:]
    return str(ipaddress.IPv6Network(cidr)[int.from_bytes(interface_id, "big")])


def test_a_v6_subnet_defaults_to_the_first_address_as_gateway_and_a_pool_to_the_last(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    made = _subnet6(cloud, tokens.demo, net["id"], "2001:db8:60::/64", dns_nameservers=["2001:4860:4860::8888"])
    assert made["ip_version"] == 6 and made["gateway_ip"] == "2001:db8:60::1"
    assert made["allocation_pools"] == [{"start": "2001:db8:60::2", "end": "2001:db8:60:0:ffff:ffff:ffff:ffff"}]
    assert made["ipv6_ra_mode"] is None and made["ipv6_address_mode"] is None
    (dhcp,) = get(cloud, tokens.demo, f"/ports?network_id={net['id']}&device_owner=network:dhcp")["ports"]
    assert dhcp["fixed_ips"] == [{"subnet_id": made["id"], "ip_address": "2001:db8:60::2"}]
    # Stateful: a port gets a pool address; one named anywhere in the subnet but the subnet-router anycast.
    given = port(cloud, tokens.demo, net["id"])["fixed_ips"][0]["ip_address"]
    assert ipaddress.ip_address(given) in ipaddress.ip_network("2001:db8:60::/64") and given != "2001:db8:60::1"
    named = port(cloud, tokens.demo, net["id"], fixed_ips=[{"ip_address": "2001:db8:60::ffff:ffff:ffff:ffff"}])
    assert named["fixed_ips"][0] == {"subnet_id": made["id"], "ip_address": "2001:db8:60:0:ffff:ffff:ffff:ffff"}
    spelled = get(cloud, tokens.demo, "/ports?fixed_ips=ip_address=2001:DB8:60:0:FFFF:FFFF:FFFF:FFFF")["ports"]
    assert [p["id"] for p in spelled] == [named["id"]]  # any spelling of an address finds it
    anycast = {"network_id": net["id"], "fixed_ips": [{"subnet_id": made["id"], "ip_address": "2001:db8:60::"}]}
    fault(cloud.request("POST", f"{BASE}/ports", tokens.demo, json={"port": anycast}), "InvalidIpForSubnet", 400)
    # An IPv4 subnet beside it without a gateway; the list shows both (Tempest's no_gw64_one_network).
    four = create(cloud, tokens.demo, "subnet", "subnets", network_id=net["id"], cidr="10.60.0.0/24", ip_version=4,
                  gateway_ip=None)  # fmt: skip
    listed = get(cloud, tokens.demo, f"/subnets?network_id={net['id']}")["subnets"]
    assert sorted(s["id"] for s in listed) == sorted([made["id"], four["id"]]) and four["gateway_ip"] is None


def test_slaac_ports_get_eui64_addresses_and_cannot_name_one(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    stateful = _subnet6(cloud, tokens.demo, net["id"], "2001:db8:61::/64")
    slaac = _subnet6(cloud, tokens.demo, net["id"], "2001:db8:62::/64", ipv6_ra_mode="slaac",
                     ipv6_address_mode="slaac")  # fmt: skip
    assert (slaac["ipv6_ra_mode"], slaac["ipv6_address_mode"]) == ("slaac", "slaac")
    made = port(cloud, tokens.demo, net["id"], mac_address="fa:16:3e:12:34:56")
    by_subnet = {ip["subnet_id"]: ip["ip_address"] for ip in made["fixed_ips"]}
    assert by_subnet[slaac["id"]] == "2001:db8:62:0:f816:3eff:fe12:3456" == _eui64(slaac["cidr"], made["mac_address"])
    assert stateful["id"] in by_subnet
    named = {"network_id": net["id"], "fixed_ips": [{"subnet_id": slaac["id"], "ip_address": "2001:db8:62::5"}]}
    refused = cloud.request("POST", f"{BASE}/ports", tokens.demo, json={"port": named})
    assert "cannot be directly assigned" in fault(refused, "AllocationOnAutoAddressSubnet", 400)
    # The EUI-64 address follows the MAC, and stays when the fixed IP list leaves it out (Neutron keeps it).
    path = f"{BASE}/ports/{made['id']}"
    changed = cloud.request("PUT", path, tokens.demo, json={"port": {"mac_address": "fa:16:3e:00:00:01"}})
    assert changed.status_code == 200, changed.text
    kept = cloud.request("PUT", path, tokens.demo, json={"port": {"fixed_ips": [{"subnet_id": stateful["id"]}]}})
    assert {ip["subnet_id"]: ip["ip_address"] for ip in kept.json()["port"]["fixed_ips"]}[slaac["id"]] == (
        "2001:db8:62:0:f816:3eff:fe00:1"
    )
    # A new stateless subnet gives every port of the network its address at once; deleting it takes them back.
    stateless = _subnet6(cloud, tokens.demo, net["id"], "2001:db8:63::/64", ipv6_address_mode="dhcpv6-stateless")
    shown = get(cloud, tokens.demo, f"/ports/{made['id']}")["port"]
    assert {"subnet_id": stateless["id"], "ip_address": "2001:db8:63:0:f816:3eff:fe00:1"} in shown["fixed_ips"]
    delete(cloud, tokens.demo, "subnets", stateless["id"])
    assert stateless["id"] not in {
        ip["subnet_id"] for ip in get(cloud, tokens.demo, path[len(BASE) :])["port"]["fixed_ips"]
    }


@pytest.mark.parametrize(
    ("attrs", "words"),
    [
        ({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"}, "they must be the same value"),
        ({"ipv6_address_mode": "slaac", "enable_dhcp": False}, "cannot be set when enable_dhcp is set to False"),
        ({"ipv6_ra_mode": "slaac", "cidr": "2001:db8:64::/80"}, "requires the prefix to be /64"),
        ({"ipv6_ra_mode": "slaac", "ip_version": 4, "cidr": "10.64.0.0/24"}, "not valid when ip_version is 4"),
    ],
)
def test_modes_are_checked_as_neutron_checks_them(cloud, tokens, unique, attrs, words):
    net = network(cloud, tokens.demo, unique)
    body = {"subnet": {"network_id": net["id"], "cidr": "2001:db8:64::/64", "ip_version": 6, **attrs}}
    assert words in fault(cloud.request("POST", f"{BASE}/subnets", tokens.demo, json=body), "InvalidInput", 400)
    assert get(cloud, tokens.demo, f"/subnets?network_id={net['id']}")["subnets"] == []


def test_router_interfaces_on_v6_subnets_by_subnet_and_by_port(cloud, tokens, unique):
    made = router(cloud, tokens.demo, unique)
    first = _subnet6(cloud, tokens.demo, network(cloud, tokens.demo, f"{unique}-a")["id"], "2001:db8:65::/64")
    net_b = network(cloud, tokens.demo, f"{unique}-b")
    second = _subnet6(cloud, tokens.demo, net_b["id"], "2001:db8:66::/64", ipv6_ra_mode="slaac",
                      ipv6_address_mode="slaac")  # fmt: skip
    added = put(cloud, tokens.demo, f"/routers/{made['id']}/add_router_interface", {"subnet_id": first["id"]})
    assert added.status_code == 200, added.text
    shown = get(cloud, tokens.demo, f"/ports/{added.json()['port_id']}")["port"]
    assert shown["fixed_ips"] == [{"subnet_id": first["id"], "ip_address": "2001:db8:65::1"}]
    # On a SLAAC subnet the interface holds the gateway, and nothing else.
    by_slaac = put(cloud, tokens.demo, f"/routers/{made['id']}/add_router_interface", {"subnet_id": second["id"]})
    assert by_slaac.status_code == 200, by_slaac.text
    shown = get(cloud, tokens.demo, f"/ports/{by_slaac.json()['port_id']}")["port"]
    assert shown["fixed_ips"] == [{"subnet_id": second["id"], "ip_address": "2001:db8:66::1"}]
    removed = put(cloud, tokens.demo, f"/routers/{made['id']}/remove_router_interface", {"subnet_id": second["id"]})
    assert removed.status_code == 200, removed.text
    overlapping = _subnet6(cloud, tokens.demo, network(cloud, tokens.demo, f"{unique}-c")["id"], "2001:db8:65::/64")
    refused = put(cloud, tokens.demo, f"/routers/{made['id']}/add_router_interface", {"subnet_id": overlapping["id"]})
    assert refused.status_code == 400, refused.text
    # A subnet whose advertisements come from a router outside the cloud is not for this one (Neutron's 400).
    external_ra = _subnet6(cloud, tokens.demo, network(cloud, tokens.demo, f"{unique}-d")["id"], "2001:db8:68::/64",
                           ipv6_address_mode="slaac")  # fmt: skip
    refused = put(cloud, tokens.demo, f"/routers/{made['id']}/add_router_interface", {"subnet_id": external_ra["id"]})
    assert "receive RAs from an external router" in fault(refused, "BadRequest", 400)
    own = port(cloud, tokens.demo, net_b["id"])
    by_port = put(cloud, tokens.demo, f"/routers/{made['id']}/add_router_interface", {"port_id": own["id"]})
    assert by_port.status_code == 200 and by_port.json()["subnet_id"] == second["id"], by_port.text
    removed = put(cloud, tokens.demo, f"/routers/{made['id']}/remove_router_interface", {"port_id": own["id"]})
    assert removed.status_code == 200, removed.text


def test_v6_security_group_rules_and_refused_mismatches(cloud, tokens, unique):
    group = create(cloud, tokens.demo, "security_group", "security-groups", name=unique)

    def rule(**attrs: Any) -> Any:
        body = {"security_group_rule": {"security_group_id": group["id"], "direction": "ingress", **attrs}}
        return cloud.request("POST", f"{BASE}/security-group-rules", tokens.demo, json=body)

    for protocol in ("ipv6-icmp", "icmpv6", "icmp"):
        made = rule(ethertype="IPv6", protocol=protocol, port_range_min=128, port_range_max=0)
        assert made.status_code == 201, made.text
        assert made.json()["security_group_rule"]["protocol"] == "ipv6-icmp"  # Neutron's canonical spelling
        delete(cloud, tokens.demo, "security-group-rules", made.json()["security_group_rule"]["id"])
    prefixed = rule(ethertype="IPv6", protocol="tcp", port_range_min=22, port_range_max=22,
                    remote_ip_prefix="2001:db8::/48")  # fmt: skip
    assert prefixed.status_code == 201 and prefixed.json()["security_group_rule"]["remote_ip_prefix"] == "2001:db8::/48"
    fault(rule(ethertype="IPv6", protocol="tcp", port_range_min=22, port_range_max=22,
               remote_ip_prefix="2001:db8::/48"), "SecurityGroupRuleExists", 409)  # fmt: skip
    for ethertype, prefix in (("IPv6", "10.0.0.0/8"), ("IPv4", "2001:db8::/48")):
        words = fault(rule(ethertype=ethertype, protocol="tcp", remote_ip_prefix=prefix),
                      "SecurityGroupRuleParameterConflict", 400)  # fmt: skip
        assert "Conflicting value ethertype" in words
    fault(rule(ethertype="IPv4", protocol="ipv6-icmp"), "SecurityGroupEthertypeConflictWithProtocol", 400)


def test_the_cli_creates_a_slaac_subnet_and_a_port_with_its_eui64_address(cloud, tokens, unique):
    network(cloud, tokens.demo, unique)
    created = cli_json(
        cloud, "stratus", "subnet", "create", "--network", unique, "--ip-version", "6", "--ipv6-ra-mode", "slaac",
        "--ipv6-address-mode", "slaac", "--subnet-range", "2001:db8:67::/64", unique,
    )  # fmt: skip
    assert (created["ip_version"], created["ipv6_ra_mode"], created["ipv6_address_mode"]) == (6, "slaac", "slaac")
    assert created["gateway_ip"] == "2001:db8:67::1"
    made = cli_json(cloud, "stratus", "port", "create", "--network", unique, "--mac-address", "fa:16:3e:ab:cd:ef",
                    unique)  # fmt: skip
    addresses = [ip["ip_address"] for ip in made["fixed_ips"]]
    assert addresses == ["2001:db8:67:0:f816:3eff:feab:cdef"]
