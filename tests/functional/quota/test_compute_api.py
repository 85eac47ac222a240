"""Nova's quota APIs: ``os-quota-sets`` (show, detail, defaults, update, delete) and ``os-quota-class-sets``
with the keys of each microversion, who may read and change them, and ``/limits`` telling the same figures."""

from __future__ import annotations

import pytest

from tests.functional.compute import fault, version
from tests.functional.compute.conftest import create_server, wait_for_status
from tests.functional.quota.conftest import COMPUTE, set_compute, set_network

pytestmark = pytest.mark.functional

KEYS_2_1 = {
    "id", "cores", "fixed_ips", "floating_ips", "injected_file_content_bytes", "injected_file_path_bytes",
    "injected_files", "instances", "key_pairs", "metadata_items", "ram", "security_group_rules", "security_groups",
    "server_group_members", "server_groups",
}  # fmt: skip
KEYS_2_36 = KEYS_2_1 - {"fixed_ips", "floating_ips", "security_group_rules", "security_groups"}
NOVA_DEFAULTS = {
    "instances": 10, "cores": 20, "ram": 51200, "key_pairs": 100, "metadata_items": 128, "server_groups": 10,
    "server_group_members": 10,
}  # fmt: skip


def _get(cloud, token: str, path: str, microversion: str = "2.37"):
    return cloud.request("GET", f"{COMPUTE}{path}", token, headers=version(microversion))


@pytest.mark.parametrize(("microversion", "keys"), [("2.1", KEYS_2_1), ("2.35", KEYS_2_1), ("2.36", KEYS_2_36)])
def test_a_new_project_has_novas_defaults_with_the_keys_of_the_microversion(cloud, tenant, microversion, keys):
    shown = _get(cloud, tenant.member, f"/os-quota-sets/{tenant.project_id}", microversion).json()["quota_set"]
    assert set(shown) == keys and shown["id"] == tenant.project_id
    assert {k: shown[k] for k in NOVA_DEFAULTS} == NOVA_DEFAULTS
    defaults = _get(cloud, tenant.member, f"/os-quota-sets/{tenant.project_id}/defaults", microversion).json()
    assert defaults["quota_set"] == shown
    if microversion == "2.1":  # the network proxies are the Network API's limits
        assert (shown["security_groups"], shown["security_group_rules"]) == (10, 100)
        assert (shown["fixed_ips"], shown["floating_ips"], shown["injected_files"]) == (-1, -1, 0)


def test_detail_counts_what_the_project_holds_and_reserves_nothing(cloud, tenant, server_image, unique):
    server = create_server(cloud, tenant.member, server_image, unique, flavor="3")
    wait_for_status(cloud, tenant.member, server["id"], "ACTIVE")
    detail = _get(cloud, tenant.reader, f"/os-quota-sets/{tenant.project_id}/detail").json()["quota_set"]
    assert set(detail) == KEYS_2_36
    assert detail["instances"] == {"in_use": 1, "limit": 10, "reserved": 0}
    assert detail["cores"]["in_use"] == 2 and detail["ram"]["in_use"] == 2048
    absolute = _get(cloud, tenant.reader, "/limits").json()["limits"]["absolute"]
    assert (absolute["totalInstancesUsed"], absolute["totalCoresUsed"], absolute["totalRAMUsed"]) == (1, 2, 2048)
    assert (absolute["maxTotalInstances"], absolute["maxTotalCores"], absolute["maxTotalRAMSize"]) == (10, 20, 51200)


def test_only_admins_change_limits_and_nobody_reads_another_projects(cloud, new_tenant):
    mine, theirs = new_tenant("a"), new_tenant("b")
    body = {"quota_set": {"instances": 50}}
    for token in (mine.member, mine.reader):
        fault(cloud.request("PUT", f"{COMPUTE}/os-quota-sets/{mine.project_id}", token, json=body), "forbidden", 403)
        fault(cloud.request("DELETE", f"{COMPUTE}/os-quota-sets/{mine.project_id}", token), "forbidden", 403)
        fault(_get(cloud, token, f"/os-quota-sets/{theirs.project_id}"), "forbidden", 403)
        fault(_get(cloud, token, f"/os-quota-sets/{theirs.project_id}/detail"), "forbidden", 403)
        fault(_get(cloud, token, f"/limits?tenant_id={theirs.project_id}"), "forbidden", 403)
        fault(_get(cloud, token, "/os-quota-class-sets/default"), "forbidden", 403)
    assert _get(cloud, cloud.admin_token(), f"/os-quota-sets/{theirs.project_id}").status_code == 200


def test_defaults_answer_a_member_the_same_whether_the_project_exists_or_not(cloud, tenant):
    """Issue 11 item 5: ``os-quota-sets/<id>/defaults`` is no oracle of project ids (before, a missing project
    was a 400 and another existing one a 200). An admin, who may list projects anyway, still has the id
    checked, as Nova checks it when Keystone lets the caller read the project."""
    admin, missing = cloud.admin_token(), "0123456789abcdef0123456789abcdef"
    existing = _get(cloud, tenant.member, f"/os-quota-sets/{cloud_admin_project(cloud, admin)}/defaults")
    unknown = _get(cloud, tenant.member, f"/os-quota-sets/{missing}/defaults")
    assert (existing.status_code, unknown.status_code) == (200, 200)
    assert {**existing.json()["quota_set"], "id": missing} == unknown.json()["quota_set"]
    fault(_get(cloud, admin, f"/os-quota-sets/{missing}/defaults"), "badRequest", 400)


def cloud_admin_project(cloud, admin: str) -> str:
    return cloud.request("GET", "/identity/v3/projects?name=admin", admin).json()["projects"][0]["id"]


def test_update_answers_without_id_and_delete_goes_back_to_the_defaults(cloud, tenant):
    updated = set_compute(cloud, tenant.project_id, instances=3, cores="7", ram=-1)
    assert "id" not in updated and (updated["instances"], updated["cores"], updated["ram"]) == (3, 7, -1)
    assert _get(cloud, tenant.member, f"/os-quota-sets/{tenant.project_id}").json()["quota_set"]["cores"] == 7
    admin = cloud.admin_token()
    deleted = cloud.request("DELETE", f"{COMPUTE}/os-quota-sets/{tenant.project_id}", admin)
    assert deleted.status_code == 202
    assert _get(cloud, admin, f"/os-quota-sets/{tenant.project_id}").json()["quota_set"]["instances"] == 10


def test_bad_updates_are_400s_that_name_the_problem(cloud, tenant, server_image, unique):
    admin, path = cloud.admin_token(), f"{COMPUTE}/os-quota-sets/{tenant.project_id}"

    def put(values, microversion="2.37"):
        return cloud.request("PUT", path, admin, json={"quota_set": values}, headers=version(microversion))

    assert "instances" in fault(put({"instances": -2}), "badRequest", 400)
    assert "gpus" in fault(put({"gpus": 1}), "badRequest", 400)
    assert "security_groups" in fault(put({"security_groups": 5}), "badRequest", 400)  # gone at 2.36
    unknown = cloud.request("PUT", f"{COMPUTE}/os-quota-sets/no-such-project", admin, json={"quota_set": {}})
    assert fault(unknown, "badRequest", 400) == "Project ID no-such-project is not a valid project."
    create_server(cloud, tenant.member, server_image, unique)
    create_server(cloud, tenant.member, server_image, f"{unique}-2")
    message = fault(put({"instances": 1}), "badRequest", 400)
    assert message == "Quota limit 1 for instances must be greater than or equal to already used and reserved 2."
    assert put({"instances": 1, "force": True}).status_code == 200


def test_the_pre_2_36_proxies_change_the_network_limits(cloud, tenant):
    response = cloud.request(
        "PUT",
        f"{COMPUTE}/os-quota-sets/{tenant.project_id}",
        cloud.admin_token(),
        json={"quota_set": {"security_groups": 4, "fixed_ips": 3}},
        headers=version("2.1"),
    )
    assert response.status_code == 200, response.text
    assert (response.json()["quota_set"]["security_groups"], response.json()["quota_set"]["fixed_ips"]) == (4, -1)
    network = cloud.request("GET", f"/network/v2.0/quotas/{tenant.project_id}", tenant.member).json()["quota"]
    assert network["security_group"] == 4


def test_the_default_quota_class_is_every_projects_default(cloud, new_tenant):
    admin = cloud.admin_token()
    shown = _get(cloud, admin, "/os-quota-class-sets/default").json()["quota_class_set"]
    assert shown["id"] == "default" and shown["instances"] == 10 and "server_groups" not in shown  # from 2.50
    body = {"quota_class_set": {"instances": 12}}
    try:
        updated = cloud.request("PUT", f"{COMPUTE}/os-quota-class-sets/default", admin, json=body)
        assert updated.status_code == 200 and updated.json()["quota_class_set"]["instances"] == 12
        assert "id" not in updated.json()["quota_class_set"]
        fresh = new_tenant()
        assert _get(cloud, fresh.member, f"/os-quota-sets/{fresh.project_id}").json()["quota_set"]["instances"] == 12
    finally:
        body = {"quota_class_set": {"instances": 10}}
        assert cloud.request("PUT", f"{COMPUTE}/os-quota-class-sets/default", admin, json=body).status_code == 200
    other = cloud.request("PUT", f"{COMPUTE}/os-quota-class-sets/gold", admin, json=body)
    assert "default" in fault(other, "badRequest", 400)


def test_a_deleted_projects_limits_go_with_it(cloud, tenant):
    set_compute(cloud, tenant.project_id, instances=3)
    set_network(cloud, tenant.project_id, port=3)
    admin = cloud.admin_token()
    assert cloud.request("DELETE", f"/identity/v3/projects/{tenant.project_id}", admin).status_code == 204
    listed = cloud.request("GET", "/network/v2.0/quotas", admin).json()["quotas"]
    assert tenant.project_id not in {q["project_id"] for q in listed}
    limits = cloud.request("GET", f"/identity/v3/limits?project_id={tenant.project_id}", admin).json()["limits"]
    assert limits == []
