"""Projects: the list with its usage summary, create (and its refusals next to the name), enable and disable,
and a project's users and roles: assign and remove a role."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.unit.portal.admin_support import (  # noqa: F401 - fixture
    MEMBER_PASSWORD,
    admin_fixture,
    admin_token,
    call,
    make_tenant,
    token,
    unique,
)


def _project(client: FlaskClient, project_id: str) -> dict:
    return call(client, "GET", f"/identity/v3/projects/{project_id}", admin_token(client))["project"]


def _role_id(client: FlaskClient, name: str) -> str:
    return call(client, "GET", f"/identity/v3/roles?name={name}", admin_token(client))["roles"][0]["id"]


def _row(html: str, name: str) -> str:
    found = re.search(rf"<tr>\s*<th scope=\"row\"><a [^>]*>{re.escape(name)}</a>.*?</tr>", html, re.S)
    assert found, f"no row for {name}"
    return found.group(0)


def test_the_list_shows_each_project_with_its_usage(admin: tuple[FlaskClient, str]) -> None:
    client, _ = admin
    tenant = make_tenant(client)
    body = {"quota_set": {"instances": 4, "cores": -1}}
    call(client, "PUT", f"/compute/v2.1/os-quota-sets/{tenant.project_id}", admin_token(client), json=body)
    row = _row(client.get("/admin/projects").get_data(as_text=True), tenant.name)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[:5] == ["0 / 4", "0 / no limit", "0 / 51,200", "0 / 500", "0 / no limit"]
    assert "nothing used" in row and "enabled" in row
    assert f'href="/admin/quotas/{tenant.project_id}"' in row


def test_create_a_project(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    name = unique("made")
    response = client.post("/admin/projects", data={"csrf_token": csrf, "name": name, "description": "by hand"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Project {name} created." in page and "by hand" in page
    found = call(client, "GET", f"/identity/v3/projects?name={name}", admin_token(client))["projects"]
    assert found and found[0]["enabled"] is True


def test_a_bad_project_name_is_refused_next_to_the_field(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    for name, message in (("", "This field is required."), ("demo", "A project named demo already exists."),
                          ("x" * 65, "project.name")):  # fmt: skip
        response = client.post("/admin/projects", data={"csrf_token": csrf, "name": name})
        assert response.status_code == 400
        error = re.search(r'id="project-name-error"[^>]*>([^<]*)<', response.get_data(as_text=True))
        assert error and message in error.group(1), (name, error)


def test_disable_and_enable_a_project(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    tenant = make_tenant(client)
    member = tenant.token(client)
    response = client.post(f"/admin/projects/{tenant.project_id}/disable", data={"csrf_token": csrf})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Project {tenant.name} disabled" in page
    assert "disabled" in _row(page, tenant.name) and _project(client, tenant.project_id)["enabled"] is False
    check = client.get("/identity/v3/auth/tokens", headers={"X-Auth-Token": admin_token(client),
                                                            "X-Subject-Token": member})  # fmt: skip
    assert check.status_code == 404  # its members' tokens were revoked
    client.post(f"/admin/projects/{tenant.project_id}/enable", data={"csrf_token": csrf})
    assert _project(client, tenant.project_id)["enabled"] is True
    assert token(client, tenant.user, MEMBER_PASSWORD, tenant.name)


def test_an_admin_cannot_disable_the_project_they_are_signed_in_to(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    admin_project = call(client, "GET", "/identity/v3/projects?name=admin", admin_token(client))["projects"][0]
    response = client.post(f"/admin/projects/{admin_project['id']}/disable", data={"csrf_token": csrf})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You cannot disable the project you are signed in to." in page
    assert _project(client, admin_project["id"])["enabled"] is True
    assert "signed in to it" in _row(page, "admin")


def test_a_project_page_lists_users_and_roles_and_assigns_and_removes_one(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    tenant = make_tenant(client)
    other = make_tenant(client)
    url = f"/admin/projects/{tenant.project_id}"
    html = client.get(url).get_data(as_text=True)
    assignments = re.search(r'<table id="assignments".*?</table>', html, re.S).group(0)
    assert tenant.user in assignments and "member" in assignments and other.user not in assignments
    assert '<label for="grant-user_id">User</label>' in html and '<label for="grant-role_id">Role</label>' in html

    reader = _role_id(client, "reader")
    response = client.post(f"{url}/roles", data={"csrf_token": csrf, "user_id": other.user_id, "role_id": reader})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"{other.user} now has role reader." in page
    assert token(client, other.user, MEMBER_PASSWORD, tenant.name)  # the grant is real: they can sign in to it

    response = client.post(f"{url}/roles/remove", data={"csrf_token": csrf, "user_id": other.user_id,
                                                        "role_id": reader})  # fmt: skip
    assert f"Role reader removed from {other.user}." in client.get(response.headers["Location"]).get_data(as_text=True)
    again = client.post(f"{url}/roles/remove", data={"csrf_token": csrf, "user_id": other.user_id, "role_id": reader})
    assert "already been removed" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_a_grant_without_user_or_role_is_refused_next_to_the_field(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    tenant = make_tenant(client)
    url = f"/admin/projects/{tenant.project_id}/roles"
    html = client.post(url, data={"csrf_token": csrf, "user_id": tenant.user_id}).get_data(as_text=True)
    assert re.search(r'id="grant-role_id-error"[^>]*>This field is required\.<', html)
    missing = client.post(url, data={"csrf_token": csrf, "user_id": tenant.user_id, "role_id": "no-such-role"})
    assert missing.status_code == 400
    error = re.search(r'id="grant-role_id-error"[^>]*>([^<]*)<', missing.get_data(as_text=True))
    assert error and "no-such-role" in error.group(1)


def test_an_admin_cannot_remove_their_own_admin_role_where_they_are_signed_in(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    admin_project = call(client, "GET", "/identity/v3/projects?name=admin", admin_token(client))["projects"][0]
    me = call(client, "GET", "/identity/v3/users?name=admin", admin_token(client))["users"][0]
    role = _role_id(client, "admin")
    url = f"/admin/projects/{admin_project['id']}"
    response = client.post(f"{url}/roles/remove", data={"csrf_token": csrf, "user_id": me["id"], "role_id": role})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You cannot remove your own admin role on the project you are signed in to." in page
    assert client.get("/admin/projects").status_code == 200  # still an admin
