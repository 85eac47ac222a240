"""Fixtures of the quota engine's unit tests: settings and factories of the rows the engine counts. The database
(``db``, a file SQLite database with every table, WAL as the cloud runs it, so threads can share it in the
concurrency tests) is ``tests/unit/conftest.py``'s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.settings import Settings
from compute.models import Instance


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=str(tmp_path), image_quota_count=5, image_quota_bytes=1000)


def flavor(vcpus: int = 1, ram: int = 512, name: str = "f") -> dict[str, Any]:
    return {"id": name, "name": name, "vcpus": vcpus, "ram": ram, "disk": 1, "ephemeral": 0}


def instance(project_id: str = "p1", vcpus: int = 1, ram: int = 512, **fields: Any) -> Instance:
    return Instance(
        name="s",
        project_id=project_id,
        user_id="u1",
        hostname="s",
        reservation_id="r-1",
        flavor=flavor(vcpus, ram),
        image_ref="img",
        requested_networks="none",
        **fields,
    )
