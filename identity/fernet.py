"""Fernet token primitives: the key repository and the token payload, as Keystone does them.

A token is a Fernet message (AES-128-CBC + HMAC-SHA256, timestamped) over a compact JSON payload naming the
user, the auth methods, the scope, the expiry and the audit ids. Nothing about a token is stored; what
makes a valid token invalid early is a revocation event in the database, checked by the identity service.

The key repository is a directory of files named by integers, as in Keystone: ``0`` is the staged key (the
next primary, already accepted for decryption so nodes can rotate one by one), the highest number is the
primary key (encrypts), the others are secondary keys (still decrypt). Rotation promotes the staged key,
stages a new one and drops the oldest secondary beyond ``max_active_keys``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from common.exceptions import ConfigError, Unauthorized

PAYLOAD_VERSION = 1


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


class KeyRepository:
    """Fernet keys on disk; re-read automatically when a rotation changes the directory."""

    def __init__(self, path: Path, max_active_keys: int = 3) -> None:
        if max_active_keys < 2:
            raise ConfigError(setting="fernet_max_active_keys", reason="at least 2 (staged and primary)")
        self.path = path
        self.max_active_keys = max_active_keys
        self._fernet: MultiFernet | None = None
        self._loaded_mtime: int = -1
        self._version = 0

    def _indexes(self) -> list[int]:
        return sorted(int(p.name) for p in self.path.iterdir() if p.name.isdigit())

    def _write_key(self, index: int) -> None:
        tmp = self.path / f".{index}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
        os.replace(tmp, self.path / str(index))

    def setup(self) -> bool:
        """Create the repository with a staged and a primary key; a no-op when keys exist. True if created."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._indexes():
            return False
        self._write_key(0)
        self._write_key(1)
        return True

    def rotate(self) -> int:
        """Promote the staged key to primary, stage a fresh key, prune old secondaries. Returns the new primary."""
        indexes = self._indexes()
        if not indexes:
            raise ConfigError(setting="fernet_key_repository", reason=f"no keys in {self.path}; run setup first")
        new_primary = max(indexes) + 1
        os.replace(self.path / "0", self.path / str(new_primary))
        self._write_key(0)
        secondaries = [i for i in self._indexes() if i not in (0, new_primary)]
        excess = len(secondaries) + 2 - self.max_active_keys
        for index in secondaries[: max(excess, 0)]:
            (self.path / str(index)).unlink()
        return new_primary

    def version(self) -> int:
        """Changes whenever the keys on disk change (rotation): caches of decrypted tokens key on it."""
        self.fernet()
        return self._version

    def fernet(self) -> MultiFernet:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            raise ConfigError(setting="fernet_key_repository", reason=f"{self.path} does not exist") from None
        if self._fernet is None or mtime != self._loaded_mtime:
            indexes = self._indexes()
            if not indexes:
                raise ConfigError(setting="fernet_key_repository", reason=f"no keys in {self.path}")
            ordered = sorted((i for i in indexes if i != 0), reverse=True) + ([0] if 0 in indexes else [])
            keys = [Fernet((self.path / str(i)).read_bytes().strip()) for i in ordered]
            self._fernet = MultiFernet(keys)
            self._loaded_mtime = mtime
            self._version += 1
        return self._fernet


@dataclass(frozen=True)
class TokenPayload:
    """What a token says. ``project_id`` and ``domain_id`` are mutually exclusive; neither means unscoped."""

    user_id: str
    methods: tuple[str, ...]
    expires_at: datetime
    issued_at: datetime
    audit_ids: tuple[str, ...]
    project_id: str | None = None
    domain_id: str | None = None
    application_credential_id: str | None = None
    """Set on a token an application credential authenticated: it then carries that credential's roles only."""
    system: str | None = None
    """``"all"`` on a system-scoped token (Keystone's only system target); exclusive with a project or domain."""
    trust_id: str | None = None
    """Set on a trust-scoped token: ``user_id`` is then the trustee, ``project_id`` the trust's project."""

    @property
    def scope(self) -> str:
        if self.system:
            return "system"
        return "project" if self.project_id else "domain" if self.domain_id else "unscoped"


def encode(payload: TokenPayload, keys: KeyRepository) -> str:
    body = [
        PAYLOAD_VERSION,
        payload.user_id,
        list(payload.methods),
        payload.project_id,
        payload.domain_id,
        round(payload.expires_at.timestamp(), 6),
        round(payload.issued_at.timestamp(), 6),
        list(payload.audit_ids),
    ]
    # An optional trailing object of extras: tokens without one decode as before.
    extras: dict[str, str] = {}
    if payload.application_credential_id:
        extras["application_credential_id"] = payload.application_credential_id
    if payload.system:
        extras["system"] = payload.system
    if payload.trust_id:
        extras["trust_id"] = payload.trust_id
    if extras:
        body.append(extras)
    data = json.dumps(body, separators=(",", ":")).encode()
    return keys.fernet().encrypt(data).rstrip(b"=").decode()


def decode(token: str, keys: KeyRepository, now: datetime | None = None) -> TokenPayload:
    """The payload of a token that is authentic and not expired; Unauthorized otherwise."""
    if not token or len(token) > 1024:
        raise Unauthorized("The token is malformed.")
    padded = token + "=" * (-len(token) % 4)
    try:
        data = keys.fernet().decrypt(padded.encode())
        version, user_id, methods, project_id, domain_id, expires, issued, audit_ids, *extras = json.loads(data)
        extra: dict[str, Any] = extras[0] if extras else {}
        application_credential_id = extra.get("application_credential_id")
        system = extra.get("system")
        trust_id = extra.get("trust_id")
    except (InvalidToken, ValueError, TypeError, UnicodeError):
        raise Unauthorized("The token is not valid.") from None
    if version != PAYLOAD_VERSION:
        raise Unauthorized("The token is not valid.")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if expires_at <= (now or datetime.now(UTC)):
        raise Unauthorized("The token has expired.")
    return TokenPayload(
        user_id=user_id,
        methods=tuple(methods),
        expires_at=expires_at,
        issued_at=datetime.fromtimestamp(issued, UTC),
        audit_ids=tuple(audit_ids),
        project_id=project_id,
        domain_id=domain_id,
        application_credential_id=application_credential_id,
        system=system,
        trust_id=trust_id,
    )
