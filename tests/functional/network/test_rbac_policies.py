"""RBAC policies on networks over real HTTP and the CLI: sharing a network with one project lets that project see
it and put ports on it (not subnets), the policy cannot go while that project has ports there, sharing with
everyone is the admin's and is the network's ``shared`` flag, and hostile bodies are Neutron's 400s."""

from __future__ import annotations

import pytest

from tests.functional.network import BASE, cli_json, delete, fault, get, network, port, subnet

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

FIELDS = {"id", "tenant_id", "project_id", "object_type", "object_id", "action", "target_tenant"}


def policy(cloud, token, network_id, target, action="access_as_shared"):
    body = {"object_type": "network", "object_id": network_id, "action": action, "target_tenant": target}
    return cloud.request("POST", f"{BASE}/rbac-policies", token, json={"rbac_policy": body})


def test_sharing_with_one_project_and_removing_it(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    sub = subnet(cloud, tokens.demo, net["id"], "10.87.0.0/24")
    fault(cloud.request("GET", f"{BASE}/networks/{net['id']}", tokens.other), "NetworkNotFound", 404)
    made = policy(cloud, tokens.demo, net["id"], tokens.other_project)
    assert made.status_code == 201, made.text
    shared = made.json()["rbac_policy"]
    assert set(shared) == FIELDS and shared["project_id"] == tokens.demo_project
    assert shared["object_type"] == "network" and shared["target_tenant"] == tokens.other_project
    assert get(cloud, tokens.demo, f"/rbac-policies/{shared['id']}")["rbac_policy"] == shared
    listed = get(cloud, tokens.demo, f"/rbac-policies?object_id={net['id']}")["rbac_policies"]
    assert [p["id"] for p in listed] == [shared["id"]]
    # The target sees the network and may put a port on it, but neither lists the policy nor adds a subnet.
    seen = get(cloud, tokens.other, f"/networks/{net['id']}")["network"]
    assert seen["id"] == net["id"] and seen["shared"] is True  # shared with it, as Neutron shows the target
    listed_nets = {n["id"]: n for n in get(cloud, tokens.other, "/networks")["networks"]}
    assert listed_nets[net["id"]]["shared"] is True
    assert get(cloud, tokens.demo, f"/networks/{net['id']}")["network"]["shared"] is False  # not with everyone
    assert get(cloud, tokens.other, f"/subnets/{sub['id']}")["subnet"]["cidr"] == "10.87.0.0/24"
    assert get(cloud, tokens.other, f"/rbac-policies?object_id={net['id']}")["rbac_policies"] == []
    fault(cloud.request("GET", f"{BASE}/rbac-policies/{shared['id']}", tokens.other), "RbacPolicyNotFound", 404)
    theirs = port(cloud, tokens.other, net["id"])
    assert theirs["fixed_ips"][0]["subnet_id"] == sub["id"]
    extra = {"subnet": {"network_id": net["id"], "cidr": "10.88.0.0/24", "ip_version": 4}}
    fault(cloud.request("POST", f"{BASE}/subnets", tokens.other, json=extra), "PolicyNotAuthorized", 403)
    fault(cloud.request("DELETE", f"{BASE}/rbac-policies/{shared['id']}", tokens.other), "RbacPolicyNotFound", 404)

    fault(policy(cloud, tokens.demo, net["id"], tokens.other_project), "DuplicateRbacPolicy", 409)
    fault(cloud.request("DELETE", f"{BASE}/rbac-policies/{shared['id']}", tokens.demo), "RbacPolicyInUse", 409)
    delete(cloud, tokens.other, "ports", theirs["id"])
    delete(cloud, tokens.demo, "rbac-policies", shared["id"])
    fault(cloud.request("GET", f"{BASE}/networks/{net['id']}", tokens.other), "NetworkNotFound", 404)
    fault(cloud.request("POST", f"{BASE}/ports", tokens.other, json={"port": {"network_id": net["id"]}}),
          "NetworkNotFound", 404)  # fmt: skip
    delete(cloud, tokens.demo, "networks", net["id"])


def test_retargeting_a_policy_releases_the_old_project_first(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    subnet(cloud, tokens.demo, net["id"], "10.89.0.0/24")
    shared = policy(cloud, tokens.demo, net["id"], tokens.other_project).json()["rbac_policy"]
    theirs = port(cloud, tokens.other, net["id"])
    path = f"{BASE}/rbac-policies/{shared['id']}"
    retarget = {"rbac_policy": {"target_tenant": "some-other-project"}}
    fault(cloud.request("PUT", path, tokens.demo, json=retarget), "RbacPolicyInUse", 409)
    fault(cloud.request("PUT", path, tokens.demo, json={"rbac_policy": {"action": "x"}}), "HTTPBadRequest", 400)
    delete(cloud, tokens.other, "ports", theirs["id"])
    moved = cloud.request("PUT", path, tokens.demo, json=retarget)
    assert moved.status_code == 200 and moved.json()["rbac_policy"]["target_tenant"] == "some-other-project"
    fault(cloud.request("GET", f"{BASE}/networks/{net['id']}", tokens.other), "NetworkNotFound", 404)
    delete(cloud, tokens.demo, "networks", net["id"])  # the policy goes with its network
    fault(cloud.request("GET", path, tokens.demo), "RbacPolicyNotFound", 404)


def test_sharing_with_everyone_is_the_admins_and_is_the_shared_flag(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    fault(policy(cloud, tokens.demo, net["id"], "*"), "PolicyNotAuthorized", 403)
    fault(policy(cloud, tokens.demo, net["id"], "*", "access_as_external"), "PolicyNotAuthorized", 403)
    wildcard = policy(cloud, tokens.admin, net["id"], "*")
    assert wildcard.status_code == 201, wildcard.text
    assert get(cloud, tokens.other, f"/networks/{net['id']}")["network"]["shared"] is True
    theirs = port(cloud, tokens.other, net["id"])
    wildcard_id = wildcard.json()["rbac_policy"]["id"]
    fault(cloud.request("DELETE", f"{BASE}/rbac-policies/{wildcard_id}", tokens.admin), "RbacPolicyInUse", 409)
    delete(cloud, tokens.other, "ports", theirs["id"])
    delete(cloud, tokens.admin, "rbac-policies", wildcard_id)
    assert get(cloud, tokens.demo, f"/networks/{net['id']}")["network"]["shared"] is False
    # One project as external: not without per-project external networks (it would show the network to all).
    fault(policy(cloud, tokens.admin, net["id"], tokens.other_project, "access_as_external"), "InvalidInput", 400)
    external = policy(cloud, tokens.admin, net["id"], "*", "access_as_external")
    assert external.status_code == 201, external.text
    assert get(cloud, tokens.other, f"/networks/{net['id']}")["network"]["router:external"] is True
    delete(cloud, tokens.admin, "rbac-policies", external.json()["rbac_policy"]["id"])
    assert get(cloud, tokens.demo, f"/networks/{net['id']}")["network"]["router:external"] is False
    delete(cloud, tokens.demo, "networks", net["id"])


@pytest.mark.parametrize(
    ("change", "fault_type", "code"),
    [
        ({"object_type": "qos_policy"}, "HTTPBadRequest", 400),
        ({"action": "access_as_readonly"}, "HTTPBadRequest", 400),
        ({"target_tenant": ""}, "HTTPBadRequest", 400),
        ({"target_tenant": 7}, "HTTPBadRequest", 400),
        ({"target_tenant": "x" * 256}, "HTTPBadRequest", 400),
        ({"object_id": "no-such-network"}, "NetworkNotFound", 404),
        ({"object_id": "x" * 300}, "HTTPBadRequest", 400),
        ({"bogus": True}, "HTTPBadRequest", 400),
    ],
)
def test_bad_policies_are_refused(cloud, tokens, unique, change, fault_type, code):
    net = network(cloud, tokens.demo, unique)
    body = {"object_type": "network", "object_id": net["id"], "action": "access_as_shared", "target_tenant": "p"}
    response = cloud.request("POST", f"{BASE}/rbac-policies", tokens.demo, json={"rbac_policy": {**body, **change}})
    fault(response, fault_type, code)
    delete(cloud, tokens.demo, "networks", net["id"])


def test_another_projects_network_cannot_be_shared_by_them(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    fault(policy(cloud, tokens.other, net["id"], tokens.other_project), "NetworkNotFound", 404)
    fault(policy(cloud, tokens.reader, net["id"], tokens.other_project), "PolicyNotAuthorized", 403)
    delete(cloud, tokens.demo, "networks", net["id"])


def test_cli_network_rbac_create_list_show_delete(cloud, tokens, unique):
    cloud.openstack("stratus", "network", "create", unique)
    made = cli_json(
        cloud, "stratus", "network", "rbac", "create", "--target-project", tokens.other_project, "--action",
        "access_as_shared", "--type", "network", unique,
    )  # fmt: skip
    assert made["target_project_id"] == tokens.other_project and made["action"] == "access_as_shared"
    assert made["id"] in {p["ID"] for p in cli_json(cloud, "stratus", "network", "rbac", "list")}
    shown = cli_json(cloud, "stratus", "network", "rbac", "show", made["id"])
    assert shown["object_type"] == "network" and shown["object_id"] == made["object_id"]
    cloud.openstack("stratus", "network", "rbac", "delete", made["id"])
    assert made["id"] not in {p["ID"] for p in cli_json(cloud, "stratus", "network", "rbac", "list")}
    cloud.openstack("stratus", "network", "delete", unique)
