"""Role grants on projects and domains, and the ``/v3/role_assignments`` report."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.context import RequestContext
from api.identity.views import role_view
from api.runtime import runtime
from api.urls import collection_links, identity_url
from api.validation import query_bool
from common.exceptions import NotFound
from identity.lookups import get_or_404
from identity.models import Domain, Project, Role, RoleAssignment, User
from identity.tokens import role_graph

bp = Blueprint("identity_assignments", __name__, url_prefix="/identity/v3")

TARGETS: dict[str, type[Project] | type[Domain]] = {"projects": Project, "domains": Domain}
TARGET_TYPES = {"projects": "project", "domains": "domain"}


def _grant_target(session: Session, collection: str, target_id: str, user_id: str, ctx: RequestContext) -> None:
    """The project or domain and the user of a grant URL (404 for either missing). A caller who is not an admin
    asks only about their own grants, and a target they hold no role on is answered exactly as a missing one:
    otherwise ``GET /projects/<id>/users/<self>/roles`` would tell any user which project ids exist."""
    if collection not in TARGETS:
        raise NotFound(kind="resource", id=collection)
    get_or_404(session, TARGETS[collection], target_id)
    if not ctx.is_admin:
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
        get_or_404(session, Role, role_id)
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


def _assignment_view(a: RoleAssignment, names: dict[str, dict[str, Any]] | None, prior: str | None) -> dict[str, Any]:
    role: dict[str, Any] = {"id": a.role_id}
    user: dict[str, Any] = {"id": a.user_id}
    scope_ref: dict[str, Any] = {"id": a.target_id}
    if names is not None:
        role |= names["role"].get(a.role_id, {})
        user |= names["user"].get(a.user_id, {})
        scope_ref |= names[a.target_type].get(a.target_id, {})
    link = identity_url(f"/{a.target_type}s/{a.target_id}/users/{a.user_id}/roles/{prior or a.role_id}")
    view: dict[str, Any] = {
        "role": role,
        "user": user,
        "scope": {a.target_type: scope_ref},
        "links": {"assignment": link},
    }
    if prior:
        view["links"]["prior_role"] = identity_url(f"/roles/{prior}")
    return view


def _names(session: Session) -> dict[str, dict[str, dict[str, Any]]]:
    domains = {d.id: d.name for d in session.scalars(select(Domain))}
    return {
        "role": {r.id: {"name": r.name} for r in session.scalars(select(Role))},
        "user": {
            u.id: {"name": u.name, "domain": {"id": u.domain_id, "name": domains.get(u.domain_id)}}
            for u in session.scalars(select(User))
        },
        "project": {
            p.id: {"name": p.name, "domain": {"id": p.domain_id, "name": domains.get(p.domain_id)}}
            for p in session.scalars(select(Project))
        },
        "domain": {d_id: {"name": name} for d_id, name in domains.items()},
    }


@bp.get("/role_assignments")
def list_role_assignments() -> Response:
    policy.enforce("identity:list_role_assignments")
    args = request.args
    effective = bool(query_bool("effective", False))
    with runtime().db.session() as session:
        query = select(RoleAssignment)
        if args.get("user.id"):
            query = query.where(RoleAssignment.user_id == args["user.id"])
        for target_type in ("project", "domain"):
            if args.get(f"scope.{target_type}.id"):
                query = query.where(
                    RoleAssignment.target_type == target_type,
                    RoleAssignment.target_id == args[f"scope.{target_type}.id"],
                )
        if args.get("group.id"):
            query = query.where(RoleAssignment.user_id.is_(None))
        rows = session.scalars(query.order_by(RoleAssignment.target_id, RoleAssignment.user_id)).all()
        names = _names(session) if query_bool("include_names", False) else None
        views = []
        closure = role_graph(session)[0] if effective else {}
        for a in rows:
            expanded = [(a, None)] + [
                (
                    _grant("projects" if a.target_type == "project" else "domains", a.target_id, a.user_id, implied),
                    a.role_id,
                )
                for implied in sorted(closure.get(a.role_id, ()))
            ]
            for assignment, prior in expanded:
                if args.get("role.id") and assignment.role_id != args["role.id"]:
                    continue
                views.append(_assignment_view(assignment, names, prior))
    return jsonify({"role_assignments": views, "links": collection_links("/role_assignments")})
