"""Security groups and rules over real HTTP: the lazy ``default`` group and Neutron's default rules, rule
validation, duplicates, deletes refused while in use; the ``openstack security group`` commands; extensions."""

from __future__ import annotations

import pytest

from tests.functional.network import BASE, cli_json, create, delete, fault, get, network, port, sdk, subnet

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

GROUP_FIELDS = {
    "id", "name", "tenant_id", "project_id", "description", "security_group_rules", "stateful", "shared", "tags",
    "created_at", "updated_at", "revision_number",
}  # fmt: skip
RULE_FIELDS = {
    "id", "tenant_id", "project_id", "security_group_id", "direction", "ethertype", "protocol", "port_range_min",
    "port_range_max", "remote_ip_prefix", "remote_group_id", "remote_address_group_id", "normalized_cidr",
    "description", "created_at", "updated_at", "revision_number",
}  # fmt: skip


def _rule(cloud, token, group_id, **attrs):
    return cloud.request(
        "POST",
        f"{BASE}/security-group-rules",
        token,
        json={"security_group_rule": {"security_group_id": group_id, **attrs}},
    )


def test_each_project_gets_one_default_group_with_neutrons_rules(cloud, tokens):
    (group,) = get(cloud, tokens.other, "/security-groups?name=default")["security_groups"]
    assert set(group) == GROUP_FIELDS and group["project_id"] == tokens.other_project and group["stateful"] is True
    rules = {
        (r["direction"], r["ethertype"], r["remote_group_id"], r["remote_ip_prefix"])
        for r in group["security_group_rules"]
    }
    assert rules == {
        ("egress", "IPv4", None, None),
        ("egress", "IPv6", None, None),
        ("ingress", "IPv4", group["id"], None),
        ("ingress", "IPv6", group["id"], None),
    }
    assert all(set(r) == RULE_FIELDS for r in group["security_group_rules"])
    again = get(cloud, tokens.other, "/security-groups")["security_groups"]
    assert [g["id"] for g in again if g["name"] == "default"] == [group["id"]]
    fault(cloud.request("DELETE", f"{BASE}/security-groups/{group['id']}", tokens.other),
          "SecurityGroupCannotRemoveDefault", 409)  # fmt: skip
    fault(cloud.request("GET", f"{BASE}/security-groups/{group['id']}", tokens.demo), "SecurityGroupNotFound", 404)
    body = {"security_group": {"name": "default"}}
    fault(
        cloud.request("POST", f"{BASE}/security-groups", tokens.other, json=body),
        "SecurityGroupDefaultAlreadyExists",
        409,
    )


def test_new_groups_allow_egress_and_take_validated_rules(cloud, tokens, unique):
    group = create(cloud, tokens.demo, "security_group", "security-groups", name=unique, description="web")
    assert sorted((r["direction"], r["ethertype"]) for r in group["security_group_rules"]) == [
        ("egress", "IPv4"),
        ("egress", "IPv6"),
    ]
    ssh = _rule(cloud, tokens.demo, group["id"], direction="ingress", protocol="tcp", port_range_min=22,
                port_range_max="22", remote_ip_prefix="192.0.2.0/24")  # fmt: skip
    assert ssh.status_code == 201, ssh.text
    assert ssh.json()["security_group_rule"]["port_range_max"] == 22
    same = _rule(cloud, tokens.demo, group["id"], direction="ingress", protocol="6", port_range_min=22,
                 port_range_max=22, remote_ip_prefix="192.0.2.0/24")  # fmt: skip
    assert ssh.json()["security_group_rule"]["id"] in fault(same, "SecurityGroupRuleExists", 409)
    for attrs, fault_type in (
        ({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80}, "SecurityGroupInvalidPortRange"),
        ({"protocol": "udp", "port_range_min": 0, "port_range_max": 80}, "SecurityGroupInvalidPortValue"),
        ({"protocol": "icmp", "port_range_min": 300}, "SecurityGroupInvalidIcmpValue"),
        ({"protocol": "smtp"}, "SecurityGroupRuleInvalidProtocol"),
        (
            {"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": group["id"]},
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        ),
        ({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}, "SecurityGroupRuleParameterConflict"),
        ({"direction": "sideways"}, "HTTPBadRequest"),
        ({"remote_group_id": "00000000-0000-0000-0000-000000000000"}, "SecurityGroupNotFound"),
    ):
        body = {"direction": "ingress", **attrs}
        answer = _rule(cloud, tokens.demo, group["id"], **body)
        assert answer.status_code in (400, 404), answer.text
        fault(answer, fault_type, answer.status_code)
    assert (
        len(get(cloud, tokens.demo, f"/security-groups/{group['id']}")["security_group"]["security_group_rules"]) == 3
    )
    fault(_rule(cloud, tokens.other, group["id"], direction="ingress"), "SecurityGroupNotFound", 404)

    delete(cloud, tokens.demo, "security-group-rules", ssh.json()["security_group_rule"]["id"])
    updated = cloud.request("PUT", f"{BASE}/security-groups/{group['id']}", tokens.demo,
                            json={"security_group": {"name": unique + "-x"}})  # fmt: skip
    assert updated.status_code == 200 and updated.json()["security_group"]["name"] == unique + "-x"
    delete(cloud, tokens.demo, "security-groups", group["id"])
    fault(cloud.request("GET", f"{BASE}/security-groups/{group['id']}", tokens.demo), "SecurityGroupNotFound", 404)


def test_a_group_in_use_cannot_be_deleted(cloud, tokens, unique):
    group = create(cloud, tokens.demo, "security_group", "security-groups", name=unique)
    net = network(cloud, tokens.demo, unique)
    subnet(cloud, tokens.demo, net["id"], "10.80.0.0/24", enable_dhcp=False)
    member = port(cloud, tokens.demo, net["id"], security_groups=[group["id"]])
    assert member["security_groups"] == [group["id"]]
    assert [p["id"] for p in get(cloud, tokens.demo, f"/ports?security_groups={group['id']}")["ports"]] == [
        member["id"]
    ]
    fault(cloud.request("DELETE", f"{BASE}/security-groups/{group['id']}", tokens.demo), "SecurityGroupInUse", 409)
    delete(cloud, tokens.demo, "ports", member["id"])
    delete(cloud, tokens.demo, "security-groups", group["id"])
    delete(cloud, tokens.demo, "networks", net["id"])


@pytest.mark.one_database  # a CLI walk-through: the same requests on either database
def test_the_cli_manages_groups_and_rules(cloud, tokens, unique):
    created = cli_json(cloud, "stratus", "security", "group", "create", "--description", "pings", unique)
    assert created["name"] == unique and created["description"] == "pings"
    rule = cli_json(cloud, "stratus", "security", "group", "rule", "create", "--protocol", "icmp", unique)
    assert rule["protocol"] == "icmp" and rule["direction"] == "ingress" and rule["remote_ip_prefix"] == "0.0.0.0/0"
    shown = cli_json(cloud, "stratus", "security", "group", "show", unique)
    assert shown["id"] == created["id"] and len(shown["rules"]) == 3
    listed = cli_json(cloud, "stratus", "security", "group", "list")
    assert {unique, "default"} <= {g["Name"] for g in listed}
    rules = cli_json(cloud, "stratus", "security", "group", "rule", "list", unique)
    assert len(rules) == 3
    cloud.openstack("stratus", "security", "group", "delete", unique)
    fault(cloud.request("GET", f"{BASE}/security-groups/{created['id']}", tokens.demo), "SecurityGroupNotFound", 404)


def test_openstacksdk_manages_groups(cloud, unique):
    conn = sdk(cloud)
    group = conn.network.create_security_group(name=unique)
    rule = conn.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", protocol="tcp", port_range_min=80, port_range_max=80
    )
    assert rule.port_range_min == 80 and rule.ether_type == "IPv4"
    assert unique in [g.name for g in conn.network.security_groups()]
    assert rule.id in [r.id for r in conn.network.security_group_rules(security_group_id=group.id)]
    conn.network.delete_security_group_rule(rule)
    conn.network.delete_security_group(group)
    assert conn.network.find_security_group(unique) is None


EXTENSIONS = {
    "provider", "external-net", "binding", "security-group", "stateful-security-group", "port-security",
    "port-security-groups-filtering", "allowed-address-pairs", "network-mtu", "network-mtu-writable",
    "standard-attr-description", "standard-attr-revisions", "standard-attr-timestamp", "standard-attr-tag",
    "project-id", "pagination", "sorting", "filter-validation", "quotas", "quota_details", "quota-check-limit",
    "subnet-external-network", "agent", "subnet_allocation", "default-subnetpools",
    "rbac-policies", "extra_dhcp_opt", "service-type", "availability_zone",
    "router", "ext-gw-mode", "extraroute", "extraroute-atomic", "fip-port-details",
    "qos", "qos-bw-limit-direction", "qos-default", "qos-rules-alias", "qos-rule-type-details",
}  # fmt: skip


def test_extensions_list_exactly_what_is_served(cloud, tokens):
    listed = get(cloud, tokens.demo, "/extensions")["extensions"]
    assert {e["alias"] for e in listed} == EXTENSIONS
    assert all(set(e) == {"name", "alias", "description", "updated", "links"} for e in listed)
    assert get(cloud, tokens.demo, "/extensions/provider")["extension"]["name"] == "Provider Network"
    fault(cloud.request("GET", f"{BASE}/extensions/l3_agent_scheduler", tokens.demo), "ExtensionNotFound", 404)
    assert {r["collection"] for r in get(cloud, tokens.demo, "")["resources"]} >= {"networks", "ports"}
    shown = cli_json(cloud, "stratus", "extension", "list", "--network")
    assert {e["Alias"] for e in shown} == EXTENSIONS
