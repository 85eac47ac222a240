"""Transaction helpers of the allocators: a write transaction that savepoints can nest in, and the retry loop
that turns a lost race on a unique constraint into another attempt.

Allocation (VNIs, addresses, MACs) reads what is free, inserts a choice and relies on a unique constraint to
refuse a choice a concurrent transaction made first. The insert runs in a SAVEPOINT so that losing the race
undoes only that insert and the caller's transaction (perhaps a whole server create) carries on.

SQLite needs one more step. Python's sqlite3 driver opens a transaction only before the first INSERT, UPDATE
or DELETE, so a SAVEPOINT issued first would itself become the outermost transaction and its RELEASE would
commit early. ``begin_write`` therefore opens the transaction explicitly (``BEGIN IMMEDIATE``, which also
takes SQLite's single write lock, so the reads that choose a free value see every committed choice; it lives
in ``common.db`` because the quota engine needs the same lock).
PostgreSQL transactions are always open; there the constraint and the retry do the work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.db import begin_write

T = TypeVar("T")
__all__ = ["begin_write", "insert_with_retry", "is_unique_violation"]


def is_unique_violation(error: IntegrityError) -> bool:
    """A duplicate key, as opposed to a foreign key or NOT NULL violation (which retrying cannot cure)."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate == "23505"
    text = str(error.orig)
    return text.startswith("UNIQUE constraint failed") or "PRIMARY KEY" in text


def insert_with_retry(session: Session, attempts: int, attempt: Callable[[int], T]) -> T | None:
    """Run ``attempt(n)`` (which adds rows and flushes) in a savepoint, up to ``attempts`` times, while it loses a
    unique-constraint race. Returns its result, or None if every attempt lost. Other errors propagate."""
    begin_write(session)
    for number in range(attempts):
        try:
            with session.begin_nested():
                return attempt(number)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
    return None
