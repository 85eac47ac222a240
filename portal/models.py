"""The portal's server-side sessions: the browser holds only a random id, the database holds the rest.

Keeping the Keystone token here rather than in a cookie means a stolen cookie is useless once the session is
signed out or idle, and the token never reaches the browser (nor its scripts, history or logs).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, UTCDateTime, utcnow


class PortalSession(Base):
    """One signed-in browser. ``id`` is the SHA-256 of the cookie's value, so the table alone cannot be
    replayed as cookies; ``csrf_secret`` is what every form of this session must send back."""

    __tablename__ = "portal_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(Text)
    # The token issued at sign-in: a project switch rescopes it into ``token``, and revoking it at sign-out
    # revokes every token rescoped from it (they share its audit id).
    sign_in_token: Mapped[str] = mapped_column(Text)
    token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[str] = mapped_column(String(64))
    user_name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str | None] = mapped_column(String(64), default=None)
    project_name: Mapped[str | None] = mapped_column(String(255), default=None)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The user's projects as (id, name) pairs, read at sign-in, for the project switcher.
    projects: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
