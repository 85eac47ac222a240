"""The lockout counters on a real (SQLite) database: limits, expiry, give-back, and attempts that race."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from common.accounts import SERVICE_USER
from common.db import Database
from common.exceptions import TooManyRequests
from common.settings import Settings, load
from identity import lockout
from identity.models import AuthFailure
from manage import migrate


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = load({"STRATUS_STATE_DIR": str(tmp_path_factory.mktemp("lockout"))})
    migrate.upgrade(settings)
    return settings


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.effective_database_url)
    yield database
    database.dispose()


def _limits(settings: Settings, name: str, address: str | None = None) -> lockout.Limits:
    return lockout.limits_for(settings, None, f"default\0{name}", None, address)


def _try(db: Database, limits: lockout.Limits, name: str, *, wait: float = 0.0) -> lockout.Attempt:
    return lockout.take(db, limits, shown_as=name, admission_wait=wait)


def _fail(db: Database, limits: lockout.Limits, name: str) -> None:
    attempt = _try(db, limits, name)
    with db.session() as session:
        attempt.failed(session)


def _age(db: Database, key: str, by: timedelta) -> None:
    """Move a counter's times back, as if ``by`` had passed."""
    with db.session() as session:
        row = session.get(AuthFailure, key)
        assert row is not None
        values = {"last_failed_at": row.last_failed_at - by, "window_started_at": row.window_started_at - by}
        if row.locked_until is not None:
            values["locked_until"] = row.locked_until - by
        session.execute(update(AuthFailure).where(AuthFailure.key == key).values(**values))


def test_a_lock_ends_after_the_duration_and_the_count_starts_again(settings: Settings, db: Database) -> None:
    limits = _limits(settings, "expiring")
    for _ in range(settings.lockout_failure_attempts):
        _fail(db, limits, "expiring")
    with pytest.raises(lockout.AccountLocked, match="locked for user: expiring"):
        _try(db, limits, "expiring")
    assert limits.user is not None
    _age(db, limits.user.key, timedelta(seconds=settings.lockout_duration))
    _try(db, limits, "expiring")
    with db.session() as session:
        row = session.get(AuthFailure, limits.user.key)
        assert row is not None and row.failures == 1 and row.locked_until is None


def _sign_ins_at_once(db: Database, limits: lockout.Limits, count: int, right: bool) -> list[str]:
    """``count`` sign-ins of one user started together, each holding its attempt while its password is checked
    (wrong, or ``right``): what each got, "locked" or "checked"."""
    outcomes: list[str] = []
    start = threading.Barrier(count)

    def attempt() -> None:
        start.wait()
        try:
            taken = _try(db, limits, "raced", wait=30)
        except lockout.AccountLocked:
            outcomes.append("locked")
            return
        time.sleep(0.1 if right else 0.3)  # the password check
        with db.session() as session:
            (taken.succeeded if right else taken.failed)(session)
        outcomes.append("checked")

    threads = [threading.Thread(target=attempt) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_parallel_attempts_get_no_more_guesses_than_the_limit(settings: Settings, db: Database) -> None:
    """Counted before the password is checked: twenty wrong passwords at once still get only the limit's guesses;
    the rest wait for those in flight, and find the user locked."""
    outcomes = _sign_ins_at_once(db, _limits(settings, "raced"), 20, right=False)
    assert outcomes.count("checked") == settings.lockout_failure_attempts
    assert outcomes.count("locked") == 20 - settings.lockout_failure_attempts


def test_parallel_right_passwords_all_sign_in(settings: Settings, db: Database) -> None:
    """Regression: attempts in flight filled the count and locked the user, so the seventh of a burst of right
    passwords was refused (401 in a full run). Now they wait for those in flight, which give their attempts back."""
    count = 3 * settings.lockout_failure_attempts
    assert _sign_ins_at_once(db, _limits(settings, "burst"), count, right=True) == ["checked"] * count


def test_attempts_that_never_answer_are_taken_for_failures(settings: Settings, db: Database) -> None:
    """An API process that died mid-check leaves its attempts counted: the next one waits, then finds a lock."""
    limits = _limits(settings, "abandoned")
    for _ in range(settings.lockout_failure_attempts):
        _try(db, limits, "abandoned")
    with pytest.raises(lockout.AccountLocked):
        _try(db, limits, "abandoned", wait=0.2)


def test_a_success_gives_its_attempt_back_to_the_address(settings: Settings, db: Database) -> None:
    limits = lockout.Limits(
        None, lockout.Counter(lockout.address_key("198.51.100.1"), 2, timedelta(minutes=5)), timedelta(minutes=5)
    )
    _try(db, limits, "x")
    second = _try(db, limits, "x")  # it reaches the limit, then its password turns out right
    with db.session() as session:
        second.succeeded(session)
    _try(db, limits, "x")  # so the address is not blocked
    with pytest.raises(TooManyRequests) as refused:
        _try(db, limits, "x")
    assert 0 < refused.value.retry_after <= 300


def test_the_service_account_is_never_locked_but_its_address_is_counted(settings: Settings) -> None:
    limits = lockout.limits_for(settings, "some-id", "", SERVICE_USER, "198.51.100.2")
    assert limits.user is None and limits.address is not None


def test_lockout_can_be_turned_off(settings: Settings) -> None:
    off = settings.replace(lockout_failure_attempts=0, lockout_address_failure_attempts=0)
    limits = lockout.limits_for(off, None, "x", None, "198.51.100.3")
    assert limits.user is None and limits.address is None
