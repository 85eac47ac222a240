"""Sign-in, sessions, CSRF and sign-out through the real application, no browser."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from common.db import utcnow
from portal.models import PortalSession
from tests.unit.in_process import DEMO_PASSWORD
from tests.unit.portal.admin_support import MEMBER_PASSWORD, make_tenant
from tests.unit.portal.conftest import csrf_of, sign_in


def _token_of_only_session(app: Flask, user: str = "demo") -> PortalSession:
    with app.extensions["stratus"].db.session() as session:
        rows = session.scalars(select(PortalSession).where(PortalSession.user_name == user)).all()
        session.expunge_all()
    return max(rows, key=lambda r: r.created_at)


def test_pages_send_anonymous_users_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=/")


def test_sign_in_sets_a_safe_cookie_and_shows_the_overview(client: FlaskClient) -> None:
    page = client.get("/sign-in").get_data(as_text=True)
    response = client.post(
        "/sign-in", data={"csrf_token": csrf_of(page), "username": "demo", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 303
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("stratus_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    overview = client.get("/").get_data(as_text=True)
    assert "Overview of project demo" in overview
    assert "Instances" in overview and "vCPUs" in overview and "<svg" in overview


def test_cookie_is_secure_over_https(client: FlaskClient) -> None:
    page = client.get("/sign-in", base_url="https://localhost").get_data(as_text=True)
    response = client.post(
        "/sign-in",
        base_url="https://localhost",
        data={"csrf_token": csrf_of(page), "username": "demo", "password": DEMO_PASSWORD},
    )
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("stratus_session="))
    assert "Secure" in cookie


def test_wrong_password_is_a_message_next_to_the_form(client: FlaskClient) -> None:
    page = client.get("/sign-in").get_data(as_text=True)
    response = client.post("/sign-in", data={"csrf_token": csrf_of(page), "username": "demo", "password": "nope"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "password or project is not right" in html
    assert "nope" not in html  # the password is never echoed back


def test_sign_in_without_csrf_is_refused(client: FlaskClient) -> None:
    client.get("/sign-in")
    response = client.post("/sign-in", data={"username": "demo", "password": DEMO_PASSWORD})
    assert response.status_code == 403
    assert "did not come from this site" in response.get_data(as_text=True)


def test_post_without_csrf_is_refused(demo: tuple[FlaskClient, str]) -> None:
    client, _ = demo
    assert client.post("/sign-out").status_code == 403
    assert client.post("/sign-out", data={"csrf_token": "00" * 64}).status_code == 403
    assert client.get("/").status_code == 200  # still signed in


def test_the_token_never_reaches_the_page(portal_app: Flask, demo: tuple[FlaskClient, str]) -> None:
    client, _ = demo
    row = _token_of_only_session(portal_app)
    html = client.get("/").get_data(as_text=True)
    assert row.token not in html and row.csrf_secret not in html


def test_sign_out_revokes_the_token(portal_app: Flask, demo: tuple[FlaskClient, str]) -> None:
    client, token = demo
    row = _token_of_only_session(portal_app)
    assert (
        client.get(
            "/identity/v3/auth/tokens", headers={"X-Auth-Token": row.token, "X-Subject-Token": row.token}
        ).status_code
        == 200
    )
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 303
    check = client.get("/identity/v3/auth/tokens", headers={"X-Auth-Token": row.token, "X-Subject-Token": row.token})
    assert check.status_code == 401
    assert client.get("/").status_code == 302


def test_idle_session_ends_and_its_token_is_revoked(portal_app: Flask, demo: tuple[FlaskClient, str]) -> None:
    client, _ = demo
    row = _token_of_only_session(portal_app)
    idle = portal_app.extensions["stratus"].settings.portal_idle_timeout
    with portal_app.extensions["stratus"].db.session() as session:
        session.execute(
            update(PortalSession)
            .where(PortalSession.id == row.id)
            .values(last_seen_at=utcnow() - timedelta(seconds=idle + 1))
        )
    response = client.get("/")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "period without activity" in page
    check = client.get("/identity/v3/auth/tokens", headers={"X-Auth-Token": row.token, "X-Subject-Token": row.token})
    assert check.status_code == 401


def test_polling_does_not_keep_a_session_alive(portal_app: Flask, demo: tuple[FlaskClient, str]) -> None:
    client, _ = demo
    row = _token_of_only_session(portal_app)
    earlier = utcnow() - timedelta(seconds=100)
    with portal_app.extensions["stratus"].db.session() as session:
        session.execute(update(PortalSession).where(PortalSession.id == row.id).values(last_seen_at=earlier))
    client.get("/", headers={"X-Portal-Poll": "1"})
    assert _token_of_only_session(portal_app).last_seen_at == earlier
    client.get("/")
    assert _token_of_only_session(portal_app).last_seen_at > earlier


def test_next_is_kept_but_never_an_open_redirect(client: FlaskClient) -> None:
    page = client.get("/sign-in?next=//evil.example/").get_data(as_text=True)
    response = client.post(
        "/sign-in?next=//evil.example/",
        data={"csrf_token": csrf_of(page), "username": "demo", "password": DEMO_PASSWORD},
    )
    assert response.headers["Location"] == "/"


def test_admin_switches_project(portal_app: Flask, client: FlaskClient) -> None:
    from tests.unit.in_process import ADMIN_PASSWORD

    # The admin gets a role on demo too, so it has two projects to switch between.
    admin = client.post(
        "/identity/v3/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}},
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        },
    ).headers["X-Subject-Token"]
    headers = {"X-Auth-Token": admin}
    projects = client.get("/identity/v3/projects", headers=headers).get_json()["projects"]
    demo_id = next(p["id"] for p in projects if p["name"] == "demo")
    admin_user = client.get("/identity/v3/users?name=admin", headers=headers).get_json()["users"][0]["id"]
    roles = client.get("/identity/v3/roles?name=member", headers=headers).get_json()["roles"]
    client.put(f"/identity/v3/projects/{demo_id}/users/{admin_user}/roles/{roles[0]['id']}", headers=headers)

    token = sign_in(client, "admin", ADMIN_PASSWORD, project="admin")
    html = client.get("/").get_data(as_text=True)
    assert 'id="project-switch"' in html
    first = _token_of_only_session(portal_app, "admin")
    response = client.post("/switch-project", data={"csrf_token": token, "project_id": demo_id})
    assert response.status_code == 303
    assert "Overview of project demo" in client.get("/").get_data(as_text=True)
    # The old CSRF token belonged to the old scope.
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 403
    new_token = csrf_of(client.get("/").get_data(as_text=True))
    assert client.post("/sign-out", data={"csrf_token": new_token}).status_code == 303
    check = client.get("/identity/v3/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": first.token})
    assert check.status_code == 404  # revoked with the whole chain


def _sign_in_response(client: FlaskClient, url: str, user: str = "demo", password: str = DEMO_PASSWORD):
    page = client.get(url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_of(page), "username": user, "password": password})


# As they stand in the address bar: every trick a browser turns into another site, or a page that is no portal page.
HOSTILE_NEXT = [
    "/%09/evil.example/x",  # a tab: browsers drop it, leaving //evil.example/x
    "/%0a/evil.example/x",
    "/%0d%0a/evil.example/x",
    "%09//evil.example/x",
    "%20//evil.example/x",
    "//evil.example/x",
    "///evil.example/x",
    "/%5Cevil.example/x",  # /\evil.example: a backslash is a slash to browsers
    "%5C%5Cevil.example/x",
    "/%5C/evil.example/x",
    "https://evil.example/x",
    "https:evil.example/x",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    "evil.example/x",
    "/%2F%2Fevil.example/x",
    "%2F%2Fevil.example/x",
    "/%E2%80%8B/evil.example",  # a zero-width space
    "/identity/v3/auth/tokens",  # on this host, but an API, not a portal page
    "/assets/x/portal.css",
    "/sign-out",  # POST only
    "/no-such-page",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_only_ever_leads_to_a_portal_page(client: FlaskClient, target: str) -> None:
    page = client.get(f"/sign-in?next={target}").get_data(as_text=True)
    assert "evil.example" not in page and "next=" not in page  # the form does not carry it on either
    response = _sign_in_response(client, f"/sign-in?next={target}")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/instances", "/instances?page=2", "/networks/abc", "/admin/projects"])
def test_next_to_a_portal_page_is_kept(client: FlaskClient, target: str) -> None:
    response = _sign_in_response(client, f"/sign-in?next={quote(target, safe='/')}")
    assert response.headers["Location"] == target


def test_idle_sessions_purged_at_a_sign_in_have_their_tokens_revoked(portal_app: Flask) -> None:
    first = portal_app.test_client()
    sign_in(first)
    row = _token_of_only_session(portal_app)
    idle = portal_app.extensions["stratus"].settings.portal_idle_timeout
    with portal_app.extensions["stratus"].db.session() as session:
        session.execute(
            update(PortalSession)
            .where(PortalSession.id == row.id)
            .values(last_seen_at=utcnow() - timedelta(seconds=idle + 1))
        )
    # The idle browser never comes back; someone else signing in purges its session.
    sign_in(portal_app.test_client())
    with portal_app.extensions["stratus"].db.session() as session:
        assert session.get(PortalSession, row.id) is None
    check = first.get("/identity/v3/auth/tokens", headers={"X-Auth-Token": row.token, "X-Subject-Token": row.token})
    assert check.status_code == 401


def _from(portal_app: Flask, address: str) -> FlaskClient:
    client = portal_app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_a_locked_account_is_said_on_the_sign_in_form(portal_app: Flask) -> None:
    tenant = make_tenant(portal_app.test_client())
    client = _from(portal_app, "192.0.2.10")
    attempts = portal_app.extensions["stratus"].settings.lockout_failure_attempts
    for _ in range(attempts):
        html = _sign_in_response(client, "/sign-in", tenant.user, "wrong").get_data(as_text=True)
        assert "password or project is not right" in html
    response = _sign_in_response(client, "/sign-in", tenant.user, MEMBER_PASSWORD)
    assert response.status_code == 400
    assert f"The account is locked for user: {tenant.user}." in response.get_data(as_text=True)


def test_an_address_over_its_limit_is_told_to_wait_on_the_sign_in_form(portal_app: Flask) -> None:
    client = _from(portal_app, "192.0.2.20")
    attempts = portal_app.extensions["stratus"].settings.lockout_address_failure_attempts
    for n in range(attempts):
        assert _sign_in_response(client, "/sign-in", f"nobody-{n}", "wrong").status_code == 400
    response = _sign_in_response(client, "/sign-in", "demo", DEMO_PASSWORD)
    assert response.status_code == 429
    assert "Too many failed attempts from this address" in response.get_data(as_text=True)
    # The portal passes the browser's address through: another browser is not held back.
    assert _sign_in_response(_from(portal_app, "192.0.2.21"), "/sign-in").status_code == 303
