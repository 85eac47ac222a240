"""Trusts (OS-TRUST): a trustor delegates some of their roles on one project to a trustee.

The trustee signs in with the trust as scope and gets a trust-scoped token: the trust's project, the trust's roles
(with what they imply) and, when the trust impersonates, the trustor as the token's user. What such a token depends
on is a ``TrustRef``, loaded once per identity snapshot by ``identity.tokens``: the token stops validating when the
trust is deleted or expires, when the trustor no longer holds one of the delegated roles there, or when either user
is disabled or deleted. A trust with ``remaining_uses`` gives out that many tokens, taken one at a time by a
compare-and-swap, so two concurrent sign-ins never both take the last use.

Redelegation (a trustee making a trust from a trust-scoped token) is not built: this cloud behaves as Keystone
with ``[trust] max_redelegation_count = 0``, and refuses it with Keystone's errors (``MAX_REDELEGATION_COUNT``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.exceptions import Forbidden, NotFound
from identity.models import Trust, TrustRole

MAX_REDELEGATION_COUNT = 0
"""Keystone's ``[trust] max_redelegation_count``: 0, so no trust can be redelegated."""


@dataclass(frozen=True)
class TrustRef:
    """What a trust-scoped token depends on: who delegates to whom, where, until when, with which roles."""

    id: str
    trustor_user_id: str
    trustee_user_id: str
    project_id: str | None
    impersonation: bool
    expires_at: datetime | None
    remaining_uses: int | None
    role_ids: tuple[str, ...]

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))


def role_ids(session: Session, trust_id: str) -> tuple[str, ...]:
    return tuple(sorted(session.scalars(select(TrustRole.role_id).where(TrustRole.trust_id == trust_id))))


def ref_of(session: Session, trust: Trust) -> TrustRef:
    return TrustRef(
        id=trust.id,
        trustor_user_id=trust.trustor_user_id,
        trustee_user_id=trust.trustee_user_id,
        project_id=trust.project_id,
        impersonation=trust.impersonation,
        expires_at=trust.expires_at,
        remaining_uses=trust.remaining_uses,
        role_ids=role_ids(session, trust.id),
    )


def get(session: Session, trust_id: str) -> Trust | None:
    return session.get(Trust, trust_id) if len(trust_id) <= 64 else None


def load_ref(session: Session, trust_id: str) -> TrustRef | None:
    """The trust as tokens see it, or None when it does not exist (expiry is the caller's check)."""
    trust = get(session, trust_id)
    return None if trust is None else ref_of(session, trust)


def usable_or_404(session: Session, trust_id: str) -> Trust:
    """A trust that exists, has not expired and has uses left; Keystone answers any other with 404 (its
    ``get_trust``), on the API and at sign-in alike."""
    trust = get(session, trust_id)
    expired = trust is not None and trust.expires_at is not None and trust.expires_at <= datetime.now(UTC)
    if trust is None or expired or (trust.remaining_uses is not None and trust.remaining_uses <= 0):
        raise NotFound(kind="trust", id=trust_id)
    return trust


def consume_use(session: Session, trust: TrustRef) -> None:
    """Take one use of a limited trust for a token being issued, in the caller's transaction (rolled back with it
    when the token is not issued). One conditional ``UPDATE``: of two concurrent sign-ins for the last use, one
    gets it and the other a 403, as Keystone's ``TrustUseLimitReached``.

    Run on the connection, not as an ORM statement: a use taken changes nothing a token carries, so it does not
    bump the identity generation (which would empty every worker's token cache on each trust sign-in)."""
    if trust.remaining_uses is None:
        return
    taken = session.connection().execute(
        update(Trust.__table__)
        .where(Trust.__table__.c.id == trust.id, Trust.__table__.c.remaining_uses > 0)
        .values(remaining_uses=Trust.__table__.c.remaining_uses - 1)
    )
    if taken.rowcount != 1:
        raise Forbidden(f"No remaining uses for trust: {trust.id}.")
