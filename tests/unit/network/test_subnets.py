"""The pure checks of a subnet's addressing: CIDR, gateway, pools, DNS servers, host routes."""

from __future__ import annotations

import pytest

from network import subnets
from network.exceptions import (
    GatewayConflictWithAllocationPools,
    InvalidAllocationPool,
    InvalidAttribute,
    InvalidInput,
    OutOfBoundsAllocationPool,
    OverlappingAllocationPools,
)


def test_defaults_gateway_first_host_and_one_pool_of_the_other_hosts():
    planned = subnets.plan({"cidr": "10.0.0.0/24"})
    assert planned["gateway_ip"] == "10.0.0.1"
    assert planned["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert planned["ip_version"] == 4 and planned["dns_nameservers"] == [] and planned["host_routes"] == []


def test_a_gateway_in_the_middle_splits_the_default_pool_and_null_means_none():
    middle = subnets.plan({"cidr": "192.168.5.0/28", "gateway_ip": "192.168.5.7"})
    assert middle["allocation_pools"] == [
        {"start": "192.168.5.1", "end": "192.168.5.6"},
        {"start": "192.168.5.8", "end": "192.168.5.14"},
    ]
    none = subnets.plan({"cidr": "192.168.5.0/29", "gateway_ip": None})
    assert none["gateway_ip"] is None
    assert none["allocation_pools"] == [{"start": "192.168.5.1", "end": "192.168.5.6"}]


@pytest.mark.parametrize(
    ("cidr", "kind", "words"),
    [
        ("10.0.0.1/24", InvalidAttribute, "'10.0.0.0/24' is recommended"),
        ("10.0.0.0", InvalidAttribute, "recommended"),
        ("10.0.0.0/33", InvalidAttribute, "not a valid IP subnet"),
        ("nonsense", InvalidAttribute, "not a valid IP subnet"),
        ("fd00::/64", InvalidInput, "IPv4"),
        ("0.0.0.0/0", InvalidInput, "whole address space"),
    ],
)
def test_bad_cidrs_are_400s(cidr, kind, words):
    with pytest.raises(kind, match=words) as raised:
        subnets.plan({"cidr": cidr})
    assert raised.value.code == 400


def test_ipv6_subnets_exclude_only_the_subnet_router_address():
    planned = subnets.plan({"cidr": "fd00:1::/64", "ip_version": 6})
    assert planned["gateway_ip"] == "fd00:1::1"
    assert planned["allocation_pools"] == [{"start": "fd00:1::2", "end": "fd00:1::ffff:ffff:ffff:ffff"}]


@pytest.mark.parametrize("gateway", ["10.0.0.0", "10.0.0.255", "fd00::1"])
def test_gateway_cannot_be_the_network_or_broadcast_address_or_another_family(gateway):
    with pytest.raises(InvalidInput, match="Gateway is not valid on subnet"):
        subnets.plan({"cidr": "10.0.0.0/24", "gateway_ip": gateway})


def test_gateway_that_is_not_an_address_names_the_field():
    with pytest.raises(InvalidAttribute, match="gateway_ip"):
        subnets.plan({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.0"})


@pytest.mark.parametrize(
    ("pools", "kind"),
    [
        ([{"start": "10.0.0.10", "end": "10.0.1.5"}], OutOfBoundsAllocationPool),
        ([{"start": "10.0.0.0", "end": "10.0.0.5"}], OutOfBoundsAllocationPool),
        ([{"start": "10.0.0.200", "end": "10.0.0.255"}], OutOfBoundsAllocationPool),
        ([{"start": "10.0.0.20", "end": "10.0.0.10"}], InvalidAllocationPool),
        ([{"start": "10.0.0.x", "end": "10.0.0.10"}], InvalidAllocationPool),
        ([{"start": "fd00::1", "end": "fd00::5"}], InvalidAllocationPool),
        ([{"start": "10.0.0.10", "end": "10.0.0.20"}, {"start": "10.0.0.20", "end": "10.0.0.30"}],
         OverlappingAllocationPools),
        ([{"start": "10.0.0.1", "end": "10.0.0.20"}], GatewayConflictWithAllocationPools),
    ],
)  # fmt: skip
def test_bad_allocation_pools(pools, kind):
    with pytest.raises(kind):
        subnets.plan({"cidr": "10.0.0.0/24", "allocation_pools": pools})


def test_given_pools_are_kept_in_address_order_and_may_be_empty():
    pools = [{"start": "10.0.0.100", "end": "10.0.0.110"}, {"start": "10.0.0.10", "end": "10.0.0.20"}]
    planned = subnets.plan({"cidr": "10.0.0.0/24", "allocation_pools": pools})
    assert [p["start"] for p in planned["allocation_pools"]] == ["10.0.0.10", "10.0.0.100"]
    assert subnets.plan({"cidr": "10.0.0.0/24", "allocation_pools": []})["allocation_pools"] == []


def test_nameservers_and_routes():
    planned = subnets.plan(
        {
            "cidr": "10.0.0.0/24",
            "dns_nameservers": ["8.8.8.8", "1.1.1.1"],
            "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}],
        }
    )
    assert planned["dns_nameservers"] == ["8.8.8.8", "1.1.1.1"]
    assert planned["host_routes"] == [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}]
    for bad in (["8.8.8.8", "8.8.8.8"], ["not-an-ip"]):
        with pytest.raises(InvalidAttribute, match="dns_nameservers"):
            subnets.plan({"cidr": "10.0.0.0/24", "dns_nameservers": bad})
    with pytest.raises(InvalidInput, match="limit 5"):
        subnets.plan({"cidr": "10.0.0.0/24", "dns_nameservers": [f"10.1.0.{i}" for i in range(6)]})
    with pytest.raises(InvalidAttribute, match="host_routes"):
        subnets.plan({"cidr": "10.0.0.0/24", "host_routes": [{"destination": "192.168.0.1/16", "nexthop": "x"}]})
