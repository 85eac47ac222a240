"""``/v3/auth``: issuing, validating and revoking tokens, and what a token may reach."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.auth import identity_snapshot
from api.context import current
from api.identity import application_credentials, ldap_sign_in, system_scope, trusts
from api.identity.schemas import AUTH
from api.identity.views import domain_view, project_view
from api.runtime import runtime
from api.urls import collection_links, isotime, self_link
from api.validation import query_bool, validated_body
from common.exceptions import Forbidden, NotFound, Unauthorized
from identity import groups, inheritance, lockout, lookups, password_policy
from identity.backends.base import DirectoryUnavailable
from identity.fernet import TokenPayload
from identity.models import DEFAULT_DOMAIN_ID, Domain, Project, RoleAssignment, User
from identity.passwords import verify_password
from identity.tokens import ValidatedToken

bp = Blueprint("identity_auth", __name__, url_prefix="/identity/v3/auth")

SUPPORTED_METHODS = ("password", "token", "application_credential")


def token_body(token: ValidatedToken, with_catalog: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "methods": list(token.payload.methods),
        "user": {
            "id": token.user.id,
            "name": token.user.name,
            "domain": {"id": token.user.domain.id, "name": token.user.domain.name},
            "password_expires_at": _password_expires_at(token.user.id),
        },
        "audit_ids": list(token.payload.audit_ids),
        "expires_at": isotime(token.payload.expires_at),
        "issued_at": isotime(token.payload.issued_at),
    }
    if token.project:
        body["project"] = {
            "id": token.project.id,
            "name": token.project.name,
            "domain": {"id": token.project.domain.id, "name": token.project.domain.name},
        }
        body["is_domain"] = False
    if token.domain:
        body["domain"] = {"id": token.domain.id, "name": token.domain.name}
    if token.application_credential:
        body["application_credential"] = application_credentials.token_section(token.application_credential)
    if token.system:
        body["system"] = {token.system: True}
    if token.trust:
        body["OS-TRUST:trust"] = trusts.token_section(token.trust)
    if token.project or token.domain or token.system:
        body["roles"] = [{"id": r.id, "name": r.name} for r in token.roles]
        if with_catalog:
            project_id = token.project.id if token.project else None
            catalog = runtime().catalog.token_catalog(runtime().db, identity_snapshot(), project_id, token.user.id)
            body["catalog"] = catalog
    return {"token": body}


def _password_expires_at(user_id: str) -> str | None:
    """The token user's ``password_expires_at`` (identity.password_policy), remembered for the identity generation
    like the rest of what a token shows: any change of the user bumps it."""

    def load() -> str | None:
        with runtime().db.session() as session:
            user = session.get(User, user_id)
            return password_policy.shown(password_policy.password_expires_at(user)) if user else None

    return identity_snapshot().lookups.get_or_load(("password-expires-at", user_id), load)


@dataclass(frozen=True)
class _PasswordUser:
    """The user a password request names, if any: id, stored hash, enabled, name for the lockout, and whether the
    user's options exempt them from it."""

    id: str | None = None
    password_hash: str | None = None
    enabled: bool = False
    name: str | None = None
    ignores_lockout: bool = False


def _password_user(session: Session, spec: dict[str, Any]) -> _PasswordUser:
    query = select(User.id, User.password_hash, User.enabled, User.name, User.domain_id, User.options)
    if "id" in spec:
        query = query.where(User.id == spec["id"])
    else:
        domain = lookups.find_domain_ref(session, spec["domain"])
        if domain is None:
            return _PasswordUser()
        query = query.where(User.name == spec["name"], User.domain_id == domain.id)
    row = session.execute(query).first()
    if row is None:
        return _PasswordUser()
    # Only the default domain's service account is the cloud's own (common.accounts).
    name = row.name if row.domain_id == DEFAULT_DOMAIN_ID else None
    return _PasswordUser(row.id, row.password_hash, row.enabled, name, password_policy.ignores_lockout(row.options))


def _named(spec: dict[str, Any]) -> str:
    """The user as the request names it: the key of a lockout when no such user exists."""
    if "id" in spec:
        return f"id\0{spec['id']}"
    return f"{json.dumps(spec.get('domain'), sort_keys=True)}\0{spec.get('name')}"


def _authenticate_password(spec: dict[str, Any]) -> str:
    """The user id, or 401; a locked user is 401 too (Keystone's message), an address over its limit 429.

    The attempt is counted before the hash runs and given back when the password is right (``lockout``).
    """
    rt = runtime()
    directory = ldap_sign_in.subject(spec)  # an LDAP domain's user: read from the directory (503 when it is down)
    with rt.db.session() as session:
        user = _password_user(session, spec)
    limits = lockout.limits_for(
        rt.settings, user.id, _named(spec), user.name, request.remote_addr, exempt=user.ignores_lockout
    )
    attempt = lockout.take(rt.db, limits, shown_as=str(spec.get("name") or spec.get("id")))
    # The hash runs outside any transaction: it is the slow part and holds no database connection.
    try:
        if directory is not None:
            right = directory.check(spec["password"])  # a bind as the user's DN, never a search by password
        else:
            right = verify_password(spec["password"], user.password_hash, rt.settings.password_hash_rounds)
    except DirectoryUnavailable:
        with rt.db.session() as session:
            attempt.succeeded(session)  # an outage is not the user's failed try: it is given back
        raise
    with rt.db.session() as session:
        if right:
            attempt.succeeded(session)
        else:
            attempt.failed(session)
    if not right:
        raise Unauthorized()
    if directory is not None:
        directory.refresh_groups()
    if not user.enabled:
        raise Unauthorized()
    assert user.id is not None
    # Keystone's order: a disabled (or now inactive) user, then an expired password; both only after a right one.
    password_policy.check_sign_in(rt.db, rt.settings, user.id)
    return user.id


def _resolve_scope(session: Session, scope: Any, user_id: str) -> tuple[str | None, str | None]:
    """(project id, domain id) asked for; with no scope, the user's default project when they have a role."""
    if scope == "unscoped":
        return None, None
    if scope is None:
        default_project = session.scalar(select(User.default_project_id).where(User.id == user_id))
        has_role = default_project and (
            session.scalar(
                select(RoleAssignment.role_id)
                .where(
                    RoleAssignment.user_id == user_id,
                    RoleAssignment.target_type == "project",
                    RoleAssignment.target_id == default_project,
                )
                .limit(1)
            )
            or session.scalar(groups.roles_via_groups(user_id, "project", default_project).limit(1))
            or inheritance.inherited_role_ids(session, user_id, default_project)
        )
        return (default_project, None) if has_role else (None, None)
    if "project" in scope:
        project_id = _memo_ref(session, "project", scope["project"], lookups.find_project_ref)
        if project_id is None:
            raise Unauthorized("The requested project does not exist or is not accessible.")
        return project_id, None
    if "domain" in scope:
        domain_id = _memo_ref(session, "domain", scope["domain"], lookups.find_domain_ref)
        if domain_id is None:
            raise Unauthorized("The requested domain does not exist or is not accessible.")
        return None, domain_id
    return None, None


def _memo_ref(session: Session, kind: str, ref: dict[str, Any], find: Any) -> str | None:
    """The id a scope reference names, remembered for the identity snapshot of this request."""
    key = (f"{kind}-ref", json.dumps(ref, sort_keys=True))
    return identity_snapshot().lookups.get_or_load(key, lambda: getattr(find(session, ref), "id", None))


@bp.post("/tokens")
def issue_token() -> Response:
    auth = validated_body(AUTH)["auth"]
    identity = auth["identity"]
    methods = tuple(dict.fromkeys(identity["methods"]))
    for method in methods:
        if method not in SUPPORTED_METHODS:
            raise Unauthorized(f"Unsupported authentication method: {method}.")
        if method not in identity:
            raise Unauthorized(f"The {method} method was named but no {method} section was given.")
    rt = runtime()
    parent: TokenPayload | None = None
    if "token" in methods:
        parent = rt.tokens.validate(rt.db, identity["token"]["id"], snapshot=identity_snapshot()).payload
        user_id = parent.user_id
        if parent.trust_id:
            raise Forbidden(
                action="Using trust-scoped token to create another token. Create a new trust-scoped token instead"
            )
    if "password" in methods:
        password_user = _authenticate_password(identity["password"]["user"])
        if parent and parent.user_id != password_user:
            raise Unauthorized("The token and the password belong to different users.")
        user_id = password_user
    credential = None
    if "application_credential" in methods:
        credential = application_credentials.sign_in(identity, auth.get("scope"), methods)
        user_id = credential.user_id
    issued_methods = methods if parent is None else tuple(dict.fromkeys(methods + parent.methods))
    scope = auth.get("scope")
    trust = None
    with rt.db.session() as session:
        if credential or (parent and parent.application_credential_id):
            project_id, domain_id = application_credentials.token_scope(credential, parent, scope)
        elif isinstance(scope, dict) and "OS-TRUST:trust" in scope:
            trust = trusts.use_for_token(session, scope["OS-TRUST:trust"]["id"], user_id)
            project_id, domain_id = trust.project_id, None
        else:
            project_id, domain_id = _resolve_scope(session, auth.get("scope"), user_id)
        system = system_scope.requested(auth.get("scope")) if not credential else None
        token = rt.tokens.issue(
            session,
            user_id,
            issued_methods,
            project_id,
            domain_id,
            parent=parent,
            snapshot=identity_snapshot(),
            credential=credential,
            system=system,
            trust=trust,
        )
    response = jsonify(token_body(token, with_catalog=not _nocatalog()))
    response.status_code = 201
    response.headers["X-Subject-Token"] = token.token_id
    return response


def _nocatalog() -> bool:
    return "nocatalog" in request.args and query_bool("nocatalog", True) is not False


def _subject_token() -> ValidatedToken:
    subject = request.headers.get("X-Subject-Token")
    if not subject:
        raise NotFound(kind="token", id="(no X-Subject-Token header)")
    rt = runtime()
    allow_expired = bool(query_bool("allow_expired", False))
    try:
        return rt.tokens.validate(rt.db, subject, allow_expired=allow_expired, snapshot=identity_snapshot())
    except Unauthorized as exc:
        raise NotFound(f"Could not find token: {exc.message}") from None


@bp.route("/tokens", methods=["GET", "HEAD"])
def validate_token() -> Response:
    current()  # authenticate the caller before looking at the subject
    token = _subject_token()
    policy.enforce("identity:validate_token", {"user_id": token.user.id})
    response = jsonify(token_body(token, with_catalog=not _nocatalog()))
    response.headers["X-Subject-Token"] = token.token_id
    return response


@bp.delete("/tokens")
def revoke_token() -> Response:
    current()
    token = _subject_token()
    policy.enforce("identity:revoke_token", {"user_id": token.user.id})
    rt = runtime()
    with rt.db.session() as session:
        rt.tokens.revoke_token(session, token.payload)
    return Response(status=204)


def _targets_with_roles(session: Session, user_id: str, target_type: str) -> set[str]:
    """Where the user holds some role, directly or through a group (on projects, also by OS-INHERIT grants)."""
    direct = session.scalars(
        select(RoleAssignment.target_id).where(
            RoleAssignment.user_id == user_id, RoleAssignment.target_type == target_type
        )
    )
    found = set(direct) | set(session.scalars(groups.targets_via_groups(user_id, target_type)))
    return found | inheritance.projects_reached(session, user_id) if target_type == "project" else found


@bp.get("/projects")
def auth_projects() -> Response:
    ctx = policy.enforce("identity:get_auth_projects")
    with runtime().db.session() as session:
        ids = _targets_with_roles(session, ctx.user_id or "", "project")
        rows = session.scalars(
            select(Project)
            .join(Domain)
            .where(Project.id.in_(ids), Project.enabled, Domain.enabled)
            .order_by(Project.name)
        ).all()
        projects = [project_view(p) for p in rows]
    return jsonify({"projects": projects, "links": collection_links("/auth/projects")})


@bp.get("/domains")
def auth_domains() -> Response:
    ctx = policy.enforce("identity:get_auth_domains")
    with runtime().db.session() as session:
        ids = _targets_with_roles(session, ctx.user_id or "", "domain")
        rows = session.scalars(select(Domain).where(Domain.id.in_(ids), Domain.enabled).order_by(Domain.name)).all()
        domains = [domain_view(d) for d in rows]
    return jsonify({"domains": domains, "links": collection_links("/auth/domains")})


@bp.get("/catalog")
def auth_catalog() -> Response:
    ctx = policy.enforce("identity:get_auth_catalog")
    catalog = runtime().catalog.token_catalog(runtime().db, identity_snapshot(), ctx.project_id, ctx.user_id)
    return jsonify({"catalog": catalog, "links": self_link("/auth/catalog")})


@bp.get("/system")
def auth_system() -> Response:
    ctx = policy.enforce("identity:get_auth_system")
    with runtime().db.session() as session:
        systems = system_scope.scopes_of(session, ctx.user_id or "")
    return jsonify({"system": systems, "links": self_link("/auth/system")})
