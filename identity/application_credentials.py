"""Application credentials: secrets that act as their user on one project, for automation instead of a password.

What a token needs to know about a credential is a ``CredentialRef`` (loaded once per identity snapshot by
``identity.tokens``); signing in with one is ``find_for_sign_in`` then a hash check outside any transaction,
as passwords are (``identity.passwords``). The secret is never stored, only its hash.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.exceptions import NotFound
from identity import lookups
from identity.models import (
    AccessRule,
    ApplicationCredential,
    ApplicationCredentialAccessRule,
    ApplicationCredentialRole,
    User,
)

SECRET_BYTES = 64
"""Random bytes of a generated secret (86 URL-safe characters), as many as Keystone's."""


@dataclass(frozen=True)
class AccessRuleRef:
    id: str
    service: str
    path: str
    method: str

    def view(self) -> dict[str, str]:
        return {"id": self.id, "service": self.service, "path": self.path, "method": self.method}


@dataclass(frozen=True)
class CredentialRef:
    """What a token made from a credential depends on: who, where, until when, with which roles."""

    id: str
    name: str
    user_id: str
    project_id: str
    expires_at: datetime | None
    unrestricted: bool
    role_ids: tuple[str, ...]
    access_rules: tuple[AccessRuleRef, ...]

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))


def generate_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def role_ids(session: Session, credential_id: str) -> tuple[str, ...]:
    query = select(ApplicationCredentialRole.role_id).where(ApplicationCredentialRole.credential_id == credential_id)
    return tuple(sorted(session.scalars(query)))


def access_rules(session: Session, credential_id: str) -> tuple[AccessRuleRef, ...]:
    query = (
        select(AccessRule)
        .join(ApplicationCredentialAccessRule, ApplicationCredentialAccessRule.access_rule_id == AccessRule.id)
        .where(ApplicationCredentialAccessRule.credential_id == credential_id)
        .order_by(AccessRule.service, AccessRule.path, AccessRule.method)
    )
    return tuple(AccessRuleRef(r.id, r.service, r.path, r.method) for r in session.scalars(query))


def ref_of(session: Session, credential: ApplicationCredential) -> CredentialRef:
    return CredentialRef(
        id=credential.id,
        name=credential.name,
        user_id=credential.user_id,
        project_id=credential.project_id,
        expires_at=credential.expires_at,
        unrestricted=credential.unrestricted,
        role_ids=role_ids(session, credential.id),
        access_rules=access_rules(session, credential.id),
    )


def load_ref(session: Session, credential_id: str) -> CredentialRef | None:
    credential = session.get(ApplicationCredential, credential_id) if len(credential_id) <= 64 else None
    return None if credential is None else ref_of(session, credential)


def find_for_sign_in(session: Session, spec: dict[str, Any]) -> tuple[CredentialRef | None, str | None]:
    """The credential a sign-in names (by id, or by name and its user) and its secret's hash; (None, None) if none.

    A credential named together with a user that is not its own is not found: the name is only unique per user.
    """
    if "id" in spec:
        credential = session.get(ApplicationCredential, spec["id"]) if len(spec["id"]) <= 64 else None
        user_spec = spec.get("user")
    else:
        user_spec = spec["user"]
        user_id = _user_id(session, user_spec)
        credential = (
            None
            if user_id is None
            else session.scalars(
                select(ApplicationCredential).filter_by(user_id=user_id, name=spec["name"])
            ).one_or_none()
        )
    if credential is None or (user_spec and _user_id(session, user_spec) != credential.user_id):
        return None, None
    return ref_of(session, credential), credential.secret_hash


def _user_id(session: Session, spec: dict[str, Any]) -> str | None:
    if "id" in spec:
        return session.scalar(select(User.id).where(User.id == spec["id"]))
    domain = lookups.find_domain_ref(session, spec.get("domain") or {})
    if domain is None:
        return None
    return session.scalar(select(User.id).where(User.name == spec["name"], User.domain_id == domain.id))


def rules_for_new_credential(session: Session, user_id: str, requested: list[dict[str, Any]]) -> list[AccessRule]:
    """The user's access rules a new credential carries: named by id (404 when not the user's), or by their
    service, path and method, reusing the user's identical rule when there is one, as Keystone does."""
    found: dict[str, AccessRule] = {}
    for spec in requested:
        if "id" in spec:
            rule = session.get(AccessRule, spec["id"]) if len(spec["id"]) <= 64 else None
            if rule is None or rule.user_id != user_id:
                raise NotFound(kind="access_rule", id=spec["id"])
        else:
            key = {"user_id": user_id, "service": spec["service"], "path": spec["path"], "method": spec["method"]}
            rule = session.scalars(select(AccessRule).filter_by(**key)).one_or_none()
            if rule is None:
                rule = AccessRule(**key)
                session.add(rule)
                session.flush()  # the same rule named twice in one request is then found, not made twice
        found[rule.id] = rule
    return list(found.values())


def rule_in_use(session: Session, rule_id: str) -> bool:
    query = select(ApplicationCredentialAccessRule.credential_id).where(
        ApplicationCredentialAccessRule.access_rule_id == rule_id
    )
    return session.scalars(query.limit(1)).first() is not None


@functools.lru_cache(maxsize=1024)
def _path_pattern(path: str) -> re.Pattern[str]:
    """An access rule's path as a regular expression: ``*`` (or ``{name}``) is one path segment, ``**`` any number
    of them, everything else literal (keystonemiddleware's rule language)."""
    parts = []
    for piece in re.split(r"(\*\*|\*|\{[^}/]*\})", path.rstrip("/") or "/"):
        if piece == "**":
            parts.append(".*")
        elif piece == "*" or (piece.startswith("{") and piece.endswith("}")):
            parts.append("[^/]+")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def permits(rules: tuple[AccessRuleRef, ...], services: tuple[str, ...], method: str, path: str) -> bool:
    """Whether a request (its service types, method, and path below the service's root, version included, as
    ``/v2.1/servers``) is one an access rule allows; a credential without rules allows everything."""
    if not rules:
        return True
    wanted = path.rstrip("/") or "/"
    return any(
        rule.service in services and rule.method == method and _path_pattern(rule.path).fullmatch(wanted)
        for rule in rules
    )
