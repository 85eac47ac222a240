"""``/types``: volume types (list, show, the default, and for admins create, update, delete), their
``extra_specs`` (which name the backend, ``volume_backend_name``) and ``os-volume-type-access`` (who may use a
private type). Records and rules are ``volume.types``'; a type the caller may not use does not exist (404)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from api import policy
from api.context import current
from api.runtime import runtime
from api.validation import validated_body
from api.volume import routing, schemas
from api.volume.views import type_access_view, type_view
from common.exceptions import BadRequest, NotFound
from volume import types
from volume.models import VolumeType

bp = Blueprint("volume_types", __name__)


def _project_scope() -> str | None:
    """Whose types the caller sees: an admin's every type (None), anyone else's their project's."""
    ctx = current()
    return None if ctx.is_admin else ctx.project_id or ""


def _is_public_filter() -> bool | None:
    """Cinder's ``is_public``: only public types by default, ``none`` for every one (admins' choice)."""
    raw = request.args.get("is_public")
    if raw is None:
        return True
    if raw.strip().lower() == "none":
        return None
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes", "on", "t", "y"):
        return True
    if lowered in ("false", "0", "no", "off", "f", "n"):
        return False
    raise BadRequest(f"Invalid is_public filter [{raw[:40]}]")


@routing.get(bp, "/types")
def list_types() -> Response:
    """Admins: the public types, the private ones with ``is_public=false``, all with ``is_public=none``; anyone
    else: the public ones and the private ones shared with their project."""
    ctx = policy.enforce("volume:types:read")
    is_public = _is_public_filter()
    query = select(VolumeType).where(types.usable_by(_project_scope()))
    if ctx.is_admin and is_public is not None:
        query = query.where(VolumeType.is_public.is_(is_public))
    with runtime().db.session() as session:
        found = session.scalars(query.order_by(VolumeType.name))
        return jsonify({"volume_types": [type_view(t, ctx) for t in found]})


@routing.get(bp, "/types/default")
def show_default_type() -> Response:
    ctx = policy.enforce("volume:types:read")
    rt = runtime()
    with rt.db.session() as session:
        return jsonify({"volume_type": type_view(types.default_type(session, rt.settings), ctx)})


@routing.get(bp, "/types/<type_id>")
def show_type(type_id: str) -> Response:
    ctx = policy.enforce("volume:types:read")
    with runtime().db.session() as session:
        return jsonify({"volume_type": type_view(types.get_type(session, type_id, _project_scope()), ctx)})


@routing.post(bp, "/types")
def create_type() -> Response:
    ctx = policy.enforce("volume:types:manage")
    body = validated_body(schemas.TYPE_CREATE)["volume_type"]
    name = body["name"].strip()
    if not name:
        raise BadRequest("Volume type name can not be empty.")
    with runtime().db.session() as session:
        made = types.create_type(
            session,
            name=name,
            description=body.get("description"),
            is_public=schemas.as_bool(body.get("os-volume-type-access:is_public", True)),
            extra_specs=body.get("extra_specs") or {},
        )
        return jsonify({"volume_type": type_view(made, ctx)})


@routing.put(bp, "/types/<type_id>")
def update_type(type_id: str) -> Response:
    ctx = policy.enforce("volume:types:manage")
    body = validated_body(schemas.TYPE_UPDATE)["volume_type"]
    if not body:
        raise BadRequest("Specify volume type name, description, is_public or a combination thereof.")
    name = body["name"].strip() if "name" in body else None
    if name == "":
        raise BadRequest("Volume type name can not be empty.")
    is_public = schemas.as_bool(body["is_public"]) if "is_public" in body else None
    with runtime().db.session() as session:
        found = types.get_type(session, type_id, None)
        types.update_type(session, found, name=name, description=body.get("description"), is_public=is_public)
        return jsonify({"volume_type": type_view(found, ctx)})


@routing.delete(bp, "/types/<type_id>")
def delete_type(type_id: str) -> Response:
    policy.enforce("volume:types:manage")
    rt = runtime()
    with rt.db.session() as session:
        types.delete_type(session, rt.settings, types.get_type(session, type_id, None))
    return Response(status=202)


# --- extra specs ---------------------------------------------------------------------------------------------


def _managed(session: Any, type_id: str) -> VolumeType:
    policy.enforce("volume:types:manage")
    return types.get_type(session, type_id, None)


@routing.get(bp, "/types/<type_id>/extra_specs")
def list_extra_specs(type_id: str) -> Response:
    with runtime().db.session() as session:
        return jsonify({"extra_specs": dict(_managed(session, type_id).extra_specs or {})})


@routing.post(bp, "/types/<type_id>/extra_specs")
def set_extra_specs(type_id: str) -> Response:
    with runtime().db.session() as session:
        found = _managed(session, type_id)
        specs = validated_body(schemas.EXTRA_SPECS_BODY)["extra_specs"]
        types.set_extra_specs(session, found, specs)
    return jsonify({"extra_specs": specs})


@routing.get(bp, "/types/<type_id>/extra_specs/<key>")
def show_extra_spec(type_id: str, key: str) -> Response:
    with runtime().db.session() as session:
        specs = dict(_managed(session, type_id).extra_specs or {})
    if key not in specs:
        raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
    return jsonify({key: specs[key]})


@routing.put(bp, "/types/<type_id>/extra_specs/<key>")
def update_extra_spec(type_id: str, key: str) -> Response:
    with runtime().db.session() as session:
        found = _managed(session, type_id)
        item = validated_body(schemas.EXTRA_SPECS)
        if len(item) != 1:
            raise BadRequest("Request body contains too many items." if item else "Request body empty.")
        if key not in item:
            raise BadRequest("Request body and URI mismatch")
        types.set_extra_specs(session, found, item)
    return jsonify(item)


@routing.delete(bp, "/types/<type_id>/extra_specs/<key>")
def delete_extra_spec(type_id: str, key: str) -> Response:
    with runtime().db.session() as session:
        types.unset_extra_spec(session, _managed(session, type_id), key)
    return Response(status=202)


# --- access to private types ---------------------------------------------------------------------------------


@routing.get(bp, "/types/<type_id>/os-volume-type-access")
def list_type_access(type_id: str) -> Response:
    with runtime().db.session() as session:
        found = _managed(session, type_id)
        return jsonify({"volume_type_access": type_access_view(found.id, types.access_list(session, found))})


@routing.post(bp, "/types/<type_id>/action")
def type_action(type_id: str) -> Response:
    with runtime().db.session() as session:
        found = _managed(session, type_id)
        body = validated_body(schemas.TYPE_ACTION)
        if "addProjectAccess" in body:
            types.add_access(session, found, body["addProjectAccess"]["project"])
        else:
            types.remove_access(session, found, body["removeProjectAccess"]["project"])
    return Response(status=202)
