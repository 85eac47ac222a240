"""One run per interval of each periodic job, however many control copies' clocks send it.

Every copy of a control worker runs Celery beat (``control_copies``): a single beat would be the one process
whose death stops the sweeper, the HA check and every other safety net. So each job is sent once per interval
by every copy, and the copy that takes a message first runs the job only if its turn has come: the job's row in
``periodic_turns`` is moved on with a compare-and-set, which one message per interval wins. A turn opens at
``TURN_FRACTION`` of the interval after the last run: the beats of two copies, started at different moments, run
a job about once per interval between them, a copy that died leaves the job late by at most half an interval,
and one copy's message that waited in a busy queue (up to half an interval longer than the one before it) still
runs. The jobs are idempotent: a turn taken twice costs time, never correctness.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, Database, UTCDateTime, utcnow

TURN_FRACTION = 0.5


class PeriodicTurn(Base):
    """When a periodic job last ran, on any copy."""

    __tablename__ = "periodic_turns"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime)


def my_turn(db: Database, name: str, interval: float) -> bool:
    """Take the turn of job ``name`` (run every ``interval`` seconds) now, if it has come: True for one caller
    per interval, False for the copies whose messages come after it in the same interval."""
    now = utcnow()
    opened = now - timedelta(seconds=interval * TURN_FRACTION)
    with db.session() as session:
        taken = session.execute(
            update(PeriodicTurn)
            .where(PeriodicTurn.name == name, PeriodicTurn.last_run_at <= opened)
            .values(last_run_at=now)
        )
        if taken.rowcount == 1:
            return True
        if session.get(PeriodicTurn, name) is not None:
            return False
    try:
        with db.session() as session:  # the job's first run anywhere
            session.execute(insert(PeriodicTurn).values(name=name, last_run_at=now))
        return True
    except IntegrityError:
        return False  # another copy's first run won
