"""``/os-keypairs``: a user's SSH keys (and x509 certificates, from 2.2), imported or generated here.

Key pairs belong to a user, not a project, and are named per user. A generated key's private half is in
the create response only; it is never stored. Admins may act on other users' keys with ``user_id`` (2.10). From
2.92 keys are only imported (``public_key`` is required) and names may also hold ``@`` and ``.``, as in Nova.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api import policy
from api.compute.microversions import at_least
from api.compute.resource_schemas import KEYPAIR_CREATE, KEYPAIR_CREATE_V22, KEYPAIR_CREATE_V210
from api.compute.views import paged, usage_time
from api.context import RequestContext
from api.runtime import runtime
from api.validation import validated_body
from common.exceptions import BadRequest, Conflict, NotFound, ValidationError
from compute.models import KeyPair
from quota import engine

bp = Blueprint("compute_keypairs", __name__, url_prefix="/compute/v2.1")

SAFE_NAME_CHARACTERS = frozenset("_- 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class InvalidKeypair(BadRequest):
    msg_fmt = "Keypair data is invalid: {reason}"


# --- keys and fingerprints, as Nova computes them ------------------------------------------------------------


def _colon_hex(digest: bytes) -> str:
    raw = digest.hex()
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))


def ssh_fingerprint(public_key: str) -> str:
    """MD5 of the key blob, colon separated; the key must load as an OpenSSH public key."""
    try:
        serialization.load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(public_key.strip().split()[1], validate=True)
    except (ValueError, IndexError, binascii.Error, UnsupportedAlgorithm) as exc:
        reason = f"failed to generate fingerprint: public_key is not an OpenSSH public key ({exc})"
        raise InvalidKeypair(reason=reason) from None
    return _colon_hex(hashlib.md5(blob, usedforsecurity=False).digest())


def x509_fingerprint(certificate: str) -> str:
    try:
        loaded = x509.load_pem_x509_certificate(certificate.encode())
    except ValueError as exc:
        raise InvalidKeypair(reason=f"failed to generate X509 fingerprint. Error message: {exc}") from None
    return _colon_hex(loaded.fingerprint(hashes.SHA1()))  # the fingerprint Nova shows


def _generate_ssh() -> tuple[str, str]:
    """An RSA 2048 key, as Nova makes: traditional PEM private key, OpenSSH public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, f"{public.decode()} Generated-by-Stratus"


def _generate_x509(user_id: str) -> tuple[str, str]:
    """A self-signed client certificate for ``user_id`` valid ten years, as Nova makes for WinRM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    return private, certificate.public_bytes(serialization.Encoding.PEM).decode()


# --- views --------------------------------------------------------------------------------------------------


def legacy_id(keypair: KeyPair) -> int:
    """Nova shows a key pair's integer database id; ours is keyed by (user, name), so derive a stable one."""
    digest = hashlib.sha256(f"{keypair.user_id}\0{keypair.name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def keypair_view(keypair: KeyPair, *, create: bool = False, show: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"name": keypair.name, "public_key": keypair.public_key, "fingerprint": keypair.fingerprint}
    if create or show:
        body["user_id"] = keypair.user_id
    if show:
        body |= {
            "created_at": usage_time(keypair.created_at),
            "deleted": False,
            "deleted_at": None,
            "id": legacy_id(keypair),
            "updated_at": usage_time(keypair.updated_at),
        }
    if at_least("2.2"):
        body["type"] = keypair.type
    return body


# --- handlers -----------------------------------------------------------------------------------------------


def _owner(ctx: RequestContext, requested: str | None = None) -> str:
    """Whose keys the request is about: the caller's, or from 2.10 another user's for admins."""
    if requested is None and at_least("2.10"):
        requested = request.args.get("user_id")
    if requested and requested != ctx.user_id:
        policy.enforce("compute:keypairs:other_user", {"user_id": requested})
        return requested
    return str(ctx.user_id)


def _find(session: Any, user_id: str, name: str) -> KeyPair:
    keypair = session.get(KeyPair, (user_id, name))
    if keypair is None:
        raise NotFound(f"Keypair {name} not found for user {user_id}")
    return keypair


@bp.get("/os-keypairs")
def list_keypairs() -> Response:
    ctx = policy.enforce("compute:keypairs")
    user_id = _owner(ctx)
    with runtime().db.session() as session:
        keypairs = list(session.scalars(select(KeyPair).where(KeyPair.user_id == user_id).order_by(KeyPair.name)))
        links: list[dict[str, str]] = []
        if at_least("2.35"):
            keypairs, links = paged(keypairs, lambda k: k.name, "os-keypairs")
        body: dict[str, Any] = {"keypairs": [{"keypair": keypair_view(k)} for k in keypairs]}
    if links:
        body["keypairs_links"] = links
    return jsonify(body)


def _create_schema() -> dict[str, Any]:
    if at_least("2.10"):
        return KEYPAIR_CREATE_V210
    return KEYPAIR_CREATE_V22 if at_least("2.2") else KEYPAIR_CREATE


@bp.post("/os-keypairs")
def create_keypair() -> Response:
    ctx = policy.enforce("compute:keypairs")
    body = validated_body(_create_schema())["keypair"]
    user_id = _owner(ctx, body.get("user_id"))
    name, key_type = body["name"], body.get("type", "ssh")
    if at_least("2.92") and "public_key" not in body:  # Nova stopped generating key pairs at 2.92
        raise ValidationError(field="keypair.public_key", reason="'public_key' is a required property")
    safe = SAFE_NAME_CHARACTERS | ({"@", "."} if at_least("2.92") else set())
    if set(name) - safe:
        raise InvalidKeypair(reason="Keypair name contains unsafe characters")
    private_key = None
    if "public_key" in body:
        public_key = body["public_key"]
    elif key_type == "x509":
        private_key, public_key = _generate_x509(user_id)
    else:
        private_key, public_key = _generate_ssh()
    fingerprint = x509_fingerprint(public_key) if key_type == "x509" else ssh_fingerprint(public_key)
    keypair = KeyPair(user_id=user_id, name=name, public_key=public_key, fingerprint=fingerprint, type=key_type)
    rt = runtime()
    with rt.db.session() as session:
        # Nova's rule: each user's key pairs are limited by the project's key_pairs quota.
        engine.enforce(session, ctx.project_id, {"key_pairs": 1}, user_id=user_id, settings=rt.settings)
        if session.get(KeyPair, (user_id, name)) is not None:
            raise Conflict(f"Key pair '{name}' already exists.")
        session.add(keypair)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"Key pair '{name}' already exists.") from None
        view = keypair_view(keypair, create=True)
    if private_key is not None:
        view["private_key"] = private_key
    response = jsonify({"keypair": view})
    response.status_code = 201 if at_least("2.2") else 200
    return response


@bp.get("/os-keypairs/<name>")
def show_keypair(name: str) -> Response:
    ctx = policy.enforce("compute:keypairs")
    with runtime().db.session() as session:
        return jsonify({"keypair": keypair_view(_find(session, _owner(ctx), name), show=True)})


@bp.delete("/os-keypairs/<name>")
def delete_keypair(name: str) -> Response:
    ctx = policy.enforce("compute:keypairs")
    with runtime().db.session() as session:
        session.delete(_find(session, _owner(ctx), name))
    return Response(status=204 if at_least("2.2") else 202)
