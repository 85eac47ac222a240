"""Over real HTTP, every Network API field that reaches a host's nftables script or dnsmasq's files refuses a
hostile value (a scope id carrying a directive, whitespace, Unicode digits ...) with Neutron's 400 naming the field,
and nothing is written; what is accepted is stored in plain canonical form (issue 11, item 2)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from tests.functional.network import BASE, create, delete, fault, get, network, subnet
from tests.hostile import INJECTIONS, ISSUE_VALUE, SETTINGS, hostile_addresses

pytestmark = pytest.mark.functional

PLAIN = set("0123456789abcdef.:/")


def _plain(value: Any) -> bool:
    return isinstance(value, str) and set(value) <= PLAIN


def _encodable(value: str) -> bool:
    """False for a lone surrogate: the API refuses such a body as malformed JSON before any field is read."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _refused_or_plain(response: Any, field: str, stored: Any, value: str) -> None:
    """A 400 in Neutron's shape that names ``field``; or, if the value was accepted, only plain text stored."""
    if response.status_code in (200, 201):
        assert _plain(value.lower()), (value, response.text)
        assert all(_plain(text) for text in stored(response.json())), response.text
        return
    assert response.status_code == 400, response.text
    body = response.json()
    assert list(body) == ["NeutronError"] and set(body["NeutronError"]) == {"type", "message", "detail"}, body
    assert field in body["NeutronError"]["message"] or not _encodable(value), body


@pytest.fixture(scope="module")
def place(cloud, tokens):
    """A network with an IPv4 and an IPv6 subnet and a security group of the demo project."""
    net = network(cloud, tokens.demo, "hostile-addresses")
    subnet(cloud, tokens.demo, net["id"], "10.77.0.0/24")
    create(cloud, tokens.demo, "subnet", "subnets", network_id=net["id"], cidr="fd77::/64", ip_version=6)
    group = create(cloud, tokens.demo, "security_group", "security-groups", name="hostile-addresses")
    yield {"network": net["id"], "group": group["id"]}
    delete(cloud, tokens.demo, "security-groups", group["id"])
    delete(cloud, tokens.demo, "networks", net["id"])


def test_the_issues_remote_ip_prefix_is_a_400_and_no_rule_is_made(cloud, tokens, place):
    before = get(cloud, tokens.demo, f"/security-group-rules?security_group_id={place['group']}")
    for value in filter(_encodable, INJECTIONS):
        body = {"security_group_rule": {"security_group_id": place["group"], "direction": "ingress",
                                        "ethertype": "IPv6", "remote_ip_prefix": value}}  # fmt: skip
        response = cloud.request("POST", f"{BASE}/security-group-rules", tokens.demo, json=body)
        assert "remote_ip_prefix" in fault(response, "HTTPBadRequest", 400), value
    assert ISSUE_VALUE in INJECTIONS
    after = get(cloud, tokens.demo, f"/security-group-rules?security_group_id={place['group']}")
    assert after == before


@SETTINGS
@given(value=hostile_addresses())
def test_hostile_remote_ip_prefixes_over_http(cloud, tokens, place, value):
    ethertype = "IPv6" if ":" in value else "IPv4"
    body = {"security_group_rule": {"security_group_id": place["group"], "direction": "egress",
                                    "ethertype": ethertype, "remote_ip_prefix": value}}  # fmt: skip
    response = cloud.request("POST", f"{BASE}/security-group-rules", tokens.demo, json=body)
    rule_prefix = lambda doc: [doc["security_group_rule"]["remote_ip_prefix"]]  # noqa: E731
    _refused_or_plain(response, "remote_ip_prefix", rule_prefix, value)
    if response.status_code == 201:
        delete(cloud, tokens.demo, "security-group-rules", response.json()["security_group_rule"]["id"])


SUBNET_FIELDS = {
    "cidr": lambda v: {"cidr": v},
    "gateway_ip": lambda v: {"gateway_ip": v},
    "allocation_pools": lambda v: {"allocation_pools": [{"start": v, "end": "10.78.0.200"}]},
    "dns_nameservers": lambda v: {"dns_nameservers": [v]},
    "host_routes": lambda v: {"host_routes": [{"destination": v, "nexthop": "10.78.0.1"}]},
}


@SETTINGS
@given(value=hostile_addresses())
def test_hostile_subnet_addresses_over_http(cloud, tokens, place, value):
    for field, attrs in SUBNET_FIELDS.items():
        body = {"subnet": {"network_id": place["network"], "cidr": "10.78.0.0/24", "ip_version": 4, **attrs(value)}}
        response = cloud.request("POST", f"{BASE}/subnets", tokens.demo, json=body)
        if response.status_code == 400 and field in ("allocation_pools", "gateway_ip", "cidr"):
            # Neutron's own types for these (InvalidAllocationPool, InvalidInput) name the value, not the field
            assert list(response.json()) == ["NeutronError"], response.text
            continue
        _refused_or_plain(response, field, _subnet_addresses, value)
        if response.status_code == 201:
            delete(cloud, tokens.demo, "subnets", response.json()["subnet"]["id"])


def _subnet_addresses(document: dict[str, Any]) -> list[Any]:
    found = document["subnet"]
    values = [found["cidr"], found["gateway_ip"] or "", *found["dns_nameservers"]]
    values += [v for pool in found["allocation_pools"] for v in pool.values()]
    return values + [v for route in found["host_routes"] for v in route.values()]


@SETTINGS
@given(value=hostile_addresses())
def test_hostile_port_addresses_over_http(cloud, tokens, place, value):
    cases = {
        "fixed_ips": {"fixed_ips": [{"ip_address": value}]},
        "allowed_address_pairs": {"allowed_address_pairs": [{"ip_address": value}]},
    }
    for field, attrs in cases.items():
        body = {"port": {"network_id": place["network"], **attrs}}
        response = cloud.request("POST", f"{BASE}/ports", tokens.demo, json=body)
        if response.status_code == 400 and response.json()["NeutronError"]["type"].startswith("InvalidIpFor"):
            continue  # a plain address, only not on this network's subnets
        _refused_or_plain(response, field, _port_addresses, value)
        if response.status_code == 201:
            delete(cloud, tokens.demo, "ports", response.json()["port"]["id"])


def _port_addresses(document: dict[str, Any]) -> list[Any]:
    found = document["port"]
    return [a["ip_address"] for a in found["fixed_ips"]] + [p["ip_address"] for p in found["allowed_address_pairs"]]
