"""``/flavors``: list and show what callers may use; admins create, delete, tag (extra specs) and share them.

A private flavor is visible to admins and to the projects it was shared with (``os-flavor-access``); to
everyone else it does not exist (404). Flavors are never updated in place but for their description (2.55): a
server keeps a snapshot of its flavor, so deleting one in use is allowed, as in Nova.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import policy
from api.compute import lookups
from api.compute.extra_spec_rules import validate as validate_known_specs
from api.compute.microversions import at_least
from api.compute.resource_schemas import (
    EXTRA_SPEC_ITEM,
    EXTRA_SPECS,
    FLAVOR_ACTION,
    FLAVOR_CREATE,
    FLAVOR_CREATE_V255,
    FLAVOR_CREATE_V2102,
    FLAVOR_UPDATE,
    as_bool,
)
from api.compute.views import flavor_view, paged
from api.context import RequestContext
from api.runtime import runtime
from api.validation import validated_body
from common.db import new_uuid
from common.exceptions import BadRequest, Conflict, NotFound, ValidationError
from compute.models import Flavor, FlavorAccess
from identity.models import Project

bp = Blueprint("compute_flavors", __name__, url_prefix="/compute/v2.1")

MAX_INT = 0x7FFFFFFF
MAX_FLOAT = 3.40282e38
SORT_KEYS = {
    "flavorid": Flavor.id,
    "id": Flavor.created_at,  # Nova's internal id is the order of creation
    "name": Flavor.name,
    "memory_mb": Flavor.memory_mb,
    "vcpus": Flavor.vcpus,
    "root_gb": Flavor.root_gb,
    "ephemeral_gb": Flavor.ephemeral_gb,
    "swap": Flavor.swap,
    "rxtx_factor": Flavor.rxtx_factor,
    "is_public": Flavor.is_public,
    "disabled": Flavor.disabled,
    "created_at": Flavor.created_at,
    "updated_at": Flavor.updated_at,
    "description": Flavor.description,
}


# --- listing and showing ----------------------------------------------------------------------------------


def _is_public_filter(ctx: RequestContext) -> Any:
    """Nova's rule: non-admins see enabled public flavors and those shared with their project; admins choose
    with ``is_public`` (default true, which also includes their project's private ones; ``none`` is all)."""
    shared = select(FlavorAccess.flavor_id).where(FlavorAccess.project_id == ctx.project_id)
    if not ctx.is_admin:
        return or_(Flavor.is_public.is_(True), Flavor.id.in_(shared)) & Flavor.disabled.is_(False)
    raw = request.args.get("is_public")
    if raw is not None and raw.strip().lower() == "none":
        return Flavor.id.is_not(None)
    try:
        wanted = True if raw is None else as_bool(raw.strip())
    except KeyError:
        raise BadRequest(f"Invalid is_public filter [{raw}]") from None
    if wanted:
        return or_(Flavor.is_public.is_(True), Flavor.id.in_(shared))
    return Flavor.is_public.is_(False)


def _minimum(param: str, column: Any) -> Any:
    raw = request.args[param]
    try:
        return column >= int(raw)
    except ValueError:
        raise BadRequest(f"Invalid {param} filter [{raw}]") from None


def _listing(ctx: RequestContext, session: Session) -> list[Flavor]:
    query = select(Flavor).where(_is_public_filter(ctx))
    for param, column in (("minRam", Flavor.memory_mb), ("minDisk", Flavor.root_gb)):
        if param in request.args:
            query = query.where(_minimum(param, column))
    sort_key = request.args.get("sort_key") or "flavorid"
    sort_dir = request.args.get("sort_dir") or "asc"
    if sort_key not in SORT_KEYS:
        raise BadRequest(f"Invalid sort_key [{sort_key}]")
    if sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort_dir [{sort_dir}]")
    column = SORT_KEYS[sort_key]
    return list(session.scalars(query.order_by(column.asc() if sort_dir == "asc" else column.desc(), Flavor.id)))


def _list(detail: bool) -> Response:
    ctx = policy.enforce("compute:flavors:read")
    with runtime().db.session() as session:
        page, next_links = paged(_listing(ctx, session), lambda f: f.id, "flavors/detail" if detail else "flavors")
        body: dict[str, Any] = {"flavors": [flavor_view(f, brief=not detail) for f in page]}
    if next_links:
        body["flavors_links"] = next_links
    return jsonify(body)


@bp.get("/flavors")
def list_flavors() -> Response:
    return _list(detail=False)


@bp.get("/flavors/detail")
def list_flavors_detail() -> Response:
    return _list(detail=True)


@bp.get("/flavors/<flavor_id>")
def show_flavor(flavor_id: str) -> Response:
    ctx = policy.enforce("compute:flavors:read")
    with runtime().db.session() as session:
        return jsonify({"flavor": flavor_view(lookups.flavor(session, ctx, flavor_id))})


# --- create and delete (admin) -----------------------------------------------------------------------------


def _integer(body: dict[str, Any], field: str, minimum: int) -> int:
    raw = body.get(field, 0)
    value = 0 if raw == "" else int(raw)  # the schema admits only digits
    if not minimum <= value <= MAX_INT:
        raise ValidationError(field=f"flavor.{field}", reason=f"{raw} is not between {minimum} and {MAX_INT}")
    return value


def _new_flavor(body: dict[str, Any]) -> Flavor:
    flavor_id = body.get("id")
    rxtx = float(body.get("rxtx_factor", 1.0))
    if not 0 < rxtx <= MAX_FLOAT:
        raise ValidationError(field="flavor.rxtx_factor", reason=f"{body['rxtx_factor']} is not a positive number")
    return Flavor(
        id=new_uuid() if flavor_id in (None, "auto") else str(flavor_id),
        name=body["name"],
        memory_mb=_integer(body, "ram", 1),
        vcpus=_integer(body, "vcpus", 1),
        root_gb=_integer(body, "disk", 0),
        ephemeral_gb=_integer(body, "OS-FLV-EXT-DATA:ephemeral", 0),
        swap=_integer(body, "swap", 0),
        rxtx_factor=rxtx,
        is_public=as_bool(body.get("os-flavor-access:is_public", True)),
        description=body.get("description"),
        extra_specs={},
    )


def _create_schema() -> dict[str, Any]:
    """Nova's create body: ``description`` from 2.55; from 2.102 without ``rxtx_factor``."""
    if at_least("2.102"):
        return FLAVOR_CREATE_V2102
    return FLAVOR_CREATE_V255 if at_least("2.55") else FLAVOR_CREATE


@bp.post("/flavors")
def create_flavor() -> Response:
    policy.enforce("compute:flavors:manage")
    flavor = _new_flavor(validated_body(_create_schema())["flavor"])
    with runtime().db.session() as session:
        if session.get(Flavor, flavor.id) is not None:
            raise Conflict(f"Flavor with ID {flavor.id} already exists.")
        if session.scalars(select(Flavor.id).where(Flavor.name == flavor.name)).first() is not None:
            raise Conflict(f"Flavor with name {flavor.name} already exists.")
        session.add(flavor)
        try:
            session.flush()
        except IntegrityError:  # a concurrent create won the race for the id or the name
            raise Conflict(f"Flavor {flavor.name} ({flavor.id}) already exists.") from None
        return jsonify({"flavor": flavor_view(flavor)})


@bp.put("/flavors/<flavor_id>")
def update_flavor(flavor_id: str) -> Response:
    """2.55: a flavor's description is the one thing that changes in place (servers keep their own copy of the
    rest); before 2.55 the method does not exist (404), as in Nova."""
    if not at_least("2.55"):
        raise NotFound("The resource could not be found.")
    ctx = policy.enforce("compute:flavors:manage")
    description = validated_body(FLAVOR_UPDATE)["flavor"]["description"]
    with runtime().db.session() as session:
        flavor = lookups.flavor(session, ctx, flavor_id)
        flavor.description = description
        session.flush()
        return jsonify({"flavor": flavor_view(flavor)})


@bp.delete("/flavors/<flavor_id>")
def delete_flavor(flavor_id: str) -> Response:
    ctx = policy.enforce("compute:flavors:manage")
    with runtime().db.session() as session:
        session.delete(lookups.flavor(session, ctx, flavor_id))
    return Response(status=202)


# --- extra specs -------------------------------------------------------------------------------------------


def _spec_values(specs: dict[str, Any]) -> dict[str, str]:
    """Nova stores every value as a string; numbers must still fit in 255 characters."""
    values = {key: value if isinstance(value, str) else str(value) for key, value in specs.items()}
    for key, value in values.items():
        if len(value) > 255:
            raise ValidationError(field=f"extra_specs.{key}", reason="longer than 255 characters")
    if at_least("2.86"):  # Nova validates the keys of the namespaces it knows from 2.86
        validate_known_specs(values)
    return values


@bp.get("/flavors/<flavor_id>/os-extra_specs")
def list_extra_specs(flavor_id: str) -> Response:
    ctx = policy.enforce("compute:flavors:read")
    with runtime().db.session() as session:
        return jsonify({"extra_specs": dict(lookups.flavor(session, ctx, flavor_id).extra_specs or {})})


@bp.post("/flavors/<flavor_id>/os-extra_specs")
def create_extra_specs(flavor_id: str) -> Response:
    ctx = policy.enforce("compute:flavors:manage")
    specs = _spec_values(validated_body(EXTRA_SPECS)["extra_specs"])
    with runtime().db.session() as session:
        flavor = lookups.flavor(session, ctx, flavor_id)
        flavor.extra_specs = {**(flavor.extra_specs or {}), **specs}
    return jsonify({"extra_specs": specs})


def _spec(flavor: Flavor, key: str) -> str:
    specs = flavor.extra_specs or {}
    if key not in specs:
        raise NotFound(f"Flavor {flavor.id} has no extra specs with key {key}.")
    return specs[key]


@bp.get("/flavors/<flavor_id>/os-extra_specs/<key>")
def show_extra_spec(flavor_id: str, key: str) -> Response:
    ctx = policy.enforce("compute:flavors:read")
    with runtime().db.session() as session:
        return jsonify({key: _spec(lookups.flavor(session, ctx, flavor_id), key)})


@bp.put("/flavors/<flavor_id>/os-extra_specs/<key>")
def update_extra_spec(flavor_id: str, key: str) -> Response:
    ctx = policy.enforce("compute:flavors:manage")
    item = _spec_values(validated_body(EXTRA_SPEC_ITEM))
    if list(item) != [key]:
        raise BadRequest("Request body and URI mismatch")
    with runtime().db.session() as session:
        flavor = lookups.flavor(session, ctx, flavor_id)
        flavor.extra_specs = {**(flavor.extra_specs or {}), **item}
    return jsonify(item)


@bp.delete("/flavors/<flavor_id>/os-extra_specs/<key>")
def delete_extra_spec(flavor_id: str, key: str) -> Response:
    ctx = policy.enforce("compute:flavors:manage")
    with runtime().db.session() as session:
        flavor = lookups.flavor(session, ctx, flavor_id)
        _spec(flavor, key)
        flavor.extra_specs = {k: v for k, v in (flavor.extra_specs or {}).items() if k != key}
    return Response(status=200)


# --- access to private flavors -----------------------------------------------------------------------------


def _access_list(session: Session, flavor: Flavor) -> Response:
    projects = session.scalars(
        select(FlavorAccess.project_id).where(FlavorAccess.flavor_id == flavor.id).order_by(FlavorAccess.project_id)
    )
    return jsonify({"flavor_access": [{"flavor_id": flavor.id, "tenant_id": project} for project in projects]})


@bp.get("/flavors/<flavor_id>/os-flavor-access")
def list_flavor_access(flavor_id: str) -> Response:
    ctx = policy.enforce("compute:flavors:manage")
    with runtime().db.session() as session:
        flavor = lookups.flavor(session, ctx, flavor_id)
        if flavor.is_public:
            raise NotFound("Access list not available for public flavors.")
        return _access_list(session, flavor)


@bp.post("/flavors/<flavor_id>/action")
def flavor_action(flavor_id: str) -> Response:
    ctx = policy.enforce("compute:flavors:manage")
    body = validated_body(FLAVOR_ACTION)
    adding = "addTenantAccess" in body
    project_id = (body.get("addTenantAccess") or body.get("removeTenantAccess"))["tenant"]
    with runtime().db.session() as session:
        if session.get(Project, project_id) is None:
            raise BadRequest(f"Project ID {project_id} is not a valid project.")
        flavor = lookups.flavor(session, ctx, flavor_id)
        access = session.get(FlavorAccess, (flavor.id, project_id))
        if adding:
            if flavor.is_public and at_least("2.7"):
                raise Conflict("Can not add access to a public flavor.")
            if access is not None:
                raise Conflict(f"Flavor access already exists for flavor {flavor.id} and project {project_id}.")
            session.add(FlavorAccess(flavor_id=flavor.id, project_id=project_id))
        else:
            if access is None:
                raise NotFound(f"Flavor access not found for {flavor.id} / {project_id} combination.")
            session.delete(access)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"Flavor access already exists for flavor {flavor.id} and project {project_id}.") from None
        return _access_list(session, flavor)
