"""Every periodic task can actually be sent: Celery refuses a task whose soft time limit exceeds its hard one,
which once silently stopped every host report after the first."""

from __future__ import annotations

import importlib

import pytest

from common import signing
from common.hostnames import agent_names


@pytest.fixture(autouse=True)
def message_keys(monkeypatch, tmp_path):
    """Host agents need their message key file (``services up`` writes it)."""
    monkeypatch.setenv("STRATUS_HOST", "unit-host")
    master = signing.ensure_master_key(tmp_path / "queue-keys" / "master.key")
    from common.settings import load

    settings = load({"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_HOST": "unit-host"})
    signing.write_host_keys(tmp_path / "queue-keys" / "hosts" / "unit-host.keys", master, agent_names(settings))


WORKER_MODULES = (
    "compute.control.worker",
    "compute.host.agent",
    "image.worker",
    "network.control.worker",
    "network.host.agent",
)


@pytest.mark.parametrize("module_name", WORKER_MODULES)
def test_time_limits_of_every_task_are_consistent(module_name, monkeypatch, tmp_path):
    monkeypatch.setenv("STRATUS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("STRATUS_COMPUTE_DRIVER", "fake")
    monkeypatch.setenv("STRATUS_NETWORK_DATAPLANE", "fake")
    module = importlib.import_module(module_name)
    app = module.app
    default_soft = app.conf.task_soft_time_limit
    for name, task in app.tasks.items():
        if name.startswith("celery."):
            continue
        soft = task.soft_time_limit if task.soft_time_limit is not None else default_soft
        hard = task.time_limit if task.time_limit is not None else app.conf.task_time_limit
        assert soft is None or hard is None or soft <= hard, f"{name}: soft {soft} > hard {hard}"


@pytest.mark.parametrize("module_name", WORKER_MODULES)
def test_every_beat_entry_names_a_registered_task(module_name, monkeypatch, tmp_path):
    monkeypatch.setenv("STRATUS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("STRATUS_COMPUTE_DRIVER", "fake")
    monkeypatch.setenv("STRATUS_NETWORK_DATAPLANE", "fake")
    app = importlib.import_module(module_name).app
    for entry in (app.conf.beat_schedule or {}).values():
        assert entry["task"] in app.tasks


HOST_SENT = {
    "events.instance_spawned", "events.instance_spawn_failed", "events.instance_destroyed",
    "events.instance_action_done", "events.host_report", "events.host_heartbeat", "events.instance_taken",
    "events.move_step_taken",
    "network.agent_report", "network.ports_wired", "network.agent_heartbeat", "image.ensure_variant",
    # A step of a live migration: the control side also checks the host plays that step's part (source or target).
    "events.live_migration_step",
}  # fmt: skip


def test_hosts_may_send_only_their_reports_and_each_names_the_host_it_is_about(monkeypatch, tmp_path):
    """The control side's door to hosts, pinned: a task added to it gets a review (``common.queue``), and a
    report that names a host is checked against its sender."""
    monkeypatch.setenv("STRATUS_STATE_DIR", str(tmp_path))
    tasks = {}
    for module_name in ("compute.control.worker", "network.control.worker", "image.worker"):
        tasks |= dict(importlib.import_module(module_name).app.tasks)
    from_hosts = {name for name, task in tasks.items() if getattr(task, "from_hosts", False)}
    assert from_hosts == HOST_SENT
    for name in from_hosts - {"image.ensure_variant"}:
        assert tasks[name].host_arg in ("host", "names"), name
