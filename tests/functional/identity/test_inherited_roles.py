"""Inherited role assignments (Keystone's OS-INHERIT) over real HTTP and through the openstack CLI: grants on a
domain or a project that reach every project below it, in tokens and in /v3/role_assignments."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functional.identity import V3, create

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def _role(cloud, token: str, name: str) -> dict:
    return create(cloud, "role", {"name": name}, token)


def _scoped_token(cloud, user_id: str, project_id: str) -> Any:
    auth = {
        "identity": {"methods": ["password"], "password": {"user": {"id": user_id, "password": "pw"}}},
        "scope": {"project": {"id": project_id}},
    }
    return cloud.request("POST", f"{V3}/auth/tokens", json={"auth": auth})


def _tree(cloud, unique: str, token: str) -> dict[str, dict]:
    """A domain with a user and a group in it (the user a member) and projects top -> mid -> leaf."""
    short = unique[-12:]
    domain = create(cloud, "domain", {"name": unique}, token)
    user = create(cloud, "user", {"name": short, "password": "pw", "domain_id": domain["id"]}, token)
    group = create(cloud, "group", {"name": short, "domain_id": domain["id"]}, token)
    assert cloud.request("PUT", f"{V3}/groups/{group['id']}/users/{user['id']}", token).status_code == 204
    top = create(cloud, "project", {"name": f"{short}-top", "domain_id": domain["id"]}, token)
    mid = create(cloud, "project", {"name": f"{short}-mid", "parent_id": top["id"]}, token)
    leaf = create(cloud, "project", {"name": f"{short}-leaf", "parent_id": mid["id"]}, token)
    return {"domain": domain, "user": user, "group": group, "top": top, "mid": mid, "leaf": leaf}


def _inherit(target: str, target_id: str, actor: str, actor_id: str, role_id: str = "") -> str:
    roles = f"roles/{role_id}/" if role_id else "roles/"
    return f"{V3}/OS-INHERIT/{target}/{target_id}/{actor}/{actor_id}/{roles}inherited_to_projects"


def _effective(cloud, token: str, **filters: str) -> list[dict]:
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    response = cloud.request("GET", f"{V3}/role_assignments?effective&{query}", token)
    assert response.status_code == 200, response.text
    return response.json()["role_assignments"]


def test_a_domain_grant_inherited_to_projects_reaches_every_project_but_not_the_domain(cloud, unique):
    token = cloud.admin_token()
    tree = _tree(cloud, unique, token)
    role = _role(cloud, token, unique[-20:])
    user, domain = tree["user"], tree["domain"]
    grant = _inherit("domains", domain["id"], "users", user["id"], role["id"])

    assert _scoped_token(cloud, user["id"], tree["leaf"]["id"]).status_code == 401
    assert cloud.request("PUT", grant, token).status_code == 204
    assert cloud.request("PUT", grant, token).status_code == 204  # idempotent
    assert cloud.request("HEAD", grant, token).status_code == 204
    assert cloud.request("GET", grant, token).status_code == 204
    listed = cloud.request("GET", _inherit("domains", domain["id"], "users", user["id"]), token).json()["roles"]
    assert [r["id"] for r in listed] == [role["id"]]
    # Not a grant on the domain itself.
    direct = cloud.request("GET", f"{V3}/domains/{domain['id']}/users/{user['id']}/roles", token).json()["roles"]
    assert direct == []

    for name in ("top", "mid", "leaf"):
        issued = _scoped_token(cloud, user["id"], tree[name]["id"])
        assert issued.status_code == 201, issued.text
        assert role["name"] in {r["name"] for r in issued.json()["token"]["roles"]}
        entries = _effective(cloud, token, **{"scope.project.id": tree[name]["id"], "user.id": user["id"]})
        assert [(e["role"]["id"], e["scope"]) for e in entries] == [(role["id"], {"project": {"id": tree[name]["id"]}})]
        assert entries[0]["links"]["assignment"].endswith(grant)
    domain_scope = cloud.request(
        "POST", f"{V3}/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"id": user["id"], "password": "pw"}}},
            "scope": {"domain": {"id": domain["id"]}},
        }},
    )  # fmt: skip
    assert domain_scope.status_code == 401

    stored = cloud.request("GET", f"{V3}/role_assignments?user.id={user['id']}", token).json()["role_assignments"]
    assert [e["scope"] for e in stored] == [{"domain": {"id": domain["id"]}, "OS-INHERIT:inherited_to": "projects"}]
    projects = cloud.request("GET", f"{V3}/users/{user['id']}/projects", token).json()["projects"]
    assert {p["id"] for p in projects} == {tree["top"]["id"], tree["mid"]["id"], tree["leaf"]["id"]}

    held = _scoped_token(cloud, user["id"], tree["leaf"]["id"]).headers["X-Subject-Token"]
    assert cloud.request("DELETE", grant, token).status_code == 204
    assert cloud.request("HEAD", grant, token).status_code == 404
    assert _effective(cloud, token, **{"scope.project.id": tree["leaf"]["id"], "user.id": user["id"]}) == []
    # The token issued under the grant loses its only role at once: every cached validation is dropped.
    assert cloud.request("GET", f"{V3}/auth/tokens", token, headers={"X-Subject-Token": held}).status_code == 404


def test_a_project_grant_inherited_to_projects_reaches_its_subtree_only(cloud, unique):
    token = cloud.admin_token()
    tree = _tree(cloud, unique, token)
    role = _role(cloud, token, unique[-20:])
    user = tree["user"]
    grant = _inherit("projects", tree["mid"]["id"], "users", user["id"], role["id"])
    assert cloud.request("PUT", grant, token).status_code == 204
    assert cloud.request("HEAD", grant, token).status_code == 204

    assert _scoped_token(cloud, user["id"], tree["leaf"]["id"]).status_code == 201
    assert _scoped_token(cloud, user["id"], tree["mid"]["id"]).status_code == 401  # not the project itself
    assert _scoped_token(cloud, user["id"], tree["top"]["id"]).status_code == 401
    assert _effective(cloud, token, **{"scope.project.id": tree["mid"]["id"], "user.id": user["id"]}) == []
    stored = cloud.request(
        "GET",
        f"{V3}/role_assignments?scope.project.id={tree['mid']['id']}&scope.OS-INHERIT:inherited_to=projects",
        token,
    ).json()["role_assignments"]
    assert [e["scope"] for e in stored] == [
        {"project": {"id": tree["mid"]["id"]}, "OS-INHERIT:inherited_to": "projects"}
    ]
    assert cloud.request("DELETE", grant, token).status_code == 204
    assert _scoped_token(cloud, user["id"], tree["leaf"]["id"]).status_code == 401


def test_a_group_grant_inherited_to_projects_reaches_its_members(cloud, unique):
    token = cloud.admin_token()
    tree = _tree(cloud, unique, token)
    role = _role(cloud, token, unique[-20:])
    group, user = tree["group"], tree["user"]
    on_domain = _inherit("domains", tree["domain"]["id"], "groups", group["id"], role["id"])
    on_project = _inherit("projects", tree["top"]["id"], "groups", group["id"], role["id"])
    for grant in (on_domain, on_project):
        assert cloud.request("PUT", grant, token).status_code == 204
        assert cloud.request("HEAD", grant, token).status_code == 204
    listed = cloud.request("GET", _inherit("domains", tree["domain"]["id"], "groups", group["id"]), token).json()
    assert [r["id"] for r in listed["roles"]] == [role["id"]]

    issued = _scoped_token(cloud, user["id"], tree["mid"]["id"])
    assert issued.status_code == 201 and role["name"] in {r["name"] for r in issued.json()["token"]["roles"]}
    entries = _effective(cloud, token, **{"scope.project.id": tree["mid"]["id"], "user.id": user["id"]})
    assert {e["links"]["assignment"].split("/v3")[-1] for e in entries} == {
        on_domain.split("/v3")[-1],
        on_project.split("/v3")[-1],
    }
    assert all(e["links"]["membership"].endswith(f"/groups/{group['id']}/users/{user['id']}") for e in entries)

    for grant in (on_domain, on_project):
        assert cloud.request("DELETE", grant, token).status_code == 204
    assert _scoped_token(cloud, user["id"], tree["mid"]["id"]).status_code == 401


def test_inherited_grants_refuse_unknown_ids_and_non_admins(cloud, unique):
    token = cloud.admin_token()
    tree = _tree(cloud, unique, token)
    role = _role(cloud, token, unique[-20:])
    user = tree["user"]
    cases = [
        _inherit("domains", "no-such-domain", "users", user["id"], role["id"]),
        _inherit("projects", "no-such-project", "users", user["id"], role["id"]),
        _inherit("domains", tree["domain"]["id"], "users", "no-such-user", role["id"]),
        _inherit("domains", tree["domain"]["id"], "groups", "no-such-group", role["id"]),
        _inherit("domains", tree["domain"]["id"], "users", user["id"], "no-such-role"),
        _inherit("systems", "all", "users", user["id"], role["id"]),
        _inherit("domains", "x" * 300, "users", user["id"], role["id"]),
    ]
    for path in cases:
        response = cloud.request("PUT", path, token)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == 404
    missing = cloud.request("DELETE", _inherit("domains", tree["domain"]["id"], "users", user["id"], role["id"]), token)
    assert missing.status_code == 404
    bad_filter = cloud.request("GET", f"{V3}/role_assignments?scope.OS-INHERIT:inherited_to=domains", token)
    assert bad_filter.status_code == 400
    # A domain-specific role of another domain cannot be inherited to this domain's projects.
    foreign = create(cloud, "role", {"name": f"{unique[-12:]}-f", "domain_id": "default"}, token)
    foreign_grant = _inherit("domains", tree["domain"]["id"], "users", user["id"], foreign["id"])
    mismatch = cloud.request("PUT", foreign_grant, token)
    assert mismatch.status_code == 403 and mismatch.json()["error"]["code"] == 403

    # A project member cannot grant themselves roles on every project of the domain.
    member = _role(cloud, token, f"{unique[-12:]}-m")
    assert cloud.request("PUT", f"{V3}/projects/{tree['top']['id']}/users/{user['id']}/roles/{member['id']}", token).ok
    own = _scoped_token(cloud, user["id"], tree["top"]["id"]).headers["X-Subject-Token"]
    refused = cloud.request("PUT", _inherit("domains", tree["domain"]["id"], "users", user["id"], role["id"]), own)
    assert refused.status_code == 403


def test_deleting_a_project_or_domain_takes_its_inherited_grants(cloud, unique):
    token = cloud.admin_token()
    tree = _tree(cloud, unique, token)
    role = _role(cloud, token, unique[-20:])
    user, domain = tree["user"], tree["domain"]
    on_leaf = _inherit("projects", tree["leaf"]["id"], "users", user["id"], role["id"])
    on_domain = _inherit("domains", domain["id"], "users", user["id"], role["id"])
    assert cloud.request("PUT", on_leaf, token).status_code == 204
    assert cloud.request("PUT", on_domain, token).status_code == 204
    assert cloud.request("DELETE", f"{V3}/projects/{tree['leaf']['id']}", token).status_code == 204
    stored = cloud.request("GET", f"{V3}/role_assignments?role.id={role['id']}", token).json()["role_assignments"]
    assert [e["scope"].get("domain", {}).get("id") for e in stored] == [domain["id"]]
    assert cloud.request("PATCH", f"{V3}/domains/{domain['id']}", token, json={"domain": {"enabled": False}}).ok
    assert cloud.request("DELETE", f"{V3}/domains/{domain['id']}", token).status_code == 204
    stored = cloud.request("GET", f"{V3}/role_assignments?role.id={role['id']}", token).json()["role_assignments"]
    assert stored == []


def test_openstack_cli_adds_lists_and_removes_an_inherited_role(cloud, unique):
    short = unique[-12:]
    token = cloud.admin_token()
    tree = _tree(cloud, unique, token)
    role = _role(cloud, token, f"{short}-cli")

    def run(*args: str) -> str:
        return cloud.openstack("stratus-admin", *args).stdout

    user, domain = tree["user"]["id"], tree["domain"]["id"]
    run("role", "add", "--inherited", "--domain", domain, "--user", user, role["id"])
    listed = json.loads(run("role", "assignment", "list", "--inherited", "--user", user, "-f", "json"))
    assert [(a["Role"], a["Domain"], a["Inherited"]) for a in listed] == [(role["id"], domain, True)]
    effective = json.loads(
        run("role", "assignment", "list", "--effective", "--user", user, "--project", tree["leaf"]["id"], "-f", "json")
    )
    assert [a["Role"] for a in effective] == [role["id"]]
    run("role", "remove", "--inherited", "--domain", domain, "--user", user, role["id"])
    assert json.loads(run("role", "assignment", "list", "--inherited", "--user", user, "-f", "json")) == []
