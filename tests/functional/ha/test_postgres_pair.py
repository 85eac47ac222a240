"""The life of a PostgreSQL pair (``manage.postgres_ha``) without a cloud: the standby streams what the primary
takes and refuses writes; promotion is refused while the primary runs; after a promotion the services' URL
writes to the new primary; the former primary is never started again as a primary but rejoins as a standby of
the new one, from a fresh base backup; a pair stopped and brought up again keeps its roles."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from common.db import database_unreachable
from manage.postgres_ha import (
    PostgresHAError,
    PostgresPair,
    ensure_pair,
    load_pair,
    most_advanced_standby,
    promote,
    rejoin,
    stop_pair,
)
from tests.harness import postgres_bindir, wait_until

pytestmark = [pytest.mark.functional, pytest.mark.postgres]


@pytest.fixture
def base() -> Iterator[Path]:
    if postgres_bindir() is None:
        pytest.skip("PostgreSQL is not installed (/usr/lib/postgresql/*/bin)")
    path = Path(tempfile.mkdtemp(prefix="stratus-pg-pair-"))  # pytest's own are closed to the postgres user
    try:
        yield path
    finally:
        stop_pair(path, "immediate")
        shutil.rmtree(path, ignore_errors=True)


def _write(url: str, value: str) -> str:
    """Insert ``value`` through ``url``; the port of the server that took it."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS marks (value text PRIMARY KEY)"))
            connection.execute(text("INSERT INTO marks VALUES (:value)"), {"value": value})
            return str(connection.execute(text("SELECT inet_server_port()")).scalar())
    finally:
        engine.dispose()


def _marks(pair: PostgresPair, name: str) -> set[str]:
    """What one server holds (nothing while the table has not been replayed there yet)."""
    engine = create_engine(pair.member_url(name))
    try:
        with engine.connect() as connection:
            if connection.execute(text("SELECT to_regclass('marks')")).scalar() is None:
                return set()
            return set(connection.execute(text("SELECT value FROM marks")).scalars())
    finally:
        engine.dispose()


def test_a_pair_fails_over_rejoins_and_keeps_its_roles_across_a_restart(base: Path) -> None:
    pair = ensure_pair(base)
    first, second = pair.names
    assert pair.primary == first and not pair.in_recovery(first) and pair.in_recovery(second)
    assert _write(pair.url(), "before") == str(pair.member(first).port)
    wait_until(lambda: _marks(pair, second) == {"before"}, 10, message="the standby never got the write")
    with pytest.raises(DBAPIError) as refused:  # the standby takes no write of its own
        _write(pair.member_url(second), "on-the-standby")
    assert database_unreachable(refused.value)  # a standby asked to write: the API's 503, the workers' retry

    with pytest.raises(PostgresHAError, match="still running"):
        promote(base)
    pair.stop(first, "immediate")
    promote(base)
    assert load_pair(base).primary == second and not pair.in_recovery(second)
    assert _write(pair.url(), "after") == str(pair.member(second).port)

    # Brought up again before its rejoin, the former primary stays down: two primaries would split the data.
    stop_pair(base)
    ensure_pair(base)
    assert not pair.running(first) and not pair.in_recovery(second)

    rejoin(base, first)
    assert pair.in_recovery(first)
    wait_until(lambda: _marks(pair, first) == {"before", "after"}, 10, message="the rejoined standby lags")
    stop_pair(base)
    restarted = ensure_pair(base)
    assert restarted.primary == second and pair.in_recovery(first) and not pair.in_recovery(second)
    assert _write(restarted.url(), "after-restart") == str(pair.member(second).port)


def test_with_three_members_the_other_standby_follows_the_promoted_one(base: Path) -> None:
    pair = ensure_pair(base, hosts=("127.0.0.1", "127.0.0.2", "127.0.0.3"))
    first, second, third = pair.names
    _write(pair.url(), "before")
    pair.stop(first, "immediate")
    promote(base, second)
    assert _write(pair.url(), "after") == str(pair.member(second).port)
    wait_until(lambda: _marks(pair, third) == {"before", "after"}, 10, message="the third never followed")
    assert pair.in_recovery(third)


def _receiver(pair: PostgresPair, standby: str) -> int:
    """The pid of a standby's WAL receiver (the process that takes the primary's WAL and acknowledges it)."""
    return int(pair.query(standby, "SELECT pid FROM pg_stat_wal_receiver").strip())


def test_a_synchronous_trio_acknowledges_a_commit_only_once_a_standby_has_it_and_promotes_that_one(base: Path) -> None:
    pair = ensure_pair(base, hosts=("127.0.0.1", "127.0.0.2", "127.0.0.3"), synchronous=True)
    first, second, third = pair.names
    _write(pair.url(), "before")
    held = {name: _receiver(pair, name) for name in (second, third)}
    for pid in held.values():
        os.kill(pid, signal.SIGSTOP)
    try:
        acknowledged: list[str] = []
        writer = threading.Thread(target=lambda: acknowledged.append(_write(pair.url(), "quorum")), daemon=True)
        writer.start()
        writer.join(1.5)
        assert not acknowledged  # no standby has it on disk: the commit waits
        os.kill(held[third], signal.SIGCONT)  # one standby takes it: ANY 1 is met
        writer.join(10)
        assert acknowledged == [str(pair.member(first).port)]
        pair.stop(first, "immediate")
        # The second has not written the acknowledged commit (its receiver is held): the third is the one to promote.
        assert most_advanced_standby(pair) == third
    finally:
        for pid in held.values():
            with contextlib.suppress(ProcessLookupError):  # a receiver whose primary died has exited
                os.kill(pid, signal.SIGCONT)

    promote(base)  # the most advanced again (the second may have caught up from what its socket still held)
    promoted = load_pair(base).primary
    assert _marks(pair, promoted) == {"before", "quorum"}
    assert _write(pair.url(), "after") == str(pair.member(promoted).port)  # the other follows: ANY 1 is met again
    other = ({second, third} - {promoted}).pop()
    wait_until(lambda: _marks(pair, other) == {"before", "quorum", "after"}, 10, message="the other standby lags")
