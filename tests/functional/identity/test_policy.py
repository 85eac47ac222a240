"""Who may do what: scoping, the reader/member/admin roles, disabled users and password changes."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.functional


def _user_with_role(identity, name: str, role: str, project: str = "demo") -> None:
    token = identity.admin_token()
    user = identity.request("POST", "/identity/v3/users", token, json={"user": {"name": name, "password": "pw"}})
    user_id = user.json()["user"]["id"]
    role_id = identity.request("GET", f"/identity/v3/roles?name={role}", token).json()["roles"][0]["id"]
    project_id = identity.request("GET", f"/identity/v3/projects?name={project}", token).json()["projects"][0]["id"]
    grant = f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"
    assert identity.request("PUT", grant, token).status_code == 204
    return user_id


def _auth(identity, user: str, password: str, project: str):
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }
    return identity.request("POST", "/identity/v3/auth/tokens", json=body)


def test_scoping_to_a_project_without_a_role_is_refused(identity):
    response = _auth(identity, "demo", "demo-secret", "admin")
    assert response.status_code == 401
    assert _auth(identity, "demo", "demo-secret", "no-such-project").status_code == 401


def test_member_cannot_create_projects_or_users_or_grants(identity, unique):
    token = identity.demo().get_token()
    assert (
        identity.request("POST", "/identity/v3/projects", token, json={"project": {"name": unique}}).status_code == 403
    )
    assert identity.request("POST", "/identity/v3/users", token, json={"user": {"name": unique}}).status_code == 403
    forbidden = identity.request("GET", "/identity/v3/projects", token)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["title"] == "Forbidden"


def test_reader_can_read_its_project_but_cannot_write(identity, unique):
    _user_with_role(identity, unique, "reader")
    token = _auth(identity, unique, "pw", "demo").headers["X-Subject-Token"]
    project = identity.request("GET", "/identity/v3/auth/projects", token).json()["projects"][0]

    assert identity.request("GET", f"/identity/v3/projects/{project['id']}", token).status_code == 200
    assert (
        identity.request(
            "PATCH", f"/identity/v3/projects/{project['id']}", token, json={"project": {"description": "x"}}
        ).status_code
        == 403
    )
    assert (
        identity.request("POST", "/identity/v3/projects", token, json={"project": {"name": unique}}).status_code == 403
    )
    validated = identity.request("GET", "/identity/v3/auth/tokens", token, headers={"X-Subject-Token": token})
    assert {r["name"] for r in validated.json()["token"]["roles"]} == {"reader"}


def test_users_cannot_see_each_other_or_other_projects(identity, unique):
    _user_with_role(identity, unique, "member", project="admin")
    demo_token = identity.demo().get_token()
    admin_project = identity.request("GET", "/identity/v3/projects?name=admin", identity.admin_token()).json()[
        "projects"
    ][0]
    other_user = identity.request("GET", f"/identity/v3/users?name={unique}", identity.admin_token()).json()["users"][0]

    assert identity.request("GET", f"/identity/v3/projects/{admin_project['id']}", demo_token).status_code == 403
    assert identity.request("GET", f"/identity/v3/users/{other_user['id']}", demo_token).status_code == 403
    subject = _auth(identity, unique, "pw", "admin").headers["X-Subject-Token"]
    assert (
        identity.request(
            "GET", "/identity/v3/auth/tokens", demo_token, headers={"X-Subject-Token": subject}
        ).status_code
        == 403
    )


def test_disabled_user_loses_its_tokens_and_cannot_authenticate(identity, unique):
    user_id = _user_with_role(identity, unique, "member")
    token = _auth(identity, unique, "pw", "demo").headers["X-Subject-Token"]
    assert identity.request("GET", "/identity/v3/auth/catalog", token).status_code == 200

    identity.request(
        "PATCH", f"/identity/v3/users/{user_id}", identity.admin_token(), json={"user": {"enabled": False}}
    )

    assert identity.request("GET", "/identity/v3/auth/catalog", token).status_code == 401
    assert _auth(identity, unique, "pw", "demo").status_code == 401
    identity.request("PATCH", f"/identity/v3/users/{user_id}", identity.admin_token(), json={"user": {"enabled": True}})
    assert identity.request("GET", "/identity/v3/auth/catalog", token).status_code == 401  # stays revoked
    assert _auth(identity, unique, "pw", "demo").status_code == 201


def test_changing_the_password_invalidates_existing_tokens(identity, unique):
    user_id = _user_with_role(identity, unique, "member")
    token = _auth(identity, unique, "pw", "demo").headers["X-Subject-Token"]

    wrong = identity.request(
        "POST",
        f"/identity/v3/users/{user_id}/password",
        token,
        json={"user": {"password": "new", "original_password": "nope"}},
    )
    changed = identity.request(
        "POST",
        f"/identity/v3/users/{user_id}/password",
        token,
        json={"user": {"password": "new-pw", "original_password": "pw"}},
    )

    assert wrong.status_code == 401
    assert changed.status_code == 204
    assert identity.request("GET", "/identity/v3/auth/catalog", token).status_code == 401
    assert _auth(identity, unique, "pw", "demo").status_code == 401
    assert _auth(identity, unique, "new-pw", "demo").status_code == 201


def test_removing_the_last_role_invalidates_the_scoped_token(identity, unique):
    user_id = _user_with_role(identity, unique, "member")
    token = _auth(identity, unique, "pw", "demo").headers["X-Subject-Token"]
    admin = identity.admin_token()
    role_id = identity.request("GET", "/identity/v3/roles?name=member", admin).json()["roles"][0]["id"]
    project_id = identity.request("GET", "/identity/v3/projects?name=demo", admin).json()["projects"][0]["id"]

    identity.request("DELETE", f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", admin)

    assert identity.request("GET", "/identity/v3/auth/catalog", token).status_code == 401


def test_deleting_a_project_invalidates_its_tokens(identity, unique):
    admin = identity.admin_token()
    identity.request("POST", "/identity/v3/projects", admin, json={"project": {"name": unique}})
    _user_with_role(identity, unique, "member", project=unique)
    token = _auth(identity, unique, "pw", unique).headers["X-Subject-Token"]
    project_id = identity.request("GET", f"/identity/v3/projects?name={unique}", admin).json()["projects"][0]["id"]

    assert identity.request("DELETE", f"/identity/v3/projects/{project_id}", admin).status_code == 204
    assert identity.request("GET", "/identity/v3/auth/catalog", token).status_code == 401
