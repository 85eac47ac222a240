"""Domain-specific roles (Keystone's): listed by domain, named uniquely within it, granted only within it, and
never in a token themselves: a token carries the global roles they imply."""

from __future__ import annotations

import json

import pytest

from tests.functional.identity import V3, create

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def _domain(cloud, name: str, token: str) -> dict:
    return create(cloud, "domain", {"name": name}, token)


def test_a_domain_role_is_listed_by_its_domain_only_and_deleted_like_any_role(cloud, unique):
    token = cloud.admin_token()
    domain = _domain(cloud, unique, token)
    role = create(cloud, "role", {"name": f"{unique}-auditor", "domain_id": domain["id"]}, token)

    by_domain = cloud.request("GET", f"{V3}/roles?domain_id={domain['id']}", token).json()["roles"]
    global_roles = cloud.request("GET", f"{V3}/roles", token).json()["roles"]
    shown = cloud.request("GET", f"{V3}/roles/{role['id']}", token).json()["role"]

    assert role["domain_id"] == domain["id"]
    assert by_domain == [role] and shown == role
    assert role["id"] not in {r["id"] for r in global_roles}
    assert all(r["domain_id"] is None for r in global_roles)
    assert cloud.request("DELETE", f"{V3}/roles/{role['id']}", token).status_code == 204
    assert cloud.request("GET", f"{V3}/roles?domain_id={domain['id']}", token).json()["roles"] == []


def test_role_names_are_unique_within_a_domain_and_among_global_roles(cloud, unique):
    token = cloud.admin_token()
    first, second = _domain(cloud, f"{unique}-1", token), _domain(cloud, f"{unique}-2", token)
    create(cloud, "role", {"name": unique, "domain_id": first["id"]}, token)

    again = cloud.request("POST", f"{V3}/roles", token, json={"role": {"name": unique, "domain_id": first["id"]}})
    other_domain = cloud.request(
        "POST", f"{V3}/roles", token, json={"role": {"name": unique, "domain_id": second["id"]}}
    )
    global_role = cloud.request("POST", f"{V3}/roles", token, json={"role": {"name": unique}})
    global_again = cloud.request("POST", f"{V3}/roles", token, json={"role": {"name": unique, "domain_id": None}})

    assert again.status_code == 409 and global_again.status_code == 409
    assert other_domain.status_code == 201 and global_role.status_code == 201


def test_bad_domain_role_requests_are_clean_errors(cloud, unique):
    token = cloud.admin_token()
    domain = _domain(cloud, unique, token)
    role = create(cloud, "role", {"name": unique, "domain_id": domain["id"]}, token)

    unknown = cloud.request("POST", f"{V3}/roles", token, json={"role": {"name": unique, "domain_id": "nowhere"}})
    moved = cloud.request("PATCH", f"{V3}/roles/{role['id']}", token, json={"role": {"domain_id": None}})
    renamed = cloud.request("PATCH", f"{V3}/roles/{role['id']}", token, json={"role": {"name": f"{unique}-x"}})
    not_a_string = cloud.request("POST", f"{V3}/roles", token, json={"role": {"name": unique, "domain_id": 7}})

    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == 404
    assert moved.status_code == 400
    assert renamed.status_code == 200 and renamed.json()["role"]["domain_id"] == domain["id"]
    assert not_a_string.status_code == 400


def test_domain_roles_may_imply_roles_of_any_domain_or_global_ones_but_not_be_implied_by_global_ones(cloud, unique):
    """Keystone's rules, as Tempest's test_implied_domain_roles checks them."""
    token = cloud.admin_token()
    first, second = _domain(cloud, f"{unique}-1", token), _domain(cloud, f"{unique}-2", token)
    role_1a = create(cloud, "role", {"name": f"{unique}-a", "domain_id": first["id"]}, token)
    role_1b = create(cloud, "role", {"name": f"{unique}-b", "domain_id": first["id"]}, token)
    role_2 = create(cloud, "role", {"name": f"{unique}-c", "domain_id": second["id"]}, token)
    global_role = create(cloud, "role", {"name": f"{unique}-global"}, token)

    def rule(prior: dict, implied: dict) -> int:
        return cloud.request("PUT", f"{V3}/roles/{prior['id']}/implies/{implied['id']}", token).status_code

    assert rule(role_1a, role_1b) == 201
    assert rule(role_1a, role_2) == 201
    assert rule(role_1a, global_role) == 201
    refused = cloud.request("PUT", f"{V3}/roles/{global_role['id']}/implies/{role_1a['id']}", token)
    assert refused.status_code == 403 and "domain-specific" in refused.json()["error"]["message"]


def test_a_domain_role_is_not_in_tokens_or_the_effective_report_only_the_global_roles_it_implies(cloud, unique):
    admin = cloud.admin_token()
    role = create(cloud, "role", {"name": unique, "domain_id": "default"}, admin)
    user = create(cloud, "user", {"name": unique, "password": "pw"}, admin)
    project_id = cloud.request("GET", f"{V3}/projects?name=demo", admin).json()["projects"][0]["id"]
    grant = f"{V3}/projects/{project_id}/users/{user['id']}/roles/{role['id']}"
    report = f"{V3}/role_assignments?effective&user.id={user['id']}&scope.project.id={project_id}"
    assert cloud.request("PUT", grant, admin).status_code == 204

    assert cloud.request("GET", report, admin).json()["role_assignments"] == []
    stored = cloud.request("GET", f"{V3}/role_assignments?user.id={user['id']}", admin).json()["role_assignments"]
    assert [a["role"]["id"] for a in stored] == [role["id"]]

    reader_id = cloud.request("GET", f"{V3}/roles?name=reader", admin).json()["roles"][0]["id"]
    assert cloud.request("PUT", f"{V3}/roles/{role['id']}/implies/{reader_id}", admin).status_code == 201
    auth = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"id": user["id"], "password": "pw"}},
        },
        "scope": {"project": {"id": project_id}},
    }
    issued = cloud.request("POST", f"{V3}/auth/tokens", json={"auth": auth})

    assert issued.status_code == 201, issued.text
    assert [r["name"] for r in issued.json()["token"]["roles"]] == ["reader"]
    assert [a["role"]["id"] for a in cloud.request("GET", report, admin).json()["role_assignments"]] == [reader_id]


def test_a_domain_role_is_granted_only_within_its_domain(cloud, unique):
    admin = cloud.admin_token()
    domain = _domain(cloud, unique, admin)
    role = create(cloud, "role", {"name": unique, "domain_id": domain["id"]}, admin)
    user = create(cloud, "user", {"name": unique, "password": "pw"}, admin)
    group = create(cloud, "group", {"name": unique}, admin)
    inside = create(cloud, "project", {"name": unique, "domain_id": domain["id"]}, admin)
    outside = cloud.request("GET", f"{V3}/projects?name=demo", admin).json()["projects"][0]

    assert cloud.request("PUT", f"{V3}/projects/{inside['id']}/users/{user['id']}/roles/{role['id']}", admin).ok
    assert cloud.request("PUT", f"{V3}/domains/{domain['id']}/groups/{group['id']}/roles/{role['id']}", admin).ok
    refused = [
        cloud.request("PUT", f"{V3}/projects/{outside['id']}/users/{user['id']}/roles/{role['id']}", admin),
        cloud.request("PUT", f"{V3}/domains/default/users/{user['id']}/roles/{role['id']}", admin),
        cloud.request("PUT", f"{V3}/projects/{outside['id']}/groups/{group['id']}/roles/{role['id']}", admin),
    ]
    on_system = cloud.request("PUT", f"{V3}/system/users/{user['id']}/roles/{role['id']}", admin)

    assert [r.status_code for r in refused] == [403, 403, 403]
    assert "same domain" in refused[0].json()["error"]["message"]
    assert on_system.status_code == 400


def test_deleting_a_domain_deletes_its_roles(cloud, unique):
    admin = cloud.admin_token()
    domain = _domain(cloud, unique, admin)
    role = create(cloud, "role", {"name": unique, "domain_id": domain["id"]}, admin)

    cloud.request("PATCH", f"{V3}/domains/{domain['id']}", admin, json={"domain": {"enabled": False}})
    assert cloud.request("DELETE", f"{V3}/domains/{domain['id']}", admin).status_code == 204

    assert cloud.request("GET", f"{V3}/roles/{role['id']}", admin).status_code == 404


@pytest.mark.one_database
def test_openstack_cli_creates_lists_and_shows_domain_roles(cloud, unique):
    domain = _domain(cloud, unique, cloud.admin_token())

    created = json.loads(
        cloud.openstack("stratus-admin", "role", "create", "--domain", unique, f"{unique}-role", "-f", "json").stdout
    )
    listed = json.loads(cloud.openstack("stratus-admin", "role", "list", "--domain", unique, "-f", "json").stdout)
    shown = json.loads(
        cloud.openstack("stratus-admin", "role", "show", "--domain", unique, f"{unique}-role", "-f", "json").stdout
    )
    everywhere = json.loads(cloud.openstack("stratus-admin", "role", "list", "-f", "json").stdout)

    assert created["domain_id"] == domain["id"] and created["name"] == f"{unique}-role"
    assert [row["ID"] for row in listed] == [created["id"]]
    assert shown["id"] == created["id"]
    assert created["id"] not in {row["ID"] for row in everywhere}
