"""Role grants to groups on projects and domains (``/v3/{projects,domains}/<id>/groups/<group_id>/roles``).

Every member of the group holds the role on the target (``identity.groups``). A grant or its revocation is an
identity write, so the generation bump makes tokens carry the change at once (see ``identity.generation``).
Only admins may call these: the grant rules pass a target that names no user, so their owner half never holds.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import policy
from api.identity.views import role_view
from api.runtime import runtime
from api.urls import collection_links
from common.db import begin_write
from common.exceptions import Conflict, NotFound
from identity.lookups import get_or_404
from identity.models import Domain, Group, GroupRoleAssignment, Project, Role
from identity.roles import check_domain_role_target

bp = Blueprint("identity_group_grants", __name__, url_prefix="/identity/v3")

TARGETS: dict[str, type[Project] | type[Domain]] = {"projects": Project, "domains": Domain}
TARGET_TYPES = {"projects": "project", "domains": "domain"}
GRANT = "/<collection>/<target_id>/groups/<group_id>/roles"


def _check_target(session: Session, collection: str, target_id: str, group_id: str) -> str:
    """The target type of a grant URL, after checking its project or domain and its group exist (404)."""
    if collection not in TARGETS:
        raise NotFound(kind="resource", id=collection)
    get_or_404(session, TARGETS[collection], target_id)
    get_or_404(session, Group, group_id)
    return TARGET_TYPES[collection]


def _missing(role_id: str, group_id: str, target_id: str) -> NotFound:
    return NotFound(kind="role assignment", id=f"{role_id} for group {group_id} on {target_id}")


@bp.put(f"{GRANT}/<role_id>")
def create_group_grant(collection: str, target_id: str, group_id: str, role_id: str) -> Response:
    """Idempotent, as Keystone: granting a role the group already holds is a 204 again."""
    policy.enforce("identity:create_grant", {"group_id": group_id})
    with runtime().db.session() as session:
        begin_write(session)
        target_type = _check_target(session, collection, target_id, group_id)
        check_domain_role_target(session, get_or_404(session, Role, role_id), target_type, target_id)
        if session.get(GroupRoleAssignment, (target_type, target_id, group_id, role_id)) is None:
            session.add(
                GroupRoleAssignment(target_type=target_type, target_id=target_id, group_id=group_id, role_id=role_id)
            )
            try:
                session.flush()
            except IntegrityError:  # only a concurrent writer on PostgreSQL gets here; SQLite writes one at a time
                raise Conflict(kind="role assignment", reason="changed concurrently, retry") from None
    return Response(status=204)


@bp.route(f"{GRANT}/<role_id>", methods=["GET", "HEAD"])
def check_group_grant(collection: str, target_id: str, group_id: str, role_id: str) -> Response:
    policy.enforce("identity:check_grant", {"group_id": group_id})
    with runtime().db.session() as session:
        target_type = _check_target(session, collection, target_id, group_id)
        get_or_404(session, Role, role_id)
        if session.get(GroupRoleAssignment, (target_type, target_id, group_id, role_id)) is None:
            raise _missing(role_id, group_id, target_id)
    return Response(status=204)


@bp.delete(f"{GRANT}/<role_id>")
def revoke_group_grant(collection: str, target_id: str, group_id: str, role_id: str) -> Response:
    policy.enforce("identity:revoke_grant", {"group_id": group_id})
    with runtime().db.session() as session:
        target_type = _check_target(session, collection, target_id, group_id)
        grant = session.get(GroupRoleAssignment, (target_type, target_id, group_id, role_id))
        if grant is None:
            raise _missing(role_id, group_id, target_id)
        session.delete(grant)
    return Response(status=204)


@bp.get(GRANT)
def list_group_grants(collection: str, target_id: str, group_id: str) -> Response:
    policy.enforce("identity:list_grants", {"group_id": group_id})
    with runtime().db.session() as session:
        target_type = _check_target(session, collection, target_id, group_id)
        roles = session.scalars(
            select(Role)
            .join(GroupRoleAssignment, GroupRoleAssignment.role_id == Role.id)
            .where(
                GroupRoleAssignment.target_type == target_type,
                GroupRoleAssignment.target_id == target_id,
                GroupRoleAssignment.group_id == group_id,
            )
            .order_by(Role.name)
        ).all()
        views = [role_view(r) for r in roles]
    return jsonify({"roles": views, "links": collection_links(f"/{collection}/{target_id}/groups/{group_id}/roles")})
