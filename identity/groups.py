"""Groups as a source of roles: who is in which group, and what a group's grants give its members.

A user holds a role on a project or domain either directly (``RoleAssignment``) or because a group they are a
member of holds it (``GroupRoleAssignment``), as in Keystone. Every reader of "which roles, where" (tokens,
``/auth/projects``, ``/users/<id>/projects``, ``/role_assignments?effective``) takes both through here, so a
group grant counts everywhere a direct one does. The writes need no extra step to reach tokens: these tables
are identity tables (``identity.generation``), so any change drops every worker's cached roles at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from identity.models import Group, GroupRoleAssignment, UserGroupMembership


def group_ids_of(user_id: Any) -> Select[tuple[str]]:
    """The groups a user (an id or a bound parameter) is a member of, as a subquery."""
    return select(UserGroupMembership.group_id).where(UserGroupMembership.user_id == user_id)


def roles_via_groups(user_id: Any, target_type: Any, target_id: Any) -> Select[tuple[str]]:
    """The roles a user holds on one target through their groups."""
    return select(GroupRoleAssignment.role_id).where(
        GroupRoleAssignment.group_id.in_(group_ids_of(user_id)),
        GroupRoleAssignment.target_type == target_type,
        GroupRoleAssignment.target_id == target_id,
    )


def targets_via_groups(user_id: str, target_type: str) -> Select[tuple[str]]:
    """The projects (or domains) a user holds some role on through their groups."""
    return select(GroupRoleAssignment.target_id).where(
        GroupRoleAssignment.group_id.in_(group_ids_of(user_id)), GroupRoleAssignment.target_type == target_type
    )


def delete_group(session: Session, group: Group) -> None:
    """A group goes with its memberships and grants (explicitly: the ORM does not know the cascades)."""
    session.execute(delete(UserGroupMembership).where(UserGroupMembership.group_id == group.id))
    session.execute(delete(GroupRoleAssignment).where(GroupRoleAssignment.group_id == group.id))
    session.delete(group)


def forget_targets(session: Session, target_type: str, target_ids: Any) -> None:
    """Drop every group grant on these projects or domains (ids, or a subquery of them): they are being deleted."""
    session.execute(
        delete(GroupRoleAssignment).where(
            GroupRoleAssignment.target_type == target_type, GroupRoleAssignment.target_id.in_(target_ids)
        )
    )


def delete_domain_groups(session: Session, domain_id: str) -> None:
    """A deleted domain takes its groups along, with their memberships and grants (Keystone does the same)."""
    ids = select(Group.id).where(Group.domain_id == domain_id)
    session.execute(delete(UserGroupMembership).where(UserGroupMembership.group_id.in_(ids)))
    session.execute(delete(GroupRoleAssignment).where(GroupRoleAssignment.group_id.in_(ids)))
    session.execute(delete(Group).where(Group.domain_id == domain_id))
