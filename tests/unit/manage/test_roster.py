"""The hosts a machine ran at its last ``services up``, so the ones it no longer runs are retired."""

from __future__ import annotations

from pathlib import Path

from common.settings import load
from manage import roster


def test_going_from_one_host_to_two_retires_the_first(tmp_path: Path) -> None:
    base = {"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_HOST": "box", "STRATUS_COMPUTE_DRIVER": "libvirt"}
    one, two = load(base), load(base | {"STRATUS_HOSTS": "2"})
    one.run_dir.mkdir(parents=True)
    assert roster.current_hosts(one) == {"box"}
    roster.remember(one, roster.current_hosts(one))
    assert roster.current_hosts(two) == {"box-1", "box-2"}
    assert roster.previous_hosts(two, []) - roster.current_hosts(two) == {"box"}


def test_fake_hosts_of_one_agent_are_the_hosts_it_serves(tmp_path: Path) -> None:
    env = {"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_HOST": "box", "STRATUS_COMPUTE_DRIVER": "fake"}
    settings = load(env | {"STRATUS_COMPUTE_FAKE_HOSTS": "3", "STRATUS_NETWORK_DATAPLANE": "fake"})
    assert roster.current_hosts(settings) == {"box-1", "box-2", "box-3"}


def test_without_a_roster_the_old_hosts_are_those_of_leftover_agents(tmp_path: Path) -> None:
    settings = load({"STRATUS_STATE_DIR": str(tmp_path)})
    markers = ["compute-agent@old", "network-agent@old", "api.wsgi:application"]
    assert roster.previous_hosts(settings, markers) == {"old"}
