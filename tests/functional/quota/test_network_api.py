"""Neutron's quota API (``/v2.0/quotas``, ``/{project}``, ``/details``, ``/default``), its 409 ``OverQuota``,
who may read and change it, and the ``openstack`` commands over both quota APIs: ``quota show [--usage]``,
``quota set``, ``quota delete`` and ``limits show --absolute``."""

from __future__ import annotations

import pytest

from tests.functional.quota.conftest import NETWORK, run, run_json, set_compute, set_network

pytestmark = pytest.mark.functional

NEUTRON_DEFAULTS = {
    "network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50, "security_group": 10,
    "security_group_rule": 100,
}  # fmt: skip


def _get(cloud, token: str, path: str):
    return cloud.request("GET", f"{NETWORK}{path}", token)


def test_a_new_project_has_neutrons_defaults_and_details_count_its_resources(cloud, tenant, unique):
    assert _get(cloud, tenant.reader, f"/quotas/{tenant.project_id}").json() == {"quota": NEUTRON_DEFAULTS}
    assert _get(cloud, tenant.member, f"/quotas/{tenant.project_id}/default").json() == {"quota": NEUTRON_DEFAULTS}
    network = cloud.request("POST", f"{NETWORK}/networks", tenant.member, json={"network": {"name": unique}})
    details = _get(cloud, tenant.member, f"/quotas/{tenant.project_id}/details").json()["quota"]
    assert details["network"] == {"limit": 100, "used": 1, "reserved": 0}
    # The first network made the project's default security group with its four rules: counted, not checked.
    assert details["security_group"]["used"] == 1 and details["security_group_rule"]["used"] == 4
    assert network.status_code == 201
    assert _get(cloud, tenant.member, "/quotas/project").json() == {"project": {"project_id": tenant.project_id}}


def test_over_the_network_limit_is_neutrons_409_naming_the_figures(cloud, tenant, unique):
    set_network(cloud, tenant.project_id, network=1, security_group=1)
    assert cloud.request("POST", f"{NETWORK}/networks", tenant.member, json={"network": {"name": unique}}).ok
    refused = cloud.request("POST", f"{NETWORK}/networks", tenant.member, json={"network": {"name": unique}})
    assert refused.status_code == 409
    assert refused.json() == {
        "NeutronError": {
            "type": "OverQuota",
            "message": "Quota exceeded for resources: ['network'].",
            "detail": "network: limit 1, in use 1, requested 1",
        }
    }
    group = cloud.request("POST", f"{NETWORK}/security-groups", tenant.member, json={"security_group": {"name": "x"}})
    assert group.status_code == 409 and group.json()["NeutronError"]["type"] == "OverQuota"  # the default is one


def test_only_admins_change_or_list_quotas_and_nobody_reads_another_projects(cloud, new_tenant):
    mine, theirs = new_tenant("a"), new_tenant("b")
    for token in (mine.member, mine.reader):
        put = cloud.request("PUT", f"{NETWORK}/quotas/{mine.project_id}", token, json={"quota": {"port": 1}})
        assert put.status_code == 403 and put.json()["NeutronError"]["type"] == "PolicyNotAuthorized"
        assert cloud.request("DELETE", f"{NETWORK}/quotas/{mine.project_id}", token).status_code == 403
        assert _get(cloud, token, f"/quotas/{theirs.project_id}").status_code == 403
        assert _get(cloud, token, f"/quotas/{theirs.project_id}/details").status_code == 403
        assert _get(cloud, token, "/quotas").status_code == 403
    set_network(cloud, theirs.project_id, port=7)
    listed = _get(cloud, cloud.admin_token(), "/quotas").json()["quotas"]
    (entry,) = [q for q in listed if q["project_id"] == theirs.project_id]
    assert entry == {**NEUTRON_DEFAULTS, "port": 7, "project_id": theirs.project_id, "tenant_id": theirs.project_id}


def test_updates_check_their_values_and_check_limit_refuses_a_limit_below_usage(cloud, tenant, unique):
    admin, path = cloud.admin_token(), f"{NETWORK}/quotas/{tenant.project_id}"
    bad = cloud.request("PUT", path, admin, json={"quota": {"port": -5}})
    assert bad.status_code == 400 and "must be -1 or greater" in bad.json()["NeutronError"]["message"]
    unknown = cloud.request("PUT", path, admin, json={"quota": {"gpu": 5}})
    assert unknown.status_code == 400 and "gpu" in unknown.json()["NeutronError"]["message"]
    assert cloud.request("PUT", path, admin, json={"quota": {"network": "3"}}).json()["quota"]["network"] == 3
    cloud.request("POST", f"{NETWORK}/networks", tenant.member, json={"network": {"name": unique}})
    below = cloud.request("PUT", path, admin, json={"quota": {"network": 0, "check_limit": True}})
    assert below.status_code == 400 and "already used and reserved 1" in below.json()["NeutronError"]["message"]
    assert cloud.request("PUT", path, admin, json={"quota": {"network": 0}}).status_code == 200  # Neutron's default
    assert cloud.request("DELETE", path, admin).status_code == 204
    assert _get(cloud, admin, f"/quotas/{tenant.project_id}").json()["quota"] == NEUTRON_DEFAULTS


def test_openstack_quota_set_show_usage_and_limits_show(cloud, tenant, server_image, unique):
    result = run(
        cloud,
        "openstack",
        "quota",
        "set",
        "--instances",
        "10",
        "--cores",
        "20",
        "--ram",
        "51200",
        "--networks",
        "5",
        "--ports",
        "50",
        tenant.project_id,
    )
    assert result.returncode == 0, result.stderr
    cloud.request("POST", f"{NETWORK}/networks", tenant.member, json={"network": {"name": unique}})
    shown = run_json(cloud, "openstack", "quota", "show", "--usage", tenant.name)
    by_resource = {row["Resource"]: row for row in shown}
    assert by_resource["instances"]["Limit"] == 10 and by_resource["cores"]["Limit"] == 20
    assert by_resource["networks"] == {"Resource": "networks", "Limit": 5, "In Use": 1, "Reserved": 0}
    assert by_resource["ports"]["Limit"] == 50

    absolute = run_json(cloud, "openstack", "limits", "show", "--absolute", env=tenant.env())
    values = {row["Name"]: row["Value"] for row in absolute}
    assert values["max_total_instances"] == 10 and values["total_instances_used"] == 0
    assert values["max_security_groups"] == 10 and values["total_security_groups_used"] == 1  # the default one
    as_member = run_json(cloud, "openstack", "quota", "show", "--usage", tenant.project_id, env=tenant.env())
    assert {row["Resource"]: row["In Use"] for row in as_member}["networks"] == 1


def test_openstack_quota_delete_goes_back_to_the_defaults(cloud, tenant):
    set_compute(cloud, tenant.project_id, instances=3)
    set_network(cloud, tenant.project_id, port=3)
    result = run(cloud, "openstack", "quota", "delete", tenant.project_id)
    assert result.returncode == 0, result.stderr
    shown = {row["Resource"]: row["Limit"] for row in run_json(cloud, "openstack", "quota", "show", tenant.name)}
    assert shown["instances"] == 10 and shown["ports"] == 500
