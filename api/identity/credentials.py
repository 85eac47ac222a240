"""``/v3/credentials`` and ``/v3/users/{user_id}/credentials/OS-EC2``: secrets users keep with the cloud.

Policy as Keystone's: a user sees and manages only their own credentials, an admin everyone's. A credential that
is not there is a 403 to a non-admin (who may not learn whether another user's credential id exists) and a 404 to
an admin, as Keystone answers. Blobs are encrypted at rest (``identity.credentials`` says with which keys).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import policy
from api.identity.schemas import CREDENTIAL_CREATE, CREDENTIAL_UPDATE, EC2_CREDENTIAL_CREATE
from api.runtime import runtime
from api.urls import collection_links, self_link
from api.validation import json_body, validate, validated_body
from common.db import new_id
from common.exceptions import BadRequest, Conflict, Forbidden, NotFound, ValidationError
from identity import credentials
from identity.credentials import EC2
from identity.fernet import KeyRepository
from identity.lookups import get_or_404
from identity.models import Credential, Project, User

bp = Blueprint("identity_credentials", __name__, url_prefix="/identity/v3")

_COLUMNS = ("id", "user_id", "project_id", "type", "blob", "links")


def credential_view(credential: Credential, blob: str) -> dict[str, Any]:
    return {
        **(credential.extra or {}),
        "id": credential.id,
        "user_id": credential.user_id,
        "project_id": credential.project_id,
        "type": credential.type,
        "blob": blob,
        "links": self_link(f"/credentials/{credential.id}"),
    }


def ec2_view(credential: Credential, blob: str) -> dict[str, Any]:
    """Keystone's OS-EC2 shape: the blob's access, secret and trust_id beside the owner and ``tenant_id``."""
    parsed = json.loads(blob)
    return {
        "user_id": credential.user_id,
        "tenant_id": credential.project_id,
        "access": parsed.get("access"),
        "secret": parsed.get("secret"),
        "trust_id": parsed.get("trust_id"),
        "links": self_link(f"/users/{credential.user_id}/credentials/OS-EC2/{parsed.get('access')}"),
    }


def _extra(body: dict[str, Any]) -> dict[str, Any]:
    """Attributes Keystone does not know are kept and returned, as for users (scalars only)."""
    extra = {k: v for k, v in body.items() if k not in _COLUMNS}
    for key, value in extra.items():
        if isinstance(value, (dict, list)):
            raise BadRequest(f"Invalid input for field '{key}': only scalar extra attributes are stored.")
    return extra


def _keys() -> KeyRepository:
    return runtime().credential_keys


def _guarded(session: Session, action: str, credential_id: str) -> Credential:
    """The credential, once the caller may act on it; a missing one is 404 only to those who may see any."""
    credential = session.get(Credential, credential_id) if len(credential_id) <= 64 else None
    policy.enforce(action, {"user_id": credential.user_id} if credential else {})
    if credential is None:
        raise NotFound(kind="credential", id=credential_id)
    return credential


def _check_owner_and_project(session: Session, user_id: str, project_id: str | None) -> None:
    get_or_404(session, User, user_id)
    if project_id is not None:
        get_or_404(session, Project, project_id)


def _insert(session: Session, credential: Credential) -> None:
    """Add a credential: 409 when its id is taken (an EC2 access key already stored), 403 over the user limit."""
    if session.get(Credential, credential.id) is not None:
        raise Conflict(kind="credential", reason=f"Duplicate ID, {credential.id}")
    held = session.scalar(select(func.count()).select_from(Credential).where(Credential.user_id == credential.user_id))
    if (held or 0) >= credentials.USER_LIMIT:
        raise Forbidden(
            f"Unable to create additional credentials, maximum of {credentials.USER_LIMIT} already exceeded for user."
        )
    session.add(credential)
    try:
        session.flush()
    except IntegrityError:  # a concurrent request stored the same id (or removed the owner) since the checks
        raise Conflict(kind="credential", reason=f"Duplicate ID, {credential.id}") from None


# ---------------------------------------------------------------------------------------------------------------
# /v3/credentials


@bp.get("/credentials")
def list_credentials() -> Response:
    ctx = policy.enforce("identity:list_credentials")
    query = select(Credential)
    for name in ("user_id", "type"):
        value = request.args.get(name)
        if value is not None:
            query = query.where(getattr(Credential, name) == value)
    if not policy.allowed("identity:list_credentials:all_users", ctx=ctx):
        query = query.where(Credential.user_id == ctx.user_id)
    keys = _keys()
    with runtime().db.session() as session:
        found = session.scalars(query.order_by(Credential.created_at, Credential.id))
        views = [credential_view(c, credentials.decrypt(c, keys)) for c in found]
    return jsonify({"credentials": views, "links": collection_links("/credentials")})


@bp.post("/credentials")
def create_credential() -> Response:
    document = json_body()
    # The rule first, as Keystone: a caller who may not create this credential learns nothing from validation.
    proposed = document.get("credential") if isinstance(document, dict) else None
    policy.enforce(
        "identity:create_credential", {"user_id": proposed.get("user_id")} if isinstance(proposed, dict) else {}
    )
    body = validate(document, CREDENTIAL_CREATE)["credential"]
    kind, blob, project_id = body["type"], body["blob"], body.get("project_id")
    if kind == EC2:
        if not project_id:
            raise ValidationError(field="project_id", reason="an ec2 credential needs a project")
        credential_id = credentials.ec2_id(credentials.parse_ec2_blob(blob)["access"])
    else:
        credential_id = new_id()
    keys = _keys()
    with runtime().db.session() as session:
        _check_owner_and_project(session, body["user_id"], project_id)
        credential = Credential(
            id=credential_id,
            user_id=body["user_id"],
            project_id=project_id,
            type=kind,
            encrypted_blob=credentials.encrypt(blob, keys),
            extra=_extra(body),
        )
        _insert(session, credential)
        view = credential_view(credential, blob)
    return jsonify({"credential": view}), 201


@bp.get("/credentials/<credential_id>")
def get_credential(credential_id: str) -> Response:
    with runtime().db.session() as session:
        credential = _guarded(session, "identity:get_credential", credential_id)
        view = credential_view(credential, credentials.decrypt(credential, _keys()))
    return jsonify({"credential": view})


@bp.patch("/credentials/<credential_id>")
def update_credential(credential_id: str) -> Response:
    document = json_body()
    keys = _keys()
    with runtime().db.session() as session:
        credential = _guarded(session, "identity:update_credential", credential_id)
        body = validate(document, CREDENTIAL_UPDATE)["credential"]
        if body.get("id", credential.id) != credential.id:
            raise BadRequest("Cannot change the ID of a credential.")
        # Keystone checks the rule again against the credential as it would be: nobody hands a credential to
        # another user unless they could have created it for them.
        user_id = body.get("user_id", credential.user_id)
        policy.enforce("identity:update_credential", {"user_id": user_id})
        kind = body.get("type", credential.type)
        if (kind == EC2) != (credential.type == EC2):
            # An EC2 credential's id is its access key's hash: no other kind can become one, nor it another kind.
            raise BadRequest("The type of a credential cannot change to or from ec2.")
        project_id = body.get("project_id", credential.project_id)
        if kind == EC2 and not project_id:
            raise ValidationError(field="project_id", reason="an ec2 credential needs a project")
        old_blob = credentials.decrypt(credential, keys)
        blob = body.get("blob", old_blob)
        if kind == EC2 and "blob" in body:
            credentials.check_ec2_update(old_blob, blob)
        _check_owner_and_project(session, user_id, project_id)
        credential.user_id, credential.project_id, credential.type = user_id, project_id, kind
        if "blob" in body:
            credential.encrypted_blob = credentials.encrypt(blob, keys)
        credential.extra = {**(credential.extra or {}), **_extra(body)}
        session.flush()
        view = credential_view(credential, blob)
    return jsonify({"credential": view})


@bp.delete("/credentials/<credential_id>")
def delete_credential(credential_id: str) -> Response:
    with runtime().db.session() as session:
        session.delete(_guarded(session, "identity:delete_credential", credential_id))
    return Response(status=204)


# ---------------------------------------------------------------------------------------------------------------
# /v3/users/{user_id}/credentials/OS-EC2: EC2 key pairs made by the cloud, found by their access key


@bp.get("/users/<user_id>/credentials/OS-EC2")
def list_ec2_credentials(user_id: str) -> Response:
    policy.enforce("identity:ec2_list_credentials", {"user_id": user_id})
    keys = _keys()
    with runtime().db.session() as session:
        get_or_404(session, User, user_id)
        query = select(Credential).where(Credential.user_id == user_id, Credential.type == EC2)
        found = session.scalars(query.order_by(Credential.created_at, Credential.id))
        views = [ec2_view(c, credentials.decrypt(c, keys)) for c in found]
    return jsonify({"credentials": views, "links": collection_links(f"/users/{user_id}/credentials/OS-EC2")})


@bp.post("/users/<user_id>/credentials/OS-EC2")
def create_ec2_credential(user_id: str) -> Response:
    policy.enforce("identity:ec2_create_credential", {"user_id": user_id})
    project_id = validated_body(EC2_CREDENTIAL_CREATE)["tenant_id"]
    blob = credentials.new_ec2_blob()
    keys = _keys()
    with runtime().db.session() as session:
        _check_owner_and_project(session, user_id, project_id)
        credential = Credential(
            id=credentials.ec2_id(json.loads(blob)["access"]),
            user_id=user_id,
            project_id=project_id,
            type=EC2,
            encrypted_blob=credentials.encrypt(blob, keys),
            extra={},
        )
        _insert(session, credential)
        view = ec2_view(credential, blob)
    return jsonify({"credential": view}), 201


def _ec2_credential(session: Session, user_id: str, access: str) -> Credential:
    """The user's EC2 credential with this access key; 404 for another user's or another kind."""
    get_or_404(session, User, user_id)
    credential = session.get(Credential, credentials.ec2_id(access))
    if credential is None or credential.type != EC2 or credential.user_id != user_id:
        raise NotFound(kind="credential", id=access)
    return credential


@bp.get("/users/<user_id>/credentials/OS-EC2/<access>")
def get_ec2_credential(user_id: str, access: str) -> Response:
    policy.enforce("identity:ec2_get_credential", {"user_id": user_id})
    with runtime().db.session() as session:
        credential = _ec2_credential(session, user_id, access)
        view = ec2_view(credential, credentials.decrypt(credential, _keys()))
    return jsonify({"credential": view})


@bp.delete("/users/<user_id>/credentials/OS-EC2/<access>")
def delete_ec2_credential(user_id: str, access: str) -> Response:
    policy.enforce("identity:ec2_delete_credential", {"user_id": user_id})
    with runtime().db.session() as session:
        session.delete(_ec2_credential(session, user_id, access))
    return Response(status=204)
