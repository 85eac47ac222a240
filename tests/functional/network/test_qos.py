"""QoS over real HTTP and the CLI: Neutron's policies with their bandwidth-limit rules inline, one rule per direction,
the rule types, rules by id alone, admin-only writes, policies on ports and networks (a port without its own takes
its network's, a new network its project's default), other projects' unshared policies refused, and a policy in
use refusing its delete."""

from __future__ import annotations

import pytest

from tests.functional.network import BASE, cli_json, create, delete, fault, get, network, port

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

POLICY_FIELDS = {
    "id", "name", "description", "tenant_id", "project_id", "shared", "is_default", "rules", "tags", "created_at",
    "updated_at", "revision_number",
}  # fmt: skip


def policy(cloud, token, name, **attrs):
    return create(cloud, token, "policy", "qos/policies", name=name, **attrs)


def rule(cloud, token, policy_id, **attrs):
    path = f"{BASE}/qos/policies/{policy_id}/bandwidth_limit_rules"
    return cloud.request("POST", path, token, json={"bandwidth_limit_rule": attrs})


def test_a_policy_and_its_bandwidth_limit_rules_are_created_shown_updated_and_deleted(cloud, tokens, unique):
    made = policy(cloud, tokens.admin, unique, description="10 Mbit", project_id=tokens.demo_project)
    assert set(made) == POLICY_FIELDS
    assert made["rules"] == [] and made["shared"] is False and made["is_default"] is False
    assert made["project_id"] == tokens.demo_project and made["description"] == "10 Mbit"
    egress = rule(cloud, tokens.admin, made["id"], max_kbps=10000, max_burst_kbps=8000)
    assert egress.status_code == 201, egress.text
    created = egress.json()["bandwidth_limit_rule"]
    assert created == {"id": created["id"], "max_kbps": 10000, "max_burst_kbps": 8000, "direction": "egress"}
    ingress = rule(cloud, tokens.admin, made["id"], max_kbps="2000", direction="ingress").json()
    assert ingress["bandwidth_limit_rule"]["max_burst_kbps"] == 0  # "2000" converted, as Neutron converts it

    shown = get(cloud, tokens.demo, f"/qos/policies/{made['id']}")["policy"]
    assert shown["revision_number"] == 3  # each rule change is a change of its policy
    assert {(r["direction"], r["max_kbps"], r["type"], r["qos_policy_id"]) for r in shown["rules"]} == {
        ("egress", 10000, "bandwidth_limit", made["id"]),
        ("ingress", 2000, "bandwidth_limit", made["id"]),
    }
    rules_path = f"/qos/policies/{made['id']}/bandwidth_limit_rules"
    listed = get(cloud, tokens.demo, f"{rules_path}?direction=ingress")["bandwidth_limit_rules"]
    assert [r["max_kbps"] for r in listed] == [2000]
    one = f"{BASE}{rules_path}/{created['id']}"
    changed = cloud.request("PUT", one, tokens.admin, json={"bandwidth_limit_rule": {"max_kbps": 5000}})
    assert changed.status_code == 200 and changed.json()["bandwidth_limit_rule"]["max_kbps"] == 5000
    alias = f"{BASE}/qos/alias_bandwidth_limit_rules/{created['id']}"
    assert cloud.request("GET", alias, tokens.demo).json()["bandwidth_limit_rule"]["max_kbps"] == 5000
    assert get(cloud, tokens.demo, f"/qos/policies?name={unique}")["policies"][0]["id"] == made["id"]
    fault(cloud.request("GET", f"{BASE}/qos/policies/{made['id']}", tokens.other), "QosPolicyNotFound", 404)

    renamed = cloud.request("PUT", f"{BASE}/qos/policies/{made['id']}", tokens.admin, json={"policy": {"name": "x"}})
    assert renamed.status_code == 200 and renamed.json()["policy"]["name"] == "x"
    tagged = cloud.request("PUT", f"{BASE}/policies/{made['id']}/tags", tokens.admin, json={"tags": ["gold"]})
    assert tagged.status_code == 200, tagged.text
    (found,) = get(cloud, tokens.demo, "/qos/policies?tags=gold&name=x")["policies"]
    assert found["id"] == made["id"] and found["tags"] == ["gold"]
    assert cloud.request("DELETE", alias, tokens.admin).status_code == 204
    fault(cloud.request("GET", one, tokens.demo), "QosRuleNotFound", 404)
    delete(cloud, tokens.admin, "qos/policies", made["id"])
    fault(cloud.request("GET", f"{BASE}/qos/policies/{made['id']}", tokens.admin), "QosPolicyNotFound", 404)


def test_a_second_rule_of_one_direction_is_a_conflict(cloud, tokens, unique):
    made = policy(cloud, tokens.admin, unique)
    first = rule(cloud, tokens.admin, made["id"], max_kbps=1000, direction="ingress").json()["bandwidth_limit_rule"]
    message = fault(rule(cloud, tokens.admin, made["id"], max_kbps=500, direction="ingress"), "QoSRulesConflict", 409)
    assert first["id"] in message and made["id"] in message
    egress = rule(cloud, tokens.admin, made["id"], max_kbps=700).json()["bandwidth_limit_rule"]
    to_ingress = {"bandwidth_limit_rule": {"direction": "ingress"}}
    path = f"{BASE}/qos/policies/{made['id']}/bandwidth_limit_rules/{egress['id']}"
    fault(cloud.request("PUT", path, tokens.admin, json=to_ingress), "QoSRulesConflict", 409)
    assert len(get(cloud, tokens.admin, f"/qos/policies/{made['id']}")["policy"]["rules"]) == 2
    delete(cloud, tokens.admin, "qos/policies", made["id"])  # its rules go with it


MALFORMED = (
    {"max_kbps": -1},
    {"max_kbps": 2147483648},
    {"max_kbps": "fast"},
    {"max_kbps": 1000, "direction": "sideways"},
    {"max_kbps": 1000, "max_burst_kbps": -5},
    {"max_kbps": 1000, "dscp_mark": 26},
    {"max_burst_kbps": 100},
)


def test_a_malformed_rule_or_policy_is_a_400_and_makes_nothing(cloud, tokens, unique):
    made = policy(cloud, tokens.admin, unique)
    for body in MALFORMED:
        response = rule(cloud, tokens.admin, made["id"], **body)
        assert response.status_code == 400, (body, response.text)
        assert "NeutronError" in response.json()
    assert get(cloud, tokens.admin, f"/qos/policies/{made['id']}")["policy"]["rules"] == []
    unknown = cloud.request("POST", f"{BASE}/qos/policies", tokens.admin, json={"policy": {"name": "a", "x": 1}})
    assert unknown.status_code == 400 and "x" in unknown.json()["NeutronError"]["message"]
    delete(cloud, tokens.admin, "qos/policies", made["id"])


def test_policies_and_rules_are_written_by_admins_only(cloud, tokens, unique):
    body = {"policy": {"name": unique}}
    fault(cloud.request("POST", f"{BASE}/qos/policies", tokens.demo, json=body), "PolicyNotAuthorized", 403)
    made = policy(cloud, tokens.admin, unique, project_id=tokens.demo_project)
    fault(rule(cloud, tokens.demo, made["id"], max_kbps=1000), "PolicyNotAuthorized", 403)
    path = f"{BASE}/qos/policies/{made['id']}"
    fault(cloud.request("PUT", path, tokens.demo, json={"policy": {"name": "x"}}), "PolicyNotAuthorized", 403)
    fault(cloud.request("DELETE", path, tokens.demo), "PolicyNotAuthorized", 403)
    fault(cloud.request("GET", f"{BASE}/qos/rule-types", tokens.demo), "PolicyNotAuthorized", 403)
    assert get(cloud, tokens.admin, "/qos/rule-types") == {"rule_types": [{"type": "bandwidth_limit"}]}
    details = get(cloud, tokens.admin, "/qos/rule-types/bandwidth_limit")["rule_type"]
    (driver,) = details["drivers"]
    assert {p["parameter_name"] for p in driver["supported_parameters"]} == {"max_kbps", "max_burst_kbps", "direction"}
    fault(cloud.request("GET", f"{BASE}/qos/rule-types/dscp_marking", tokens.admin), "NotFound", 404)
    aliases = {e["alias"] for e in get(cloud, tokens.demo, "/extensions")["extensions"]}
    assert {"qos", "qos-bw-limit-direction", "qos-default", "qos-rules-alias"} <= aliases
    delete(cloud, tokens.admin, "qos/policies", made["id"])


def test_ports_take_their_networks_policy_and_a_policy_in_use_is_not_deleted(cloud, tokens, unique):
    net_policy = policy(cloud, tokens.admin, f"{unique}-net", project_id=tokens.demo_project)
    own_policy = policy(cloud, tokens.admin, f"{unique}-own", project_id=tokens.demo_project)
    net = network(cloud, tokens.demo, unique, qos_policy_id=net_policy["id"])
    assert net["qos_policy_id"] == net_policy["id"]
    plain = port(cloud, tokens.demo, net["id"])
    assert plain["qos_policy_id"] is None  # its own: none, so its network's applies
    mine = port(cloud, tokens.demo, net["id"], qos_policy_id=own_policy["id"])
    assert mine["qos_policy_id"] == own_policy["id"]
    listed = get(cloud, tokens.demo, f"/ports?network_id={net['id']}")["ports"]  # the database-built documents
    assert {p["id"]: p["qos_policy_id"] for p in listed} == {plain["id"]: None, mine["id"]: own_policy["id"]}
    filtered = get(cloud, tokens.demo, f"/networks?qos_policy_id={net_policy['id']}")["networks"]
    assert [n["id"] for n in filtered] == [net["id"]]

    message = fault(cloud.request("DELETE", f"{BASE}/qos/policies/{own_policy['id']}", tokens.admin),
                    "QosPolicyInUse", 409)  # fmt: skip
    assert mine["id"] in message
    fault(cloud.request("DELETE", f"{BASE}/qos/policies/{net_policy['id']}", tokens.admin), "QosPolicyInUse", 409)
    cleared = cloud.request("PUT", f"{BASE}/ports/{mine['id']}", tokens.demo, json={"port": {"qos_policy_id": None}})
    assert cleared.status_code == 200 and cleared.json()["port"]["qos_policy_id"] is None
    delete(cloud, tokens.admin, "qos/policies", own_policy["id"])
    for made in (plain, mine):
        delete(cloud, tokens.demo, "ports", made["id"])
    delete(cloud, tokens.demo, "networks", net["id"])
    delete(cloud, tokens.admin, "qos/policies", net_policy["id"])


def test_another_projects_unshared_policy_is_refused_and_a_shared_one_is_usable(cloud, tokens, unique):
    theirs = policy(cloud, tokens.admin, unique, project_id=tokens.other_project)
    net = network(cloud, tokens.demo, unique)
    body = {"port": {"network_id": net["id"], "qos_policy_id": theirs["id"]}}
    fault(cloud.request("POST", f"{BASE}/ports", tokens.demo, json=body), "QosPolicyNotFound", 404)
    assert get(cloud, tokens.demo, f"/ports?network_id={net['id']}")["ports"] == []  # nothing half made
    update = {"network": {"qos_policy_id": theirs["id"]}}
    fault(cloud.request("PUT", f"{BASE}/networks/{net['id']}", tokens.demo, json=update), "QosPolicyNotFound", 404)

    path = f"{BASE}/qos/policies/{theirs['id']}"
    shared = cloud.request("PUT", path, tokens.admin, json={"policy": {"shared": True}})
    assert shared.status_code == 200 and shared.json()["policy"]["shared"] is True
    used = port(cloud, tokens.demo, net["id"], qos_policy_id=theirs["id"])
    unshare = {"policy": {"shared": False}}
    fault(cloud.request("PUT", path, tokens.admin, json=unshare), "QosPolicyInUse", 409)
    delete(cloud, tokens.demo, "ports", used["id"])
    delete(cloud, tokens.demo, "networks", net["id"])
    delete(cloud, tokens.admin, "qos/policies", theirs["id"])


def test_a_projects_default_policy_goes_to_its_new_networks(cloud, tokens, unique):
    default = policy(cloud, tokens.admin, unique, project_id=tokens.other_project, is_default=True)
    again = {"policy": {"name": "second", "project_id": tokens.other_project, "is_default": True}}
    message = fault(cloud.request("POST", f"{BASE}/qos/policies", tokens.admin, json=again),
                    "QoSPolicyDefaultAlreadyExists", 409)  # fmt: skip
    assert tokens.other_project in message
    net = network(cloud, tokens.other, unique)
    assert net["qos_policy_id"] == default["id"]
    delete(cloud, tokens.other, "networks", net["id"])
    delete(cloud, tokens.admin, "qos/policies", default["id"])


def test_the_cli_makes_a_policy_with_a_rule_and_sets_it_on_a_port(cloud, tokens, unique):
    cloud.openstack("stratus-admin", "network", "qos", "policy", "create", "--project", "demo", unique)
    made = cli_json(
        cloud, "stratus-admin", "network", "qos", "rule", "create", "--type", "bandwidth-limit",
        "--max-kbps", "1000", "--max-burst-kbits", "800", "--egress", unique,
    )  # fmt: skip
    assert (made["max_kbps"], made["max_burst_kbps"], made["direction"]) == (1000, 800, "egress")
    cloud.openstack("stratus", "network", "create", unique)
    cloud.openstack("stratus", "port", "create", "--network", unique, unique)
    cloud.openstack("stratus", "port", "set", "--qos-policy", unique, unique)
    shown = cli_json(cloud, "stratus", "port", "show", unique)
    listed = cli_json(cloud, "stratus", "network", "qos", "rule", "list", unique)
    assert shown["qos_policy_id"] == listed[0]["QoS Policy ID"]
    assert [(r["Type"], r["Max Kbps"], r["Max Burst Kbits"], r["Direction"]) for r in listed] == [
        ("bandwidth_limit", 1000, 800, "egress")
    ]
    cloud.openstack("stratus", "port", "delete", unique)
    cloud.openstack("stratus", "network", "delete", unique)
    cloud.openstack("stratus-admin", "network", "qos", "policy", "delete", unique)
