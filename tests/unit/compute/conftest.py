"""The control side's workflows on a real (SQLite) database, with a Celery app that only records what is sent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from compute.control.context import ComputeControl
from tests.unit.conftest import fresh_database


@dataclass
class RecordingQueue:
    """Stands in for the Celery app: ``send_task`` only records the task names."""

    sent: list[str] = field(default_factory=list)

    def send_task(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.sent.append(name)


def recording_control(path: Path) -> Iterator[ComputeControl]:
    """A ``ComputeControl`` over a fresh database file at ``path``, disposed of afterwards."""
    for database in fresh_database(path):
        yield ComputeControl(database, RecordingQueue(), Settings())  # type: ignore[arg-type]


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ComputeControl]:
    yield from recording_control(tmp_path / "control.db")
