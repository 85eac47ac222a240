"""Absolute links, as OpenStack APIs give in ``links`` fields, built from the configured public URL."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, request


def public_url() -> str:
    return current_app.config["PUBLIC_URL"]


def identity_url(path: str = "") -> str:
    return f"{public_url()}/identity/v3{path}"


def self_link(path: str) -> dict[str, str]:
    return {"self": identity_url(path)}


def collection_links(path: str) -> dict[str, str | None]:
    query = request.query_string.decode()
    return {"self": identity_url(path) + (f"?{query}" if query else ""), "previous": None, "next": None}


def isotime(moment: datetime | None) -> str | None:
    """Keystone's timestamp format: microseconds and a ``Z``."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
