"""``/v3/roles``: global roles, and domain-specific ones (``domain_id``: listed only when asked for by domain, as
Keystone lists them; names unique within their domain). What a role implies is ``api.identity.implied_roles``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import policy
from api.identity import filters
from api.identity.schemas import ROLE_CREATE, ROLE_UPDATE
from api.identity.views import role_view
from api.runtime import runtime
from api.urls import collection_links
from api.validation import validated_body
from common.exceptions import BadRequest, Conflict
from identity.lookups import ensure_unique, get_or_404
from identity.models import Role
from identity.roles import check_role_domain

bp = Blueprint("identity_roles", __name__, url_prefix="/identity/v3/roles")


def _flush_named(session: Session, name: str) -> None:
    """Write a new or renamed role: a name another request took at the same moment is a 409 too, not a 500."""
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(kind="role", reason=f"Duplicate entry (name={name})") from None


@bp.get("")
def list_roles() -> Response:
    """Global roles; with ``domain_id``, that domain's roles instead (Keystone filters on a NULL domain by default)."""
    policy.enforce("identity:list_roles")
    domain_id = request.args.get("domain_id") or None
    with runtime().db.session() as session:
        query = filters.apply(select(Role), Role, ("name",), bool_fields=())
        query = query.where(Role.domain_id == domain_id if domain_id else Role.domain_id.is_(None))
        roles = [role_view(r) for r in session.scalars(query.order_by(Role.name))]
    return jsonify({"roles": roles, "links": collection_links("/roles")})


@bp.post("")
def create_role() -> Response:
    policy.enforce("identity:create_role")
    body = validated_body(ROLE_CREATE)["role"]
    domain_id = body.get("domain_id")
    with runtime().db.session() as session:
        check_role_domain(session, domain_id)
        ensure_unique(session, Role, name=body["name"], domain_id=domain_id)
        role = Role(name=body["name"], description=body.get("description") or "", domain_id=domain_id)
        session.add(role)
        _flush_named(session, body["name"])
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
        if body.get("domain_id", role.domain_id) != role.domain_id:
            raise BadRequest("Update of `domain_id` is not allowed.")
        if "name" in body:
            ensure_unique(session, Role, exclude_id=role.id, name=body["name"], domain_id=role.domain_id)
            role.name = body["name"]
        if "description" in body:
            role.description = body["description"] or ""
        _flush_named(session, role.name)
        view = role_view(role)
    return jsonify({"role": view})


@bp.delete("/<role_id>")
def delete_role(role_id: str) -> Response:
    policy.enforce("identity:delete_role")
    with runtime().db.session() as session:
        session.delete(get_or_404(session, Role, role_id))
    return Response(status=204)
