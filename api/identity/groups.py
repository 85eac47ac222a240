"""``/v3/groups``: groups of users in a domain, and who is in them.

A membership change needs no token work here: memberships are identity records, so the write bumps the
identity generation and every worker re-reads roles (a user removed from a group loses its roles on the next
request, and a token whose scope then holds no role is refused), as for a revoked direct grant.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import policy
from api.identity import filters, ldap_domains
from api.identity.schemas import GROUP_CREATE, GROUP_UPDATE
from api.identity.views import group_view, user_view
from api.runtime import runtime
from api.urls import collection_links
from api.validation import validated_body
from common.db import begin_write
from common.exceptions import BadRequest, Conflict, NotFound
from identity import groups, ldap_shadow
from identity.lookups import ensure_unique, existing_domain_id, get_or_404
from identity.models import Group, User, UserGroupMembership

bp = Blueprint("identity_groups", __name__, url_prefix="/identity/v3/groups")

COLUMNS = ("id", "name", "domain_id", "description", "links")


def _extra(body: dict[str, Any]) -> dict[str, Any]:
    """Attributes Keystone does not know are kept and returned, as for users (scalars only)."""
    extra = {k: v for k, v in body.items() if k not in COLUMNS}
    for key, value in extra.items():
        if isinstance(value, (dict, list)):
            raise BadRequest(f"Invalid input for field '{key}': only scalar extra attributes are stored.")
    return extra


def _flush_unique(session: Session, group: Group) -> None:
    """Write now, so a name taken by a concurrent request is a 409 like one taken before (not a 500)."""
    try:
        session.flush()
    except IntegrityError:
        described = f"name={group.name}, domain_id={group.domain_id}"
        raise Conflict(kind="group", reason=f"Duplicate entry ({described})") from None


@bp.get("")
def list_groups() -> Response:
    policy.enforce("identity:list_groups")
    ldap_domains.refresh_for_listing(request.args.get("domain_id"), request.args.get("name"))
    with runtime().db.session() as session:
        query = filters.apply(select(Group), Group, ("name", "domain_id"), bool_fields=())
        found = [group_view(g) for g in session.scalars(query.order_by(Group.name, Group.id))]
    body = {"groups": found, "links": collection_links("/groups")}
    return jsonify(ldap_domains.limited(body, "groups", request.args.get("domain_id")))


@bp.post("")
def create_group() -> Response:
    policy.enforce("identity:create_group")
    body = validated_body(GROUP_CREATE)["group"]
    with runtime().db.session() as session:
        begin_write(session)
        domain_id = existing_domain_id(session, body.get("domain_id"))
        ldap_shadow.refuse_writes(session, domain_id)
        ensure_unique(session, Group, name=body["name"], domain_id=domain_id)
        group = Group(
            name=body["name"], domain_id=domain_id, description=body.get("description") or "", extra=_extra(body)
        )
        session.add(group)
        _flush_unique(session, group)
        view = group_view(group)
    return jsonify({"group": view}), 201


@bp.get("/<group_id>")
def get_group(group_id: str) -> Response:
    policy.enforce("identity:get_group")
    ldap_domains.refresh_shown("group", group_id)
    with runtime().db.session() as session:
        return jsonify({"group": group_view(get_or_404(session, Group, group_id))})


@bp.patch("/<group_id>")
def update_group(group_id: str) -> Response:
    policy.enforce("identity:update_group")
    body = validated_body(GROUP_UPDATE)["group"]
    with runtime().db.session() as session:
        begin_write(session)
        group = get_or_404(session, Group, group_id)
        ldap_shadow.refuse_writes(session, group.domain_id)
        if body.get("domain_id", group.domain_id) != group.domain_id:
            raise BadRequest("Cannot change the domain of a group.")
        if "name" in body:
            ensure_unique(session, Group, exclude_id=group.id, name=body["name"], domain_id=group.domain_id)
            group.name = body["name"]
        if "description" in body:
            group.description = body["description"] or ""
        group.extra = {**(group.extra or {}), **_extra(body)}
        _flush_unique(session, group)
        view = group_view(group)
    return jsonify({"group": view})


@bp.delete("/<group_id>")
def delete_group(group_id: str) -> Response:
    """The group's memberships and grants go with it; its members' tokens lose those roles at once."""
    policy.enforce("identity:delete_group")
    with runtime().db.session() as session:
        group = get_or_404(session, Group, group_id)
        ldap_shadow.refuse_writes(session, group.domain_id)
        groups.delete_group(session, group)
    return Response(status=204)


@bp.get("/<group_id>/users")
def list_group_users(group_id: str) -> Response:
    policy.enforce("identity:list_users_in_group")
    ldap_domains.refresh_for_group(group_id)
    with runtime().db.session() as session:
        get_or_404(session, Group, group_id)
        members = select(UserGroupMembership.user_id).where(UserGroupMembership.group_id == group_id)
        query = filters.apply(select(User).where(User.id.in_(members)), User, ("name", "domain_id"))
        users = [user_view(u) for u in session.scalars(query.order_by(User.name, User.id))]
    return jsonify({"users": users, "links": collection_links(f"/groups/{group_id}/users")})


def _member_lookup(session: Session, group_id: str, user_id: str, write: bool = False) -> UserGroupMembership | None:
    """The membership, after checking the group and the user exist (a 404 names whichever is missing); a write
    to an LDAP domain's group is refused (its members are the directory's)."""
    group = get_or_404(session, Group, group_id)
    get_or_404(session, User, user_id)
    if write:
        ldap_shadow.refuse_writes(session, group.domain_id)
    return session.get(UserGroupMembership, (user_id, group_id))


@bp.put("/<group_id>/users/<user_id>")
def add_group_user(group_id: str, user_id: str) -> Response:
    """Idempotent, as in Keystone: adding a member twice is a 204 both times."""
    policy.enforce("identity:add_user_to_group", {"group_id": group_id, "user_id": user_id})
    with runtime().db.session() as session:
        begin_write(session)
        if _member_lookup(session, group_id, user_id, write=True) is None:
            session.add(UserGroupMembership(user_id=user_id, group_id=group_id))
            try:
                session.flush()
            except IntegrityError:  # only a concurrent writer on PostgreSQL gets here; SQLite writes one at a time
                raise Conflict(kind="group membership", reason="changed concurrently, retry") from None
    return Response(status=204)


def _not_member(group_id: str, user_id: str) -> NotFound:
    return NotFound(f"User '{user_id}' not found in group '{group_id}'.")


@bp.route("/<group_id>/users/<user_id>", methods=["GET", "HEAD"])
def check_group_user(group_id: str, user_id: str) -> Response:
    policy.enforce("identity:check_user_in_group", {"group_id": group_id, "user_id": user_id})
    with runtime().db.session() as session:
        if _member_lookup(session, group_id, user_id) is None:
            raise _not_member(group_id, user_id)
    return Response(status=204)


@bp.delete("/<group_id>/users/<user_id>")
def remove_group_user(group_id: str, user_id: str) -> Response:
    policy.enforce("identity:remove_user_from_group", {"group_id": group_id, "user_id": user_id})
    with runtime().db.session() as session:
        membership = _member_lookup(session, group_id, user_id, write=True)
        if membership is None:
            raise _not_member(group_id, user_id)
        session.delete(membership)
    return Response(status=204)
