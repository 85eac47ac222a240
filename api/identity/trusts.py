"""``/v3/OS-TRUST/trusts``: a trustor delegates some of their roles on a project to a trustee (Keystone's OS-TRUST).

Shapes, checks and errors follow Keystone's ``keystone/api/trusts.py``: the trustor makes the trust with their own
token and must hold every delegated role on the project (a role they lack is a 404 for that role, as Keystone
answers); a missing, expired or used-up trust is 404 before any policy; the trustor and the trustee see it, only
the trustor (or an admin) deletes it. Signing in with one is ``use_for_token``, called by ``POST /v3/auth/tokens``
(``api.identity.auth_views``); what its tokens carry and how long they stay valid is ``identity.tokens``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.identity.application_credentials import caller_token
from api.identity.expiry import future_expiry
from api.identity.views import role_view
from api.runtime import runtime
from api.urls import collection_links, identity_url, isotime, self_link
from api.validation import json_body, validate
from common.exceptions import BadRequest, Forbidden, NotFound
from identity import trusts
from identity.lookups import get_or_404
from identity.models import Project, Role, Trust, TrustRole, User
from identity.tokens import ValidatedToken, effective_roles
from identity.trusts import MAX_REDELEGATION_COUNT, TrustRef

bp = Blueprint("identity_trusts", __name__, url_prefix="/identity/v3/OS-TRUST/trusts")

_role_ref = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 64},
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
    },
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
}
# Keystone's ``trust_create_request_body``: user ids are plain strings (an unknown or over-long one is a 404 or a
# 403 below, as there); other attributes are accepted and ignored.
TRUST_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "trust": {
            "type": "object",
            "properties": {
                "trustor_user_id": {"type": "string"},
                "trustee_user_id": {"type": "string"},
                "impersonation": {"type": "boolean"},
                "project_id": {"type": ["string", "null"]},
                # At most what the column holds (a 32-bit integer, as Keystone's): more is a 400, not a 500.
                "remaining_uses": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**31 - 1},
                "expires_at": {"type": ["string", "null"]},
                "allow_redelegation": {"type": ["boolean", "null"]},
                "redelegation_count": {"type": ["integer", "null"], "minimum": 0},
                "roles": {"type": "array", "items": _role_ref},
            },
            "required": ["trustor_user_id", "trustee_user_id", "impersonation"],
        }
    },
    "required": ["trust"],
    "additionalProperties": False,
}


def trust_view(trust: Trust, roles: list[Role] | None = None) -> dict[str, Any]:
    """A trust as Keystone shows it; ``roles`` (shown by create and get, not by list) with their links."""
    view: dict[str, Any] = {
        "id": trust.id,
        "trustor_user_id": trust.trustor_user_id,
        "trustee_user_id": trust.trustee_user_id,
        "project_id": trust.project_id,
        "impersonation": trust.impersonation,
        "expires_at": isotime(trust.expires_at),
        "remaining_uses": trust.remaining_uses,
        "redelegated_trust_id": None,
        "redelegation_count": trust.redelegation_count,
        "deleted_at": None,
        "links": self_link(f"/OS-TRUST/trusts/{trust.id}"),
    }
    if roles is not None:
        view["roles"] = [role_view(r) for r in roles]
        view["roles_links"] = {
            "self": identity_url(f"/OS-TRUST/trusts/{trust.id}/roles"),
            "previous": None,
            "next": None,
        }
    return view


def _roles_of(session: Session, trust_id: str) -> list[Role]:
    query = select(Role).join(TrustRole, TrustRole.role_id == Role.id).where(TrustRole.trust_id == trust_id)
    return list(session.scalars(query.order_by(Role.name)))


def _target(trust: Trust) -> dict[str, str]:
    return {"trustor_user_id": trust.trustor_user_id, "trustee_user_id": trust.trustee_user_id}


def _refuse_restricted(token: ValidatedToken) -> None:
    """A restricted application credential's token may not make or delete trusts (Keystone's rule and message):
    a leaked credential could otherwise hand its roles to anyone, beyond its own deletion."""
    credential = token.application_credential
    if credential is not None and not credential.unrestricted:
        raise Forbidden(action="Using method 'application_credential' is not allowed for managing trusts.")


def _role_ids(session: Session, trustor_id: str, project_id: str | None, requested: list[dict[str, str]]) -> list[str]:
    """The delegated role ids, each one the trustor holds on the project (directly, through a group or implied);
    Keystone answers a role by name that does not exist, and any role the trustor lacks there, with 404."""
    ids: list[str] = []
    for ref in requested:
        if "id" in ref:
            ids.append(ref["id"])
            continue
        # A name means a global role, as Keystone's get_unique_role_by_name (domain roles share names).
        role_id = session.scalar(select(Role.id).where(Role.name == ref["name"], Role.domain_id.is_(None)))
        if role_id is None:
            raise NotFound(kind="role", id=ref["name"])
        ids.append(role_id)
    if project_id is None:
        held: set[str] = set()
    else:
        get_or_404(session, Project, project_id)
        held = {r.id for r in effective_roles(session, trustor_id, "project", project_id)}
    for role_id in ids:
        if role_id not in held:
            raise NotFound(kind="role", id=role_id)
    return list(dict.fromkeys(ids))


def _redelegation(body: dict[str, Any], token: ValidatedToken) -> None:
    """Keystone's redelegation checks with ``max_redelegation_count = 0``: a trust-scoped token cannot make a
    trust, nor can a trust ask for a depth above 0; ``remaining_uses`` and redelegation exclude each other."""
    if token.trust is not None:
        raise Forbidden(f"Remaining redelegation depth of 0 out of allowed range of [0..{MAX_REDELEGATION_COUNT}].")
    count = body.get("redelegation_count")
    if not body.get("allow_redelegation") or count == 0:
        return
    if count and count > MAX_REDELEGATION_COUNT:
        raise Forbidden(f"Requested redelegation depth of {count} is greater than allowed {MAX_REDELEGATION_COUNT}.")
    if body.get("remaining_uses") is not None:
        raise BadRequest("remaining_uses must not be set if redelegation is allowed.")


@bp.post("")
def create_trust() -> Response:
    document = json_body()
    raw = document.get("trust") if isinstance(document, dict) else None
    # Keystone's policy sees the body: only the trustor themself may make a trust.
    policy.enforce(
        "identity:create_trust", {"trustor_user_id": raw.get("trustor_user_id") if isinstance(raw, dict) else None}
    )
    body = validate(document, TRUST_CREATE)["trust"]
    token = caller_token()
    _refuse_restricted(token)
    if body.get("project_id") and not body.get("roles"):
        raise Forbidden(action="At least one role should be specified")
    with runtime().db.session() as session:
        get_or_404(session, User, body["trustee_user_id"])
        role_ids = _role_ids(session, body["trustor_user_id"], body.get("project_id"), body.get("roles") or [])
        expires_at = future_expiry(body.get("expires_at"))
        _redelegation(body, token)
        trust = Trust(
            trustor_user_id=body["trustor_user_id"],
            trustee_user_id=body["trustee_user_id"],
            project_id=body.get("project_id"),
            impersonation=body["impersonation"],
            expires_at=expires_at,
            remaining_uses=body.get("remaining_uses"),
            redelegation_count=0,
        )
        session.add(trust)
        session.flush()
        session.add_all(TrustRole(trust_id=trust.id, role_id=r) for r in role_ids)
        session.flush()
        view = trust_view(trust, _roles_of(session, trust.id))
    return jsonify({"trust": view}), 201


@bp.get("")
def list_trusts() -> Response:
    """Admins (and system readers) list every trust; anyone may list the trusts they made (``trustor_user_id``)
    or were given (``trustee_user_id``). Expired trusts are listed, as Keystone lists them."""
    trustor, trustee = request.args.get("trustor_user_id"), request.args.get("trustee_user_id")
    query = select(Trust)
    if trustor:
        policy.enforce("identity:list_trusts_for_trustor", {"trustor_user_id": trustor})
        query = query.where(Trust.trustor_user_id == trustor)
    elif trustee:
        policy.enforce("identity:list_trusts_for_trustee", {"trustee_user_id": trustee})
        query = query.where(Trust.trustee_user_id == trustee)
    else:
        policy.enforce("identity:list_trusts")
    with runtime().db.session() as session:
        views = [trust_view(t) for t in session.scalars(query.order_by(Trust.created_at, Trust.id))]
    return jsonify({"trusts": views, "links": collection_links("/OS-TRUST/trusts")})


def _visible(session: Session, trust_id: str, action: str) -> Trust:
    """The trust, 404 when missing, expired or used up (before the policy, as Keystone), then the policy."""
    trust = trusts.usable_or_404(session, trust_id)
    policy.enforce(action, _target(trust))
    return trust


@bp.get("/<trust_id>")
def get_trust(trust_id: str) -> Response:
    with runtime().db.session() as session:
        trust = _visible(session, trust_id, "identity:get_trust")
        view = trust_view(trust, _roles_of(session, trust.id))
    return jsonify({"trust": view})


@bp.delete("/<trust_id>")
def delete_trust(trust_id: str) -> Response:
    """Its tokens stop working at once: the delete bumps the identity generation and validation then finds no
    trust (``identity.tokens``)."""
    with runtime().db.session() as session:
        trust = _visible(session, trust_id, "identity:delete_trust")
        _refuse_restricted(caller_token())
        session.delete(trust)
    return Response(status=204)


@bp.get("/<trust_id>/roles")
def list_trust_roles(trust_id: str) -> Response:
    with runtime().db.session() as session:
        trust = _visible(session, trust_id, "identity:list_roles_for_trust")
        roles = [role_view(r) for r in _roles_of(session, trust.id)]
    return jsonify({"roles": roles, "links": collection_links(f"/OS-TRUST/trusts/{trust_id}/roles")})


@bp.route("/<trust_id>/roles/<role_id>", methods=["GET", "HEAD"])
def get_trust_role(trust_id: str, role_id: str) -> Response:
    """A role the trust delegates; any other is 404 (HEAD answers the same, without a body)."""
    with runtime().db.session() as session:
        trust = _visible(session, trust_id, "identity:get_role_for_trust")
        role = next((r for r in _roles_of(session, trust.id) if r.id == role_id), None)
        if role is None:
            raise NotFound(kind="role", id=role_id)
        view = role_view(role)
    return jsonify({"role": view})


def use_for_token(session: Session, trust_id: str, user_id: str) -> TrustRef:
    """The trust a trustee signs in with, one use taken from it (in ``session``'s transaction, so a token not
    issued gives it back). Keystone's errors: a missing, expired or used-up trust is 404, a user other than the
    trustee, a disabled trustor or a trustor without the delegated roles 403."""
    trust = trusts.usable_or_404(session, trust_id)
    if trust.trustee_user_id != user_id:
        raise Forbidden("User is not a trustee.")
    trustor = session.get(User, trust.trustor_user_id)
    if trustor is None or not trustor.enabled:
        raise Forbidden("Trustor is disabled.")
    ref = trusts.ref_of(session, trust)
    if ref.project_id is None:
        raise Forbidden("Trustee has no delegated roles.")
    held = {r.id for r in effective_roles(session, ref.trustor_user_id, "project", ref.project_id)}
    if not ref.role_ids or not set(ref.role_ids) <= held:
        raise Forbidden("Trustee has no delegated roles.")
    trusts.consume_use(session, ref)
    return ref


def token_section(trust: TrustRef) -> dict[str, Any]:
    """What a token body says of the trust that made it (Keystone's ``OS-TRUST:trust``)."""
    return {
        "id": trust.id,
        "impersonation": trust.impersonation,
        "trustor_user": {"id": trust.trustor_user_id},
        "trustee_user": {"id": trust.trustee_user_id},
    }
