"""Users: the list with default projects and roles, create with a password, a default project and a role on it
(refusals next to their field, the password never sent back), enable and disable."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from common.accounts import SERVICE_USER
from tests.unit.portal.admin_support import admin_fixture, admin_token, call, make_tenant, token, unique  # noqa: F401


def _user(client: FlaskClient, name: str) -> dict:
    found = call(client, "GET", f"/identity/v3/users?name={name}", admin_token(client))["users"]
    assert len(found) == 1, found
    return found[0]


def _row(html: str, name: str) -> str:
    found = re.search(rf"<tr>\s*<th scope=\"row\">{re.escape(name)}.*?</tr>", html, re.S)
    assert found, f"no row for {name}"
    return found.group(0)


def test_the_list_shows_default_project_and_roles(admin: tuple[FlaskClient, str]) -> None:
    client, _ = admin
    tenant = make_tenant(client)
    html = client.get("/admin/users").get_data(as_text=True)
    row = _row(html, tenant.user)
    assert f"<td>{tenant.name}</td>" in row and f"{tenant.name}: member" in row and "enabled" in row
    assert "you" in _row(html, "admin")  # no disable button for one's own account
    for label in ("User name", "Password", "Email", "Default project", "Role in the default project"):
        assert re.search(rf'<label for="user-[a-z_]+">{label}', html), label


def test_create_a_user_who_can_then_sign_in_to_their_project(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    tenant = make_tenant(client)
    name = unique("person")
    data = {"csrf_token": csrf, "name": name, "password": "pw-of-person", "email": "p@example.org",
            "default_project_id": tenant.project_id, "role": "reader"}  # fmt: skip
    response = client.post("/admin/users", data=data)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"User {name} created." in page and f"{tenant.name}: reader" in _row(page, name)
    assert _user(client, name)["default_project_id"] == tenant.project_id
    assert token(client, name, "pw-of-person", tenant.name)


def test_refusals_are_next_to_their_field_and_the_password_is_never_echoed(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    empty = client.post("/admin/users", data={"csrf_token": csrf, "name": "", "password": ""})
    assert empty.status_code == 400
    html = empty.get_data(as_text=True)
    assert re.search(r'id="user-name-error"[^>]*>This field is required', html)
    assert re.search(r'id="user-password-error"[^>]*>This field is required', html)
    taken = client.post("/admin/users", data={"csrf_token": csrf, "name": "demo", "password": "secret-123"})
    html = taken.get_data(as_text=True)
    assert taken.status_code == 400 and re.search(r'id="user-name-error"[^>]*>A user named demo already exists', html)
    assert "secret-123" not in html
    nowhere = client.post("/admin/users", data={"csrf_token": csrf, "name": unique("lost"), "password": "secret-456",
                                                "default_project_id": "no-such-project"})  # fmt: skip
    html = nowhere.get_data(as_text=True)
    assert nowhere.status_code == 400 and "secret-456" not in html
    assert re.search(r'id="user-default_project_id-error"[^>]*>[^<]*no-such-project', html)


def test_disable_and_enable_a_user(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    tenant = make_tenant(client)
    member = tenant.token(client)
    response = client.post(f"/admin/users/{tenant.user_id}/disable", data={"csrf_token": csrf})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"User {tenant.user} disabled" in page and "disabled" in _row(page, tenant.user)
    signed_in = client.post("/identity/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"id": tenant.user_id, "password": "member-secret"}}}}})  # fmt: skip
    assert signed_in.status_code == 401
    check = client.get("/identity/v3/auth/tokens", headers={"X-Auth-Token": admin_token(client),
                                                            "X-Subject-Token": member})  # fmt: skip
    assert check.status_code == 404
    client.post(f"/admin/users/{tenant.user_id}/enable", data={"csrf_token": csrf})
    assert _user(client, tenant.user)["enabled"] is True


def test_an_admin_cannot_disable_their_own_account(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    me = _user(client, "admin")
    response = client.post(f"/admin/users/{me['id']}/disable", data={"csrf_token": csrf})
    assert "You cannot disable the account you are signed in with." in client.get(
        response.headers["Location"]).get_data(as_text=True)  # fmt: skip
    assert _user(client, "admin")["enabled"] is True


def test_the_clouds_service_account_cannot_be_disabled(admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    existing = call(client, "GET", f"/identity/v3/users?name={SERVICE_USER}", admin_token(client))["users"]
    service = existing[0] if existing else call(
        client, "POST", "/identity/v3/users", admin_token(client),
        json={"user": {"name": SERVICE_USER, "password": "service-secret"}},
    )["user"]  # fmt: skip
    response = client.post(f"/admin/users/{service['id']}/disable", data={"csrf_token": csrf})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "host agents fetch images with" in page
    assert _user(client, SERVICE_USER)["enabled"] is True
