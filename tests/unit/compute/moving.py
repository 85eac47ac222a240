"""What the control-side unit tests of the moves (cold and live migration) share: a control side on a fresh
database that records what it sends, with a task timeout short enough to age a move past it, and the state a move
leaves a server in (the server, its move, its claims by purpose)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

import manage.models  # noqa: F401 - every table on the metadata
from common.settings import Settings
from compute.control.context import ComputeControl
from compute.models import Allocation, Instance, Migration
from tests.unit.compute.conftest import RecordingQueue
from tests.unit.conftest import fresh_database

TASK_TIMEOUT = 60.0
"""The tests' ``compute_task_timeout``: a move aged past it is the sweeper's."""


def moves_control(path: Path, **settings: Any) -> Iterator[ComputeControl]:
    """A control side over a fresh database file at ``path``, disposed of afterwards; ``settings`` on top of the
    tests' task timeout."""
    chosen = dataclasses.replace(Settings(), **{"compute_task_timeout": TASK_TIMEOUT, **settings})
    for database in fresh_database(path):
        yield ComputeControl(database, RecordingQueue(), chosen)  # type: ignore[arg-type]


def move_state(control: ComputeControl, server: str) -> tuple[Instance, Migration, dict[str, str]]:
    """The server, its (one) move and its claims as ``{purpose: host}``, detached from the session."""
    with control.db.session() as session:
        instance = session.get_one(Instance, server)
        migration = session.scalars(select(Migration).where(Migration.instance_id == server)).one()
        claims = {
            a.purpose: a.host for a in session.scalars(select(Allocation).where(Allocation.instance_id == server))
        }
        session.expunge_all()
        return instance, migration, claims
