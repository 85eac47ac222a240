"""``/v3/regions``: the configured region (built in, read-only) and the regions admins make, in a tree.

As Keystone: an id may be chosen (``PUT /regions/<id>`` or ``id`` in a POST) and is 409 when taken; a parent
must exist (404) and may not make a loop (400); deleting a region deletes its sub-regions, and is 403 while it
or one of them still has endpoints. The built-in region can be a parent and hold endpoints, but not be changed
or deleted (403), so the cloud's own catalog always stays whole.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import policy
from api.identity.catalog_schemas import REGION_CREATE, REGION_UPDATE
from api.runtime import runtime
from api.urls import collection_links, self_link
from api.validation import validated_body
from common.db import begin_write, new_id
from common.exceptions import BadRequest, Conflict, Forbidden, NotFound
from identity.models import CatalogEndpoint, CatalogRegion

bp = Blueprint("identity_regions", __name__, url_prefix="/identity/v3/regions")

_KNOWN = ("id", "description", "parent_region_id", "links")


def region_view(region: CatalogRegion) -> dict[str, Any]:
    return {
        **(region.extra or {}),
        "id": region.id,
        "description": region.description,
        "parent_region_id": region.parent_region_id,
        "links": self_link(f"/regions/{region.id}"),
    }


def builtin_region_view() -> dict[str, Any]:
    region_id = runtime().catalog.region
    return {"id": region_id, "description": "", "parent_region_id": None, "links": self_link(f"/regions/{region_id}")}


def _builtin_id() -> str:
    return runtime().catalog.region


def _refuse_builtin(region_id: str) -> None:
    if region_id == _builtin_id():
        raise Forbidden(
            f"Region {region_id} is Stratus's own region (the 'region' setting): it cannot be changed or deleted "
            "through the API."
        )


def region_exists(session: Session, region_id: str) -> bool:
    """True for the built-in region and for a stored one (which this transaction then holds against deletion on
    PostgreSQL)."""
    if region_id == _builtin_id():
        return True
    if len(region_id) > 255:
        return False
    found = select(CatalogRegion.id).where(CatalogRegion.id == region_id).with_for_update()
    return session.execute(found).first() is not None


def create_region(session: Session, region_id: str, body: dict[str, Any]) -> CatalogRegion:
    """Store a region (the caller holds a write transaction); 409 for a taken id, 404 for a missing parent."""
    if region_id == _builtin_id() or session.get(CatalogRegion, region_id) is not None:
        raise Conflict(kind="region", reason=f"Duplicate ID, {region_id}")
    parent_id = body.get("parent_region_id")
    if parent_id is not None:
        if parent_id == region_id:
            raise _circular(parent_id)
        if not region_exists(session, parent_id):
            raise NotFound(kind="region", id=parent_id)
    region = CatalogRegion(
        id=region_id,
        description=body.get("description") or "",
        parent_region_id=parent_id,
        extra=_extra(body),
    )
    session.add(region)
    try:
        session.flush()
    except IntegrityError:  # a concurrent request stored the same id first; the caller rolls back
        raise Conflict(kind="region", reason=f"Duplicate ID, {region_id}") from None
    return region


def _extra(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _KNOWN}


def _circular(parent_id: str) -> BadRequest:
    return BadRequest(f"The specified parent region {parent_id} would create a circular region hierarchy.")


def _get(session: Session, region_id: str) -> CatalogRegion:
    region = session.get(CatalogRegion, region_id) if len(region_id) <= 255 else None
    if region is None:
        raise NotFound(kind="region", id=region_id)
    return region


def descendants(session: Session, region_id: str) -> set[str]:
    children: dict[str | None, list[str]] = {}
    for child_id, parent_id in session.execute(select(CatalogRegion.id, CatalogRegion.parent_region_id)):
        children.setdefault(parent_id, []).append(child_id)
    found: set[str] = set()
    frontier = [region_id]
    while frontier:
        current = frontier.pop()
        for child in children.get(current, ()):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


@bp.get("")
def list_regions() -> Response:
    policy.enforce("identity:list_regions")
    parent = request.args.get("parent_region_id")
    with runtime().db.session() as session:
        query = select(CatalogRegion).order_by(CatalogRegion.created_at, CatalogRegion.id)
        if parent is not None:
            query = query.where(CatalogRegion.parent_region_id == parent)
        regions = [region_view(r) for r in session.scalars(query)]
    if parent is None:
        regions.insert(0, builtin_region_view())
    return jsonify({"regions": regions, "links": collection_links("/regions")})


@bp.get("/<region_id>")
def get_region(region_id: str) -> Response:
    policy.enforce("identity:get_region")
    if region_id == _builtin_id():
        return jsonify({"region": builtin_region_view()})
    with runtime().db.session() as session:
        return jsonify({"region": region_view(_get(session, region_id))})


@bp.post("")
def create_region_with_any_id() -> tuple[Response, int]:
    policy.enforce("identity:create_region")
    body = validated_body(REGION_CREATE)["region"]
    with runtime().db.session() as session:
        begin_write(session)
        view = region_view(create_region(session, body.get("id") or new_id(), body))
    return jsonify({"region": view}), 201


@bp.put("/<region_id>")
def create_region_with_id(region_id: str) -> tuple[Response, int]:
    policy.enforce("identity:create_region")
    body = validated_body(REGION_CREATE)["region"]
    if body.get("id", region_id) != region_id:
        raise BadRequest(f'Conflicting region IDs specified: "{region_id}" != "{body["id"]}"')
    if len(region_id) > 255 or "/" in region_id or any(ord(c) < 32 or ord(c) == 127 for c in region_id):
        raise BadRequest(f"Invalid region id {region_id!r}: up to 255 characters, no '/' or control characters.")
    with runtime().db.session() as session:
        begin_write(session)
        view = region_view(create_region(session, region_id, body))
    return jsonify({"region": view}), 201


@bp.patch("/<region_id>")
def update_region(region_id: str) -> Response:
    policy.enforce("identity:update_region")
    body = validated_body(REGION_UPDATE)["region"]
    if body.get("id", region_id) != region_id:
        raise BadRequest("Cannot change ID")
    _refuse_builtin(region_id)
    with runtime().db.session() as session:
        begin_write(session)
        region = _get(session, region_id)
        if "parent_region_id" in body:
            parent_id = body["parent_region_id"]
            if parent_id is not None:
                if parent_id == region_id or parent_id in descendants(session, region_id):
                    raise _circular(parent_id)
                if not region_exists(session, parent_id):
                    raise NotFound(kind="region", id=parent_id)
            region.parent_region_id = parent_id
        if "description" in body:
            region.description = body["description"] or ""
        if extra := _extra(body):
            region.extra = {**(region.extra or {}), **extra}
        session.flush()
        view = region_view(region)
    return jsonify({"region": view})


@bp.delete("/<region_id>")
def delete_region(region_id: str) -> Response:
    policy.enforce("identity:delete_region")
    _refuse_builtin(region_id)
    with runtime().db.session() as session:
        begin_write(session)
        _get(session, region_id)
        doomed = {region_id} | descendants(session, region_id)
        # Locked before the check: an endpoint or sub-region being added under one of them (which reads its
        # region FOR UPDATE) either comes first and is seen here, or waits and then finds no region.
        session.execute(select(CatalogRegion.id).where(CatalogRegion.id.in_(doomed)).with_for_update()).all()
        in_use = select(CatalogEndpoint.id).where(CatalogEndpoint.region_id.in_(doomed)).limit(1)
        if session.execute(in_use).first() is not None:
            raise Forbidden(
                f"Unable to delete region {region_id} because it or its child regions have associated endpoints."
            )
        session.execute(delete(CatalogRegion).where(CatalogRegion.id.in_(doomed)))
    return Response(status=204)
