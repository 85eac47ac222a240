"""The fields Nova's server representation gains (or changes) from microversion 2.47 on.

``api.compute.views.server_view`` builds the server as Nova showed it up to 2.37 and hands it here; each block
below is one microversion's change, so what a version shows can be read top to bottom. Which responses carry
what follows Nova's view builder: ``server_groups`` (2.71) is in show, update and rebuild but not in the detailed
listing; every other field is in all four.
"""

from __future__ import annotations

import re
from typing import Any

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import object_session

from api.compute.microversions import at_least
from api.context import RequestContext
from compute.models import Instance, ServerGroupMember

LISTING_ENDPOINT = "compute_servers.list_servers_detail"


def embedded_flavor(flavor: dict[str, Any]) -> dict[str, Any]:
    """2.47: the flavor the server was built (or resized) with, as it kept it, instead of a link to the flavor
    (which may have changed or gone since). Extra specs are shown: every caller may read them here."""
    return {
        "vcpus": int(flavor.get("vcpus") or 0),
        "ram": int(flavor.get("ram") or 0),
        "disk": int(flavor.get("disk") or 0),
        "ephemeral": int(flavor.get("ephemeral") or 0),
        "swap": int(flavor.get("swap") or 0),
        "original_name": flavor.get("name") or "",
        "extra_specs": dict(flavor.get("extra_specs") or {}),
    }


def server_groups(instance: Instance) -> list[str]:
    """2.71: the groups the server belongs to (at most one)."""
    session = object_session(instance)
    if session is None:
        return [instance.server_group_id] if instance.server_group_id else []
    query = select(ServerGroupMember.group_id).where(ServerGroupMember.instance_id == instance.id)
    return sorted(session.scalars(query))


_PROPERTY_KEY = re.compile(r"^[a-zA-Z0-9_:. ]{1,255}$")


def image_properties(instance: Instance) -> dict[str, str]:
    """2.98: the image's properties as the server kept them at create or rebuild, as Nova shows them: strings of
    at most 255 characters under plain keys (Nova shows the image properties it knows, all of that form)."""
    properties = (instance.image_meta or {}).get("properties") or {}
    shown = {str(k): v if isinstance(v, str) else str(v) for k, v in properties.items() if v is not None}
    return {k: v for k, v in shown.items() if _PROPERTY_KEY.match(k) and len(v) <= 255}


def add_later_fields(body: dict[str, Any], instance: Instance, ctx: RequestContext) -> dict[str, Any]:
    """``body`` (the server up to 2.46) as the negotiated microversion shows it."""
    if at_least("2.47"):
        body["flavor"] = embedded_flavor(instance.flavor or {})
    if at_least("2.63"):
        body["trusted_image_certificates"] = None  # create and rebuild refuse certificates (not configured)
    if at_least("2.71") and request.endpoint != LISTING_ENDPOINT:
        body["server_groups"] = server_groups(instance)
    if at_least("2.90"):
        body["OS-EXT-SRV-ATTR:hostname"] = instance.hostname
    if at_least("2.96"):
        body["pinned_availability_zone"] = instance.requested_zone
    if at_least("2.98") and isinstance(body.get("image"), dict):
        body["image"]["properties"] = image_properties(instance)
    if at_least("2.100"):
        body["scheduler_hints"] = instance.scheduler_hints or {}
    return body
