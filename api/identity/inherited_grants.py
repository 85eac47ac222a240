"""Keystone's OS-INHERIT API: grants of a role to a user or group on every project below a domain or a project.

``/v3/OS-INHERIT/{domains,projects}/<id>/{users,groups}/<actor>/roles/<role>/inherited_to_projects``: PUT grants,
GET/HEAD checks, DELETE revokes; ``GET /v3/OS-INHERIT/domains/<id>/{users,groups}/<actor>/roles/
inherited_to_projects`` lists (Keystone offers no list on projects). The grants take the same policy rules as
direct grants, as in Keystone. What they give is computed by ``identity.inheritance``; a write bumps the identity
generation, so tokens carry the change at once.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import policy
from api.context import RequestContext
from api.identity.views import role_view
from api.runtime import runtime
from api.urls import collection_links
from common.db import begin_write
from common.exceptions import Conflict, NotFound
from identity.lookups import get_or_404
from identity.models import (
    Domain,
    Group,
    InheritedGroupRoleAssignment,
    InheritedRoleAssignment,
    Project,
    Role,
    RoleAssignment,
    User,
)
from identity.roles import check_domain_role_target

bp = Blueprint("identity_inherited_grants", __name__, url_prefix="/identity/v3/OS-INHERIT")

TARGETS: dict[str, tuple[type[Domain] | type[Project], str]] = {
    "domains": (Domain, "domain"),
    "projects": (Project, "project"),
}
Model = type[InheritedRoleAssignment] | type[InheritedGroupRoleAssignment]
ACTORS: dict[str, tuple[type[User] | type[Group], Model]] = {
    "users": (User, InheritedRoleAssignment),
    "groups": (Group, InheritedGroupRoleAssignment),
}
GRANT = "/<collection>/<target_id>/<actors>/<actor_id>/roles"


def _actor_target(actors: str, actor_id: str) -> dict[str, str]:
    """The policy target: a user may look at their own grants (``OWNER``); a group's are for admins."""
    return {"user_id": actor_id} if actors == "users" else {"group_id": actor_id}


def _check(session: Session, collection: str, target_id: str, actors: str, actor_id: str, ctx: RequestContext) -> str:
    """The target type of a grant URL, after checking its domain or project and its user or group exist (404).

    A caller who is neither an admin nor a system reader asks only about their own grants, and a target they hold
    no role on is answered as a missing one, as for direct grants: no one learns which ids exist by asking."""
    if collection not in TARGETS or actors not in ACTORS:
        raise NotFound(kind="resource", id=f"{collection}/{actors}")
    model, target_type = TARGETS[collection]
    get_or_404(session, model, target_id)
    if not (ctx.is_admin or ctx.is_system_reader):
        held = select(RoleAssignment.role_id).where(
            RoleAssignment.target_type == target_type,
            RoleAssignment.target_id == target_id,
            RoleAssignment.user_id == actor_id,
        )
        if session.scalars(held.limit(1)).first() is None:
            raise NotFound(kind=target_type, id=target_id)
    get_or_404(session, ACTORS[actors][0], actor_id)
    return target_type


def _key(target_type: str, target_id: str, actor_id: str, role_id: str) -> tuple[str, str, str, str]:
    return (target_type, target_id, actor_id, role_id)


def _missing(role_id: str, actor_id: str, target_id: str) -> NotFound:
    return NotFound(
        kind="role assignment",
        id=f"role {role_id}, user or group {actor_id}, inherited to the projects of {target_id}",
    )


@bp.put(f"{GRANT}/<role_id>/inherited_to_projects")
def create_inherited_grant(collection: str, target_id: str, actors: str, actor_id: str, role_id: str) -> Response:
    """Idempotent, as Keystone: granting an inherited role already held is a 204 again."""
    ctx = policy.enforce("identity:create_grant", _actor_target(actors, actor_id))
    with runtime().db.session() as session:
        begin_write(session)
        target_type = _check(session, collection, target_id, actors, actor_id, ctx)
        # A domain-specific role is granted only within its domain, inherited or not (403 otherwise).
        check_domain_role_target(session, get_or_404(session, Role, role_id), target_type, target_id)
        model = ACTORS[actors][1]
        if session.get(model, _key(target_type, target_id, actor_id, role_id)) is None:
            actor_field = "user_id" if actors == "users" else "group_id"
            session.add(model(target_type=target_type, target_id=target_id, role_id=role_id, **{actor_field: actor_id}))
            try:
                session.flush()
            except IntegrityError:  # only a concurrent writer on PostgreSQL gets here; SQLite writes one at a time
                raise Conflict(kind="role assignment", reason="changed concurrently, retry") from None
    return Response(status=204)


@bp.route(f"{GRANT}/<role_id>/inherited_to_projects", methods=["GET", "HEAD"])
def check_inherited_grant(collection: str, target_id: str, actors: str, actor_id: str, role_id: str) -> Response:
    ctx = policy.enforce("identity:check_grant", _actor_target(actors, actor_id))
    with runtime().db.session() as session:
        target_type = _check(session, collection, target_id, actors, actor_id, ctx)
        get_or_404(session, Role, role_id)
        if session.get(ACTORS[actors][1], _key(target_type, target_id, actor_id, role_id)) is None:
            raise _missing(role_id, actor_id, target_id)
    return Response(status=204)


@bp.delete(f"{GRANT}/<role_id>/inherited_to_projects")
def revoke_inherited_grant(collection: str, target_id: str, actors: str, actor_id: str, role_id: str) -> Response:
    ctx = policy.enforce("identity:revoke_grant", _actor_target(actors, actor_id))
    with runtime().db.session() as session:
        target_type = _check(session, collection, target_id, actors, actor_id, ctx)
        grant = session.get(ACTORS[actors][1], _key(target_type, target_id, actor_id, role_id))
        if grant is None:
            raise _missing(role_id, actor_id, target_id)
        session.delete(grant)
    return Response(status=204)


@bp.get("/domains/<target_id>/<actors>/<actor_id>/roles/inherited_to_projects")
def list_inherited_grants(target_id: str, actors: str, actor_id: str) -> Response:
    ctx = policy.enforce("identity:list_grants", _actor_target(actors, actor_id))
    with runtime().db.session() as session:
        target_type = _check(session, "domains", target_id, actors, actor_id, ctx)
        model = ACTORS[actors][1]
        actor_column = InheritedRoleAssignment.user_id if actors == "users" else InheritedGroupRoleAssignment.group_id
        roles = session.scalars(
            select(Role)
            .join(model, model.role_id == Role.id)
            .where(model.target_type == target_type, model.target_id == target_id, actor_column == actor_id)
            .order_by(Role.name)
        ).all()
        views = [role_view(r) for r in roles]
    links = collection_links(f"/OS-INHERIT/domains/{target_id}/{actors}/{actor_id}/roles/inherited_to_projects")
    return jsonify({"roles": views, "links": links})
