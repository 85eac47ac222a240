"""Sign-in (password and project, a token from the identity service), sign-out (the token is revoked) and the
project switcher (the token is rescoped to another of the user's projects)."""

from __future__ import annotations

import dataclasses
import string
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, g, redirect, request, url_for
from werkzeug.exceptions import HTTPException

from portal import csrf, sessions
from portal.blueprint import _revoke, bp, db, render, session, set_notice, settings, signed_in
from portal.client import ApiClient
from portal.errors import ApiError
from portal.forms import Form, empty

# The start of the identity API's message for a locked account (Keystone's words, which clients look for).
ACCOUNT_LOCKED = "The account is locked for user"
# Keystone's words for a password that expired or must be changed on first use: said only after the right password.
PASSWORD_EXPIRED = "The password is expired"
# Printable ASCII that may stand in a URL as it is; no space, backslash, quote, angle bracket or control.
_URL_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~/?#[]@!$&'()*+,;=%:")


def _safe_next(target: str | None) -> str | None:
    """Where to go after sign-in: a page of this portal, or None.

    Browsers forgive a lot in a ``Location``: they drop tabs and newlines (``/<TAB>/evil.example`` becomes
    ``//evil.example``, another site), read a backslash as ``/``, and follow ``//host`` and ``scheme:`` anywhere. So
    ``next`` may hold plain URL characters only, must be a path with no scheme or host, and that path must be
    a page (GET) of the portal blueprint: not an API, not an asset, not anything else this host serves.
    """
    if not target or len(target) > 2048 or not set(target) <= _URL_CHARACTERS:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    try:
        endpoint, _ = current_app.url_map.bind("localhost").match(parts.path, method="GET")
    except HTTPException:  # no such page, not a GET page, or a redirect (a trailing slash) elsewhere
        return None
    if not isinstance(endpoint, str) or not endpoint.startswith("portal.") or endpoint == "portal.asset":
        return None
    return target


def _token_info(token: str, body: dict[str, Any]) -> sessions.SignedIn:
    info = body["token"]
    project = info.get("project") or {}
    projects = ApiClient(token).get("/identity/v3/auth/projects")["projects"]
    return sessions.SignedIn(
        token=token,
        expires_at=datetime.fromisoformat(info["expires_at"].replace("Z", "+00:00")),
        user_id=info["user"]["id"],
        user_name=info["user"]["name"],
        project_id=project.get("id"),
        project_name=project.get("name"),
        roles=sorted(r["name"] for r in info.get("roles", [])),
        projects=[{"id": p["id"], "name": p["name"]} for p in projects],
    )


def _issue(identity: dict[str, Any], scope: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    auth: dict[str, Any] = {"identity": identity}
    if scope:
        auth["scope"] = scope
    response = ApiClient(None).request("POST", "/identity/v3/auth/tokens", body={"auth": auth}, query={"nocatalog": 1})
    return response.headers["X-Subject-Token"], response.json()


def _password_sign_in(form: Form) -> sessions.SignedIn:
    identity = {
        "methods": ["password"],
        "password": {
            "user": {"name": form.get("username"), "domain": {"id": "default"}, "password": form.values["password"]}
        },
    }
    project = form.get("project")
    scope = {"project": {"name": project, "domain": {"id": "default"}}} if project else None
    token, body = _issue(identity, scope)
    signed_in_info = _token_info(token, body)
    if signed_in_info.project_id is None and signed_in_info.projects:
        # No default project: take the first the user has a role on, as a CLI user would name one.
        first = signed_in_info.projects[0]["id"]
        rescoped, body = _issue({"methods": ["token"], "token": {"id": token}}, {"project": {"id": first}})
        signed_in_info = dataclasses.replace(_token_info(rescoped, body), root_token=token)
    return signed_in_info


def _sign_in_page(form: Form, next_path: str | None, status: int = 200) -> Response:
    secret = request.cookies.get(csrf.SIGNIN_COOKIE) or csrf.new_signin_secret()
    response = render(
        "portal/sign_in.html",
        status=status,
        form=form,
        next=next_path,
        signin_token=csrf.mask(secret),
        title="Sign in",
    )
    sessions.set_cookie(response, request, csrf.SIGNIN_COOKIE, secret)
    return response


@bp.get("/sign-in")
def sign_in() -> Response:
    if g.portal_session is not None:
        return redirect(url_for("portal.overview"))
    return _sign_in_page(empty("signin"), _safe_next(request.args.get("next")))


@bp.post("/sign-in")
def sign_in_submit() -> Response:
    form = Form.posted("signin", secret=("password",))
    next_path = _safe_next(request.args.get("next"))
    form.require("username", "password")
    if not form.ok:
        return _sign_in_page(_without_password(form), next_path, 400)
    try:
        info = _password_sign_in(form)
    except ApiError as exc:
        form.errors[""] = _refusal(exc)
        status = exc.status if exc.status == 429 else 400 if exc.status < 500 else 502
        return _sign_in_page(_without_password(form), next_path, status)
    for idle in sessions.purge(db(), settings().portal_idle_timeout):
        _revoke(idle)
    cookie_value = sessions.start(db(), info)
    response = redirect(next_path or url_for("portal.overview"), code=303)
    sessions.set_cookie(response, request, sessions.COOKIE, cookie_value)
    sessions.clear_cookie(response, request, csrf.SIGNIN_COOKIE)
    return response


def _refusal(exc: ApiError) -> str:
    """What the sign-in form says: a locked account and a throttled address in the identity API's words (they
    tell no more about a name than a wrong password does), an expired password too (only the right password gets
    that answer), any other 401 as one sentence for every cause."""
    if exc.status == 401 and not exc.message.startswith((ACCOUNT_LOCKED, PASSWORD_EXPIRED)):
        return "The user name, password or project is not right, or the account is disabled."
    return exc.message


def _without_password(form: Form) -> Form:
    form.values.pop("password", None)
    return form


@bp.post("/sign-out")
def sign_out() -> Response:
    row = g.portal_session
    response = redirect(url_for("portal.sign_in"), code=303)
    if row is not None:
        _revoke(row)
        sessions.end(db(), row)
        set_notice(response, "You are signed out.")
    sessions.clear_cookie(response, request, sessions.COOKIE)
    return response


@bp.post("/switch-project")
@signed_in
def switch_project() -> Response:
    row = session()
    project_id = request.form.get("project_id", "")
    if project_id not in {p["id"] for p in row.projects}:
        return set_notice(redirect(url_for("portal.overview"), code=303), "You are not a member of that project.")
    token, body = _issue({"methods": ["token"], "token": {"id": row.token}}, {"project": {"id": project_id}})
    info = _token_info(token, body)
    sessions.rescope(db(), row, info)
    return set_notice(redirect(url_for("portal.overview"), code=303), f"Now working in project {info.project_name}.")
