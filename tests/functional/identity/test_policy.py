"""Who may do what: scoping, the reader/member/admin roles, disabled users and password changes."""

from __future__ import annotations

import pytest
import yaml

from tests import warm_cli

pytestmark = pytest.mark.functional


def _user_with_role(cloud, name: str, role: str, project: str = "demo") -> None:
    token = cloud.admin_token()
    user = cloud.request("POST", "/identity/v3/users", token, json={"user": {"name": name, "password": "pw"}})
    user_id = user.json()["user"]["id"]
    role_id = cloud.request("GET", f"/identity/v3/roles?name={role}", token).json()["roles"][0]["id"]
    project_id = cloud.request("GET", f"/identity/v3/projects?name={project}", token).json()["projects"][0]["id"]
    grant = f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"
    assert cloud.request("PUT", grant, token).status_code == 204
    return user_id


def _auth(cloud, user: str, password: str, project: str):
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }
    return cloud.request("POST", "/identity/v3/auth/tokens", json=body)


def test_scoping_to_a_project_without_a_role_is_refused(cloud):
    response = _auth(cloud, "demo", "demo-secret", "admin")
    assert response.status_code == 401
    assert _auth(cloud, "demo", "demo-secret", "no-such-project").status_code == 401


def test_member_cannot_create_projects_or_users_or_grants(cloud, unique):
    token = cloud.demo().get_token()
    assert cloud.request("POST", "/identity/v3/projects", token, json={"project": {"name": unique}}).status_code == 403
    assert cloud.request("POST", "/identity/v3/users", token, json={"user": {"name": unique}}).status_code == 403
    forbidden = cloud.request("GET", "/identity/v3/projects", token)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["title"] == "Forbidden"


def test_reader_can_read_its_project_but_cannot_write(cloud, unique):
    _user_with_role(cloud, unique, "reader")
    token = _auth(cloud, unique, "pw", "demo").headers["X-Subject-Token"]
    project = cloud.request("GET", "/identity/v3/auth/projects", token).json()["projects"][0]

    assert cloud.request("GET", f"/identity/v3/projects/{project['id']}", token).status_code == 200
    assert (
        cloud.request(
            "PATCH", f"/identity/v3/projects/{project['id']}", token, json={"project": {"description": "x"}}
        ).status_code
        == 403
    )
    assert cloud.request("POST", "/identity/v3/projects", token, json={"project": {"name": unique}}).status_code == 403
    validated = cloud.request("GET", "/identity/v3/auth/tokens", token, headers={"X-Subject-Token": token})
    assert {r["name"] for r in validated.json()["token"]["roles"]} == {"reader"}


def test_users_cannot_see_each_other_or_other_projects(cloud, unique):
    _user_with_role(cloud, unique, "member", project="admin")
    demo_token = cloud.demo().get_token()
    admin_project = cloud.request("GET", "/identity/v3/projects?name=admin", cloud.admin_token()).json()["projects"][0]
    other_user = cloud.request("GET", f"/identity/v3/users?name={unique}", cloud.admin_token()).json()["users"][0]

    assert cloud.request("GET", f"/identity/v3/projects/{admin_project['id']}", demo_token).status_code == 403
    assert cloud.request("GET", f"/identity/v3/users/{other_user['id']}", demo_token).status_code == 403
    subject = _auth(cloud, unique, "pw", "admin").headers["X-Subject-Token"]
    assert (
        cloud.request("GET", "/identity/v3/auth/tokens", demo_token, headers={"X-Subject-Token": subject}).status_code
        == 403
    )


def test_disabled_user_loses_its_tokens_and_cannot_authenticate(cloud, unique):
    user_id = _user_with_role(cloud, unique, "member")
    token = _auth(cloud, unique, "pw", "demo").headers["X-Subject-Token"]
    assert cloud.request("GET", "/identity/v3/auth/catalog", token).status_code == 200

    cloud.request("PATCH", f"/identity/v3/users/{user_id}", cloud.admin_token(), json={"user": {"enabled": False}})

    assert cloud.request("GET", "/identity/v3/auth/catalog", token).status_code == 401
    assert _auth(cloud, unique, "pw", "demo").status_code == 401
    cloud.request("PATCH", f"/identity/v3/users/{user_id}", cloud.admin_token(), json={"user": {"enabled": True}})
    assert cloud.request("GET", "/identity/v3/auth/catalog", token).status_code == 401  # stays revoked
    assert _auth(cloud, unique, "pw", "demo").status_code == 201


def test_changing_the_password_invalidates_existing_tokens(cloud, unique):
    user_id = _user_with_role(cloud, unique, "member")
    token = _auth(cloud, unique, "pw", "demo").headers["X-Subject-Token"]

    wrong = cloud.request(
        "POST",
        f"/identity/v3/users/{user_id}/password",
        token,
        json={"user": {"password": "new", "original_password": "nope"}},
    )
    changed = cloud.request(
        "POST",
        f"/identity/v3/users/{user_id}/password",
        token,
        json={"user": {"password": "new-pw", "original_password": "pw"}},
    )

    assert wrong.status_code == 401
    assert changed.status_code == 204
    assert cloud.request("GET", "/identity/v3/auth/catalog", token).status_code == 401
    assert _auth(cloud, unique, "pw", "demo").status_code == 401
    assert _auth(cloud, unique, "new-pw", "demo").status_code == 201


def test_removing_the_last_role_invalidates_the_scoped_token(cloud, unique):
    user_id = _user_with_role(cloud, unique, "member")
    token = _auth(cloud, unique, "pw", "demo").headers["X-Subject-Token"]
    admin = cloud.admin_token()
    role_id = cloud.request("GET", "/identity/v3/roles?name=member", admin).json()["roles"][0]["id"]
    project_id = cloud.request("GET", "/identity/v3/projects?name=demo", admin).json()["projects"][0]["id"]

    cloud.request("DELETE", f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", admin)

    assert cloud.request("GET", "/identity/v3/auth/catalog", token).status_code == 401


def test_deleting_a_project_invalidates_its_tokens(cloud, unique):
    admin = cloud.admin_token()
    cloud.request("POST", "/identity/v3/projects", admin, json={"project": {"name": unique}})
    _user_with_role(cloud, unique, "member", project=unique)
    token = _auth(cloud, unique, "pw", unique).headers["X-Subject-Token"]
    project_id = cloud.request("GET", f"/identity/v3/projects?name={unique}", admin).json()["projects"][0]["id"]

    assert cloud.request("DELETE", f"/identity/v3/projects/{project_id}", admin).status_code == 204
    assert cloud.request("GET", "/identity/v3/auth/catalog", token).status_code == 401


def test_the_admin_role_on_one_project_administers_every_project(cloud, unique):
    """Decided and documented (api/policy.py, README): admin is cloud-wide, as in OpenStack. A user who is admin of
    a project of their own reads and changes other projects; `stratus whoami` says so."""
    from tests.functional.quota.conftest import run  # the stratus CLI as a subprocess

    admin = cloud.admin_token()
    created = cloud.request("POST", "/identity/v3/projects", admin, json={"project": {"name": unique}})
    assert created.status_code == 201
    _user_with_role(cloud, unique, "admin", project=unique)
    token = _auth(cloud, unique, "pw", unique).headers["X-Subject-Token"]

    names = [p["name"] for p in cloud.request("GET", "/identity/v3/projects", token).json()["projects"]]
    assert {"demo", "admin", unique} <= set(names)
    demo_id = next(p["id"] for p in cloud.request("GET", "/identity/v3/projects?name=demo", token).json()["projects"])
    assert cloud.request("GET", f"/compute/v2.1/os-quota-sets/{demo_id}", token).status_code == 200
    assert cloud.request("GET", "/compute/v2.1/servers?all_tenants=1", token).status_code == 200

    credentials = {"OS_USERNAME": unique, "OS_PASSWORD": "pw", "OS_PROJECT_NAME": unique,
                   "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"}  # fmt: skip
    whoami = run(cloud, "stratus", "whoami", env=credentials)
    assert whoami.returncode == 0, whoami.stderr
    assert f"reach:   the whole cloud (admin is cloud-wide: every project, not only {unique})" in whoami.stdout
    demo = credentials | {"OS_USERNAME": "demo", "OS_PASSWORD": "demo-secret", "OS_PROJECT_NAME": "demo"}
    assert "reach:   project demo only" in run(cloud, "stratus", "whoami", env=demo).stdout


def test_a_users_own_grants_tell_nothing_about_projects_they_have_no_role_on(cloud):
    """Issue 11 item 5: a user may list and check their own grants, but a project they hold no role on answers
    exactly as a missing project (before: 200 with no roles for an existing one, 404 for a missing one)."""
    admin, token = cloud.admin_token(), cloud.demo().get_token()
    demo = cloud.request("GET", "/identity/v3/auth/tokens", admin, headers={"X-Subject-Token": token})
    user_id = demo.json()["token"]["user"]["id"]
    other = cloud.request("GET", "/identity/v3/projects?name=admin", admin).json()["projects"][0]["id"]
    missing = "0123456789abcdef0123456789abcdef"
    role = cloud.request("GET", "/identity/v3/roles?name=member", admin).json()["roles"][0]["id"]
    for suffix in ("", f"/{role}"):
        hidden = cloud.request("GET", f"/identity/v3/projects/{other}/users/{user_id}/roles{suffix}", token)
        absent = cloud.request("GET", f"/identity/v3/projects/{missing}/users/{user_id}/roles{suffix}", token)
        assert (hidden.status_code, absent.status_code) == (404, 404), hidden.text
        assert hidden.json()["error"]["message"].replace(other, missing) == absent.json()["error"]["message"]
    own = cloud.request("GET", "/identity/v3/auth/projects", token).json()["projects"][0]["id"]
    listed = cloud.request("GET", f"/identity/v3/projects/{own}/users/{user_id}/roles", token)
    assert listed.status_code == 200 and listed.json()["roles"]
    assert cloud.request("GET", f"/identity/v3/projects/{other}/users/{user_id}/roles", admin).status_code == 200


# A password change is authorised by the original password (Keystone's route enforces no policy): an admin changing
# another user's password with it was refused (403 identity:change_password), as Tempest's test_update_user_password
# found.


def test_a_password_change_is_authorised_by_the_original_password_not_the_callers_token(cloud, unique):
    user_id = _user_with_role(cloud, unique, "member")
    admin = cloud.admin_token()
    path = f"/identity/v3/users/{user_id}/password"

    by_admin = cloud.request("POST", path, admin, json={"user": {"password": "pw-2", "original_password": "pw"}})
    tokenless = cloud.request("POST", path, json={"user": {"password": "pw-3", "original_password": "pw-2"}})

    assert by_admin.status_code == 204
    assert tokenless.status_code == 204
    assert _auth(cloud, unique, "pw-2", "demo").status_code == 401
    assert _auth(cloud, unique, "pw-3", "demo").status_code == 201


def test_a_wrong_original_password_or_an_unknown_user_is_the_same_401_and_changes_nothing(cloud, unique):
    user_id = _user_with_role(cloud, unique, "member")
    change = {"user": {"password": "new-pw", "original_password": "wrong"}}

    wrong = cloud.request("POST", f"/identity/v3/users/{user_id}/password", json=change)
    unknown = cloud.request("POST", "/identity/v3/users/no-such-user/password", json=change)
    invalid = cloud.request("POST", f"/identity/v3/users/{user_id}/password", json={"user": {"password": "x"}})

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert invalid.status_code == 400
    assert _auth(cloud, unique, "pw", "demo").status_code == 201


@pytest.mark.one_database
def test_openstack_cli_user_password_set_changes_the_callers_own_password(cloud, unique, tmp_path):
    """``openstack user password set`` (Keystone's self-service change) as the user themself, from their own cloud."""
    _user_with_role(cloud, unique, "member")
    clouds_yaml = tmp_path / "clouds.yaml"
    auth = {
        "auth_url": cloud.server.auth_url,
        "username": unique,
        "password": "pw",
        "project_name": "demo",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    clouds_yaml.write_text(yaml.safe_dump({"clouds": {"me": {"auth": auth, "identity_api_version": 3}}}))

    result = warm_cli.run_cloud(
        clouds_yaml, "me", "user", "password", "set", "--password", "pw-new", "--original-password", "pw"
    )

    assert result.returncode == 0, result.stderr
    assert _auth(cloud, unique, "pw", "demo").status_code == 401
    assert _auth(cloud, unique, "pw-new", "demo").status_code == 201
