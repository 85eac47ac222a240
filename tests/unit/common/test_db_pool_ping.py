"""Pooled PostgreSQL connections are pinged only after sitting unused: one closed by the server meanwhile (a
restart, a promotion) is replaced before use, and a connection in steady use costs no extra round trip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from common import db
from tests.harness import private_postgres


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with private_postgres(tmp_path_factory.mktemp("pool-ping")) as found:
        yield found


def backend(database: db.Database) -> int:
    with database.engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_the_server_closed_while_idle_is_replaced_before_use(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = db.Database(url)
    try:
        first = backend(database)
        other = db.Database(url)
        with other.engine.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        other.dispose()
        monkeypatch.setattr(db, "PING_IDLE_AFTER", 0.0)
        assert backend(database) != first  # no error: the ping found it closed, the pool connected afresh
    finally:
        database.dispose()


def test_a_connection_in_steady_use_is_not_pinged(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    database = db.Database(url)
    pings: list[object] = []
    ping = database.engine.dialect.do_ping
    monkeypatch.setattr(
        database.engine.dialect, "do_ping", lambda connection: pings.append(connection) or ping(connection)
    )
    try:
        for _ in range(5):
            backend(database)
        assert pings == []
        monkeypatch.setattr(db, "PING_IDLE_AFTER", 0.0)
        backend(database)
        assert len(pings) == 1
    finally:
        database.dispose()
