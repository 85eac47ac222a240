"""Inherited role assignments (Keystone's OS-INHERIT): a grant on a domain or a project that reaches every
project below it, never the target itself.

An inherited grant on a domain gives the role on every project of the domain, however deep; one on a project
gives it on every project of its subtree. A user holds it directly (``InheritedRoleAssignment``) or through a
group (``InheritedGroupRoleAssignment``). Every reader of "which roles, where" adds what this module finds to
the direct and group grants: tokens (``identity.tokens.effective_roles``), ``/auth/projects``,
``/users/<id>/projects`` and ``/role_assignments?effective``. Both tables are identity tables
(``identity.generation``), so a change drops every worker's cached roles at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from identity.groups import group_ids_of
from identity.hierarchy import ancestors, descendants
from identity.models import InheritedGroupRoleAssignment, InheritedRoleAssignment, Project

InheritedModel = type[InheritedRoleAssignment] | type[InheritedGroupRoleAssignment]
MODELS: tuple[InheritedModel, ...] = (InheritedRoleAssignment, InheritedGroupRoleAssignment)


def _reaching(model: InheritedModel, project: Project, above: list[str]) -> Any:
    """The inherited grants whose target is above ``project``: its domain, or one of its ancestors."""
    return or_(
        and_(model.target_type == "domain", model.target_id == project.domain_id),
        and_(model.target_type == "project", model.target_id.in_(above)),
    )


def inherited_role_ids(session: Session, user_id: str, project_id: str) -> set[str]:
    """The roles a user holds on a project through inherited grants (theirs or their groups')."""
    project = session.get(Project, project_id)
    if project is None:
        return set()
    above = [p.id for p in ancestors(session, project)]
    own = select(InheritedRoleAssignment.role_id).where(
        InheritedRoleAssignment.user_id == user_id, _reaching(InheritedRoleAssignment, project, above)
    )
    via_groups = select(InheritedGroupRoleAssignment.role_id).where(
        InheritedGroupRoleAssignment.group_id.in_(group_ids_of(user_id)),
        _reaching(InheritedGroupRoleAssignment, project, above),
    )
    return set(session.scalars(own)) | set(session.scalars(via_groups))


def projects_below(session: Session, target_type: str, target_id: str) -> list[str]:
    """The projects an inherited grant on this domain or project reaches."""
    return [p.id for p in descendants(session, target_id, is_domain=target_type == "domain")]


def projects_reached(session: Session, user_id: str) -> set[str]:
    """Every project where the user holds some role through an inherited grant."""
    own = select(InheritedRoleAssignment.target_type, InheritedRoleAssignment.target_id).where(
        InheritedRoleAssignment.user_id == user_id
    )
    via_groups = select(InheritedGroupRoleAssignment.target_type, InheritedGroupRoleAssignment.target_id).where(
        InheritedGroupRoleAssignment.group_id.in_(group_ids_of(user_id))
    )
    targets = {(row[0], row[1]) for query in (own, via_groups) for row in session.execute(query)}
    reached: set[str] = set()
    for target_type, target_id in targets:
        reached.update(projects_below(session, target_type, target_id))
    return reached


def forget_targets(session: Session, target_type: str, target_ids: Any) -> None:
    """Drop every inherited grant on these domains or projects (ids, or a subquery of them): they are going."""
    for model in MODELS:
        session.execute(delete(model).where(model.target_type == target_type, model.target_id.in_(target_ids)))
