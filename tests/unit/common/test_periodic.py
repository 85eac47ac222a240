"""Periodic jobs sent by several control copies' clocks run once per interval (``common.periodic``), on a real
(SQLite) database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from common.db import Database
from common.periodic import PeriodicTurn, my_turn
from tests.unit.conftest import fresh_database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    yield from fresh_database(tmp_path / "periodic.db")


def _age(db: Database, name: str, seconds: float) -> None:
    with db.session() as session:
        row = session.get_one(PeriodicTurn, name)
        session.execute(
            update(PeriodicTurn)
            .where(PeriodicTurn.name == name)
            .values(last_run_at=row.last_run_at - timedelta(seconds=seconds))
        )


def test_two_copies_sending_a_job_in_one_interval_run_it_once(db) -> None:
    assert my_turn(db, "sweep", 60)  # the first run anywhere
    assert not my_turn(db, "sweep", 60)  # the other copy's beat, a few seconds later
    _age(db, "sweep", 31)  # half an interval on: the next turn is open
    assert my_turn(db, "sweep", 60)
    assert not my_turn(db, "sweep", 60)


def test_jobs_take_turns_apart(db) -> None:
    assert my_turn(db, "sweep", 60) and my_turn(db, "ha", 3)


def test_of_many_copies_at_once_one_runs_the_job(db) -> None:
    start = threading.Barrier(8)
    won: list[bool] = []

    def beat() -> None:
        start.wait()
        won.append(my_turn(db, "handoffs", 3))

    threads = [threading.Thread(target=beat) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False] * 7 + [True]
