"""Subnets over real HTTP: IPAM defaults, the DHCP port, Neutron's answers to bad addressing, overlaps within
a network and across projects, and the CLI's ``subnet create``."""

from __future__ import annotations

import pytest

from tests.functional.network import BASE, cli_json, delete, fault, get, network, port, subnet

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

FIELDS = {
    "id", "name", "tenant_id", "project_id", "network_id", "ip_version", "cidr", "gateway_ip", "allocation_pools",
    "dns_nameservers", "host_routes", "enable_dhcp", "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id",
    "segment_id", "service_types", "router:external", "description", "tags", "created_at", "updated_at",
    "revision_number",
}  # fmt: skip


def _dhcp_ports(cloud, token, network_id):
    return get(cloud, token, f"/ports?network_id={network_id}&device_owner=network:dhcp")["ports"]


def test_subnet_defaults_and_the_dhcp_port(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    created = subnet(cloud, tokens.demo, net["id"], "10.20.0.0/24", dns_nameservers=["10.20.0.53"])
    assert set(created) == FIELDS
    assert created["gateway_ip"] == "10.20.0.1" and created["enable_dhcp"] is True
    assert created["allocation_pools"] == [{"start": "10.20.0.2", "end": "10.20.0.254"}]
    assert created["subnetpool_id"] is None and created["ipv6_ra_mode"] is None
    assert get(cloud, tokens.demo, f"/networks/{net['id']}")["network"]["subnets"] == [created["id"]]

    (dhcp,) = _dhcp_ports(cloud, tokens.demo, net["id"])
    assert dhcp["device_id"] == f"dhcp-{net['id']}" and dhcp["security_groups"] == []
    assert dhcp["fixed_ips"] == [{"subnet_id": created["id"], "ip_address": "10.20.0.2"}]

    second = subnet(cloud, tokens.demo, net["id"], "10.21.0.0/28", gateway_ip=None)
    assert second["gateway_ip"] is None and second["allocation_pools"] == [{"start": "10.21.0.1", "end": "10.21.0.14"}]
    (dhcp,) = _dhcp_ports(cloud, tokens.demo, net["id"])
    assert [ip["ip_address"] for ip in dhcp["fixed_ips"]] == ["10.20.0.2", "10.21.0.1"]

    path = f"{BASE}/subnets/{second['id']}"
    off = cloud.request("PUT", path, tokens.demo, json={"subnet": {"enable_dhcp": False, "name": "quiet"}})
    assert off.status_code == 200 and off.json()["subnet"]["revision_number"] == 2
    assert [ip["ip_address"] for ip in _dhcp_ports(cloud, tokens.demo, net["id"])[0]["fixed_ips"]] == ["10.20.0.2"]
    delete(cloud, tokens.demo, "subnets", created["id"])  # the DHCP port goes with the last DHCP subnet
    assert _dhcp_ports(cloud, tokens.demo, net["id"]) == []
    fault(cloud.request("GET", f"{BASE}/subnets/{created['id']}", tokens.demo), "SubnetNotFound", 404)
    delete(cloud, tokens.demo, "networks", net["id"])


@pytest.mark.parametrize(
    ("attrs", "fault_type", "code", "words"),
    [
        ({"cidr": "10.0.0.1/24"}, "HTTPBadRequest", 400, "'10.0.0.0/24' is recommended"),
        ({"cidr": "10.0.0.0/33"}, "HTTPBadRequest", 400, "cidr"),
        ({"cidr": "banana"}, "HTTPBadRequest", 400, "cidr"),
        ({"ip_version": 5}, "HTTPBadRequest", 400, "ip_version"),
        ({"allocation_pools": [{"start": "10.0.0.10", "end": "10.0.1.10"}]}, "OutOfBoundsAllocationPool", 400, "spans"),
        ({"allocation_pools": [{"start": "10.0.0.20", "end": "10.0.0.10"}]}, "InvalidAllocationPool", 400, "not valid"),
        ({"allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.20"}, {"start": "10.0.0.15", "end": "10.0.0.30"}]},
         "OverlappingAllocationPools", 409, "overlapping"),
        ({"gateway_ip": "10.0.0.5", "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.20"}]},
         "GatewayConflictWithAllocationPools", 409, "10.0.0.5"),
        ({"gateway_ip": "10.0.0.255"}, "InvalidInput", 400, "Gateway is not valid"),
        ({"dns_nameservers": ["8.8.8.8", "8.8.8.8"]}, "HTTPBadRequest", 400, "Duplicate nameserver"),
        ({"host_routes": [{"destination": "10.9.0.0/16"}]}, "HTTPBadRequest", 400, "host_routes"),
        ({"network_id": "00000000-0000-0000-0000-000000000000"}, "NetworkNotFound", 404, "could not be found"),
    ],
)  # fmt: skip
def test_bad_subnets_leave_nothing_behind(cloud, tokens, unique, attrs, fault_type, code, words):
    net = network(cloud, tokens.demo, unique)
    body = {"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4, "name": unique, **attrs}}
    assert words in fault(cloud.request("POST", f"{BASE}/subnets", tokens.demo, json=body), fault_type, code)
    assert get(cloud, tokens.demo, f"/subnets?name={unique}")["subnets"] == []
    assert get(cloud, tokens.demo, f"/ports?network_id={net['id']}")["ports"] == []
    delete(cloud, tokens.demo, "networks", net["id"])


def test_overlaps_are_refused_within_a_network_and_allowed_across_projects(cloud, tokens, unique):
    mine, theirs = network(cloud, tokens.demo, unique), network(cloud, tokens.other, unique)
    first = subnet(cloud, tokens.demo, mine["id"], "192.168.10.0/24")
    body = {"subnet": {"network_id": mine["id"], "cidr": "192.168.10.128/25", "ip_version": 4}}
    assert "overlaps with another subnet" in fault(
        cloud.request("POST", f"{BASE}/subnets", tokens.demo, json=body), "InvalidInput", 400
    )
    other = subnet(cloud, tokens.other, theirs["id"], "192.168.10.0/24")
    assert other["cidr"] == first["cidr"] and other["id"] != first["id"]
    # each project's DHCP port took the same, predictable address on its own segment
    for token, net in ((tokens.demo, mine), (tokens.other, theirs)):
        assert _dhcp_ports(cloud, token, net["id"])[0]["fixed_ips"][0]["ip_address"] == "192.168.10.2"
    fault(cloud.request("GET", f"{BASE}/subnets/{first['id']}", tokens.other), "SubnetNotFound", 404)
    assert get(cloud, tokens.other, "/subnets?cidr=192.168.10.0/24")["subnets"] == [other]
    delete(cloud, tokens.demo, "networks", mine["id"])
    delete(cloud, tokens.other, "networks", theirs["id"])


def test_subnet_in_use_and_shared_network_rules(cloud, tokens, unique):
    shared = network(cloud, tokens.admin, unique, shared=True)
    created = subnet(cloud, tokens.admin, shared["id"], "10.30.0.0/24")
    body = {"subnet": {"network_id": shared["id"], "cidr": "10.31.0.0/24", "ip_version": 4}}
    fault(cloud.request("POST", f"{BASE}/subnets", tokens.demo, json=body), "PolicyNotAuthorized", 403)
    assert get(cloud, tokens.demo, f"/subnets/{created['id']}")["subnet"]["cidr"] == "10.30.0.0/24"
    used = port(cloud, tokens.demo, shared["id"])
    assert created["id"] in fault(
        cloud.request("DELETE", f"{BASE}/subnets/{created['id']}", tokens.admin), "SubnetInUse", 409
    )
    update = {"subnet": {"gateway_ip": used["fixed_ips"][0]["ip_address"], "allocation_pools": []}}
    fault(cloud.request("PUT", f"{BASE}/subnets/{created['id']}", tokens.admin, json=update), "GatewayIpInUse", 409)
    immutable = {"subnet": {"cidr": "10.99.0.0/24"}}
    assert "cidr" in fault(
        cloud.request("PUT", f"{BASE}/subnets/{created['id']}", tokens.admin, json=immutable), "HTTPBadRequest", 400
    )
    delete(cloud, tokens.demo, "ports", used["id"])
    delete(cloud, tokens.admin, "subnets", created["id"])
    delete(cloud, tokens.admin, "networks", shared["id"])


@pytest.mark.one_database  # a CLI walk-through: the same requests on either database
def test_the_cli_creates_and_lists_subnets(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    created = cli_json(
        cloud, "stratus", "subnet", "create", "--network", unique, "--subnet-range", "10.40.0.0/24",
        "--allocation-pool", "start=10.40.0.100,end=10.40.0.199", "--dns-nameserver", "10.40.0.53", unique,
    )  # fmt: skip
    assert created["cidr"] == "10.40.0.0/24" and created["gateway_ip"] == "10.40.0.1"
    assert created["network_id"] == net["id"]
    dhcp = _dhcp_ports(cloud, tokens.demo, net["id"])[0]
    assert dhcp["fixed_ips"][0]["ip_address"] == "10.40.0.100"
    listed = cli_json(cloud, "stratus", "subnet", "list", "--network", unique)
    assert [s["Name"] for s in listed] == [unique]
    cloud.openstack("stratus", "subnet", "set", "--no-dhcp", unique)
    assert cli_json(cloud, "stratus", "subnet", "show", unique)["enable_dhcp"] is False
    cloud.openstack("stratus", "subnet", "delete", unique)
    delete(cloud, tokens.demo, "networks", net["id"])
