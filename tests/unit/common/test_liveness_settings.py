"""Host liveness timings: a host is declared down within 15 s by default, and never by one late heartbeat."""

from __future__ import annotations

from pathlib import Path

import pytest

from common import settings
from common.exceptions import ConfigError


def test_a_host_is_declared_down_within_15_seconds_of_its_last_heartbeat_by_default(tmp_path: Path) -> None:
    loaded = settings.load({"STRATUS_STATE_DIR": str(tmp_path)})
    assert loaded.compute_host_down_after <= 15
    assert loaded.compute_host_down_after >= settings.DOWN_AFTER_HEARTBEATS * loaded.host_heartbeat_interval
    assert 0 < loaded.compute_build_take_timeout < loaded.compute_host_down_after


def test_a_down_after_shorter_than_three_heartbeats_is_refused(tmp_path: Path) -> None:
    env = {"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_HOST_HEARTBEAT_INTERVAL": "5"}
    with pytest.raises(ConfigError, match="compute_host_down_after"):
        settings.load(env | {"STRATUS_COMPUTE_HOST_DOWN_AFTER": "12"})
    assert settings.load(env | {"STRATUS_COMPUTE_HOST_DOWN_AFTER": "15"}).compute_host_down_after == 15


@pytest.mark.parametrize("name", ["HOST_HEARTBEAT_INTERVAL", "COMPUTE_BUILD_TAKE_TIMEOUT"])
def test_liveness_intervals_must_be_positive(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError):
        settings.load({"STRATUS_STATE_DIR": str(tmp_path), f"STRATUS_{name}": "0"})
