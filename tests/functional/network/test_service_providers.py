"""Neutron's service providers (the one L3 router driver) and availability zones (none: the network agents
belong to no zone) over real HTTP and the CLI."""

from __future__ import annotations

import pytest

from tests.functional.network import BASE, cli_json, fault, get

pytestmark = pytest.mark.functional


def test_service_providers_list_the_l3_router_driver(cloud, tokens):
    expected = [{"service_type": "L3_ROUTER_NAT", "name": "single_node", "default": True}]
    assert get(cloud, tokens.reader, "/service-providers") == {"service_providers": expected}
    assert get(cloud, tokens.demo, "/service-providers?service_type=L3_ROUTER_NAT")["service_providers"] == expected
    assert get(cloud, tokens.demo, "/service-providers?service_type=LOADBALANCERV2")["service_providers"] == []
    assert cloud.request("GET", f"{BASE}/service-providers", None).status_code == 401
    shown = cli_json(cloud, "stratus", "network", "service", "provider", "list")
    assert [(p["Service Type"], p["Name"], p["Default"]) for p in shown] == [("L3_ROUTER_NAT", "single_node", True)]


def test_availability_zones_are_none_as_the_agents_have_none(cloud, tokens):
    assert get(cloud, tokens.demo, "/availability_zones") == {"availability_zones": []}
    assert get(cloud, tokens.admin, "/availability_zones?resource=network") == {"availability_zones": []}
    fault(cloud.request("POST", f"{BASE}/availability_zones", tokens.admin, json={}), "HTTPMethodNotAllowed", 405)
    zones = cli_json(cloud, "stratus-admin", "availability", "zone", "list", "--network")
    assert zones == []
