"""Cinder's listing parameters, shared by volumes, snapshots and attachments: filters (exact, ``name~`` like
filters from 3.34, ``created_at=gt:...`` from 3.60, metadata given as a dict), ``sort=key:dir,...`` (or the older
``sort_key``/``sort_dir``), ``limit``/``marker``/``offset`` pages with a ``next`` link, ``with_count`` (3.45).

From 3.31 a filter the resource does not know is a 400 naming it, as in Cinder; before, it is ignored.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import request
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import InstrumentedAttribute

from api.validation import digits
from api.volume.microversions import at_least
from api.volume.routing import request_url
from common.exceptions import BadRequest, NotFound

MAX_LIMIT = 1000
"""Cinder's ``osapi_max_limit``: a page never holds more, and a full page gets a ``next`` link."""
PAGING = ("limit", "marker", "offset", "sort", "sort_key", "sort_dir", "with_count", "all_tenants")
_TIME_OPS = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__", "eq": "__eq__", "neq": "__ne__"}
T = TypeVar("T")
Filter = Callable[[str], Any]


class InvalidFilters(BadRequest):
    msg_fmt = "Invalid filters {names} are found in query options."


@dataclass
class Resource:
    """What a resource's listing may filter and sort on: columns by Cinder's names, and special filters."""

    columns: Mapping[str, InstrumentedAttribute[Any]]
    sort_keys: Mapping[str, InstrumentedAttribute[Any]]
    special: Mapping[str, Filter] = field(default_factory=dict)
    like: tuple[str, ...] = ("name", "description")
    times: tuple[str, ...] = ("created_at", "updated_at")
    ignored: tuple[str, ...] = ()
    """Parameters taken and ignored (``project_id`` without ``all_tenants``, ...)."""


def parse_dict(raw: str, name: str) -> dict[str, str]:
    """A dict filter (``metadata={"k": "v"}``): JSON, or the Python literal Cinder's clients send."""
    try:
        value = json.loads(raw)
    except ValueError:
        try:
            value = ast.literal_eval(raw) if len(raw) <= 4096 else None
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise BadRequest(f"Invalid filter {name}: {raw[:100]!r} is not a dictionary.")
    return {k: str(v) for k, v in value.items()}


def json_contains(column: InstrumentedAttribute[Any], values: Mapping[str, str]) -> list[ColumnElement[bool]]:
    """``column`` (a JSON object) holds each of ``values``."""
    return [column[key].as_string() == value for key, value in values.items()]


def _moment(raw: str, name: str) -> datetime:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        raise BadRequest(f"Invalid filter {name}: {raw[:40]!r} is not an ISO 8601 time.") from None


def _time_filter(column: InstrumentedAttribute[Any], raw: str, name: str) -> list[ColumnElement[bool]]:
    """``2026-01-01T00:00:00`` (that moment), or from 3.60 ``gt:...,lte:...`` comparisons."""
    conditions = []
    for part in raw.split(","):
        op, _, moment = part.partition(":")
        if op in _TIME_OPS and at_least("3.60"):
            conditions.append(getattr(column, _TIME_OPS[op])(_moment(moment, name)))
        else:
            conditions.append(column == _moment(part, name))
    return conditions


def filtered(query: Select[Any], resource: Resource) -> Select[Any]:
    """``query`` narrowed by the request's filters."""
    unknown = []
    for name, raw in request.args.items(multi=True):
        if name in PAGING or name in resource.ignored:
            continue
        base = name[:-1] if name.endswith("~") else name
        if name.endswith("~") and at_least("3.34") and base in resource.like and base in resource.columns:
            pattern = "%" + raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(resource.columns[base].ilike(pattern, escape="\\"))
        elif name in resource.special:
            condition = resource.special[name](raw)
            if isinstance(condition, list):
                query = query.where(*condition)
            elif condition is not None:
                query = query.where(condition)
        elif name in resource.times and name in resource.columns:
            query = query.where(*_time_filter(resource.columns[name], raw, name))
        elif name in resource.columns:
            query = query.where(resource.columns[name] == raw)
        else:
            unknown.append(name)
    if unknown and at_least("3.31"):
        raise InvalidFilters(names=", ".join(sorted(set(unknown)))[:300])
    return query


def sorted_by(query: Select[Any], resource: Resource, id_column: InstrumentedAttribute[Any]) -> Select[Any]:
    """``query`` in the asked order (Cinder's default: newest first), the id breaking ties."""
    args = request.args
    if "sort" in args and ("sort_key" in args or "sort_dir" in args):
        raise BadRequest(
            "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter."
        )
    pairs: list[tuple[str, str]] = []
    if "sort" in args:
        for part in args["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((key, direction or "desc"))
    elif "sort_key" in args or "sort_dir" in args:
        pairs.append((args.get("sort_key", "created_at"), args.get("sort_dir", "desc")))
    pairs = pairs or [("created_at", "desc")]
    order = []
    for key, direction in pairs:
        if direction.lower() not in ("asc", "desc"):
            raise BadRequest("Unknown sort direction, must be 'desc' or 'asc'")
        column = resource.sort_keys.get(key)
        if column is None:
            raise BadRequest(f"Invalid input received: Invalid sort key {key[:60]!r}.")
        order.append(column.asc() if direction.lower() == "asc" else column.desc())
    last = pairs[-1][1].lower()
    return query.order_by(*order, id_column.asc() if last == "asc" else id_column.desc())


def _limit() -> int | None:
    raw = request.args.get("limit")
    if raw is None:
        return None
    if raw.startswith("-") and digits(raw[1:]) is not None:
        raise BadRequest("limit param must be positive")
    if digits(raw) is None:
        raise BadRequest("limit param must be an integer")
    return int(raw)


def _offset() -> int:
    raw = request.args.get("offset", "0")
    if digits(raw) is None:
        raise BadRequest("offset param must be an integer")
    return int(raw)


def page(items: Sequence[T], key: Callable[[T], str]) -> tuple[list[T], list[dict[str, str]]]:
    """The page of an ordered listing after ``marker`` (404 when unknown, as Cinder), at most ``limit`` (or
    ``MAX_LIMIT``) items, and Cinder's ``next`` link when the page is full."""
    start = _offset()
    marker = request.args.get("marker")
    if marker is not None:
        keys = [key(item) for item in items]
        if marker not in keys:
            raise NotFound(f"Marker {marker[:60]} could not be found.")
        start += keys.index(marker) + 1
    asked = _limit()
    limit = min(asked, MAX_LIMIT) if asked is not None else MAX_LIMIT
    chosen = list(items[start : start + limit])
    if not chosen or len(chosen) < limit:
        return chosen, []
    query = [(k, v) for k, v in request.args.items(multi=True) if k not in ("marker", "offset")]
    query += [("marker", key(chosen[-1]))]
    return chosen, [{"href": f"{request_url()}?{urlencode(query)}", "rel": "next"}]


def with_count(body: dict[str, Any], total: int) -> dict[str, Any]:
    """``count`` (3.45) when ``with_count`` asks for it."""
    raw = request.args.get("with_count", "false").lower()
    if raw not in ("true", "false", "1", "0", "yes", "no", ""):
        raise BadRequest(f"Invalid value {raw[:20]!r} for with_count: a boolean was expected.")
    if at_least("3.45") and raw in ("true", "1", "yes", ""):
        body["count"] = total
    return body
