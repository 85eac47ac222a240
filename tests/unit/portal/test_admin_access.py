"""Who may use the admin pages: a member gets 403 on every admin URL (reading or changing) and sees no admin
menu; anonymous users are sent to sign in; no admin form works without the session's CSRF token."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.unit.in_process import ADMIN_PASSWORD
from tests.unit.portal.admin_support import admin_fixture, admin_token, call, make_tenant  # noqa: F401 - fixture
from tests.unit.portal.conftest import sign_in

ADMIN_GETS = ("/admin/projects", "/admin/projects/{project}", "/admin/users", "/admin/quotas",
              "/admin/quotas/{project}", "/admin/quotas?project={project}", "/admin/hosts")  # fmt: skip
ADMIN_POSTS = ("/admin/projects", "/admin/projects/{project}/disable", "/admin/projects/{project}/enable",
               "/admin/projects/{project}/roles", "/admin/projects/{project}/roles/remove", "/admin/users",
               "/admin/users/{user}/disable", "/admin/users/{user}/enable", "/admin/quotas/{project}",
               "/admin/hosts/some-host/disable", "/admin/hosts/some-host/enable",
               "/admin/hosts/some-host/drain")  # fmt: skip
MENU = ("Projects", "Users", "Quotas", "Hosts")


def _menu(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)
    assert nav, "the page has no main menu"
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav.group(1))


@pytest.fixture
def scene(client: FlaskClient) -> dict[str, str]:
    tenant = make_tenant(client)
    return {"project": tenant.project_id, "user": tenant.user_id}


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_a_member_gets_403_on_every_admin_page(demo: tuple[FlaskClient, str], scene: dict[str, str], path: str) -> None:
    client, _ = demo
    response = client.get(path.format(**scene))
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "This page is for cloud administrators." in html
    assert not set(MENU) & set(_menu(html))


@pytest.mark.parametrize("path", ADMIN_POSTS)
def test_a_member_gets_403_on_every_admin_form(demo: tuple[FlaskClient, str], scene: dict[str, str], path: str) -> None:
    client, csrf = demo
    data = {"csrf_token": csrf, "name": "by-a-member", "password": "x", "user_id": scene["user"], "role_id": "r",
            "instances": "0", "reason": "no"}  # fmt: skip
    assert client.post(path.format(**scene), data=data).status_code == 403
    auth = admin_token(client)
    assert call(client, "GET", f"/identity/v3/projects/{scene['project']}", auth)["project"]["enabled"] is True
    assert call(client, "GET", "/identity/v3/projects?name=by-a-member", auth)["projects"] == []  # nothing changed


def test_a_member_sees_no_admin_menu_and_an_admin_does(client: FlaskClient, demo: tuple[FlaskClient, str]) -> None:
    member_menu = _menu(client.get("/").get_data(as_text=True))
    assert "Overview" in member_menu and not set(MENU) & set(member_menu)
    client.post("/sign-out", data={"csrf_token": demo[1]})
    sign_in(client, "admin", ADMIN_PASSWORD, project="admin")
    assert set(MENU) <= set(_menu(client.get("/").get_data(as_text=True)))


@pytest.mark.parametrize("path", ADMIN_GETS[:3])
def test_anonymous_users_are_sent_to_sign_in(client: FlaskClient, scene: dict[str, str], path: str) -> None:
    response = client.get(path.format(**scene))
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in?next=/admin/")


@pytest.mark.parametrize("path", ADMIN_POSTS)
def test_admin_forms_without_csrf_are_refused(admin: tuple[FlaskClient, str], scene: dict[str, str], path: str) -> None:
    client, _ = admin
    data = {"name": "forged", "password": "forged-secret", "instances": "0"}
    for token in (None, "00" * 64, "not-hex"):
        form = data | ({"csrf_token": token} if token else {})
        response = client.post(path.format(**scene), data=form)
        assert response.status_code == 403
        assert "did not come from this site" in response.get_data(as_text=True)
    names = [p["name"] for p in call(client, "GET", "/identity/v3/projects", admin_token(client))["projects"]]
    assert "forged" not in names


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_every_admin_page_says_the_admin_role_is_cloud_wide(
    admin: tuple[FlaskClient, str], scene: dict[str, str], path: str
) -> None:
    client, _ = admin
    html = client.get(path.format(**scene), follow_redirects=True).get_data(as_text=True)
    assert "Your admin role is cloud-wide: these pages act on every project" in html
    assert "not only on project admin" in html
    assert ">cloud admin</span>" in html


def test_a_member_is_not_called_an_admin(demo: tuple[FlaskClient, str]) -> None:
    client, _ = demo
    html = client.get("/").get_data(as_text=True)
    assert "cloud admin" not in html and "cloud-wide" not in html
