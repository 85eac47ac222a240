"""Neutron's bulk create: ``{"networks": [...]}``, ``{"subnets": [...]}`` and ``{"ports": [...]}`` make every
item or none (the failing item's fault is the answer), and each item counts against the quota."""

from __future__ import annotations

import pytest

from tests.functional.network import BASE, fault, get, network

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def _bulk(cloud, token, plural, items):
    return cloud.request("POST", f"{BASE}/{plural}", token, json={plural: items})


def test_bulk_create_makes_every_network_subnet_and_port(cloud, tokens, unique):
    made = _bulk(cloud, tokens.demo, "networks", [{"name": unique + "-a"}, {"name": unique + "-b"}])
    assert made.status_code == 201, made.text
    nets = made.json()["networks"]
    assert [n["name"] for n in nets] == [unique + "-a", unique + "-b"]
    listed = {n["id"] for n in get(cloud, tokens.demo, f"/networks?name={unique}-a")["networks"]}
    assert listed == {nets[0]["id"]}

    items = [{"network_id": n["id"], "cidr": f"10.{i}.7.0/24", "ip_version": 4} for i, n in enumerate(nets)]
    made = _bulk(cloud, tokens.demo, "subnets", items)
    assert made.status_code == 201, made.text
    assert [s["network_id"] for s in made.json()["subnets"]] == [n["id"] for n in nets]

    made = _bulk(cloud, tokens.demo, "ports", [{"network_id": n["id"], "name": unique} for n in nets])
    assert made.status_code == 201, made.text
    ports = made.json()["ports"]
    assert [p["network_id"] for p in ports] == [n["id"] for n in nets]
    assert all(len(p["fixed_ips"]) == 1 for p in ports)


def test_bulk_create_with_a_failing_item_creates_nothing(cloud, tokens, unique):
    items = [{"name": unique}, {"name": unique, "provider:network_type": "vxlan"}]
    assert "network:network:provider" in fault(_bulk(cloud, tokens.demo, "networks", items), "PolicyNotAuthorized", 403)
    assert get(cloud, tokens.demo, f"/networks?name={unique}")["networks"] == []

    net = network(cloud, tokens.demo, unique)
    items = [
        {"network_id": net["id"], "cidr": "10.9.0.0/24", "ip_version": 4},
        {"network_id": "missing", "cidr": "10.9.1.0/24", "ip_version": 4},
    ]
    fault(_bulk(cloud, tokens.demo, "subnets", items), "NetworkNotFound", 404)
    assert get(cloud, tokens.demo, f"/subnets?network_id={net['id']}")["subnets"] == []

    items = [{"network_id": net["id"], "name": unique}, {"network_id": net["id"], "mac_address": "nonsense"}]
    assert _bulk(cloud, tokens.demo, "ports", items).status_code == 400
    assert get(cloud, tokens.demo, f"/ports?network_id={net['id']}")["ports"] == []


def test_bulk_create_counts_every_item_against_the_quota(cloud, tokens, unique):
    quota = f"{BASE}/quotas/{tokens.other_project}"
    used = len(get(cloud, tokens.other, "/networks?shared=false&router:external=false")["networks"])
    limit = cloud.request("PUT", quota, tokens.admin, json={"quota": {"network": used + 2}})
    assert limit.status_code == 200, limit.text
    try:
        three = [{"name": f"{unique}-{i}"} for i in range(3)]
        fault(_bulk(cloud, tokens.other, "networks", three), "OverQuota", 409)
        assert get(cloud, tokens.other, f"/networks?name={unique}-0")["networks"] == []
        assert _bulk(cloud, tokens.other, "networks", three[:2]).status_code == 201
    finally:
        cloud.request("DELETE", quota, tokens.admin)


def test_bulk_body_must_be_a_list_of_objects(cloud, tokens):
    assert _bulk(cloud, tokens.demo, "networks", []).status_code == 400
    assert _bulk(cloud, tokens.demo, "networks", ["x"]).status_code == 400
