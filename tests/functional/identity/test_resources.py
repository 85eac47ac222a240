"""Projects, users, roles, grants and domains over real HTTP, with Keystone's status codes and shapes."""

from __future__ import annotations

import pytest

from tests.functional.identity import create

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def test_project_crud(cloud, unique):
    token = cloud.admin_token()
    project = create(cloud, "project", {"name": unique, "description": "d", "tags": ["a"]}, token)
    assert project["domain_id"] == "default" and project["enabled"] is True and project["tags"] == ["a"]
    assert project["links"]["self"].endswith(f"/identity/v3/projects/{project['id']}")

    listed = cloud.request("GET", f"/identity/v3/projects?name={unique}", token).json()["projects"]
    updated = cloud.request(
        "PATCH",
        f"/identity/v3/projects/{project['id']}",
        token,
        json={"project": {"description": "new", "enabled": False}},
    )
    deleted = cloud.request("DELETE", f"/identity/v3/projects/{project['id']}", token)
    gone = cloud.request("GET", f"/identity/v3/projects/{project['id']}", token)

    assert [p["id"] for p in listed] == [project["id"]]
    assert updated.json()["project"]["description"] == "new" and updated.json()["project"]["enabled"] is False
    assert deleted.status_code == 204
    assert gone.status_code == 404 and gone.json()["error"]["code"] == 404


def test_duplicate_project_name_is_409(cloud, unique):
    token = cloud.admin_token()
    create(cloud, "project", {"name": unique}, token)
    again = cloud.request("POST", "/identity/v3/projects", token, json={"project": {"name": unique}})
    assert again.status_code == 409 and again.json()["error"]["title"] == "Conflict"


def test_user_crud_with_extra_attributes(cloud, unique):
    token = cloud.admin_token()
    user = create(cloud, "user", {"name": unique, "password": "pw", "email": "a@b.c", "team": "x"}, token)
    assert "password" not in user and user["email"] == "a@b.c" and user["team"] == "x"

    updated = cloud.request("PATCH", f"/identity/v3/users/{user['id']}", token, json={"user": {"description": "about"}})
    assert updated.json()["user"]["description"] == "about"
    assert cloud.request("DELETE", f"/identity/v3/users/{user['id']}", token).status_code == 204
    assert cloud.request("GET", f"/identity/v3/users/{user['id']}", token).status_code == 404


def test_role_crud_and_grant_lifecycle(cloud, unique):
    token = cloud.admin_token()
    role = create(cloud, "role", {"name": unique}, token)
    project = create(cloud, "project", {"name": unique}, token)
    user = create(cloud, "user", {"name": unique, "password": "pw"}, token)
    grant = f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}"

    assert cloud.request("HEAD", grant, token).status_code == 404
    assert cloud.request("PUT", grant, token).status_code == 204
    assert cloud.request("PUT", grant, token).status_code == 204  # idempotent
    assert cloud.request("HEAD", grant, token).status_code == 204
    roles = cloud.request("GET", f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles", token)
    assert [r["name"] for r in roles.json()["roles"]] == [unique]
    report = cloud.request("GET", f"/identity/v3/role_assignments?user.id={user['id']}&include_names=1", token)
    [assignment] = report.json()["role_assignments"]
    assert assignment["role"] == {"id": role["id"], "name": unique}
    assert assignment["scope"]["project"]["name"] == unique

    assert cloud.request("DELETE", grant, token).status_code == 204
    assert cloud.request("DELETE", grant, token).status_code == 404
    assert cloud.request("DELETE", f"/identity/v3/roles/{role['id']}", token).status_code == 204


def test_effective_role_assignments_include_implied_roles(cloud):
    token = cloud.admin_token()
    admin_id = cloud.admin().get_user_id()
    report = cloud.request(
        "GET", f"/identity/v3/role_assignments?user.id={admin_id}&effective&include_names", token
    ).json()["role_assignments"]
    on_admin_project = {a["role"]["name"] for a in report if a["scope"].get("project", {}).get("name") == "admin"}
    assert on_admin_project == {"admin", "manager", "member", "reader"}


def test_default_domain_and_domain_lifecycle(cloud, unique):
    token = cloud.admin_token()
    default = cloud.request("GET", "/identity/v3/domains/default", token).json()["domain"]
    assert default["name"] == "Default"
    domain = create(cloud, "domain", {"name": unique}, token)
    still_enabled = cloud.request("DELETE", f"/identity/v3/domains/{domain['id']}", token)
    cloud.request("PATCH", f"/identity/v3/domains/{domain['id']}", token, json={"domain": {"enabled": False}})
    deleted = cloud.request("DELETE", f"/identity/v3/domains/{domain['id']}", token)

    assert still_enabled.status_code == 403
    assert deleted.status_code == 204
    assert cloud.request("DELETE", "/identity/v3/domains/default", token).status_code == 403


@pytest.mark.parametrize("collection", ["projects", "users", "roles", "domains", "services", "endpoints", "regions"])
def test_lookup_by_name_or_unknown_id_is_a_clean_404(cloud, collection):
    token = cloud.admin_token()
    for key in ("admin", "no-such-thing", "x" * 300, "%27;drop"):
        response = cloud.request("GET", f"/identity/v3/{collection}/{key}", token)
        assert response.status_code == 404, (collection, key, response.text)
        assert response.json()["error"]["code"] == 404


def test_user_projects_and_auth_projects(cloud):
    demo = cloud.demo()
    token = demo.get_token()
    mine = cloud.request("GET", f"/identity/v3/users/{demo.get_user_id()}/projects", token).json()["projects"]
    auth = cloud.request("GET", "/identity/v3/auth/projects", token).json()["projects"]
    assert [p["name"] for p in mine] == [p["name"] for p in auth] == ["demo"]
