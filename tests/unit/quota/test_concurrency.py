"""Concurrent creates never go over: 50 threads each check and insert in one transaction against a limit of
10, and exactly 10 rows exist afterwards (SQLite's write lock here; PostgreSQL's row lock in the functional
tests, which run the same race through the API on both databases)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from quota import engine, limits
from quota.exceptions import OverQuota
from tests.unit.quota.conftest import instance


def test_fifty_concurrent_creates_against_ten_leave_exactly_ten(db):
    with db.session() as session:
        limits.set_project_limits(session, "p1", {"instances": 10})
    start = threading.Barrier(50)

    def create(_: int) -> str:
        start.wait()
        try:
            with db.session() as session:
                engine.enforce(session, "p1", {"instances": 1, "cores": 1, "ram": 512})
                session.add(instance())
        except OverQuota:
            return "refused"
        return "created"

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(create, range(50)))
    with db.session() as session:
        held = engine.count(session, "p1", ["instances"])["instances"]
    assert (outcomes.count("created"), outcomes.count("refused"), held) == (10, 40, 10)
