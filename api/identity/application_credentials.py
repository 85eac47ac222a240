"""``/v3/users/{user_id}/application_credentials`` and ``/access_rules``: what automation signs in with.

A user makes a credential with a project-scoped token; it carries a subset of that token's roles on that project
(all of them by default) and a secret shown once. Signing in with it is the ``application_credential`` method of
``POST /v3/auth/tokens`` (``api.identity.auth_views``); what its tokens carry is ``identity.tokens``.
Access rules are stored and shown as Keystone does; ``api.auth`` holds a token of a credential with rules to them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import policy
from api.auth import identity_snapshot
from api.identity.expiry import future_expiry
from api.identity.schemas import APPLICATION_CREDENTIAL_CREATE
from api.runtime import runtime
from api.urls import collection_links, self_link
from api.validation import validated_body
from common.exceptions import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, ValidationError
from identity.application_credentials import (
    CredentialRef,
    find_for_sign_in,
    generate_secret,
    ref_of,
    rule_in_use,
    rules_for_new_credential,
)
from identity.fernet import TokenPayload
from identity.lookups import get_or_404
from identity.models import (
    AccessRule,
    ApplicationCredential,
    ApplicationCredentialAccessRule,
    ApplicationCredentialRole,
    Role,
    User,
)
from identity.passwords import hash_password, verify_password
from identity.tokens import NamedRef, ValidatedToken

bp = Blueprint("identity_application_credentials", __name__, url_prefix="/identity/v3/users")

KIND = "application credential"


def caller_token() -> ValidatedToken:
    """The caller's validated token (already checked by ``policy.enforce``; this is a cache hit)."""
    rt = runtime()
    return rt.tokens.validate(rt.db, request.headers.get("X-Auth-Token", ""), snapshot=identity_snapshot())


def refuse_restricted(token: ValidatedToken) -> None:
    """A restricted credential's token may not make or remove credentials (nor trusts): a leaked one could
    otherwise mint successors that outlive its own deletion. Keystone's rule and message."""
    credential = token.application_credential
    if credential is not None and not credential.unrestricted:
        raise Forbidden(
            action="Using method 'application_credential' is not allowed for managing additional application "
            "credentials"
        )


def keystone_time(moment: datetime | None) -> str | None:
    """Keystone shows a credential's expiry with microseconds and no zone (its api-ref samples)."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _roles(session: Session, requested: list[dict[str, Any]] | None, token: ValidatedToken) -> list[str]:
    """The role ids a new credential carries: those asked for, each one the token holds on its project, or by
    default every role the token holds there. An unknown role is 404; one the user lacks there is 400 (Keystone
    answers a missing assignment with a Bad Request, per the API-SIG)."""
    held: dict[str, NamedRef] = {r.id: r for r in token.roles}
    if requested is None:
        return sorted(held)
    if not requested:
        raise ValidationError(field="application_credential.roles", reason="at least one role is needed")
    ids: list[str] = []
    for ref in requested:
        if "id" in ref:
            role = session.get(Role, ref["id"]) if len(ref["id"]) <= 64 else None
        else:
            role = session.scalars(select(Role).filter_by(name=ref["name"], domain_id=None)).one_or_none()
        if role is None:
            raise NotFound(kind="role", id=ref.get("id") or ref.get("name"))
        if role.id not in held:
            raise BadRequest(
                f"Invalid application credential: Could not find role assignment with role: {role.id}, "
                f"user or group: {token.user.id}, project, domain, or system: {token.project and token.project.id}."
            )
        ids.append(role.id)
    return list(dict.fromkeys(ids))


def credential_view(session: Session, credential: ApplicationCredential) -> dict[str, Any]:
    ref = ref_of(session, credential)
    roles = session.scalars(select(Role).where(Role.id.in_(ref.role_ids)).order_by(Role.name)) if ref.role_ids else []
    return {
        "id": credential.id,
        "name": credential.name,
        "description": credential.description,
        "user_id": credential.user_id,
        "project_id": credential.project_id,
        "roles": [{"id": r.id, "name": r.name, "domain_id": None} for r in roles],
        "access_rules": [rule.view() for rule in ref.access_rules],
        "expires_at": keystone_time(credential.expires_at),
        "unrestricted": credential.unrestricted,
        "links": self_link(f"/users/{credential.user_id}/application_credentials/{credential.id}"),
    }


def _owned(session: Session, user_id: str, credential_id: str) -> ApplicationCredential:
    """The user's credential; another user's is answered exactly as a missing one."""
    credential = session.get(ApplicationCredential, credential_id) if len(credential_id) <= 64 else None
    if credential is None or credential.user_id != user_id:
        raise NotFound(kind=KIND, id=credential_id)
    return credential


def _duplicate(name: str) -> Conflict:
    return Conflict(kind="application_credential", reason=f"Duplicate application credential name {name!r}")


@bp.post("/<user_id>/application_credentials")
def create_application_credential(user_id: str) -> Response:
    policy.enforce("identity:create_application_credential", {"user_id": user_id})
    token = caller_token()
    refuse_restricted(token)
    if token.trust is not None:
        # A credential would outlive the trust it was made from, with the trustor's roles: refused.
        raise Forbidden(action="Using a trust-scoped token to create an application credential is not allowed.")
    body = validated_body(APPLICATION_CREDENTIAL_CREATE)["application_credential"]
    expires_at = future_expiry(body.get("expires_at"))
    secret = body.get("secret") or generate_secret()
    rt = runtime()
    secret_hash = hash_password(secret, rt.settings.password_hash_rounds)  # slow: outside any transaction
    assert token.project is not None  # the policy asks for a project-scoped token
    try:
        with rt.db.session() as session:
            taken = select(ApplicationCredential.id).filter_by(user_id=user_id, name=body["name"])
            if session.scalars(taken.limit(1)).first() is not None:
                raise _duplicate(body["name"])
            role_ids = _roles(session, body.get("roles"), token)
            rules = rules_for_new_credential(session, user_id, body.get("access_rules") or [])
            credential = ApplicationCredential(
                name=body["name"],
                description=body.get("description"),
                secret_hash=secret_hash,
                user_id=user_id,
                project_id=token.project.id,
                expires_at=expires_at,
                unrestricted=bool(body.get("unrestricted")),
            )
            session.add(credential)
            session.flush()
            session.add_all(ApplicationCredentialRole(credential_id=credential.id, role_id=r) for r in role_ids)
            session.add_all(
                ApplicationCredentialAccessRule(credential_id=credential.id, access_rule_id=rule.id) for rule in rules
            )
            session.flush()
            view = credential_view(session, credential)
    except IntegrityError:
        # Two requests made the same name at once: the unique constraint let one in.
        raise _duplicate(body["name"]) from None
    view["secret"] = secret
    return jsonify({"application_credential": view}), 201


@bp.get("/<user_id>/application_credentials")
def list_application_credentials(user_id: str) -> Response:
    policy.enforce("identity:list_application_credentials", {"user_id": user_id})
    with runtime().db.session() as session:
        get_or_404(session, User, user_id)
        query = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
        if request.args.get("name") is not None:
            query = query.where(ApplicationCredential.name == request.args["name"])
        found = session.scalars(query.order_by(ApplicationCredential.name)).all()
        views = [credential_view(session, c) for c in found]
    return jsonify(
        {"application_credentials": views, "links": collection_links(f"/users/{user_id}/application_credentials")}
    )


@bp.get("/<user_id>/application_credentials/<credential_id>")
def get_application_credential(user_id: str, credential_id: str) -> Response:
    policy.enforce("identity:get_application_credential", {"user_id": user_id})
    with runtime().db.session() as session:
        view = credential_view(session, _owned(session, user_id, credential_id))
    return jsonify({"application_credential": view})


@bp.delete("/<user_id>/application_credentials/<credential_id>")
def delete_application_credential(user_id: str, credential_id: str) -> Response:
    """Its tokens stop working at once: the delete bumps the identity generation, and validation then finds
    no credential (``identity.tokens``)."""
    policy.enforce("identity:delete_application_credential", {"user_id": user_id})
    refuse_restricted(caller_token())
    with runtime().db.session() as session:
        session.delete(_owned(session, user_id, credential_id))
    return Response(status=204)


def access_rule_view(rule: AccessRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "service": rule.service,
        "path": rule.path,
        "method": rule.method,
        "links": self_link(f"/users/{rule.user_id}/access_rules/{rule.id}"),
    }


def _owned_rule(session: Session, user_id: str, rule_id: str) -> AccessRule:
    rule = session.get(AccessRule, rule_id) if len(rule_id) <= 64 else None
    if rule is None or rule.user_id != user_id:
        raise NotFound(kind="access rule", id=rule_id)
    return rule


@bp.get("/<user_id>/access_rules")
def list_access_rules(user_id: str) -> Response:
    policy.enforce("identity:list_access_rules", {"user_id": user_id})
    with runtime().db.session() as session:
        get_or_404(session, User, user_id)
        query = select(AccessRule).where(AccessRule.user_id == user_id)
        for field in ("service", "path", "method"):
            if request.args.get(field) is not None:
                query = query.where(getattr(AccessRule, field) == request.args[field])
        rules = session.scalars(query.order_by(AccessRule.service, AccessRule.path, AccessRule.method)).all()
        views = [access_rule_view(r) for r in rules]
    return jsonify({"access_rules": views, "links": collection_links(f"/users/{user_id}/access_rules")})


@bp.get("/<user_id>/access_rules/<rule_id>")
def get_access_rule(user_id: str, rule_id: str) -> Response:
    policy.enforce("identity:get_access_rule", {"user_id": user_id})
    with runtime().db.session() as session:
        view = access_rule_view(_owned_rule(session, user_id, rule_id))
    return jsonify({"access_rule": view})


@bp.delete("/<user_id>/access_rules/<rule_id>")
def delete_access_rule(user_id: str, rule_id: str) -> Response:
    """A rule some credential still carries is 403, as in Keystone: delete the credentials first."""
    policy.enforce("identity:delete_access_rule", {"user_id": user_id})
    with runtime().db.session() as session:
        rule = _owned_rule(session, user_id, rule_id)
        if rule_in_use(session, rule.id):
            raise Forbidden(f"Cannot delete access rule {rule.id}: an application credential of the user uses it.")
        session.delete(rule)
    return Response(status=204)


def sign_in(identity: dict[str, Any], scope: Any, methods: tuple[str, ...]) -> CredentialRef:
    """The credential an ``application_credential`` sign-in proves, or 401. Its token's scope is the credential's
    project, so asking for a scope is refused, as Keystone does; the secret is checked outside any transaction
    (bcrypt is the slow part), and an unknown credential costs the same hash, so timing reveals nothing."""
    if len(methods) > 1:
        raise Unauthorized("The application_credential method cannot be combined with another method.")
    if scope is not None:
        raise Unauthorized("Application credentials cannot request a scope.")
    spec = identity["application_credential"]
    rt = runtime()
    with rt.db.session() as session:
        credential, stored = find_for_sign_in(session, spec)
    if not verify_password(spec["secret"], stored, rt.settings.password_hash_rounds) or credential is None:
        raise Unauthorized("Error authenticating with application credential: the credential or its secret is wrong.")
    if credential.expired():
        raise Unauthorized("Error authenticating with application credential: the credential has expired.")
    return credential


def token_scope(credential: CredentialRef | None, parent: TokenPayload | None, scope: Any) -> tuple[str, None]:
    """The scope of a token made from a credential, or re-made from such a token: always the credential's
    project (a re-made token keeps its parent's, and may not ask for another)."""
    if credential is not None:
        return credential.project_id, None
    assert parent is not None and parent.project_id is not None
    if scope is not None:
        raise Unauthorized("A token made from an application credential cannot be re-scoped.")
    return parent.project_id, None


def token_section(credential: CredentialRef) -> dict[str, Any]:
    """What a token body says of the credential that made it (Keystone's ``application_credential``)."""
    section: dict[str, Any] = {"id": credential.id, "name": credential.name, "restricted": not credential.unrestricted}
    if credential.access_rules:
        section["access_rules"] = [rule.view() for rule in credential.access_rules]
    return section
