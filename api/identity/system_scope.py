"""Keystone's system scope: role grants on the system (``/v3/system/{users,groups}/<id>/roles``) and what a
system-scoped token asks for.

A system grant is stored as any other grant, in ``role_assignments`` or ``group_role_assignments``, with the target
``("system", "all")``: Keystone's only system target. A token scoped to the system carries the roles its user holds
there, directly or through a group, with the roles they imply (``identity.tokens``). Grants are identity writes, so
the generation bump drops every cached token's roles at once. Who may do what is ``api.policy``: admins grant and
revoke; a system reader (and the user themself, for their own grants) may list and check them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import policy
from api.identity.views import role_view
from api.runtime import runtime
from api.urls import collection_links
from common.db import begin_write
from common.exceptions import BadRequest, Conflict, NotFound
from identity import groups
from identity.lookups import get_or_404
from identity.models import Group, GroupRoleAssignment, Role, RoleAssignment, User
from identity.roles import check_domain_role_target
from identity.tokens import SYSTEM_ALL

bp = Blueprint("identity_system_scope", __name__, url_prefix="/identity/v3")

SYSTEM = "system"
# The two kinds of grantee: their model, grant table and the grant table's column naming them.
ACTORS: dict[str, tuple[type[User] | type[Group], type[RoleAssignment] | type[GroupRoleAssignment], str]] = {
    "users": (User, RoleAssignment, "user_id"),
    "groups": (Group, GroupRoleAssignment, "group_id"),
}
GRANT = "/system/<actors>/<actor_id>/roles"


def requested(scope: Any) -> str | None:
    """``SYSTEM_ALL`` when an auth request's scope is ``{"system": {"all": true}}``; None for any other scope. A
    system scope naming anything else is a 400: the system is the only system target there is."""
    if not isinstance(scope, dict) or "system" not in scope:
        return None
    if scope["system"] != {"all": True}:
        raise BadRequest('The system scope must be {"all": true}.')
    return SYSTEM_ALL


def has_system_role(session: Session, user_id: str) -> bool:
    """Whether the user holds some role on the system, directly or through a group."""
    direct = select(RoleAssignment.role_id).where(
        RoleAssignment.user_id == user_id,
        RoleAssignment.target_type == SYSTEM,
        RoleAssignment.target_id == SYSTEM_ALL,
    )
    if session.scalar(direct.limit(1)) is not None:
        return True
    return session.scalar(groups.roles_via_groups(user_id, SYSTEM, SYSTEM_ALL).limit(1)) is not None


def scopes_of(session: Session, user_id: str) -> list[dict[str, bool]]:
    """``GET /v3/auth/system``: the system targets the user may scope a token to (Keystone's shape)."""
    return [{SYSTEM_ALL: True}] if has_system_role(session, user_id) else []


def _actor(
    session: Session, actors: str, actor_id: str
) -> tuple[type[RoleAssignment] | type[GroupRoleAssignment], str]:
    """The grant table and its grantee column for a URL's actor, after checking the user or group exists (404)."""
    if actors not in ACTORS:
        raise NotFound(kind="resource", id=f"system/{actors}")
    model, table, column = ACTORS[actors]
    get_or_404(session, model, actor_id)
    return table, column


def _enforce(action: str, actors: str, actor_id: str) -> None:
    """Keystone's rule for this action on a user's or a group's system grants (an unknown kind of actor is a 404).
    The target of a user grant names its user (the owner may look at their own); a group grant's names no user."""
    if actors not in ACTORS:
        raise NotFound(kind="resource", id=f"system/{actors}")
    policy.enforce(f"identity:{action}_for_{actors[:-1]}", {"user_id": actor_id} if actors == "users" else {})


def _key(actor_id: str, role_id: str) -> tuple[str, str, str, str]:
    return (SYSTEM, SYSTEM_ALL, actor_id, role_id)


def _missing(actors: str, actor_id: str, role_id: str) -> NotFound:
    return NotFound(kind="role assignment", id=f"{role_id} for {actors[:-1]} {actor_id} on the system")


@bp.put(f"{GRANT}/<role_id>")
def create_system_grant(actors: str, actor_id: str, role_id: str) -> Response:
    """Idempotent, as Keystone: granting a role held already is a 204 again."""
    _enforce("create_system_grant", actors, actor_id)
    with runtime().db.session() as session:
        begin_write(session)
        table, column = _actor(session, actors, actor_id)
        check_domain_role_target(session, get_or_404(session, Role, role_id), SYSTEM, SYSTEM_ALL)
        if session.get(table, _key(actor_id, role_id)) is None:
            session.add(table(target_type=SYSTEM, target_id=SYSTEM_ALL, role_id=role_id, **{column: actor_id}))
            try:
                session.flush()
            except IntegrityError:  # only a concurrent writer on PostgreSQL gets here
                raise Conflict(kind="role assignment", reason="changed concurrently, retry") from None
    return Response(status=204)


@bp.route(f"{GRANT}/<role_id>", methods=["GET", "HEAD"])
def check_system_grant(actors: str, actor_id: str, role_id: str) -> Response:
    _enforce("check_system_grant", actors, actor_id)
    with runtime().db.session() as session:
        table, _ = _actor(session, actors, actor_id)
        get_or_404(session, Role, role_id)
        if session.get(table, _key(actor_id, role_id)) is None:
            raise _missing(actors, actor_id, role_id)
    return Response(status=204)


@bp.delete(f"{GRANT}/<role_id>")
def revoke_system_grant(actors: str, actor_id: str, role_id: str) -> Response:
    _enforce("revoke_system_grant", actors, actor_id)
    with runtime().db.session() as session:
        table, _ = _actor(session, actors, actor_id)
        grant = session.get(table, _key(actor_id, role_id))
        if grant is None:
            raise _missing(actors, actor_id, role_id)
        session.delete(grant)
    return Response(status=204)


@bp.get(GRANT)
def list_system_grants(actors: str, actor_id: str) -> Response:
    _enforce("list_system_grants", actors, actor_id)
    with runtime().db.session() as session:
        table, column = _actor(session, actors, actor_id)
        roles = session.scalars(
            select(Role)
            .join(table, table.role_id == Role.id)
            .where(table.target_type == SYSTEM, table.target_id == SYSTEM_ALL, getattr(table, column) == actor_id)
            .order_by(Role.name)
        ).all()
        views = [role_view(r) for r in roles]
    return jsonify({"roles": views, "links": collection_links(f"/system/{actors}/{actor_id}/roles")})
