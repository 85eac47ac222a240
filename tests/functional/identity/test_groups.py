"""Keystone groups over real HTTP: CRUD, membership, grants to groups, and the roles members get from them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functional.identity import V3, create, role_id

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def _issue(cloud, user_id: str, scope: dict[str, Any] | None = None) -> Any:
    auth: dict[str, Any] = {
        "identity": {"methods": ["password"], "password": {"user": {"id": user_id, "password": "pw"}}}
    }
    if scope:
        auth["scope"] = scope
    return cloud.request("POST", f"{V3}/auth/tokens", json={"auth": auth})


def _fixture(cloud, unique: str, token: str) -> tuple[dict, dict, dict]:
    """A group, a user with a password and no direct role, and a project."""
    group = create(cloud, "group", {"name": unique, "description": "d"}, token)
    user = create(cloud, "user", {"name": unique, "password": "pw"}, token)
    project = create(cloud, "project", {"name": unique}, token)
    return group, user, project


def test_group_crud_and_filters(cloud, unique):
    token = cloud.admin_token()
    group = create(cloud, "group", {"name": unique, "description": "first", "team": "x"}, token)
    assert group["domain_id"] == "default" and group["description"] == "first" and group["team"] == "x"
    assert group["links"]["self"].endswith(f"{V3}/groups/{group['id']}")

    renamed = cloud.request("PATCH", f"{V3}/groups/{group['id']}", token, json={"group": {"name": unique + "-b"}})
    shown = cloud.request("GET", f"{V3}/groups/{group['id']}", token).json()["group"]
    by_name = cloud.request("GET", f"{V3}/groups?name={unique}-b", token).json()["groups"]
    by_domain = cloud.request("GET", f"{V3}/groups?domain_id=default", token).json()["groups"]
    other_domain = cloud.request("GET", f"{V3}/groups?domain_id=nowhere", token).json()["groups"]

    assert renamed.status_code == 200 and renamed.json()["group"]["description"] == "first"
    assert shown == renamed.json()["group"]
    assert [g["id"] for g in by_name] == [group["id"]]
    assert group["id"] in {g["id"] for g in by_domain} and other_domain == []

    assert cloud.request("DELETE", f"{V3}/groups/{group['id']}", token).status_code == 204
    gone = cloud.request("GET", f"{V3}/groups/{group['id']}", token)
    assert gone.status_code == 404 and gone.json()["error"]["message"] == f"Could not find group: {group['id']}."
    assert cloud.request("DELETE", f"{V3}/groups/{group['id']}", token).status_code == 404


def test_group_names_are_unique_per_domain_only(cloud, unique):
    token = cloud.admin_token()
    create(cloud, "group", {"name": unique}, token)
    domain = create(cloud, "domain", {"name": unique}, token)
    again = cloud.request("POST", f"{V3}/groups", token, json={"group": {"name": unique}})
    elsewhere = cloud.request(
        "POST", f"{V3}/groups", token, json={"group": {"name": unique, "domain_id": domain["id"]}}
    )
    other = create(cloud, "group", {"name": unique + "-2"}, token)
    rename = cloud.request("PATCH", f"{V3}/groups/{other['id']}", token, json={"group": {"name": unique}})

    assert again.status_code == 409 and again.json()["error"]["title"] == "Conflict"
    assert elsewhere.status_code == 201 and elsewhere.json()["group"]["domain_id"] == domain["id"]
    assert rename.status_code == 409


def test_bad_group_requests_are_clear_errors(cloud, unique):
    token = cloud.admin_token()
    group = create(cloud, "group", {"name": unique}, token)
    cases = [
        ("POST", f"{V3}/groups", {"group": {}}, 400),
        ("POST", f"{V3}/groups", {"group": {"name": ""}}, 400),
        ("POST", f"{V3}/groups", {"group": {"name": "x" * 65}}, 400),
        ("POST", f"{V3}/groups", {"group": {"name": unique + "n", "nested": {"a": 1}}}, 400),
        ("POST", f"{V3}/groups", {"group": {"name": unique + "d", "domain_id": "nowhere"}}, 404),
        ("PATCH", f"{V3}/groups/{group['id']}", {"group": {"domain_id": "other"}}, 400),
        ("PATCH", f"{V3}/groups/{group['id']}", {"group": {"name": 5}}, 400),
        ("PATCH", f"{V3}/groups/nope", {"group": {"name": "x"}}, 404),
    ]
    for method, path, body, status in cases:
        response = cloud.request(method, path, token, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["code"] == status


def test_membership_add_check_list_and_remove(cloud, unique):
    token = cloud.admin_token()
    group, user, _ = _fixture(cloud, unique, token)
    member = f"{V3}/groups/{group['id']}/users/{user['id']}"

    assert cloud.request("HEAD", member, token).status_code == 404
    assert cloud.request("PUT", member, token).status_code == 204
    assert cloud.request("PUT", member, token).status_code == 204  # idempotent, as Keystone
    assert cloud.request("HEAD", member, token).status_code == 204
    users = cloud.request("GET", f"{V3}/groups/{group['id']}/users", token).json()["users"]
    groups = cloud.request("GET", f"{V3}/users/{user['id']}/groups", token).json()["groups"]

    assert [u["id"] for u in users] == [user["id"]] and users[0]["name"] == unique
    assert groups == [group | {"membership_expires_at": None}]

    assert cloud.request("DELETE", member, token).status_code == 204
    missing = cloud.request("DELETE", member, token)
    assert missing.status_code == 404 and user["id"] in missing.json()["error"]["message"]
    assert cloud.request("GET", f"{V3}/groups/{group['id']}/users", token).json()["users"] == []
    assert cloud.request("PUT", f"{V3}/groups/{group['id']}/users/nobody", token).status_code == 404
    assert cloud.request("PUT", f"{V3}/groups/nogroup/users/{user['id']}", token).status_code == 404


def test_deleting_a_user_or_group_drops_its_memberships(cloud, unique):
    token = cloud.admin_token()
    group, user, _ = _fixture(cloud, unique, token)
    other = create(cloud, "user", {"name": unique + "-2"}, token)
    for member in (user, other):
        assert cloud.request("PUT", f"{V3}/groups/{group['id']}/users/{member['id']}", token).status_code == 204

    assert cloud.request("DELETE", f"{V3}/users/{other['id']}", token).status_code == 204
    remaining = cloud.request("GET", f"{V3}/groups/{group['id']}/users", token).json()["users"]
    assert [u["id"] for u in remaining] == [user["id"]]

    assert cloud.request("DELETE", f"{V3}/groups/{group['id']}", token).status_code == 204
    assert cloud.request("GET", f"{V3}/users/{user['id']}/groups", token).json()["groups"] == []


def test_group_grant_on_project_gives_members_the_role_in_tokens(cloud, unique):
    token = cloud.admin_token()
    group, user, project = _fixture(cloud, unique, token)
    member_role = role_id(cloud, "member", token)
    grant = f"{V3}/projects/{project['id']}/groups/{group['id']}/roles/{member_role}"
    scope = {"project": {"id": project["id"]}}

    assert cloud.request("HEAD", grant, token).status_code == 404
    assert cloud.request("PUT", grant, token).status_code == 204
    assert cloud.request("PUT", grant, token).status_code == 204
    assert cloud.request("HEAD", grant, token).status_code == 204
    listed = cloud.request("GET", f"{V3}/projects/{project['id']}/groups/{group['id']}/roles", token).json()
    assert [r["name"] for r in listed["roles"]] == ["member"]
    assert _issue(cloud, user["id"], scope).status_code == 401  # not a member yet

    assert cloud.request("PUT", f"{V3}/groups/{group['id']}/users/{user['id']}", token).status_code == 204
    issued = _issue(cloud, user["id"], scope)
    assert issued.status_code == 201, issued.text
    assert {r["name"] for r in issued.json()["token"]["roles"]} == {"member", "reader"}  # implied roles too
    user_token = issued.headers["X-Subject-Token"]
    unscoped = _issue(cloud, user["id"]).headers["X-Subject-Token"]
    auth_projects = cloud.request("GET", f"{V3}/auth/projects", unscoped).json()["projects"]
    user_projects = cloud.request("GET", f"{V3}/users/{user['id']}/projects", token).json()["projects"]
    assert [p["id"] for p in auth_projects] == [project["id"]] == [p["id"] for p in user_projects]

    # Leaving the group takes the role away from the token already issued, at once.
    assert cloud.request("DELETE", f"{V3}/groups/{group['id']}/users/{user['id']}", token).status_code == 204
    validated = cloud.request("GET", f"{V3}/auth/tokens", token, headers={"X-Subject-Token": user_token})
    assert validated.status_code in (401, 404)
    assert cloud.request("GET", f"{V3}/projects/{project['id']}", user_token).status_code == 401


def test_revoking_a_group_grant_or_deleting_the_group_invalidates_member_tokens(cloud, unique):
    token = cloud.admin_token()
    group, user, project = _fixture(cloud, unique, token)
    grant = f"{V3}/projects/{project['id']}/groups/{group['id']}/roles/{role_id(cloud, 'reader', token)}"
    assert cloud.request("PUT", grant, token).status_code == 204
    assert cloud.request("PUT", f"{V3}/groups/{group['id']}/users/{user['id']}", token).status_code == 204
    scope = {"project": {"id": project["id"]}}

    first = _issue(cloud, user["id"], scope).headers["X-Subject-Token"]
    assert cloud.request("GET", f"{V3}/projects/{project['id']}", first).status_code == 200
    assert cloud.request("DELETE", grant, token).status_code == 204
    assert cloud.request("DELETE", grant, token).status_code == 404
    assert cloud.request("GET", f"{V3}/projects/{project['id']}", first).status_code == 401

    assert cloud.request("PUT", grant, token).status_code == 204
    second = _issue(cloud, user["id"], scope).headers["X-Subject-Token"]
    assert cloud.request("GET", f"{V3}/projects/{project['id']}", second).status_code == 200
    assert cloud.request("DELETE", f"{V3}/groups/{group['id']}", token).status_code == 204
    assert cloud.request("GET", f"{V3}/projects/{project['id']}", second).status_code == 401
    assert _issue(cloud, user["id"], scope).status_code == 401


def test_group_grant_on_domain_scopes_member_tokens_to_the_domain(cloud, unique):
    token = cloud.admin_token()
    group, user, _ = _fixture(cloud, unique, token)
    domain = create(cloud, "domain", {"name": unique}, token)
    role = create(cloud, "role", {"name": unique}, token)
    grant = f"{V3}/domains/{domain['id']}/groups/{group['id']}/roles/{role['id']}"
    assert cloud.request("PUT", grant, token).status_code == 204
    assert cloud.request("GET", grant, token).status_code == 204
    listed = cloud.request("GET", f"{V3}/domains/{domain['id']}/groups/{group['id']}/roles", token).json()["roles"]
    assert [r["id"] for r in listed] == [role["id"]]
    assert cloud.request("PUT", f"{V3}/groups/{group['id']}/users/{user['id']}", token).status_code == 204

    issued = _issue(cloud, user["id"], {"domain": {"id": domain["id"]}})
    assert issued.status_code == 201, issued.text
    assert [r["id"] for r in issued.json()["token"]["roles"]] == [role["id"]]

    for missing in (
        f"domains/nowhere/groups/{group['id']}/roles/{role['id']}",
        f"domains/{domain['id']}/groups/nogroup/roles/{role['id']}",
        f"domains/{domain['id']}/groups/{group['id']}/roles/norole",
        f"widgets/x/groups/{group['id']}/roles/{role['id']}",
    ):
        assert cloud.request("PUT", f"{V3}/{missing}", token).status_code == 404, missing

    # Deleting the role takes its grants along (no 500, nothing left behind).
    assert cloud.request("DELETE", f"{V3}/roles/{role['id']}", token).status_code == 204
    assert cloud.request("GET", f"{V3}/role_assignments?group.id={group['id']}", token).json()["role_assignments"] == []
    assert _issue(cloud, user["id"], {"domain": {"id": domain["id"]}}).status_code == 401


def test_role_assignments_report_group_grants_and_expands_them_when_effective(cloud, unique):
    token = cloud.admin_token()
    group, user, project = _fixture(cloud, unique, token)
    member_role = role_id(cloud, "member", token)
    reader_role = role_id(cloud, "reader", token)
    assert cloud.request("PUT", f"{V3}/projects/{project['id']}/groups/{group['id']}/roles/{member_role}", token).ok
    assert cloud.request("PUT", f"{V3}/groups/{group['id']}/users/{user['id']}", token).ok

    def report(query: str) -> list[dict]:
        response = cloud.request("GET", f"{V3}/role_assignments?{query}", token)
        assert response.status_code == 200, response.text
        return response.json()["role_assignments"]

    [stored] = report(f"scope.project.id={project['id']}")
    assert stored["group"] == {"id": group["id"]} and "user" not in stored
    assert stored["role"] == {"id": member_role} and stored["scope"] == {"project": {"id": project["id"]}}
    assert stored["links"]["assignment"].endswith(f"/projects/{project['id']}/groups/{group['id']}/roles/{member_role}")
    assert report(f"group.id={group['id']}") == [stored]
    assert report(f"user.id={user['id']}") == []  # not effective: the user holds no grant of their own

    effective = report(f"user.id={user['id']}&effective")
    assert {a["role"]["id"] for a in effective} == {member_role, reader_role}
    for entry in effective:
        assert entry["user"] == {"id": user["id"]} and "group" not in entry
        assert entry["links"]["assignment"] == stored["links"]["assignment"]
        assert entry["links"]["membership"].endswith(f"/groups/{group['id']}/users/{user['id']}")
    [implied] = [a for a in effective if a["role"]["id"] == reader_role]
    assert implied["links"]["prior_role"].endswith(f"/roles/{member_role}")
    assert [a["role"]["id"] for a in report(f"user.id={user['id']}&effective&role.id={reader_role}")] == [reader_role]

    [named] = report(f"group.id={group['id']}&include_names")
    assert named["group"] == {"id": group["id"], "name": unique, "domain": {"id": "default", "name": "Default"}}
    assert named["scope"]["project"]["name"] == unique and named["role"]["name"] == "member"


def test_role_assignments_refuse_meaningless_filter_combinations(cloud):
    token = cloud.admin_token()
    for query in ("user.id=a&group.id=b", "scope.project.id=a&scope.domain.id=b", "group.id=a&effective"):
        response = cloud.request("GET", f"{V3}/role_assignments?{query}", token)
        assert response.status_code == 400 and response.json()["error"]["code"] == 400


def test_deleting_a_project_or_domain_removes_group_grants_and_groups(cloud, unique):
    token = cloud.admin_token()
    group, _, project = _fixture(cloud, unique, token)
    role = role_id(cloud, "reader", token)
    assert cloud.request("PUT", f"{V3}/projects/{project['id']}/groups/{group['id']}/roles/{role}", token).ok
    assert cloud.request("DELETE", f"{V3}/projects/{project['id']}", token).status_code == 204
    assert cloud.request("GET", f"{V3}/role_assignments?group.id={group['id']}", token).json()["role_assignments"] == []

    domain = create(cloud, "domain", {"name": unique}, token)
    in_domain = create(cloud, "group", {"name": unique, "domain_id": domain["id"]}, token)
    assert cloud.request("PUT", f"{V3}/domains/{domain['id']}/groups/{in_domain['id']}/roles/{role}", token).ok
    assert cloud.request("PUT", f"{V3}/domains/{domain['id']}/groups/{group['id']}/roles/{role}", token).ok
    assert cloud.request("PATCH", f"{V3}/domains/{domain['id']}", token, json={"domain": {"enabled": False}}).ok
    assert cloud.request("DELETE", f"{V3}/domains/{domain['id']}", token).status_code == 204
    assert cloud.request("GET", f"{V3}/groups/{in_domain['id']}", token).status_code == 404
    assert cloud.request("GET", f"{V3}/role_assignments?group.id={group['id']}", token).json()["role_assignments"] == []


def test_only_admins_manage_groups_and_users_see_their_own_groups(cloud, unique):
    admin = cloud.admin_token()
    group = create(cloud, "group", {"name": unique}, admin)
    demo = cloud.demo().get_token()
    demo_id = cloud.demo().get_user_id()
    admin_id = cloud.admin().get_user_id()
    member = f"{V3}/groups/{group['id']}/users/{demo_id}"
    assert cloud.request("PUT", member, admin).status_code == 204

    forbidden = [
        ("GET", f"{V3}/groups"),
        ("POST", f"{V3}/groups"),
        ("GET", f"{V3}/groups/{group['id']}"),
        ("DELETE", f"{V3}/groups/{group['id']}"),
        ("GET", f"{V3}/groups/{group['id']}/users"),
        ("DELETE", member),
        ("GET", f"{V3}/users/{admin_id}/groups"),
        ("PUT", f"{V3}/projects/x/groups/{group['id']}/roles/y"),
    ]
    for method, path in forbidden:
        response = cloud.request(method, path, demo, json={"group": {"name": unique + "x"}})
        assert response.status_code == 403, (method, path, response.text)
    own = cloud.request("GET", f"{V3}/users/{demo_id}/groups", demo)
    assert own.status_code == 200 and [g["id"] for g in own.json()["groups"]] == [group["id"]]
    assert cloud.request("DELETE", f"{V3}/groups/{group['id']}", admin).status_code == 204


def test_openstack_cli_manages_groups_and_group_roles(cloud, unique):
    def run(*args: str) -> str:
        return cloud.openstack("stratus-admin", *args).stdout

    cloud.openstack("stratus-admin", "project", "create", unique)
    cloud.openstack("stratus-admin", "user", "create", "--password", "pw", unique)
    created = json.loads(run("group", "create", "--description", "team", unique, "-f", "json"))
    assert created["name"] == unique and created["description"] == "team"
    listed = json.loads(run("group", "list", "-f", "json"))
    assert unique in {g["Name"] for g in listed}

    run("group", "add", "user", unique, unique)
    assert run("group", "contains", "user", unique, unique).strip() == f"{unique} in group {unique}"
    mine = json.loads(run("group", "list", "--user", unique, "-f", "json"))
    assert [g["Name"] for g in mine] == [unique]
    run("role", "add", "--group", unique, "--project", unique, "member")
    assignments = json.loads(
        run("role", "assignment", "list", "--names", "--group", unique, "-f", "json"),
    )
    assert [(a["Role"], a["Group"], a["Project"]) for a in assignments] == [
        ("member", f"{unique}@Default", f"{unique}@Default")
    ]
    effective = json.loads(run("role", "assignment", "list", "--names", "--effective", "--user", unique, "-f", "json"))
    assert {a["Role"] for a in effective} == {"member", "reader"}

    run("group", "remove", "user", unique, unique)
    absent = cloud.openstack("stratus-admin", "group", "contains", "user", unique, unique, check=False)
    assert absent.stderr.strip().endswith(f"{unique} not in group {unique}")
    run("role", "remove", "--group", unique, "--project", unique, "member")
    run("group", "delete", unique)
    assert unique not in {g["Name"] for g in json.loads(run("group", "list", "-f", "json"))}
    run("user", "delete", unique)
    run("project", "delete", unique)
