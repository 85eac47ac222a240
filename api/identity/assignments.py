"""Role grants to users on projects and domains (the report of all grants is ``role_assignments``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.context import RequestContext
from api.identity.views import role_view
from api.runtime import runtime
from api.urls import collection_links
from common.exceptions import NotFound
from identity.lookups import get_or_404
from identity.models import Domain, Project, Role, RoleAssignment, User
from identity.roles import check_domain_role_target

bp = Blueprint("identity_assignments", __name__, url_prefix="/identity/v3")

TARGETS: dict[str, type[Project] | type[Domain]] = {"projects": Project, "domains": Domain}
TARGET_TYPES = {"projects": "project", "domains": "domain"}


def _grant_target(session: Session, collection: str, target_id: str, user_id: str, ctx: RequestContext) -> None:
    """The project or domain and the user of a grant URL (404 for either missing). A caller who is not an admin (or
    a system reader) asks only about their own grants, and a target they hold no role on is answered exactly as a
    missing one: otherwise ``GET /projects/<id>/users/<self>/roles`` would tell any user which project ids exist."""
    if collection not in TARGETS:
        raise NotFound(kind="resource", id=collection)
    get_or_404(session, TARGETS[collection], target_id)
    if not (ctx.is_admin or ctx.is_system_reader):
        held = select(RoleAssignment.role_id).where(
            RoleAssignment.target_type == TARGET_TYPES[collection],
            RoleAssignment.target_id == target_id,
            RoleAssignment.user_id == user_id,
        )
        if session.scalars(held.limit(1)).first() is None:
            raise NotFound(kind=TARGET_TYPES[collection], id=target_id)
    get_or_404(session, User, user_id)


def _grant(collection: str, target_id: str, user_id: str, role_id: str) -> RoleAssignment:
    return RoleAssignment(target_type=TARGET_TYPES[collection], target_id=target_id, user_id=user_id, role_id=role_id)


@bp.put("/<collection>/<target_id>/users/<user_id>/roles/<role_id>")
def create_grant(collection: str, target_id: str, user_id: str, role_id: str) -> Response:
    ctx = policy.enforce("identity:create_grant", {"user_id": user_id})
    with runtime().db.session() as session:
        _grant_target(session, collection, target_id, user_id, ctx)
        role = get_or_404(session, Role, role_id)
        check_domain_role_target(session, role, TARGET_TYPES[collection], target_id)
        grant = _grant(collection, target_id, user_id, role_id)
        if session.get(RoleAssignment, (grant.target_type, target_id, user_id, role_id)) is None:
            session.add(grant)
    return Response(status=204)


@bp.route("/<collection>/<target_id>/users/<user_id>/roles/<role_id>", methods=["GET", "HEAD"])
def check_grant(collection: str, target_id: str, user_id: str, role_id: str) -> Response:
    ctx = policy.enforce("identity:check_grant", {"user_id": user_id})
    with runtime().db.session() as session:
        _grant_target(session, collection, target_id, user_id, ctx)
        get_or_404(session, Role, role_id)
        if session.get(RoleAssignment, (TARGET_TYPES[collection], target_id, user_id, role_id)) is None:
            raise NotFound(kind="role assignment", id=f"{role_id} for user {user_id} on {target_id}")
    return Response(status=204)


@bp.delete("/<collection>/<target_id>/users/<user_id>/roles/<role_id>")
def revoke_grant(collection: str, target_id: str, user_id: str, role_id: str) -> Response:
    ctx = policy.enforce("identity:revoke_grant", {"user_id": user_id})
    with runtime().db.session() as session:
        _grant_target(session, collection, target_id, user_id, ctx)
        grant = session.get(RoleAssignment, (TARGET_TYPES[collection], target_id, user_id, role_id))
        if grant is None:
            raise NotFound(kind="role assignment", id=f"{role_id} for user {user_id} on {target_id}")
        session.delete(grant)
    return Response(status=204)


@bp.get("/<collection>/<target_id>/users/<user_id>/roles")
def list_grants(collection: str, target_id: str, user_id: str) -> Response:
    ctx = policy.enforce("identity:list_grants", {"user_id": user_id})
    with runtime().db.session() as session:
        _grant_target(session, collection, target_id, user_id, ctx)
        roles = session.scalars(
            select(Role)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(
                RoleAssignment.target_type == TARGET_TYPES[collection],
                RoleAssignment.target_id == target_id,
                RoleAssignment.user_id == user_id,
            )
            .order_by(Role.name)
        ).all()
        views = [role_view(r) for r in roles]
    return jsonify({"roles": views, "links": collection_links(f"/{collection}/{target_id}/users/{user_id}/roles")})
