"""Subnet pools over real HTTP and the CLI: Neutron's pool attributes and checks, subnets taking CIDRs from a
pool (never the same block twice, even when created at the same moment), the default pool, tags on pools, and
a pool with subnets refusing its delete."""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.functional.network import BASE, cli_json, create, delete, fault, get, network

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

FIELDS = {
    "id", "name", "tenant_id", "project_id", "ip_version", "prefixes", "default_prefixlen", "min_prefixlen",
    "max_prefixlen", "shared", "is_default", "default_quota", "address_scope_id", "description", "tags",
    "created_at", "updated_at", "revision_number",
}  # fmt: skip


def pool(cloud, token, name, prefixes, **attrs):
    return create(cloud, token, "subnetpool", "subnetpools", name=name, prefixes=prefixes, **attrs)


def pooled_subnet(cloud, token, network_id, pool_id, **attrs):
    body = {"subnet": {"network_id": network_id, "subnetpool_id": pool_id, "ip_version": 4, **attrs}}
    return cloud.request("POST", f"{BASE}/subnets", token, json=body)


def test_pool_create_show_list_update_delete(cloud, tokens, unique):
    created = pool(cloud, tokens.demo, unique, ["10.80.0.0/25", "10.80.0.128/25", "10.81.0.0/16"])
    assert set(created) == FIELDS
    assert created["prefixes"] == ["10.80.0.0/24", "10.81.0.0/16"]  # collapsed, as Neutron keeps them
    assert (created["min_prefixlen"], created["default_prefixlen"], created["max_prefixlen"]) == (8, 8, 32)
    assert created["ip_version"] == 4 and created["shared"] is False and created["is_default"] is False
    assert created["address_scope_id"] is None and created["project_id"] == tokens.demo_project
    path = f"/subnetpools/{created['id']}"
    assert get(cloud, tokens.reader, path)["subnetpool"]["name"] == unique
    listed = get(cloud, tokens.demo, f"/subnetpools?name={unique}")["subnetpools"]
    assert [p["id"] for p in listed] == [created["id"]]
    assert get(cloud, tokens.other, f"/subnetpools?name={unique}")["subnetpools"] == []
    fault(cloud.request("GET", f"{BASE}{path}", tokens.other), "SubnetPoolNotFound", 404)

    body = {
        "subnetpool": {
            "name": f"{unique}-2",
            "prefixes": ["10.80.0.0/23", "10.81.0.0/16"],
            "min_prefixlen": 16,
            "default_prefixlen": 24,
        }
    }
    updated = cloud.request("PUT", f"{BASE}{path}", tokens.demo, json=body)
    assert updated.status_code == 200, updated.text
    view = updated.json()["subnetpool"]
    assert view["name"] == f"{unique}-2" and view["prefixes"] == ["10.80.0.0/23", "10.81.0.0/16"]
    assert view["min_prefixlen"] == 16 and view["revision_number"] == 2
    shrink = {"subnetpool": {"prefixes": ["10.81.0.0/16"]}}
    fault(cloud.request("PUT", f"{BASE}{path}", tokens.demo, json=shrink), "IllegalSubnetPoolPrefixUpdate", 400)
    fault(cloud.request("PUT", f"{BASE}{path}", tokens.reader, json=body), "PolicyNotAuthorized", 403)
    delete(cloud, tokens.demo, "subnetpools", created["id"])
    fault(cloud.request("GET", f"{BASE}{path}", tokens.demo), "SubnetPoolNotFound", 404)


@pytest.mark.parametrize(
    ("attrs", "fault_type", "code"),
    [
        ({"prefixes": ["10.0.0.0/8", "fd00::/64"]}, "PrefixVersionMismatch", 400),
        ({"prefixes": ["not-a-cidr"]}, "HTTPBadRequest", 400),
        ({"prefixes": ["10.0.0.0/33"]}, "HTTPBadRequest", 400),
        ({"prefixes": ["10.0.0.0/8\n"]}, "HTTPBadRequest", 400),
        ({"prefixes": []}, "HTTPBadRequest", 400),
        ({"prefixes": "10.0.0.0/8"}, "HTTPBadRequest", 400),
        ({"prefixes": ["10.0.0.0/8"], "min_prefixlen": 24, "max_prefixlen": 16}, "IllegalSubnetPoolPrefixBounds", 400),
        ({"prefixes": ["10.0.0.0/8"], "max_prefixlen": 64}, "IllegalSubnetPoolPrefixBounds", 400),
        ({"prefixes": ["10.0.0.0/8"], "default_prefixlen": 4}, "IllegalSubnetPoolPrefixBounds", 400),
        ({"prefixes": ["10.0.0.0/8"], "default_prefixlen": "abc"}, "HTTPBadRequest", 400),
        ({"prefixes": ["10.0.0.0/8"], "min_prefixlen": -1}, "HTTPBadRequest", 400),
        ({"prefixes": ["10.0.0.0/8"], "shared": True}, "PolicyNotAuthorized", 403),
        ({"prefixes": ["10.0.0.0/8"], "is_default": True}, "PolicyNotAuthorized", 403),
        ({"prefixes": ["10.0.0.0/8"], "address_scope_id": "nope"}, "AddressScopeNotFound", 404),
        ({"prefixes": ["10.0.0.0/8"], "default_quota": 5}, "InvalidInput", 400),
        ({"prefixes": ["10.0.0.0/8"], "bogus": 1}, "HTTPBadRequest", 400),
        ({"name": "no-prefixes"}, "HTTPBadRequest", 400),
    ],
)
def test_bad_pools_are_refused_with_neutron_faults(cloud, tokens, attrs, fault_type, code):
    response = cloud.request("POST", f"{BASE}/subnetpools", tokens.demo, json={"subnetpool": attrs})
    fault(response, fault_type, code)


def test_subnets_take_distinct_cidrs_from_a_pool(cloud, tokens, unique):
    created = pool(cloud, tokens.demo, unique, ["10.82.0.0/16"], default_prefixlen=24, min_prefixlen=20)
    first_net, second_net = network(cloud, tokens.demo, unique), network(cloud, tokens.demo, f"{unique}-b")
    first = pooled_subnet(cloud, tokens.demo, first_net["id"], created["id"])
    assert first.status_code == 201, first.text
    assert first.json()["subnet"]["cidr"] == "10.82.0.0/24"
    assert first.json()["subnet"]["subnetpool_id"] == created["id"]
    assert first.json()["subnet"]["gateway_ip"] == "10.82.0.1"
    # The pool is one address space: another network's subnet gets the next block, not the same one.
    second = pooled_subnet(cloud, tokens.demo, second_net["id"], created["id"], prefixlen=26)
    assert second.status_code == 201 and second.json()["subnet"]["cidr"] == "10.82.1.0/26"
    named = pooled_subnet(cloud, tokens.demo, second_net["id"], created["id"], cidr="10.82.8.0/22")
    assert named.status_code == 201 and named.json()["subnet"]["cidr"] == "10.82.8.0/22"
    listed = get(cloud, tokens.demo, f"/subnets?subnetpool_id={created['id']}")["subnets"]
    assert {s["cidr"] for s in listed} == {"10.82.0.0/24", "10.82.1.0/26", "10.82.8.0/22"}

    for attrs, fault_type, code in [
        ({"cidr": "10.82.0.128/25"}, "SubnetAllocationError", 409),  # taken by the first subnet
        ({"cidr": "10.99.0.0/24"}, "SubnetAllocationError", 409),  # outside the pool
        ({"cidr": "10.82.3.1/24"}, "HTTPBadRequest", 400),  # host bits set
        ({"prefixlen": 16}, "MinPrefixSubnetAllocationError", 400),
        ({"prefixlen": 33}, "MaxPrefixSubnetAllocationError", 400),
        ({"prefixlen": "x"}, "HTTPBadRequest", 400),
        ({"cidr": "10.82.4.0/24", "prefixlen": 24}, "BadRequest", 400),
        ({"use_default_subnetpool": True}, "BadRequest", 400),
        ({"ip_version": 6}, "BadRequest", 400),
    ]:
        fault(pooled_subnet(cloud, tokens.demo, first_net["id"], created["id"], **attrs), fault_type, code)
    no_cidr = cloud.request("POST", f"{BASE}/subnets", tokens.demo, json={"subnet": {"network_id": first_net["id"]}})
    fault(no_cidr, "BadRequest", 400)
    # Another project's private pool is not there for it.
    theirs = network(cloud, tokens.other, unique)
    fault(pooled_subnet(cloud, tokens.other, theirs["id"], created["id"]), "SubnetPoolNotFound", 404)

    fault(cloud.request("DELETE", f"{BASE}/subnetpools/{created['id']}", tokens.demo), "SubnetPoolInUse", 409)
    for made in (first, second, named):
        delete(cloud, tokens.demo, "subnets", made.json()["subnet"]["id"])
    delete(cloud, tokens.demo, "subnetpools", created["id"])
    for net in (first_net, second_net):
        delete(cloud, tokens.demo, "networks", net["id"])
    delete(cloud, tokens.other, "networks", theirs["id"])


def test_concurrent_allocations_never_share_a_prefix_and_a_full_pool_is_a_409(cloud, tokens, unique):
    created = pool(cloud, tokens.demo, unique, ["10.83.0.0/21"], default_prefixlen=24, min_prefixlen=21)
    nets = [network(cloud, tokens.demo, f"{unique}-{n}") for n in range(10)]
    with ThreadPoolExecutor(max_workers=10) as executor:
        answers = list(executor.map(lambda net: pooled_subnet(cloud, tokens.demo, net["id"], created["id"]), nets))
    made = [a.json()["subnet"] for a in answers if a.status_code == 201]
    refused = [a for a in answers if a.status_code != 201]
    assert len(made) == 8 and len(refused) == 2  # a /21 holds eight /24s
    cidrs = [ipaddress.ip_network(s["cidr"]) for s in made]
    assert len(set(cidrs)) == 8 and all(c.subnet_of(ipaddress.ip_network("10.83.0.0/21")) for c in cidrs)
    for answer in refused:
        assert "Insufficient prefix space" in fault(answer, "SubnetAllocationError", 409)
    for subnet in made:
        delete(cloud, tokens.demo, "subnets", subnet["id"])
    delete(cloud, tokens.demo, "subnetpools", created["id"])
    for net in nets:
        delete(cloud, tokens.demo, "networks", net["id"])


def test_the_default_pool_serves_use_default_subnetpool(cloud, tokens, unique):
    # IPv6, so that no other test's IPv4 subnets meet this cloud-wide default.
    created = pool(cloud, tokens.admin, unique, ["fd84::/48"], shared=True, is_default=True, default_prefixlen=64)
    try:
        assert created["is_default"] is True and created["ip_version"] == 6
        second = {"subnetpool": {"name": f"{unique}-2", "prefixes": ["fd85::/48"], "is_default": True}}
        fault(cloud.request("POST", f"{BASE}/subnetpools", tokens.admin, json=second), "InvalidInput", 400)
        net = network(cloud, tokens.demo, unique)
        body = {"subnet": {"network_id": net["id"], "ip_version": 6, "use_default_subnetpool": True}}
        answer = cloud.request("POST", f"{BASE}/subnets", tokens.demo, json=body)
        assert answer.status_code == 201, answer.text
        assert answer.json()["subnet"]["cidr"] == "fd84::/64"
        assert answer.json()["subnet"]["subnetpool_id"] == created["id"]
        # A shared pool is visible to every project but changed by its owner (and admins) only.
        unmark = {"subnetpool": {"is_default": False}}
        fault(
            cloud.request("PUT", f"{BASE}/subnetpools/{created['id']}", tokens.demo, json=unmark),
            "PolicyNotAuthorized",
            403,
        )
        assert get(cloud, tokens.other, f"/subnetpools/{created['id']}")["subnetpool"]["shared"] is True
        delete(cloud, tokens.demo, "subnets", answer.json()["subnet"]["id"])
        delete(cloud, tokens.demo, "networks", net["id"])
    finally:
        cloud.request(
            "PUT", f"{BASE}/subnetpools/{created['id']}", tokens.admin, json={"subnetpool": {"is_default": False}}
        )
        delete(cloud, tokens.admin, "subnetpools", created["id"])


def test_tags_on_a_subnet_pool(cloud, tokens, unique):
    created = pool(cloud, tokens.demo, unique, ["10.84.0.0/16"], tags=["red"])
    assert created["tags"] == ["red"]
    path = f"{BASE}/subnetpools/{created['id']}/tags"
    assert cloud.request("PUT", f"{path}/blue", tokens.demo).status_code == 201
    assert cloud.request("GET", f"{path}/blue", tokens.reader).status_code == 204
    assert sorted(cloud.request("GET", path, tokens.reader).json()["tags"]) == ["blue", "red"]
    replaced = cloud.request("PUT", path, tokens.demo, json={"tags": ["a", "b", "c"]})
    assert replaced.status_code == 200 and sorted(replaced.json()["tags"]) == ["a", "b", "c"]
    assert [p["id"] for p in get(cloud, tokens.demo, "/subnetpools?tags=a,b")["subnetpools"]] == [created["id"]]
    assert cloud.request("DELETE", path, tokens.demo).status_code == 204
    fault(cloud.request("GET", f"{path}/a", tokens.demo), "TagNotFound", 404)
    fault(cloud.request("PUT", f"{path}/x", tokens.other), "SubnetPoolNotFound", 404)
    delete(cloud, tokens.demo, "subnetpools", created["id"])


def test_cli_subnet_pool_and_subnet_create_from_it(cloud, unique):
    made = cli_json(
        cloud, "stratus", "subnet", "pool", "create", "--pool-prefix", "10.85.0.0/16", "--default-prefix-length",
        "24", unique,
    )  # fmt: skip
    assert made["prefixes"] == ["10.85.0.0/16"] and made["default_prefixlen"] == 24
    assert unique in {p["Name"] for p in cli_json(cloud, "stratus", "subnet", "pool", "list")}
    cloud.openstack(
        "stratus", "subnet", "pool", "set", "--name", f"{unique}-x", "--pool-prefix", "10.86.0.0/16", unique
    )
    shown = cli_json(cloud, "stratus", "subnet", "pool", "show", f"{unique}-x")
    assert sorted(shown["prefixes"]) == ["10.85.0.0/16", "10.86.0.0/16"]
    cloud.openstack("stratus", "network", "create", unique)
    sub = cli_json(
        cloud, "stratus", "subnet", "create", "--network", unique, "--subnet-pool", f"{unique}-x",
        "--prefix-length", "25", unique,
    )  # fmt: skip
    assert sub["cidr"] == "10.85.0.0/25" and sub["subnetpool_id"] == made["id"]
    refused = cloud.openstack("stratus", "subnet", "pool", "delete", f"{unique}-x", check=False)
    assert refused.returncode != 0
    cloud.openstack("stratus", "subnet", "delete", sub["id"])
    cloud.openstack("stratus", "subnet", "pool", "delete", f"{unique}-x")
    cloud.openstack("stratus", "network", "delete", unique)
