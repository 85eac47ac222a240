"""``/v3/registered_limits`` and ``/v3/limits``: Keystone's unified limits, over the one quota engine.

Registered limits are the defaults of every quota resource of every service (the ``default`` class); limits
are a project's own. They are the same rows the Nova and Neutron quota APIs show, so this is also the API
for what those two have none for: the image quotas Glance enforces (``image_count_total``,
``image_size_total``, as Glance reads them from Keystone) and the network defaults.

Differences from Keystone, because every resource this cloud limits is registered from the start: creating
a registered limit for one sets its default (another resource is a 400), deleting one puts the built-in
default back. Ids are derived from the service and resource (and project), stable across restarts.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from api import policy
from api.context import current
from api.quotas import verify_project
from api.runtime import runtime
from api.urls import collection_links, identity_url
from api.validation import validated_body
from common.exceptions import BadRequest, Conflict, NotFound
from identity.catalog import SERVICES
from quota import limits, registry

bp = Blueprint("identity_limits", __name__, url_prefix="/identity/v3")

_NAMESPACE = uuid.UUID("0c6f3e52-5a8d-4b71-9a53-3f1d8f3f5a27")
SERVICE_IDS = {s.type: s.id for s in SERVICES}
_LIMIT = {"type": "integer", "minimum": -1, "maximum": 0x7FFFFFFF}
_TEXT = {"type": ["string", "null"]}
_ENTRY = {
    "service_id": {"type": "string"},
    "resource_name": {"type": "string"},
    "region_id": _TEXT,
    "description": _TEXT,
}


def _list_body(key: str, entry: dict[str, Any], required: list[str]) -> dict[str, Any]:
    item = {"type": "object", "properties": entry, "required": required, "additionalProperties": False}
    return {"type": "object", "properties": {key: {"type": "array", "items": item, "minItems": 1}}, "required": [key]}


def _patch_body(key: str, entry: dict[str, Any]) -> dict[str, Any]:
    item = {"type": "object", "properties": entry, "additionalProperties": False}
    return {"type": "object", "properties": {key: item}, "required": [key], "additionalProperties": False}


REGISTERED_CREATE = _list_body(
    "registered_limits", {**_ENTRY, "default_limit": _LIMIT}, ["service_id", "resource_name", "default_limit"]
)
REGISTERED_UPDATE = _patch_body("registered_limit", {"default_limit": _LIMIT, "description": _TEXT})
LIMIT_CREATE = _list_body(
    "limits",
    {**_ENTRY, "project_id": {"type": "string"}, "domain_id": {"type": "null"}, "resource_limit": _LIMIT},
    ["service_id", "project_id", "resource_name", "resource_limit"],
)
LIMIT_UPDATE = _patch_body("limit", {"resource_limit": _LIMIT, "description": _TEXT})


def _id(*parts: str) -> str:
    return uuid.uuid5(_NAMESPACE, ":".join(parts)).hex


def _resource(service_id: str, name: str) -> registry.Resource:
    found = registry.BY_NAME.get(name)
    if found is None or SERVICE_IDS.get(found.service) != service_id:
        raise BadRequest(f"Resource {name} of service {service_id} is not limited by this cloud.")
    return found


def _registered_view(name: str, default: int) -> dict[str, Any]:
    resource = registry.resource(name)
    limit_id = _id("registered", resource.service, name)
    return {
        "id": limit_id,
        "service_id": SERVICE_IDS[resource.service],
        "region_id": None,
        "resource_name": name,
        "default_limit": default,
        "description": resource.description,
        "links": {"self": identity_url(f"/registered_limits/{limit_id}")},
    }


def _limit_view(project_id: str, name: str, limit: int) -> dict[str, Any]:
    resource = registry.resource(name)
    limit_id = _id("limit", project_id, name)
    return {
        "id": limit_id,
        "project_id": project_id,
        "domain_id": None,
        "service_id": SERVICE_IDS[resource.service],
        "region_id": None,
        "resource_name": name,
        "resource_limit": limit,
        "description": None,
        "links": {"self": identity_url(f"/limits/{limit_id}")},
    }


def _matches(view: dict[str, Any], fields: tuple[str, ...]) -> bool:
    return all(view.get(f) == request.args[f] for f in fields if f in request.args)


def _registered(session: Session) -> list[dict[str, Any]]:
    defaults = limits.defaults(session, settings=runtime().settings)
    return [_registered_view(name, default) for name, default in defaults.items()]


def _find(items: list[dict[str, Any]], item_id: str, kind: str) -> dict[str, Any]:
    for item in items:
        if item["id"] == item_id:
            return item
    raise NotFound(kind=kind, id=item_id)


@bp.get("/registered_limits")
def list_registered_limits() -> Response:
    policy.enforce("identity:get_registered_limit")
    with runtime().db.session() as session:
        found = [v for v in _registered(session) if _matches(v, ("service_id", "resource_name", "region_id"))]
    return jsonify({"registered_limits": found, "links": collection_links("/registered_limits")})


@bp.get("/registered_limits/<limit_id>")
def get_registered_limit(limit_id: str) -> Response:
    policy.enforce("identity:get_registered_limit")
    with runtime().db.session() as session:
        return jsonify({"registered_limit": _find(_registered(session), limit_id, "registered limit")})


@bp.post("/registered_limits")
def create_registered_limits() -> tuple[Response, int]:
    policy.enforce("identity:update_registered_limit")
    entries = validated_body(REGISTERED_CREATE)["registered_limits"]
    values = {_resource(e["service_id"], e["resource_name"]).name: e["default_limit"] for e in entries}
    with runtime().db.session() as session:
        limits.set_defaults(session, values)
        views = [v for v in _registered(session) if v["resource_name"] in values]
    return jsonify({"registered_limits": views}), 201


@bp.patch("/registered_limits/<limit_id>")
def update_registered_limit(limit_id: str) -> Response:
    policy.enforce("identity:update_registered_limit")
    body = validated_body(REGISTERED_UPDATE)["registered_limit"]
    with runtime().db.session() as session:
        name = _find(_registered(session), limit_id, "registered limit")["resource_name"]
        if "default_limit" in body:
            limits.set_defaults(session, {name: body["default_limit"]})
        return jsonify({"registered_limit": _find(_registered(session), limit_id, "registered limit")})


@bp.delete("/registered_limits/<limit_id>")
def delete_registered_limit(limit_id: str) -> Response:
    policy.enforce("identity:update_registered_limit")
    with runtime().db.session() as session:
        limits.reset_defaults(session, [_find(_registered(session), limit_id, "registered limit")["resource_name"]])
    return Response(status=204)


# --- a project's own limits ---------------------------------------------------------------------------------


def _all_limits(session: Session) -> list[dict[str, Any]]:
    own = limits.projects_with_limits(session)
    return [_limit_view(p, name, limit) for p, values in own.items() for name, limit in sorted(values.items())]


def _visible(session: Session) -> list[dict[str, Any]]:
    """Every project's limits for admins; the caller's project's for anyone else."""
    views = _all_limits(session)
    if policy.allowed("identity:list_limits:all_projects"):
        return views
    ctx = current()
    return [v for v in views if v["project_id"] == ctx.project_id]


@bp.get("/limits/model")
def get_limit_model() -> Response:
    policy.enforce("identity:get_limit_model")
    description = "Limit enforcement and validation does not take project hierarchy into consideration."
    return jsonify({"model": {"name": "flat", "description": description}})


@bp.get("/limits")
def list_limits() -> Response:
    policy.enforce("identity:list_limits")
    with runtime().db.session() as session:
        views = _visible(session)
    wanted = [v for v in views if _matches(v, ("project_id", "service_id", "resource_name", "region_id"))]
    return jsonify({"limits": wanted, "links": collection_links("/limits")})


@bp.get("/limits/<limit_id>")
def get_limit(limit_id: str) -> Response:
    policy.enforce("identity:list_limits")
    with runtime().db.session() as session:
        return jsonify({"limit": _find(_visible(session), limit_id, "limit")})


@bp.post("/limits")
def create_limits() -> tuple[Response, int]:
    policy.enforce("identity:create_limit")
    entries = validated_body(LIMIT_CREATE)["limits"]
    with runtime().db.session() as session:
        created = []
        for entry in entries:
            name = _resource(entry["service_id"], entry["resource_name"]).name
            verify_project(session, entry["project_id"])
            if name in limits.overrides(session, entry["project_id"]):
                raise Conflict(kind="limit", reason=f"Duplicate entry ({entry['project_id']}, {name})")
            limits.set_project_limits(session, entry["project_id"], {name: entry["resource_limit"]})
            created.append(_limit_view(entry["project_id"], name, entry["resource_limit"]))
    return jsonify({"limits": created}), 201


@bp.patch("/limits/<limit_id>")
def update_limit(limit_id: str) -> Response:
    policy.enforce("identity:update_limit")
    body = validated_body(LIMIT_UPDATE)["limit"]
    with runtime().db.session() as session:
        found = _find(_all_limits(session), limit_id, "limit")
        if "resource_limit" in body:
            limits.set_project_limits(session, found["project_id"], {found["resource_name"]: body["resource_limit"]})
            found["resource_limit"] = body["resource_limit"]
    return jsonify({"limit": found})


@bp.delete("/limits/<limit_id>")
def delete_limit(limit_id: str) -> Response:
    policy.enforce("identity:delete_limit")
    with runtime().db.session() as session:
        found = _find(_all_limits(session), limit_id, "limit")
        limits.reset_project(session, found["project_id"], [found["resource_name"]])
    return Response(status=204)
