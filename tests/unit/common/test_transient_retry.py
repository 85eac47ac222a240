"""A task that met a transient failure (the app's ``retry_when``: on the control side, no database server) is sent
again and runs to its end, whoever sent it first (a host's report is re-signed by the control side: the
signature it arrived with is not carried over); any other failure is not retried, and a periodic task (sent by
beat) is not either."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg.errors
import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from sqlalchemy.exc import IntegrityError, InternalError, OperationalError

from common.db import database_unreachable
from common.queue import HOST_SEQ_ARG, host_seq, make_celery, message_seq
from tests.unit.queue_apps import in_memory, keyed_state, settings_for


class Away(Exception):
    """What ``retry_when`` takes for transient in these tests."""


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keyed_state(tmp_path_factory.mktemp("state"), {"h1": ["h1"]})


@pytest.fixture(scope="module")
def worker(state: Path) -> Iterator[tuple[Celery, list[str]]]:
    """A control-side worker whose tasks fail with ``Away`` (or ``ValueError``) the first ``n`` times."""
    app = in_memory(make_celery(settings_for(state)))
    app.retry_when = lambda exc: isinstance(exc, Away)  # type: ignore[attr-defined]
    ran: list[str] = []
    numbered: list[int | None] = []

    @app.task(shared=False, name="events.report", from_hosts=True, host_arg="host")
    def report(host: str, away: int = 0, broken: bool = False) -> str:
        ran.append(host)
        numbered.append(message_seq())
        if broken:
            raise ValueError("a bug, not an absence")
        if ran.count(host) <= away:
            raise Away("the database is away")
        return f"done after {ran.count(host)}"

    app.numbered = numbered  # type: ignore[attr-defined]
    with start_worker(app, pool="solo", perform_ping_check=False, queues=["events"]):
        yield app, ran


def test_a_hosts_report_that_met_an_absence_is_sent_again_and_completes(state, worker) -> None:
    app, ran = worker
    host = in_memory(make_celery(settings_for(state), sender="h1"))
    result = host.send_task("events.report", args=["h1"], kwargs={"away": 1}, queue="events", ignore_result=False)
    # The host may not read results: ask the control side's app, by the same id.
    assert app.AsyncResult(result.id).get(timeout=15) == "done after 2"
    assert ran.count("h1") == 2


def test_a_hosts_word_sent_again_keeps_its_number(state, worker) -> None:
    """Regression: re-sent by the control side without the host's sequence number, a report whose snapshot was
    old would be taken as the host's newest word (``compute.control.hosts``)."""
    app, ran = worker
    host = in_memory(make_celery(settings_for(state), sender="h1"))
    snapshot = host_seq()
    before = len(app.numbered)
    kwargs = {"away": ran.count("h1") + 1, HOST_SEQ_ARG: snapshot}  # away once more than h1 has run here
    result = host.send_task("events.report", args=["h1"], kwargs=kwargs, queue="events", ignore_result=False)
    app.AsyncResult(result.id).get(timeout=15)
    assert app.numbered[before:] == [snapshot, snapshot]


def test_a_task_that_failed_otherwise_is_not_retried(worker) -> None:
    app, ran = worker
    with pytest.raises(ValueError):
        app.send_task("events.report", args=["bug"], kwargs={"broken": True}, queue="events").get(timeout=10)
    assert ran.count("bug") == 1


def test_a_periodic_task_is_not_retried(worker) -> None:
    app, ran = worker
    sent = app.send_task(
        "events.report", args=["beat"], kwargs={"away": 5}, queue="events", headers={"celery_beat_task": True}
    )
    with pytest.raises(Away):
        sent.get(timeout=10)
    assert ran.count("beat") == 1


def _wrapped(cls: type[Exception], original: BaseException) -> Exception:
    return cls("SELECT 1", {}, original)


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        # no server accepted the connection (refused, or only a standby answering a read-write URL)
        (_wrapped(OperationalError, psycopg.OperationalError("connection failed: session is read-only")), True),
        # the server went away under a connection
        (_wrapped(OperationalError, psycopg.errors.AdminShutdown("terminating connection")), True),
        (_wrapped(OperationalError, psycopg.errors.CannotConnectNow("the database system is starting up")), True),
        # a standby asked to write
        (_wrapped(InternalError, psycopg.errors.ReadOnlySqlTransaction("read-only transaction")), True),
        # statements that failed on a working server
        (_wrapped(OperationalError, psycopg.errors.QueryCanceled("statement timeout")), False),
        (_wrapped(OperationalError, psycopg.errors.SerializationFailure("could not serialize")), False),
        (_wrapped(IntegrityError, psycopg.errors.UniqueViolation("duplicate key")), False),
        # SQLite's busy database is a statement that waited too long
        (_wrapped(OperationalError, sqlite3.OperationalError("database is locked")), False),
        (ValueError("not a database error"), False),
    ],
)
def test_database_unreachable_tells_an_absent_server_from_a_failed_statement(error, unreachable) -> None:
    assert database_unreachable(error) is unreachable


def test_a_connection_the_pool_found_broken_is_unreachable() -> None:
    error = OperationalError("SELECT 1", {}, sqlite3.OperationalError("disk I/O error"), connection_invalidated=True)
    assert database_unreachable(error)
