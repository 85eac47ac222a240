"""Server-side sessions: create on sign-in, load and expire on each request, end on sign-out.

The cookie carries 32 random bytes and nothing else; the row is keyed by their SHA-256. A session ends when
the user signs out, after ``portal_idle_timeout`` seconds without a user action (background polling does not
count as one), or when its token expires, whichever comes first.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Request, Response
from sqlalchemy import delete, select, update

from common.db import Database, utcnow
from portal.models import PortalSession

COOKIE = "stratus_session"
# last_seen_at is written at most this often: one write per page view would be most of a page's cost.
TOUCH_EVERY = timedelta(seconds=15)


@dataclass(frozen=True)
class SignedIn:
    """What a sign-in produced: the token and what the identity service said about it."""

    token: str
    expires_at: datetime
    user_id: str
    user_name: str
    project_id: str | None
    project_name: str | None
    roles: list[str]
    projects: list[dict[str, Any]]
    # The first token of the sign-in (unscoped when the user named no project); "" when it is ``token``.
    root_token: str = ""


def _key(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


def start(db: Database, signed_in: SignedIn) -> str:
    """A new session; returns the cookie value (shown to nobody but the browser)."""
    cookie_value = secrets.token_urlsafe(32)
    now = utcnow()
    row = PortalSession(
        id=_key(cookie_value),
        token=signed_in.token,
        sign_in_token=signed_in.root_token or signed_in.token,
        token_expires_at=signed_in.expires_at,
        user_id=signed_in.user_id,
        user_name=signed_in.user_name,
        project_id=signed_in.project_id,
        project_name=signed_in.project_name,
        roles=signed_in.roles,
        projects=signed_in.projects,
        csrf_secret=secrets.token_hex(32),
        created_at=now,
        last_seen_at=now,
    )
    with db.session() as session:
        session.add(row)
    return cookie_value


def load(db: Database, cookie_value: str | None, idle_timeout: int) -> tuple[PortalSession | None, str]:
    """The live session of this cookie, or (None, why) where why is "" (none), "idle" or "expired".

    An idle or expired row is returned in the reason's place so the caller can revoke its token; it is
    deleted by :func:`end`.
    """
    if not cookie_value:
        return None, ""
    with db.session() as session:
        row = session.get(PortalSession, _key(cookie_value))
        if row is None:
            return None, ""
        session.expunge(row)
    now = utcnow()
    if now - row.last_seen_at > timedelta(seconds=idle_timeout):
        return row, "idle"
    if now >= row.token_expires_at:
        return row, "expired"
    return row, "live"


def touch(db: Database, row: PortalSession) -> None:
    """Record a user action (idle timeout restarts), at most once per ``TOUCH_EVERY``."""
    now = utcnow()
    if now - row.last_seen_at < TOUCH_EVERY:
        return
    with db.session() as session:
        session.execute(update(PortalSession).where(PortalSession.id == row.id).values(last_seen_at=now))
    row.last_seen_at = now


def rescope(db: Database, row: PortalSession, signed_in: SignedIn) -> None:
    """After a project switch: the new token and scope; the CSRF secret changes with the privileges."""
    values = {
        "token": signed_in.token,
        "token_expires_at": signed_in.expires_at,
        "project_id": signed_in.project_id,
        "project_name": signed_in.project_name,
        "roles": signed_in.roles,
        "projects": signed_in.projects,
        "csrf_secret": secrets.token_hex(32),
        "last_seen_at": utcnow(),
    }
    with db.session() as session:
        session.execute(update(PortalSession).where(PortalSession.id == row.id).values(**values))


def end(db: Database, row: PortalSession) -> None:
    with db.session() as session:
        session.execute(delete(PortalSession).where(PortalSession.id == row.id))


# Sessions purged at one sign-in at most; the rest wait for the next (each purged live token costs a revocation).
PURGE_BATCH = 50


def purge(db: Database, idle_timeout: int) -> list[PortalSession]:
    """Drop sessions idle past the timeout, oldest first, and return those whose token is still unexpired:
    the caller revokes them, since an idle session that nobody loads again would otherwise leave its token
    usable (for the API, not the portal) until it expires."""
    now = utcnow()
    cutoff = now - timedelta(seconds=idle_timeout)
    with db.session() as session:
        rows = session.scalars(
            select(PortalSession)
            .where(PortalSession.last_seen_at < cutoff)
            .order_by(PortalSession.last_seen_at)
            .limit(PURGE_BATCH)
        ).all()
        if rows:
            session.execute(
                delete(PortalSession).where(
                    PortalSession.id.in_([r.id for r in rows]), PortalSession.last_seen_at < cutoff
                )
            )
        session.expunge_all()
    return [r for r in rows if r.token_expires_at > now]


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    """HttpOnly (scripts never read it), SameSite=Lax (no cross-site POST carries it), Secure over TLS."""
    response.set_cookie(name, value, max_age=max_age, path="/", secure=request.is_secure, httponly=True, samesite="Lax")


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", secure=request.is_secure, httponly=True, samesite="Lax")
