"""Password sign-in lockout (per user) and throttling (per client address), counted in the database.

Keystone's model (``[security_compliance] lockout_failure_attempts`` and ``lockout_duration``): after that many
failed password sign-ins a user is locked for the duration, and even the right password is refused until it
ends. Stratus adds a second counter per client address, so one address cannot try a few passwords on each of
many users (password spraying); an address over its limit gets 429 with ``Retry-After``.

How the counting works, and why:

* **An attempt is counted before its password is checked** and given back when it succeeds. Counting only
  after a failure would let a burst of parallel requests all pass the check while their hashes run, each a
  free guess; counted first, the limit holds however many arrive at once.
* **Only a failure locks.** Attempts still in flight fill the count but set no lock: an attempt that finds the
  count full of them waits for their outcome (``ADMISSION_WAIT``) instead of being refused, so a burst of
  right passwords from one client all sign in. Should the ones in flight never answer (their API process died),
  the waiting attempt takes them for failures and the lock begins.
* **A name that does not exist locks exactly like one that does**, and the lock message names the user as the
  request named it, never by id: neither the answer nor its timing tells which names exist.
* **The cloud's service account is never locked** (Keystone's ``ignore_lockout_failure_attempts``): anyone
  who can reach the API could otherwise stop every host from fetching images. Its address is still counted.
* A count starts again after a quiet period as long as the lock; a success clears the user's count.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from common.accounts import SERVICE_USER
from common.db import Database, begin_write, utcnow
from common.exceptions import TooManyRequests, Unauthorized
from common.settings import Settings
from identity.models import AuthFailure


class AccountLocked(Unauthorized):
    """Keystone's wording, which clients recognise; ``user`` is the name or id as the request gave it."""

    msg_fmt = "The account is locked for user: {user}. Try again later, or ask an administrator to enable it."


@dataclass(frozen=True)
class Counter:
    """One thing failures are counted against: ``limit`` attempts per ``period``, then locked for ``period``."""

    key: str
    limit: int
    period: timedelta


def _key(kind: str, identity: str) -> str:
    return f"{kind}:{hashlib.sha256(identity.encode()).hexdigest()}"


def user_key(user_id: str | None, named: str) -> str:
    """The user's id when the user exists, else what the request named (domain and name): same behaviour."""
    return _key("user", f"id\0{user_id}" if user_id else f"name\0{named}")


def address_key(address: str) -> str:
    return _key("address", address)


@dataclass(frozen=True)
class Limits:
    """The counters one password sign-in is held to, and how long a count is worth keeping."""

    user: Counter | None
    address: Counter | None
    retention: timedelta


def limits_for(
    settings: Settings,
    user_id: str | None,
    named: str,
    user_name: str | None,
    address: str | None,
    *,
    exempt: bool = False,
) -> Limits:
    """What the settings ask for: a user counter (unless off, the service account, or ``exempt``: the user's
    ``ignore_lockout_failure_attempts`` option) and an address counter."""
    user = address_counter = None
    if (
        settings.lockout_failure_attempts > 0
        and settings.lockout_duration > 0
        and user_name != SERVICE_USER
        and not exempt
    ):
        period = timedelta(seconds=settings.lockout_duration)
        user = Counter(user_key(user_id, named), settings.lockout_failure_attempts, period)
    if address and settings.lockout_address_failure_attempts > 0 and settings.lockout_address_period > 0:
        period = timedelta(seconds=settings.lockout_address_period)
        address_counter = Counter(address_key(address), settings.lockout_address_failure_attempts, period)
    retention = timedelta(seconds=max(settings.lockout_duration, settings.lockout_address_period, 0))
    return Limits(user, address_counter, retention)


# Seconds an attempt waits for the attempts in flight that fill a count; a password check takes well under one.
ADMISSION_WAIT = 10.0
_POLL = 0.05


@dataclass(frozen=True)
class Attempt:
    """The counters one password sign-in took: ``succeeded`` gives them back, ``failed`` keeps them counted and
    starts the lock of each counter it filled."""

    limits: Limits

    def failed(self, session: Session) -> None:
        now = utcnow()
        for counter in (self.limits.address, self.limits.user):
            if counter is not None:
                session.execute(
                    update(AuthFailure)
                    .where(AuthFailure.key == counter.key, AuthFailure.failures >= counter.limit)
                    .values(locked_until=now + counter.period)
                )

    def succeeded(self, session: Session) -> None:
        """Rows in ``take``'s order (the address, then the user): two sign-ins of one user from one address,
        one taking while the other gives back, would otherwise each hold the row the other waits for
        (a deadlock, and a 500, on PostgreSQL)."""
        if self.limits.address is not None:
            _give_back(session, self.limits.address)
        if self.limits.user is not None:
            session.execute(delete(AuthFailure).where(AuthFailure.key == self.limits.user.key))


def take(db: Database, limits: Limits, shown_as: str, *, admission_wait: float = ADMISSION_WAIT) -> Attempt:
    """Count one attempt against each counter, in one write transaction; raise if either is locked.

    An address over its limit is ``TooManyRequests`` (429, checked first: it says nothing about the user); a
    locked user is ``AccountLocked`` (401, as Keystone answers). A refused attempt is not counted. A count full
    of attempts in flight is waited on, each look its own short transaction, for up to ``admission_wait``
    seconds; after that they are taken for failures.
    """
    if limits.user is None and limits.address is None:
        return Attempt(limits)
    deadline = time.monotonic() + admission_wait
    while True:
        with db.session() as session:
            if _admitted(session, limits, shown_as, give_up=time.monotonic() >= deadline):
                return Attempt(limits)
        time.sleep(_POLL)


def _admitted(session: Session, limits: Limits, shown_as: str, *, give_up: bool) -> bool:
    """Count the attempt and say True; False when the count is full of attempts in flight (unless ``give_up``,
    which locks instead)."""
    now = utcnow()
    user, address = limits.user, limits.address
    begin_write(session)
    _prune(session, now - limits.retention)
    rows = {c.key: _locked_row(session, c, now) for c in (address, user) if c is not None}
    if give_up:
        for counter in (address, user):
            if counter is not None and _full(rows[counter.key], counter, now):
                rows[counter.key].locked_until = now + counter.period
    if address is not None and (wait := _wait(rows[address.key], now)):
        raise TooManyRequests(retry_after=wait)
    if user is not None and _wait(rows[user.key], now):
        raise AccountLocked(user=shown_as)
    if any(_full(rows[c.key], c, now) for c in (address, user) if c is not None):
        return False
    for counter in (address, user):
        if counter is not None:
            _count(rows[counter.key], counter, now)
    return True


def unlock_user(session: Session, user_id: str) -> None:
    """An administrator enabled the user: the lock and the count end, as in Keystone."""
    session.execute(delete(AuthFailure).where(AuthFailure.key == user_key(user_id, "")))


def _prune(session: Session, cutoff: datetime) -> None:
    """Drop counts whose last failure is older than any period: they would start again from zero anyway.

    On PostgreSQL only rows no other sign-in holds (``SKIP LOCKED``): a prune waiting on a row another
    transaction locked, while holding rows that one waits for, would deadlock; a skipped row goes next time."""
    stale = select(AuthFailure.key).where(AuthFailure.last_failed_at < cutoff)
    if session.connection().dialect.name == "postgresql":
        stale = stale.order_by(AuthFailure.key).with_for_update(skip_locked=True)
    session.execute(delete(AuthFailure).where(AuthFailure.key.in_(stale.scalar_subquery())))


def _locked_row(session: Session, counter: Counter, now: datetime) -> AuthFailure:
    """The counter's row, created if missing and locked for this transaction (``FOR UPDATE`` on PostgreSQL;
    SQLite's ``BEGIN IMMEDIATE`` already serialises writers)."""
    insert = postgresql.insert if session.connection().dialect.name == "postgresql" else sqlite.insert
    values = {"key": counter.key, "failures": 0, "window_started_at": now, "last_failed_at": now}
    session.execute(insert(AuthFailure).values(**values).on_conflict_do_nothing())
    query = select(AuthFailure).where(AuthFailure.key == counter.key).with_for_update()
    return session.execute(query.execution_options(populate_existing=True)).scalar_one()


def _wait(row: AuthFailure, now: datetime) -> int:
    """Whole seconds until the row's lock ends; 0 when it is not locked."""
    if row.locked_until is None or row.locked_until <= now:
        return 0
    return max(1, math.ceil((row.locked_until - now).total_seconds()))


def _full(row: AuthFailure, counter: Counter, now: datetime) -> bool:
    """The count is at its limit within its period (and not locked: that is checked first)."""
    return row.failures >= counter.limit and row.last_failed_at > now - counter.period


def _count(row: AuthFailure, counter: Counter, now: datetime) -> None:
    if row.failures and row.last_failed_at <= now - counter.period:
        row.failures, row.window_started_at = 0, now  # a quiet period: start again
    row.failures += 1
    row.last_failed_at = now
    row.locked_until = None


def _give_back(session: Session, counter: Counter) -> None:
    """A success returns its attempt to the address, and lifts a lock its attempt helped fill."""
    session.execute(
        update(AuthFailure)
        .where(AuthFailure.key == counter.key, AuthFailure.failures > 0)
        .values(failures=AuthFailure.failures - 1)
    )
    session.execute(
        update(AuthFailure)
        .where(AuthFailure.key == counter.key, AuthFailure.failures < counter.limit)
        .values(locked_until=None)
    )
