"""``GET /v3/role_assignments``: who holds which role where, as Keystone reports it.

Without ``effective`` the report lists the grants as stored: to users (``user``) and to groups (``group``).
With ``effective`` it lists what tokens carry: a group's grant becomes one entry per member (its links name the
group grant and the membership), and every grant adds an entry per role it implies (``links.prior_role``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.runtime import runtime
from api.urls import collection_links, identity_url
from api.validation import query_bool
from common.exceptions import BadRequest
from identity import inheritance
from identity.models import (
    Domain,
    Group,
    GroupRoleAssignment,
    InheritedGroupRoleAssignment,
    InheritedRoleAssignment,
    Project,
    Role,
    RoleAssignment,
    User,
    UserGroupMembership,
)
from identity.tokens import SYSTEM_ALL, role_graph

bp = Blueprint("identity_role_assignments", __name__, url_prefix="/identity/v3")

Names = dict[str, dict[str, dict[str, Any]]]
INHERITED_TO = "scope.OS-INHERIT:inherited_to"


@dataclass(frozen=True)
class Grant:
    """One stored grant: to a user or to a group (exactly one of the two ids is set)."""

    target_type: str
    target_id: str
    role_id: str
    user_id: str | None = None
    group_id: str | None = None
    inherited: bool = False
    """An OS-INHERIT grant: it gives the role on the projects below its target, not on the target."""

    @property
    def link(self) -> str:
        actor = f"users/{self.user_id}" if self.user_id else f"groups/{self.group_id}"
        if self.inherited:
            target = f"{self.target_type}s/{self.target_id}"
            return identity_url(f"/OS-INHERIT/{target}/{actor}/roles/{self.role_id}/inherited_to_projects")
        if self.target_type == "system":
            return identity_url(f"/system/{actor}/roles/{self.role_id}")
        return identity_url(f"/{self.target_type}s/{self.target_id}/{actor}/roles/{self.role_id}")


@dataclass(frozen=True)
class Entry:
    """One line of the report: a grant as stored, or what it gives one user (``member``) or implies (``role_id``)."""

    grant: Grant
    role_id: str
    member: str | None = None
    project: str | None = None
    """The project an inherited grant reaches (``effective``), which the entry is about instead of its target."""

    @property
    def target(self) -> tuple[str, str]:
        return ("project", self.project) if self.project else (self.grant.target_type, self.grant.target_id)

    def view(self, names: Names | None) -> dict[str, Any]:
        grant = self.grant
        role: dict[str, Any] = {"id": self.role_id}
        # A system grant's scope is Keystone's ``{"system": {"all": true}}``; a project's or domain's names it by id.
        system = grant.target_type == "system"
        target_type, target_id = self.target
        scope_ref: dict[str, Any] = {target_id: True} if system else {"id": target_id}
        user_id = self.member or grant.user_id
        actor_kind, actor_id = ("user", user_id) if user_id else ("group", grant.group_id)
        actor: dict[str, Any] = {"id": actor_id}
        if names is not None:
            role |= names["role"].get(self.role_id, {})
            scope_ref |= {} if system else names[target_type].get(target_id, {})
            actor |= names[actor_kind].get(actor_id or "", {})
        links = {"assignment": grant.link}
        if self.member:
            links["membership"] = identity_url(f"/groups/{grant.group_id}/users/{self.member}")
        if self.role_id != grant.role_id:
            links["prior_role"] = identity_url(f"/roles/{grant.role_id}")
        scope: dict[str, Any] = {target_type: scope_ref}
        if grant.inherited and not self.project:
            scope["OS-INHERIT:inherited_to"] = "projects"
        return {"role": role, actor_kind: actor, "scope": scope, "links": links}


def _check_filters(effective: bool) -> None:
    """Keystone's refusals of filter combinations that cannot mean anything (400)."""
    args = request.args
    if args.get("user.id") and args.get("group.id"):
        raise BadRequest("Specify a user or group, not both")
    if len([key for key in ("scope.project.id", "scope.domain.id", "scope.system") if args.get(key)]) > 1:
        raise BadRequest("Specify one of a domain, a project or the system, not more")
    if args.get("scope.system") not in (None, SYSTEM_ALL):
        raise BadRequest(f"The only system scope is {SYSTEM_ALL!r}.")
    if effective and args.get("group.id"):
        raise BadRequest("Combining effective and group filter will always result in an empty list.")
    if args.get(INHERITED_TO) not in (None, "projects"):
        raise BadRequest(f"The only value of {INHERITED_TO} is 'projects'.")


def _scoped(query: Any, model: Any) -> Any:
    for target_type in ("project", "domain"):
        if request.args.get(f"scope.{target_type}.id"):
            query = query.where(
                model.target_type == target_type, model.target_id == request.args[f"scope.{target_type}.id"]
            )
    if request.args.get("scope.system"):
        query = query.where(model.target_type == "system", model.target_id == SYSTEM_ALL)
    return query


def _user_grants(session: Session) -> list[Grant]:
    query = _scoped(select(RoleAssignment), RoleAssignment)
    if request.args.get("user.id"):
        query = query.where(RoleAssignment.user_id == request.args["user.id"])
    return [Grant(a.target_type, a.target_id, a.role_id, user_id=a.user_id) for a in session.scalars(query)]


def _group_grants(session: Session) -> list[Grant]:
    query = _scoped(select(GroupRoleAssignment), GroupRoleAssignment)
    if request.args.get("group.id"):
        query = query.where(GroupRoleAssignment.group_id == request.args["group.id"])
    return [Grant(a.target_type, a.target_id, a.role_id, group_id=a.group_id) for a in session.scalars(query)]


def _members(session: Session, group_ids: set[str]) -> dict[str, list[str]]:
    """Each group's members (only the user asked about, under a ``user.id`` filter)."""
    query = select(UserGroupMembership).where(UserGroupMembership.group_id.in_(group_ids))
    if request.args.get("user.id"):
        query = query.where(UserGroupMembership.user_id == request.args["user.id"])
    members: dict[str, list[str]] = {}
    for membership in session.scalars(query.order_by(UserGroupMembership.user_id)):
        members.setdefault(membership.group_id, []).append(membership.user_id)
    return members


def _entries(session: Session, effective: bool) -> list[Entry]:
    args = request.args
    user_grants = [] if args.get("group.id") else _user_grants(session)
    # Without ``effective``, a user filter means grants to that user as stored: none of them is a group's.
    group_grants = [] if args.get("user.id") and not effective else _group_grants(session)
    if args.get(INHERITED_TO):  # only the OS-INHERIT grants
        user_grants, group_grants = [], []
    inherited_user, inherited_group = _inherited_grants(session, effective)
    entries = [Entry(g, g.role_id) for g in user_grants]
    if not effective:
        entries += [Entry(g, g.role_id) for g in group_grants + inherited_user + inherited_group]
    else:
        members = _members(session, {g.group_id for g in group_grants + inherited_group if g.group_id})
        entries += [Entry(g, g.role_id, user) for g in group_grants for user in members.get(g.group_id or "", ())]
        entries += _reached(session, inherited_user, inherited_group, members)
        closure, global_roles = role_graph(session)
        entries += [
            Entry(e.grant, implied, e.member, e.project)
            for e in list(entries)
            for implied in closure.get(e.role_id, ())
        ]
        # A domain-specific role is not in tokens, only what it implies: Keystone leaves it out of this report too.
        entries = [e for e in entries if e.role_id in global_roles]
    if args.get("role.id"):
        entries = [e for e in entries if e.role_id == args["role.id"]]
    return sorted(
        entries,
        key=lambda e: (e.target[1], e.member or e.grant.user_id or "", e.grant.group_id or "", e.role_id),
    )


def _inherited_grants(session: Session, effective: bool) -> tuple[list[Grant], list[Grant]]:
    """The OS-INHERIT grants to users and to groups, under the actor filters (and, as stored, the scope ones)."""
    args = request.args
    user_query = select(InheritedRoleAssignment)
    group_query = select(InheritedGroupRoleAssignment)
    if args.get("user.id"):
        user_query = user_query.where(InheritedRoleAssignment.user_id == args["user.id"])
    if args.get("group.id"):
        group_query = group_query.where(InheritedGroupRoleAssignment.group_id == args["group.id"])
    if not effective:  # as stored, a scope filter names the grant's own target
        user_query = _scoped(user_query, InheritedRoleAssignment)
        group_query = _scoped(group_query, InheritedGroupRoleAssignment)
    users = [] if args.get("group.id") else session.scalars(user_query).all()
    groups = [] if args.get("user.id") and not effective else session.scalars(group_query).all()
    return (
        [Grant(a.target_type, a.target_id, a.role_id, user_id=a.user_id, inherited=True) for a in users],
        [Grant(a.target_type, a.target_id, a.role_id, group_id=a.group_id, inherited=True) for a in groups],
    )


def _reached(
    session: Session, user_grants: list[Grant], group_grants: list[Grant], members: dict[str, list[str]]
) -> list[Entry]:
    """``effective``: an inherited grant is one entry per project below its target (and per group member); a
    project scope filter keeps that project's entries, a domain or system one none (they are project roles)."""
    args = request.args
    if args.get("scope.domain.id") or args.get("scope.system"):
        return []
    wanted = args.get("scope.project.id")
    entries: list[Entry] = []
    for grant in user_grants + group_grants:
        actors: list[str | None] = [None] if grant.user_id else list(members.get(grant.group_id or "", []))
        for project in inheritance.projects_below(session, grant.target_type, grant.target_id):
            if wanted in (None, project):
                entries += [Entry(grant, grant.role_id, actor, project) for actor in actors]
    return entries


def _names(session: Session) -> Names:
    domains = {d.id: d.name for d in session.scalars(select(Domain))}

    def owned(name: str, domain_id: str) -> dict[str, Any]:
        return {"name": name, "domain": {"id": domain_id, "name": domains.get(domain_id)}}

    return {
        "role": {r.id: {"name": r.name} for r in session.scalars(select(Role))},
        "user": {u.id: owned(u.name, u.domain_id) for u in session.scalars(select(User))},
        "group": {g.id: owned(g.name, g.domain_id) for g in session.scalars(select(Group))},
        "project": {p.id: owned(p.name, p.domain_id) for p in session.scalars(select(Project))},
        "domain": {d_id: {"name": name} for d_id, name in domains.items()},
    }


@bp.get("/role_assignments")
def list_role_assignments() -> Response:
    policy.enforce("identity:list_role_assignments")
    effective = bool(query_bool("effective", False))
    _check_filters(effective)
    with runtime().db.session() as session:
        names = _names(session) if query_bool("include_names", False) else None
        views = [entry.view(names) for entry in _entries(session, effective)]
    return jsonify({"role_assignments": views, "links": collection_links("/role_assignments")})
