"""The portal blueprint and what runs around every portal request: session, CSRF, sign-in redirects, errors,
security headers and compression. Pages are plain view functions on ``bp`` (see ``portal``)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for

from common.db import Database
from common.settings import Settings
from portal import compress, csrf, sessions
from portal.client import ApiClient
from portal.errors import ApiError
from portal.models import PortalSession

LOG = logging.getLogger(__name__)

bp = Blueprint("portal", __name__, template_folder="templates")

NOTICE_COOKIE = "stratus_notice"
# Requests that the page makes by itself (live status); they do not count as activity for the idle timeout.
POLL_HEADER = "X-Portal-Poll"
View = TypeVar("View", bound=Callable[..., Any])


def db() -> Database:
    return current_app.extensions["stratus"].db


def settings() -> Settings:
    return current_app.extensions["stratus"].settings


def api() -> ApiClient:
    """The API client of the signed-in user (only inside ``signed_in`` views)."""
    return g.portal_api


def session() -> PortalSession:
    return g.portal_session


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


@bp.before_request
def _load_session() -> Response | None:
    g.portal_started = time.perf_counter()
    if request.endpoint == "portal.asset":
        return None  # static files need no session (and cost no database read)
    row, state = sessions.load(db(), request.cookies.get(sessions.COOKIE), settings().portal_idle_timeout)
    g.portal_session = None
    if state in ("idle", "expired"):
        assert row is not None
        _revoke(row)
        sessions.end(db(), row)
        g.portal_ended = (
            "Your session ended after a period without activity."
            if state == "idle"
            else ("Your session expired. Please sign in again.")
        )
    elif row is not None:
        g.portal_session = row
        g.portal_api = ApiClient(row.token)
        if request.headers.get(POLL_HEADER) != "1":
            sessions.touch(db(), row)
    if request.method not in csrf.SAFE_METHODS and not _csrf_ok():
        return _page_error(403, "This form has expired or did not come from this site. Reload the page and try again.")
    return None


def _csrf_ok() -> bool:
    token = request.headers.get(csrf.HEADER) or request.form.get(csrf.FIELD)
    if g.portal_session is not None:
        return csrf.valid(g.portal_session.csrf_secret, token)
    # No session: only the sign-in form may post, with the double-submit cookie.
    return csrf.valid(request.cookies.get(csrf.SIGNIN_COOKIE), token)


def _revoke(row: PortalSession) -> None:
    """Revoke the session's tokens (the sign-in token revokes every token rescoped from it)."""
    for token in dict.fromkeys((row.token, row.sign_in_token)):
        try:
            ApiClient(token).request("DELETE", "/identity/v3/auth/tokens", headers={"X-Subject-Token": token})
        except ApiError as exc:  # already expired or revoked: nothing left to do
            LOG.debug("token revocation at sign-out answered %s", exc.status)


def signed_in(view: View) -> View:
    """A page for signed-in users; others are sent to the sign-in page and come back after."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.portal_session is None:
            return _to_sign_in(g.get("portal_ended", ""))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def admin_only(view: View) -> View:
    """A page for admins: anyone else gets 403 (the API would refuse them too; this says so in words)."""

    @functools.wraps(view)
    @signed_in
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "admin" not in session().roles:
            return _page_error(403, "This page is for cloud administrators.")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _to_sign_in(notice: str = "") -> Response:
    target = request.full_path.rstrip("?") if request.method == "GET" and not is_htmx() else ""
    location = url_for("portal.sign_in", next=target or None)
    # htmx would follow a plain redirect into the fragment's place; HX-Redirect makes it load the whole page.
    response = Response(status=204, headers={"HX-Redirect": location}) if is_htmx() else redirect(location)
    if notice:
        set_notice(response, notice)
    return response


def set_notice(response: Response, text: str, error: bool = False) -> Response:
    """A one-line message for the next page shown (after a redirect), like "Instance web-1 is starting";
    an error notice (the API refused) is shown as one."""
    sessions.set_cookie(response, request, NOTICE_COOKIE, ("!" if error else "") + quote(text[:300]), max_age=60)
    return response


def redirect_with(endpoint: str, notice: str, error: bool = False, **values: Any) -> Response:
    return set_notice(redirect(url_for(endpoint, **values), code=303), notice, error)


def render(template: str, status: int = 200, **context: Any) -> Response:
    """Render a page (or fragment) with what every template needs: the user, the CSRF token, the notice."""
    row: PortalSession | None = g.get("portal_session")
    # Fragments (htmx swaps, polls) leave the notice to the next full page.
    raw_notice = "" if is_htmx() else request.cookies.get(NOTICE_COOKIE, "")
    context.setdefault("notice", unquote(raw_notice.removeprefix("!")))
    context.setdefault("notice_error", raw_notice.startswith("!"))
    html = render_template(
        template,
        portal_session=row,
        csrf_token=csrf.mask(row.csrf_secret) if row else "",
        is_admin=bool(row and "admin" in row.roles),
        **context,
    )
    response = Response(html, status=status, mimetype="text/html")
    if raw_notice:
        sessions.clear_cookie(response, request, NOTICE_COOKIE)
    return response


def _page_error(status: int, message: str) -> Response:
    if is_htmx():
        return Response(f'<p class="error" role="alert">{_escape(message)}</p>', status=status, mimetype="text/html")
    return render("portal/error.html", status=status, message=message, code=status)


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    """An API error no view handled itself: 401 means the token is gone (sign in again), others a page."""
    if error.status == 401:
        row = g.get("portal_session")
        if row is not None:
            sessions.end(db(), row)
        return _to_sign_in("Your session is no longer valid. Please sign in again.")
    return _page_error(error.status if error.status < 500 else 502, error.message)


@bp.errorhandler(404)
def _not_found(error: Exception) -> Response:
    return _page_error(404, "There is nothing at this address.")


@bp.errorhandler(405)
def _bad_method(error: Exception) -> Response:
    return _page_error(405, "This address does not take that kind of request.")


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    from werkzeug.exceptions import HTTPException

    if isinstance(error, HTTPException):
        return _page_error(error.code or 500, error.description or error.name)
    LOG.exception("portal page %s %s failed [%s]", request.method, request.path, g.get("request_id"))
    return _page_error(500, "Something went wrong on our side. The error was logged; please try again.")


@bp.after_request
def _headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        headers["Cache-Control"] = "no-store"
    response = compress.maybe_gzip(response, request)
    started = g.get("portal_started")
    if started is not None:
        # The page's own cost, API calls and compression included (bench/portal.py reads it).
        headers["Server-Timing"] = f"portal;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response
