"""``GET /v2/images``: Glance's filters, sorting and marker pagination.

Pagination orders the ids of every matching image (with ``id`` as the last sort key, so the order is
total), finds the marker among them and takes the next page: correct with NULLs and several sort keys, and
cheap at the sizes an image catalogue has.
"""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import Select, asc, desc, select
from sqlalchemy.orm import Session

from api.context import RequestContext
from api.image import access
from api.validation import digits, query_bool
from common.exceptions import BadRequest
from image.models import Image

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
SORT_KEYS = (
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
    "visibility",
    "owner",
    "min_disk",
    "min_ram",
    "virtual_size",
)
EXACT_FILTERS = ("name", "status", "owner", "disk_format", "container_format")
NOT_PROPERTIES = {
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "sort",
    "visibility",
    "member_status",
    "tag",
    "id",
    "protected",
    "os_hidden",
    "size_min",
    "size_max",
    *EXACT_FILTERS,
}


def _limit() -> int:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    value = digits(raw)
    if value is None:
        raise BadRequest(f"Invalid input for field 'limit': {raw!r} is not a non-negative integer")
    return min(value, MAX_LIMIT)


def _sorting() -> list[tuple[str, str]]:
    if "sort" in request.args:
        pairs = []
        for part in request.args["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((key, direction or "desc"))
    else:
        keys = request.args.getlist("sort_key") or ["created_at"]
        dirs = request.args.getlist("sort_dir") or ["desc"]
        if len(dirs) not in (1, len(keys)):
            raise BadRequest("Give one sort_dir, or one per sort_key.")
        pairs = list(zip(keys, dirs * len(keys) if len(dirs) == 1 else dirs, strict=True))
    for key, direction in pairs:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It should be one of: {', '.join(SORT_KEYS)}")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}. It should be asc or desc")
    return pairs


def _filters(query: Select[Any]) -> Select[Any]:
    args = request.args
    for name in EXACT_FILTERS:
        if name in args:
            query = query.where(getattr(Image, name) == args[name])
    if "id" in args:
        ids = args["id"].removeprefix("in:").split(",")
        query = query.where(Image.id.in_([i.strip() for i in ids]))
    protected = query_bool("protected")
    if protected is not None:
        query = query.where(Image.protected == protected)
    query = query.where(Image.os_hidden == bool(query_bool("os_hidden", False)))
    for bound, op in (("size_min", "__ge__"), ("size_max", "__le__")):
        if bound in args:
            value = digits(args[bound])
            if value is None:
                raise BadRequest(f"Invalid input for field '{bound}': {args[bound]!r} is not an integer")
            query = query.where(getattr(Image.size, op)(value))
    for key, value in args.items():
        if key not in NOT_PROPERTIES:
            query = query.where(Image.properties[key].as_string() == value)
    return query


def page(session: Session, ctx: RequestContext) -> tuple[list[Image], str | None]:
    """One page of the images the caller may list, and the marker of the next page (None on the last)."""
    visibility = request.args.get("visibility")
    if visibility not in (None, "all", "public", "private", "shared", "community"):
        raise BadRequest(f"Invalid visibility value: {visibility}")
    member_status = request.args.get("member_status")
    if member_status not in (None, "all", "pending", "accepted", "rejected"):
        raise BadRequest(f"Invalid member_status value: {member_status}")
    limit = _limit()
    query = select(Image.id, Image.tags).where(access.not_deleted(), access.listed(ctx, visibility, member_status))
    order = [(asc if d == "asc" else desc)(getattr(Image, k)) for k, d in _sorting()]
    rows = session.execute(_filters(query).order_by(*order, Image.id)).all()
    wanted_tags = set(request.args.getlist("tag"))
    ids = [r.id for r in rows if wanted_tags <= set(r.tags or [])]
    start = 0
    if "marker" in request.args:
        try:
            start = ids.index(request.args["marker"]) + 1
        except ValueError:
            raise BadRequest(f"Invalid marker: no image {request.args['marker']} in this listing.") from None
    chosen = ids[start : start + limit]
    images = {i.id: i for i in session.scalars(select(Image).where(Image.id.in_(chosen)))}
    next_marker = chosen[-1] if chosen and start + limit < len(ids) else None
    return [images[i] for i in chosen], next_marker
