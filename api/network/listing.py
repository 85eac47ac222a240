"""Neutron's listing semantics for every collection: filters on any attribute, tags filters, sorting, and
``limit``/``marker``/``page_reverse`` pagination with ``<collection>_links``.

- ``?name=a&name=b`` matches either value; booleans accept ``true``/``True``/``1``; ``tenant_id`` and
  ``project_id`` are the same filter; an attribute the collection does not have is a 400 (Neutron's
  filter validation), so a typo never silently lists everything.
- Pages are keyset pages: rows after the marker row in the sort order (``id`` breaks ties), so a page costs
  one indexed query however deep it is. NULLs sort first ascending and last descending on every backend.
- Links follow Neutron's ``get_pagination_links``: with a ``limit``, ``next`` unless the page came back
  short, ``previous`` unless a reversed page came back short.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import request
from sqlalchemy import ColumnElement, Select, and_, false, or_, true
from sqlalchemy.orm import Session

from api.network.common import PREFIX, to_bool, to_int
from api.urls import public_url
from network.exceptions import InvalidAttribute

RESERVED = ("fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir")
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")
NULLS = ("", "None", "null")
MAX_LIMIT = (1 << 63) - 1  # a larger limit is no limit, and no database takes it

Filter = Callable[[list[str]], ColumnElement[bool]]


@dataclass(frozen=True)
class Listing:
    """One collection: its attributes that are columns (filter and sort), filters that need a subquery, and
    attributes with one value for every row (e.g. ``availability_zones``), which a filter can only keep or empty."""

    collection: str
    model: Any
    columns: Mapping[str, Any]
    special: Mapping[str, Filter] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)
    not_found: Callable[[str], Exception] | None = None


class InvalidFilter(InvalidAttribute):
    msg_fmt = "{names} is invalid attribute for filtering"


def _coerce(column: Any, value: str, name: str) -> Any:
    kind = column.type.python_type
    if kind is bool:
        return to_bool(value, name)
    if kind is int:
        return to_int(value, name)
    return value


def _matches_constant(constant: Any, values: list[str], name: str) -> bool:
    if isinstance(constant, bool):
        return any(to_bool(v, name) == constant for v in values)
    if constant is None:
        return any(v in NULLS for v in values)
    if isinstance(constant, list):
        return any(v in constant for v in values) or (not constant and any(v in ("", "[]") for v in values))
    return str(constant) in values


def filtered(listing: Listing, query: Select[Any]) -> Select[Any]:
    unknown = []
    for name in dict.fromkeys(request.args):
        if name in RESERVED or name in TAG_FILTERS:
            continue
        values = request.args.getlist(name)
        if name in listing.columns:
            column = listing.columns[name]
            query = query.where(column.in_([_coerce(column, v, name) for v in values]))
        elif name in listing.special:
            query = query.where(listing.special[name](values))
        elif name in listing.constants:
            if not _matches_constant(listing.constants[name], values, name):
                query = query.where(false())
        else:
            unknown.append(name)
    if unknown:
        raise InvalidFilter(names=str(unknown))
    return query


def _sorting(listing: Listing) -> list[tuple[Any, bool]]:
    keys, dirs = request.args.getlist("sort_key"), request.args.getlist("sort_dir")
    if dirs and len(keys) != len(dirs):
        raise InvalidAttribute(attribute="sort_dir", reason="The number of sort_keys and sort_dirs must be same")
    pairs = []
    for index, key in enumerate(keys):
        if key not in listing.columns:
            raise InvalidAttribute(attribute="sort_key", reason=f"'{key}' is an invalid attribute for sort_keys")
        direction = dirs[index] if dirs else "asc"
        if direction not in ("asc", "desc"):
            raise InvalidAttribute(attribute="sort_dir", reason=f"'{direction}' is not in ['asc', 'desc']")
        pairs.append((listing.columns[key], direction == "asc"))
    id_column = listing.model.id
    if not any(column is id_column for column, _ in pairs):
        pairs.append((id_column, True))
    return pairs


def _order(pairs: list[tuple[Any, bool]]) -> list[Any]:
    return [column.asc().nulls_first() if ascending else column.desc().nulls_last() for column, ascending in pairs]


def _after(column: Any, value: Any, ascending: bool) -> ColumnElement[bool]:
    """Rows strictly after ``value`` in ``column``'s order (NULLs first ascending, last descending)."""
    if ascending:
        return column.is_not(None) if value is None else column > value
    return false() if value is None else or_(column < value, column.is_(None))


def _same(column: Any, value: Any) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _keyset(pairs: list[tuple[Any, bool]], marker: Any) -> ColumnElement[bool]:
    values = [getattr(marker, column.key) for column, _ in pairs]
    branches = []
    for index, (column, ascending) in enumerate(pairs):
        equal = [_same(c, values[i]) for i, (c, _) in enumerate(pairs[:index])]
        branches.append(and_(true(), *equal, _after(column, values[index], ascending)))
    return or_(*branches)


def _tag_ids(session: Session, listing: Listing, query: Select[Any]) -> list[str] | None:
    """Ids of the rows that pass the tags filters (comma-separated lists), or None when there are none."""
    wanted = {name: set(request.args[name].split(",")) for name in TAG_FILTERS if request.args.get(name)}
    if not wanted:
        return None
    model = listing.model
    if not hasattr(model, "tags"):
        raise InvalidFilter(names=str(list(wanted)))
    rows = session.execute(query.with_only_columns(model.id, model.tags)).all()
    found = []
    for row_id, tags in rows:
        have = set(tags or [])
        if "tags" in wanted and not wanted["tags"] <= have:
            continue
        if "tags-any" in wanted and not wanted["tags-any"] & have:
            continue
        if "not-tags" in wanted and wanted["not-tags"] <= have:
            continue
        if "not-tags-any" in wanted and wanted["not-tags-any"] & have:
            continue
        found.append(row_id)
    return found


def _marker(session: Session, listing: Listing, visible: Select[Any], marker_id: str) -> Any:
    """The marker row, looked up among the rows the caller may see (as Neutron's ``_get_marker_obj`` reads it
    in the caller's context). A marker of another project's row is a missing marker: its sort values would
    otherwise decide which visible rows come after it, and paging with ``sort_key`` would read them out."""
    if len(marker_id) > 255:
        return None
    query = visible.with_only_columns(listing.model).where(listing.model.id == marker_id)
    return session.scalars(query).one_or_none()


def _limit() -> int | None:
    raw = request.args.get("limit")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):  # str.isdigit alone takes "²", which int() refuses
        raise InvalidAttribute(attribute="limit", reason=f"Limit must be an integer 0 or greater and not '{raw}'")
    return min(int(raw), MAX_LIMIT) or None


@dataclass(frozen=True)
class Page:
    """One page: its rows (ORM records, or plain rows when the query selects columns), its links, and a query
    of its ids to load related rows with, one query per relation (never one per row)."""

    rows: list[Any]
    links: list[dict[str, str]]
    ids: Select[Any]


def page(session: Session, listing: Listing, query: Select[Any]) -> Page:
    """One page of ``query`` (already restricted to what the caller may see), as the request asks for it."""
    visible = query
    query = filtered(listing, query)
    tag_ids = _tag_ids(session, listing, query)
    if tag_ids is not None:
        query = query.where(listing.model.id.in_(tag_ids))
    pairs = _sorting(listing)
    limit, marker_id = _limit(), request.args.get("marker")
    reverse = bool(to_bool(request.args.get("page_reverse", "false"), "page_reverse"))
    if reverse:
        pairs = [(column, not ascending) for column, ascending in pairs]
    if marker_id and limit:
        marker = _marker(session, listing, visible, marker_id)
        if marker is None:
            if listing.not_found is not None:
                raise listing.not_found(marker_id)
            raise InvalidAttribute(attribute="marker", reason=f"'{marker_id}' not found")
        query = query.where(_keyset(pairs, marker))
    query = query.order_by(*_order(pairs))
    if limit:
        query = query.limit(limit)
    entities = query.column_descriptions[0]["type"] is listing.model and len(query.column_descriptions) == 1
    # Plain rows come through Core: the ORM's loading step would cost more than the query.
    rows = list(session.scalars(query).all() if entities else session.connection().execute(query).all())
    if reverse:
        rows.reverse()
    ids = [row.id for row in rows]
    return Page(rows, _links(listing, ids, limit, reverse), query.with_only_columns(listing.model.id))


def _links(listing: Listing, ids: list[str], limit: int | None, reverse: bool) -> list[dict[str, str]]:
    if not limit or not ids:
        return []
    base = f"{public_url()}{PREFIX}/{listing.collection}"
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in ("marker", "page_reverse")]
    links = []
    if not (len(ids) < limit and not reverse):
        links.append({"rel": "next", "href": f"{base}?{urlencode([*kept, ('marker', ids[-1])])}"})
    if not (len(ids) < limit and reverse):
        previous = [*kept, ("marker", ids[0]), ("page_reverse", "True")]
        links.append({"rel": "previous", "href": f"{base}?{urlencode(previous)}"})
    return links
