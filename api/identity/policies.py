"""``/v3/policies``: Keystone's policy blobs, opaque documents stored for other services to fetch.

Keystone deprecated this API long ago but still serves it, and Tempest and ``openstack policy`` call it. Stratus
stores and returns the blobs; it enforces none of them (its own rules are ``api.policy``). Admins write them;
admins and system readers read them, as Keystone's defaults say.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.runtime import runtime
from api.urls import collection_links, self_link
from api.validation import validated_body
from common.exceptions import NotFound
from identity.models import PolicyBlob

bp = Blueprint("identity_policies", __name__, url_prefix="/identity/v3/policies")

_properties: dict[str, Any] = {
    "blob": {"type": "string", "maxLength": 1048576},
    "type": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _schema(required: list[str]) -> dict[str, Any]:
    """``{"policy": {...}}``; unknown attributes are kept (Keystone's ``extra``), an ``id`` is ignored."""
    body: dict[str, Any] = {"type": "object", "properties": _properties, "minProperties": 1}
    if required:
        body["required"] = required
    return {"type": "object", "properties": {"policy": body}, "required": ["policy"]}


POLICY_CREATE = _schema(["blob", "type"])
POLICY_UPDATE = _schema([])


def _view(row: PolicyBlob) -> dict[str, Any]:
    return {
        **(row.extra or {}),
        "id": row.id,
        "blob": row.blob,
        "type": row.type,
        "links": self_link(f"/policies/{row.id}"),
    }


def _extra(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("id", "blob", "type", "links")}


def _get(session: Session, policy_id: str) -> PolicyBlob:
    found = session.get(PolicyBlob, policy_id) if len(policy_id) <= 64 else None
    if found is None:
        raise NotFound(kind="policy", id=policy_id)
    return found


@bp.get("")
def list_policies() -> Response:
    policy.enforce("identity:list_policies")
    query = select(PolicyBlob).order_by(PolicyBlob.id)
    if "type" in request.args:
        query = query.where(PolicyBlob.type == request.args["type"])
    with runtime().db.session() as session:
        policies = [_view(p) for p in session.scalars(query)]
    return jsonify({"policies": policies, "links": collection_links("/policies")})


@bp.post("")
def create_policy() -> Response:
    policy.enforce("identity:create_policy")
    body = validated_body(POLICY_CREATE)["policy"]
    with runtime().db.session() as session:
        row = PolicyBlob(blob=body["blob"], type=body["type"], extra=_extra(body))
        session.add(row)
        session.flush()
        view = _view(row)
    return jsonify({"policy": view}), 201


@bp.get("/<policy_id>")
def get_policy(policy_id: str) -> Response:
    policy.enforce("identity:get_policy")
    with runtime().db.session() as session:
        return jsonify({"policy": _view(_get(session, policy_id))})


@bp.patch("/<policy_id>")
def update_policy(policy_id: str) -> Response:
    policy.enforce("identity:update_policy")
    body = validated_body(POLICY_UPDATE)["policy"]
    with runtime().db.session() as session:
        row = _get(session, policy_id)
        row.blob = body.get("blob", row.blob)
        row.type = body.get("type", row.type)
        if _extra(body):
            row.extra = {**(row.extra or {}), **_extra(body)}
        session.flush()
        view = _view(row)
    return jsonify({"policy": view})


@bp.delete("/<policy_id>")
def delete_policy(policy_id: str) -> Response:
    policy.enforce("identity:delete_policy")
    with runtime().db.session() as session:
        session.delete(_get(session, policy_id))
    return Response(status=204)
