"""Issuing, validating and revoking tokens.

A token is valid when its Fernet message is authentic and unexpired, no revocation event matches it, its
user and the user's domain are enabled, and (for a scoped token) its project or domain is enabled and the
user still holds at least one role there (for a system-scoped token: at least one role on the system). Roles are
read at validation time, so removing a role takes effect at once; disabling a user, changing a password or
deleting a project writes a revocation event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from common.db import Database
from common.exceptions import Unauthorized
from identity import fernet as tokens
from identity import generation
from identity.application_credentials import CredentialRef, load_ref
from identity.cache import IdentityCache, Snapshot
from identity.fernet import KeyRepository, TokenPayload
from identity.groups import roles_via_groups
from identity.inheritance import inherited_role_ids
from identity.models import Domain, ImpliedRole, Project, RevocationEvent, Role, RoleAssignment, Trust, User
from identity.trusts import TrustRef
from identity.trusts import load_ref as load_trust

EXPIRED_TOKEN_WINDOW = timedelta(days=2)
# Keystone's one system target: a system role assignment is stored with target_type "system" and this target_id.
SYSTEM_ALL = "all"
T = TypeVar("T")


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
    application_credential: CredentialRef | None = None
    system: str | None = None
    """``"all"`` when the token is scoped to the system: ``roles`` are then those the user holds on the system."""
    trust: TrustRef | None = None
    """The trust of a trust-scoped token: ``user`` is then the trustor when it impersonates, else the trustee, and
    ``roles`` are the trust's (with what they imply)."""


_ASSIGNED = select(RoleAssignment.role_id).where(
    RoleAssignment.user_id == bindparam("user_id"),
    RoleAssignment.target_type == bindparam("target_type"),
    RoleAssignment.target_id == bindparam("target_id"),
)
_GROUP_ASSIGNED = roles_via_groups(bindparam("user_id"), bindparam("target_type"), bindparam("target_id"))
_IMPLICATIONS = select(ImpliedRole.prior_role_id, ImpliedRole.implied_role_id)
# Global roles only: a domain-specific role is never in a token, only the global roles it implies (Keystone's).
_ROLE_NAMES = select(Role.id, Role.name).where(Role.domain_id.is_(None))
_USER = (
    select(User.id, User.name, User.enabled, Domain.id, Domain.name, Domain.enabled)
    .join(Domain, Domain.id == User.domain_id)
    .where(User.id == bindparam("id"))
)
_PROJECT = (
    select(Project.id, Project.name, Project.enabled, Domain.id, Domain.name, Domain.enabled)
    .join(Domain, Domain.id == Project.domain_id)
    .where(Project.id == bindparam("id"))
)
_DOMAIN = select(Domain.id, Domain.name, Domain.enabled).where(Domain.id == bindparam("id"))


def role_graph(session: Session) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Which roles each role implies (transitively) and every global role's name (what tokens may carry)."""
    edges = session.execute(_IMPLICATIONS).all()
    implied: dict[str, set[str]] = {}
    for prior, _ in edges:
        found, frontier = set(), {prior}
        while frontier:
            frontier = {i for p, i in edges if p in frontier} - found
            found |= frontier
        implied[prior] = found
    return implied, dict(session.execute(_ROLE_NAMES).all())  # type: ignore[arg-type]


def effective_roles(
    session: Session, user_id: str, target_type: str, target_id: str, snapshot: Snapshot | None = None
) -> tuple[NamedRef, ...]:
    """The roles a user holds on a target, directly or through a group, with every role they imply
    (admin → member → reader); on a project, also those inherited from its domain or the projects above it."""
    params = {"user_id": user_id, "target_type": target_type, "target_id": target_id}
    direct = set(session.scalars(_ASSIGNED, params)) | set(session.scalars(_GROUP_ASSIGNED, params))
    if target_type == "project":  # OS-INHERIT grants on its domain or on a project above it reach it too
        direct |= inherited_role_ids(session, user_id, target_id)
    if not direct:
        return ()
    implied, names = _memo(snapshot, ("role-graph",), lambda: role_graph(session))
    found = direct.union(*(implied.get(r, ()) for r in direct))
    return tuple(sorted((NamedRef(r, names[r]) for r in found if r in names), key=lambda r: r.name))


def _owned(row: Any) -> OwnedRef | None:
    """A user or project row joined with its domain; None unless both are enabled."""
    if row is None or not row[2] or not row[5]:
        return None
    return OwnedRef(row[0], row[1], NamedRef(row[3], row[4]))


def _memo(snapshot: Snapshot | None, key: tuple[str, ...], load: Callable[[], T]) -> T:
    return load() if snapshot is None else snapshot.lookups.get_or_load(key, load)  # type: ignore[return-value]


def _is_revoked(session: Session, payload: TokenPayload) -> bool:
    issued = payload.issued_at
    clauses = [RevocationEvent.audit_id.in_(payload.audit_ids)]
    clauses.append(and_(RevocationEvent.user_id == payload.user_id, RevocationEvent.issued_before >= issued))
    if payload.project_id:
        clauses.append(and_(RevocationEvent.project_id == payload.project_id, RevocationEvent.issued_before >= issued))
    if payload.trust_id:
        # The trustor's revocations too (a password change, a disabled account): the token acts with their roles.
        trustor = select(Trust.trustor_user_id).where(Trust.id == payload.trust_id).scalar_subquery()
        clauses.append(and_(RevocationEvent.user_id == trustor, RevocationEvent.issued_before >= issued))
    return session.execute(select(RevocationEvent.id).where(or_(*clauses)).limit(1)).first() is not None


def resolve(session: Session, token_id: str, payload: TokenPayload, snapshot: Snapshot | None = None) -> ValidatedToken:
    """Check a decoded payload against the database and load what a token body shows."""
    user = _memo(
        snapshot, ("user", payload.user_id), lambda: _owned(session.execute(_USER, {"id": payload.user_id}).first())
    )
    if user is None:
        raise Unauthorized("The user is disabled or does not exist.")
    project = domain = None
    roles: tuple[NamedRef, ...] = ()
    if payload.project_id:
        pid = payload.project_id
        project = _memo(snapshot, ("project", pid), lambda: _owned(session.execute(_PROJECT, {"id": pid}).first()))
        if project is None:
            raise Unauthorized("The project is disabled or does not exist.")
        if not payload.trust_id:
            roles = _memo(
                snapshot,
                ("roles", user.id, "project", pid),
                lambda: effective_roles(session, user.id, "project", pid, snapshot),
            )
    elif payload.domain_id:
        did = payload.domain_id
        row = _memo(snapshot, ("domain", did), lambda: session.execute(_DOMAIN, {"id": did}).first())
        if row is None or not row[2]:
            raise Unauthorized("The domain is disabled or does not exist.")
        domain = NamedRef(row[0], row[1])
        roles = _memo(
            snapshot,
            ("roles", user.id, "domain", did),
            lambda: effective_roles(session, user.id, "domain", did, snapshot),
        )
    elif payload.system:
        if payload.system != SYSTEM_ALL:
            raise Unauthorized("The token's system scope is not valid.")
        roles = _memo(
            snapshot,
            ("roles", user.id, "system", SYSTEM_ALL),
            lambda: effective_roles(session, user.id, "system", SYSTEM_ALL, snapshot),
        )
    credential = trust = None
    if payload.application_credential_id:
        credential, roles = _credential_roles(session, payload, roles, snapshot)
    if payload.trust_id:
        trust, user, roles = _trust_scope(session, payload, user, snapshot)
    if (project or domain or payload.system) and not roles:
        raise Unauthorized("The user has no role on the token's scope.")
    return ValidatedToken(token_id, payload, user, project, domain, roles, credential, payload.system, trust)


def _trust_scope(
    session: Session, payload: TokenPayload, trustee: OwnedRef, snapshot: Snapshot | None
) -> tuple[TrustRef, OwnedRef, tuple[NamedRef, ...]]:
    """A trust-scoped token's trust, the user it acts as, and its roles: the trust's roles and what they imply,
    valid only while the trust exists and has not expired, the trustor is enabled and still holds every one of
    those roles on the trust's project (Keystone's "Trustee has no delegated roles"). Deleting a trust or a role
    assignment bumps the identity generation, so no cached validation outlives either."""
    tid = payload.trust_id or ""
    trust = _memo(snapshot, ("trust", tid), lambda: load_trust(session, tid))
    if trust is None or (trust.trustee_user_id, trust.project_id) != (payload.user_id, payload.project_id):
        raise Unauthorized("The trust of this token no longer exists.")
    if trust.expired():
        raise Unauthorized("The trust of this token has expired.")
    tid_user = trust.trustor_user_id
    trustor = _memo(snapshot, ("user", tid_user), lambda: _owned(session.execute(_USER, {"id": tid_user}).first()))
    if trustor is None:
        raise Unauthorized("The trustor of this token's trust is disabled or does not exist.")
    pid = trust.project_id or ""
    held = _memo(
        snapshot,
        ("roles", trustor.id, "project", pid),
        lambda: effective_roles(session, trustor.id, "project", pid, snapshot),
    )
    implied, _ = _memo(snapshot, ("role-graph",), lambda: role_graph(session))
    wanted = set(trust.role_ids).union(*(implied.get(r, ()) for r in trust.role_ids))
    if not wanted or not wanted <= {r.id for r in held}:
        raise Unauthorized("The trustor no longer holds every role the trust delegates.")
    return trust, trustor if trust.impersonation else trustee, tuple(r for r in held if r.id in wanted)


def _credential_roles(
    session: Session, payload: TokenPayload, held: tuple[NamedRef, ...], snapshot: Snapshot | None
) -> tuple[CredentialRef, tuple[NamedRef, ...]]:
    """An application credential's token carries the credential's roles and what they imply, and only while the
    credential exists, has not expired and its user still holds every one of those roles on its project (Keystone
    deletes a credential whose user loses one; a deleted credential bumps the generation, so no cache outlives it)."""
    cid = payload.application_credential_id or ""
    credential = _memo(snapshot, ("application-credential", cid), lambda: load_ref(session, cid))
    if credential is None or (credential.user_id, credential.project_id) != (payload.user_id, payload.project_id):
        raise Unauthorized("The application credential of this token no longer exists.")
    if credential.expired():
        raise Unauthorized("The application credential of this token has expired.")
    if not set(credential.role_ids) <= {r.id for r in held}:
        raise Unauthorized("The user no longer holds every role of the application credential on its project.")
    implied, _ = _memo(snapshot, ("role-graph",), lambda: role_graph(session))
    wanted = set(credential.role_ids).union(*(implied.get(r, ()) for r in credential.role_ids))
    return credential, tuple(r for r in held if r.id in wanted)


class TokenService:
    def __init__(self, keys: KeyRepository, lifetime: int, cache: IdentityCache | None = None) -> None:
        self.keys = keys
        self.lifetime = timedelta(seconds=lifetime)
        self.cache = cache or IdentityCache()

    def issue(
        self,
        session: Session,
        user_id: str,
        methods: tuple[str, ...],
        project_id: str | None = None,
        domain_id: str | None = None,
        parent: TokenPayload | None = None,
        snapshot: Snapshot | None = None,
        credential: CredentialRef | None = None,
        system: str | None = None,
        trust: TrustRef | None = None,
    ) -> ValidatedToken:
        """A new token; a re-scoped one keeps its parent's expiry and audit chain, as in Keystone. One made from an
        application credential (``credential``, or the parent's) ends no later than the credential. ``system`` is
        ``SYSTEM_ALL`` for a system-scoped token (no project or domain then). A token made from a ``trust`` (for its
        trustee, on its project) ends no later than the trust."""
        now = datetime.now(UTC)
        expires_at = parent.expires_at if parent else now + self.lifetime
        if credential and credential.expires_at:
            expires_at = min(expires_at, credential.expires_at)
        if trust and trust.expires_at:
            expires_at = min(expires_at, trust.expires_at)
        credential_id = credential.id if credential else parent.application_credential_id if parent else None
        audit_ids = (tokens.new_audit_id(),) + ((parent.audit_ids[-1],) if parent else ())
        payload = TokenPayload(
            user_id=user_id,
            methods=methods,
            expires_at=expires_at,
            issued_at=now,
            audit_ids=audit_ids,
            project_id=project_id,
            domain_id=domain_id,
            application_credential_id=credential_id,
            system=system,
            trust_id=trust.id if trust else None,
        )
        token_id = tokens.encode(payload, self.keys)
        snapshot = snapshot or self.cache.snapshot(generation.current(session), self.keys.version())
        # Decode again so the payload carries exactly the rounded timestamps the token holds.
        issued = resolve(session, token_id, tokens.decode(token_id, self.keys), snapshot)
        snapshot.tokens.put(token_id, issued)  # clients validate what they were just given
        return issued

    def snapshot(self, db: Database) -> Snapshot:
        """What this process may trust right now: one read of the generation row, one stat of the keys."""
        with db.engine.connect() as connection:
            number = generation.read(connection)
        return self.cache.snapshot(number, self.keys.version())

    def validate(
        self, db: Database, token_id: str, allow_expired: bool = False, snapshot: Snapshot | None = None
    ) -> ValidatedToken:
        """A token checked against the database once per snapshot; later checks only look at its expiry."""
        now = datetime.now(UTC) - (EXPIRED_TOKEN_WINDOW if allow_expired else timedelta())
        snapshot = snapshot or self.snapshot(db)
        known = snapshot.tokens.get(token_id)
        if isinstance(known, ValidatedToken):
            if known.payload.expires_at <= now:
                raise Unauthorized("The token has expired.")
            return known
        payload = tokens.decode(token_id, self.keys, now=now)
        with db.session() as session:
            if _is_revoked(session, payload):
                raise Unauthorized("The token has been revoked.")
            validated = resolve(session, token_id, payload, snapshot)
        snapshot.tokens.put(token_id, validated)
        return validated

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
