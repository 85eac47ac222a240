"""``/v3/roles``: global roles and what each implies."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from api import policy
from api.identity import filters
from api.identity.schemas import ROLE_CREATE, ROLE_UPDATE
from api.identity.views import role_view
from api.runtime import runtime
from api.urls import collection_links, self_link
from api.validation import validated_body
from identity.lookups import ensure_unique, get_or_404
from identity.models import ImpliedRole, Role

bp = Blueprint("identity_roles", __name__, url_prefix="/identity/v3/roles")


@bp.get("")
def list_roles() -> Response:
    policy.enforce("identity:list_roles")
    with runtime().db.session() as session:
        query = filters.apply(select(Role), Role, ("name",), bool_fields=())
        roles = [role_view(r) for r in session.scalars(query.order_by(Role.name))]
    return jsonify({"roles": roles, "links": collection_links("/roles")})


@bp.post("")
def create_role() -> Response:
    policy.enforce("identity:create_role")
    body = validated_body(ROLE_CREATE)["role"]
    with runtime().db.session() as session:
        ensure_unique(session, Role, name=body["name"])
        role = Role(name=body["name"], description=body.get("description") or "")
        session.add(role)
        session.flush()
        view = role_view(role)
    return jsonify({"role": view}), 201


@bp.get("/<role_id>")
def get_role(role_id: str) -> Response:
    policy.enforce("identity:get_role")
    with runtime().db.session() as session:
        return jsonify({"role": role_view(get_or_404(session, Role, role_id))})


@bp.patch("/<role_id>")
def update_role(role_id: str) -> Response:
    policy.enforce("identity:update_role")
    body = validated_body(ROLE_UPDATE)["role"]
    with runtime().db.session() as session:
        role = get_or_404(session, Role, role_id)
        if "name" in body:
            ensure_unique(session, Role, exclude_id=role.id, name=body["name"])
            role.name = body["name"]
        if "description" in body:
            role.description = body["description"] or ""
        session.flush()
        view = role_view(role)
    return jsonify({"role": view})


@bp.delete("/<role_id>")
def delete_role(role_id: str) -> Response:
    policy.enforce("identity:delete_role")
    with runtime().db.session() as session:
        session.delete(get_or_404(session, Role, role_id))
    return Response(status=204)


@bp.get("/<role_id>/implies")
def list_implied_roles(role_id: str) -> Response:
    policy.enforce("identity:list_implied_roles")
    with runtime().db.session() as session:
        prior = get_or_404(session, Role, role_id)
        implied = session.scalars(
            select(Role)
            .join(ImpliedRole, ImpliedRole.implied_role_id == Role.id)
            .where(ImpliedRole.prior_role_id == prior.id)
        ).all()
        body = {
            "prior_role": {"id": prior.id, "name": prior.name, "links": self_link(f"/roles/{prior.id}")},
            "implies": [{"id": r.id, "name": r.name, "links": self_link(f"/roles/{r.id}")} for r in implied],
        }
    return jsonify({"role_inference": body, "links": self_link(f"/roles/{role_id}/implies")})
