"""``/v3/users``: people and service accounts, their passwords and their projects."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from api import policy
from api.identity import filters, ldap_domains
from api.identity.schemas import PASSWORD_CHANGE, USER_CREATE, USER_UPDATE
from api.identity.views import group_view, project_view, user_view
from api.runtime import runtime
from api.urls import collection_links
from api.validation import validated_body
from common.exceptions import BadRequest, Unauthorized
from identity import groups, inheritance, ldap_shadow, lockout, password_policy
from identity.lookups import ensure_unique, existing_domain_id, get_or_404
from identity.models import Group, Project, RoleAssignment, User
from identity.passwords import hash_password, verify_password

bp = Blueprint("identity_users", __name__, url_prefix="/identity/v3/users")

COLUMNS = ("name", "domain_id", "enabled", "default_project_id", "description", "email", "password", "options")


def _hash_if_given(body: dict[str, Any]) -> str | None:
    """The new password's hash, once it meets ``password_regex`` (identity.password_policy); None when not given."""
    password = body.get("password")
    if not password:
        return None
    settings = runtime().settings
    password_policy.check_new_password(settings, password)
    return hash_password(password, settings.password_hash_rounds)


def _extra(body: dict[str, Any]) -> dict[str, Any]:
    """Keystone keeps attributes it does not know and returns them; so do we (strings, numbers, booleans)."""
    extra = {k: v for k, v in body.items() if k not in COLUMNS and k not in ("id", "links", "password_expires_at")}
    for key, value in extra.items():
        if isinstance(value, (dict, list)):
            raise BadRequest(f"Invalid input for field '{key}': only scalar extra attributes are stored.")
    return extra


@bp.get("")
def list_users() -> Response:
    policy.enforce("identity:list_users")
    ldap_domains.refresh_for_listing(request.args.get("domain_id"), request.args.get("name"))
    with runtime().db.session() as session:
        query = filters.apply(select(User), User, ("name", "domain_id"))
        found = list(session.scalars(query.order_by(User.name)))
        if "password_expires_at" in request.args:  # computed from the options too: filtered here, not in SQL
            keep = password_policy.expiry_filter(request.args["password_expires_at"])
            found = [u for u in found if keep(u)]
        users = [user_view(u) for u in found]
    body = {"users": users, "links": collection_links("/users")}
    return jsonify(ldap_domains.limited(body, "users", request.args.get("domain_id")))


@bp.post("")
def create_user() -> Response:
    policy.enforce("identity:create_user")
    body = validated_body(USER_CREATE)["user"]
    options = password_policy.validated_options(body.get("options", {}))
    password_hash = _hash_if_given(body)
    with runtime().db.session() as session:
        domain_id = existing_domain_id(session, body.get("domain_id"))
        ldap_shadow.refuse_writes(session, domain_id)
        ensure_unique(session, User, name=body["name"], domain_id=domain_id)
        if body.get("default_project_id"):
            get_or_404(session, Project, body["default_project_id"])
        user = User(
            name=body["name"],
            domain_id=domain_id,
            enabled=body.get("enabled", True),
            default_project_id=body.get("default_project_id"),
            description=body.get("description") or "",
            email=body.get("email"),
            extra=_extra(body),
            options=password_policy.merged_options({}, options),
        )
        session.add(user)
        session.flush()
        if password_hash:  # set by an admin: under change_password_upon_first_use, to be changed before a token
            password_policy.set_password(session, runtime().settings, user, password_hash, chosen_by_user=False)
        view = user_view(user)
    return jsonify({"user": view}), 201


@bp.get("/<user_id>")
def get_user(user_id: str) -> Response:
    policy.enforce("identity:get_user", {"user_id": user_id})
    ldap_domains.refresh_shown("user", user_id)
    with runtime().db.session() as session:
        return jsonify({"user": user_view(get_or_404(session, User, user_id))})


@bp.patch("/<user_id>")
def update_user(user_id: str) -> Response:
    ctx = policy.enforce("identity:update_user", {"user_id": user_id})
    body = validated_body(USER_UPDATE)["user"]
    options = password_policy.validated_options(body.get("options", {}))
    password_hash = _hash_if_given(body)
    rt = runtime()
    with rt.db.session() as session:
        user = get_or_404(session, User, user_id)
        ldap_shadow.refuse_writes(session, user.domain_id)
        if body.get("domain_id", user.domain_id) != user.domain_id:
            raise BadRequest("A user cannot move to another domain.")
        if "name" in body:
            ensure_unique(session, User, exclude_id=user.id, name=body["name"], domain_id=user.domain_id)
            user.name = body["name"]
        if body.get("default_project_id"):
            get_or_404(session, Project, body["default_project_id"])
        for field in ("default_project_id", "email"):
            if field in body:
                setattr(user, field, body[field])
        if "description" in body:
            user.description = body["description"] or ""
        user.extra = {**(user.extra or {}), **_extra(body)}
        if options:
            user.options = password_policy.merged_options(user.options, options)
        if password_hash or (body.get("enabled") is False and user.enabled):
            rt.tokens.revoke_user(session, user.id)
        if password_hash:  # an admin's reset, to change on first use; unless admins set their own, which they chose
            own = user.id == ctx.user_id
            password_policy.set_password(session, rt.settings, user, password_hash, chosen_by_user=own)
        if body.get("enabled") is True:
            lockout.unlock_user(session, user.id)  # enabling a user ends its lockout, as in Keystone
            password_policy.enabled_again(user)  # and its inactivity counts from today
        user.enabled = body.get("enabled", user.enabled)
        session.flush()
        view = user_view(user)
    return jsonify({"user": view})


@bp.delete("/<user_id>")
def delete_user(user_id: str) -> Response:
    policy.enforce("identity:delete_user", {"user_id": user_id})
    rt = runtime()
    with rt.db.session() as session:
        user = get_or_404(session, User, user_id)
        ldap_shadow.refuse_writes(session, user.domain_id)
        rt.tokens.revoke_user(session, user.id)
        session.delete(user)
    return Response(status=204)


@bp.post("/<user_id>/password")
def change_password(user_id: str) -> Response:
    """Keystone's self-service password change: the original password is what authenticates, not a token or a
    role (Keystone does not enforce a policy here), so a user whose password has expired can still change it, and
    whoever knows it may. A missing or disabled user gets the same 401 as a wrong password (the route is open, it
    must not tell which ids exist); every try is held to the sign-in lockout and address counts."""
    policy.enforce("identity:change_password", {"user_id": user_id})
    body = validated_body(PASSWORD_CHANGE)["user"]
    rt = runtime()
    rounds = rt.settings.password_hash_rounds
    with rt.db.session() as session:
        user = session.get(User, user_id)
        if user is not None:
            ldap_shadow.refuse_writes(session, user.domain_id)  # the directory's passwords are changed there
        known = user is not None and user.enabled
        stored, name = (user.password_hash, user.name) if user is not None else (None, None)
        exempt = user is not None and password_policy.ignores_lockout(user.options)
    limits = lockout.limits_for(
        rt.settings, user_id if known else None, f"id\0{user_id}", name, request.remote_addr, exempt=exempt
    )
    attempt = lockout.take(rt.db, limits, shown_as=user_id)
    right = verify_password(body["original_password"], stored, rounds) and known
    with rt.db.session() as session:
        if right:
            attempt.succeeded(session)
        else:
            attempt.failed(session)
    if not right:
        raise Unauthorized("Error when changing user password: Invalid user / password.")
    # password_regex, lock_password, minimum_password_age, unique_last_password_count: each a 400 (Keystone's).
    password_policy.check_self_service_change(rt.db, rt.settings, user_id, body["password"], rounds)
    new_hash = hash_password(body["password"], rounds)
    with rt.db.session() as session:
        user = get_or_404(session, User, user_id)
        password_policy.set_password(session, rt.settings, user, new_hash, chosen_by_user=True)
        rt.tokens.revoke_user(session, user.id)
    return Response(status=204)


@bp.get("/<user_id>/projects")
def list_user_projects(user_id: str) -> Response:
    policy.enforce("identity:list_user_projects", {"user_id": user_id})
    with runtime().db.session() as session:
        get_or_404(session, User, user_id)
        ids = select(RoleAssignment.target_id).where(
            RoleAssignment.user_id == user_id, RoleAssignment.target_type == "project"
        )
        held = (
            Project.id.in_(ids)
            | Project.id.in_(groups.targets_via_groups(user_id, "project"))
            | Project.id.in_(inheritance.projects_reached(session, user_id))  # OS-INHERIT grants above them
        )
        query = filters.apply(select(Project).where(held), Project, ("name", "domain_id"))
        projects = [project_view(p) for p in session.scalars(query.order_by(Project.name))]
    return jsonify({"projects": projects, "links": collection_links(f"/users/{user_id}/projects")})


@bp.get("/<user_id>/groups")
def list_user_groups(user_id: str) -> Response:
    """The groups the user is a member of; ``membership_expires_at`` is Keystone's (null: local memberships)."""
    policy.enforce("identity:list_groups_for_user", {"user_id": user_id})
    with runtime().db.session() as session:
        get_or_404(session, User, user_id)
        query = filters.apply(
            select(Group).where(Group.id.in_(groups.group_ids_of(user_id))), Group, ("name", "domain_id"), ()
        )
        found = [group_view(g) | {"membership_expires_at": None} for g in session.scalars(query.order_by(Group.name))]
    return jsonify({"groups": found, "links": collection_links(f"/users/{user_id}/groups")})
