"""Issuing, validating and revoking tokens.

A token is valid when its Fernet message is authentic and unexpired, no revocation event matches it, its
user and the user's domain are enabled, and (for a scoped token) its project or domain is enabled and the
user still holds at least one role there. Roles are read at validation time, so removing a role takes
effect at once; disabling a user, changing a password or deleting a project writes a revocation event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from api.identity.models import Domain, ImpliedRole, Project, RevocationEvent, Role, RoleAssignment, User
from common import tokens
from common.exceptions import Unauthorized
from common.tokens import KeyRepository, TokenPayload

EXPIRED_TOKEN_WINDOW = timedelta(days=2)


@dataclass(frozen=True)
class NamedRef:
    id: str
    name: str


@dataclass(frozen=True)
class OwnedRef:
    """A user or project: its id and name, and the domain it lives in."""

    id: str
    name: str
    domain: NamedRef


@dataclass(frozen=True)
class ValidatedToken:
    token_id: str
    payload: TokenPayload
    user: OwnedRef
    project: OwnedRef | None
    domain: NamedRef | None
    roles: tuple[NamedRef, ...]


def effective_roles(session: Session, user_id: str, target_type: str, target_id: str) -> tuple[NamedRef, ...]:
    """The roles a user holds on a target, with every role they imply (admin → member → reader)."""
    direct = set(
        session.scalars(
            select(RoleAssignment.role_id).where(
                RoleAssignment.user_id == user_id,
                RoleAssignment.target_type == target_type,
                RoleAssignment.target_id == target_id,
            )
        )
    )
    if not direct:
        return ()
    implications = session.execute(select(ImpliedRole.prior_role_id, ImpliedRole.implied_role_id)).all()
    found, frontier = set(direct), set(direct)
    while frontier:
        frontier = {implied for prior, implied in implications if prior in frontier} - found
        found |= frontier
    rows = session.execute(select(Role.id, Role.name).where(Role.id.in_(found)).order_by(Role.name)).all()
    return tuple(NamedRef(r.id, r.name) for r in rows)


def _load_user(session: Session, user_id: str) -> OwnedRef:
    row = session.execute(
        select(
            User.id,
            User.name,
            User.enabled,
            Domain.id.label("did"),
            Domain.name.label("dname"),
            Domain.enabled.label("den"),
        )
        .join(Domain, Domain.id == User.domain_id)
        .where(User.id == user_id)
    ).first()
    if row is None or not row.enabled or not row.den:
        raise Unauthorized("The user is disabled or does not exist.")
    return OwnedRef(row.id, row.name, NamedRef(row.did, row.dname))


def _load_project(session: Session, project_id: str) -> OwnedRef:
    row = session.execute(
        select(
            Project.id,
            Project.name,
            Project.enabled,
            Domain.id.label("did"),
            Domain.name.label("dname"),
            Domain.enabled.label("den"),
        )
        .join(Domain, Domain.id == Project.domain_id)
        .where(Project.id == project_id)
    ).first()
    if row is None or not row.enabled or not row.den:
        raise Unauthorized("The project is disabled or does not exist.")
    return OwnedRef(row.id, row.name, NamedRef(row.did, row.dname))


def _load_domain(session: Session, domain_id: str) -> NamedRef:
    row = session.execute(select(Domain.id, Domain.name, Domain.enabled).where(Domain.id == domain_id)).first()
    if row is None or not row.enabled:
        raise Unauthorized("The domain is disabled or does not exist.")
    return NamedRef(row.id, row.name)


def _is_revoked(session: Session, payload: TokenPayload) -> bool:
    issued = payload.issued_at
    clauses = [RevocationEvent.audit_id.in_(payload.audit_ids)]
    clauses.append(and_(RevocationEvent.user_id == payload.user_id, RevocationEvent.issued_before >= issued))
    if payload.project_id:
        clauses.append(and_(RevocationEvent.project_id == payload.project_id, RevocationEvent.issued_before >= issued))
    return session.execute(select(RevocationEvent.id).where(or_(*clauses)).limit(1)).first() is not None


def resolve(session: Session, token_id: str, payload: TokenPayload) -> ValidatedToken:
    """Check a decoded payload against the database and load what a token body shows."""
    user = _load_user(session, payload.user_id)
    project = domain = None
    roles: tuple[NamedRef, ...] = ()
    if payload.project_id:
        project = _load_project(session, payload.project_id)
        roles = effective_roles(session, user.id, "project", project.id)
    elif payload.domain_id:
        domain = _load_domain(session, payload.domain_id)
        roles = effective_roles(session, user.id, "domain", domain.id)
    if (project or domain) and not roles:
        raise Unauthorized("The user has no role on the token's scope.")
    return ValidatedToken(token_id, payload, user, project, domain, roles)


class TokenService:
    def __init__(self, keys: KeyRepository, lifetime: int) -> None:
        self.keys = keys
        self.lifetime = timedelta(seconds=lifetime)

    def issue(
        self,
        session: Session,
        user_id: str,
        methods: tuple[str, ...],
        project_id: str | None = None,
        domain_id: str | None = None,
        parent: TokenPayload | None = None,
    ) -> ValidatedToken:
        """A new token; a re-scoped one keeps its parent's expiry and audit chain, as in Keystone."""
        now = datetime.now(UTC)
        audit_ids = (tokens.new_audit_id(),) + ((parent.audit_ids[-1],) if parent else ())
        payload = TokenPayload(
            user_id=user_id,
            methods=methods,
            expires_at=parent.expires_at if parent else now + self.lifetime,
            issued_at=now,
            audit_ids=audit_ids,
            project_id=project_id,
            domain_id=domain_id,
        )
        token_id = tokens.encode(payload, self.keys)
        # Decode again so the payload carries exactly the rounded timestamps the token holds.
        return resolve(session, token_id, tokens.decode(token_id, self.keys))

    def validate(self, session: Session, token_id: str, allow_expired: bool = False) -> ValidatedToken:
        now = datetime.now(UTC) - (EXPIRED_TOKEN_WINDOW if allow_expired else timedelta())
        payload = tokens.decode(token_id, self.keys, now=now)
        if _is_revoked(session, payload):
            raise Unauthorized("The token has been revoked.")
        return resolve(session, token_id, payload)

    def _revocation(self, **match: str) -> RevocationEvent:
        now = datetime.now(UTC)
        return RevocationEvent(issued_before=now, revoked_at=now, prune_after=now + self.lifetime, **match)

    def revoke_token(self, session: Session, payload: TokenPayload) -> None:
        session.add(self._revocation(audit_id=payload.audit_ids[0]))

    def revoke_user(self, session: Session, user_id: str) -> None:
        """Every token the user holds now becomes invalid; later ones are unaffected."""
        session.add(self._revocation(user_id=user_id))

    def revoke_project(self, session: Session, project_id: str) -> None:
        session.add(self._revocation(project_id=project_id))

    def prune(self, session: Session) -> int:
        """Drop revocation events that can no longer match an unexpired token."""
        old = session.scalars(
            select(RevocationEvent).where(RevocationEvent.prune_after < datetime.now(UTC) - EXPIRED_TOKEN_WINDOW)
        ).all()
        for event in old:
            session.delete(event)
        return len(old)
