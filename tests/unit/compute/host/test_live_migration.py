"""A host's part in a live migration on the fake driver: the fake hosts of one agent hand a guest to each other, the
copy runs beside the agent's queue so an abort reaches it (even one that overtook it), and each step is reported
by the host that took it, with the guest still on its source whenever the move did not complete."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from common.settings import HostSettings
from compute import client
from compute.host import live_migration
from compute.host.context import ComputeAgent
from compute.host.virt.base import PowerState
from compute.host.virt.fake import FakeDriver


class RecordingQueue:
    """The agent's Celery app: records the steps reported (from the copy's thread too)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()

    def send_task(self, name: str, args: list[Any], kwargs: dict[str, Any] | None = None, **_: Any) -> None:
        if name == client.LIVE_MIGRATION_STEP:
            with self.lock:
                self.steps.append((args[1], args[3], (kwargs or {}).get("error")))

    def wait_for(self, step: str, timeout: float = 20) -> tuple[str, str, str | None]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [s for s in self.steps if s[1] == step]
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no {step} reported: {self.steps}")


@pytest.fixture
def agent(tmp_path) -> ComputeAgent:
    settings = HostSettings(state_dir=str(tmp_path), host="box", compute_driver="fake", compute_fake_hosts=2)
    return ComputeAgent.start(settings, RecordingQueue())  # type: ignore[arg-type]


def _spec(name: str) -> dict[str, Any]:
    return {"uuid": f"uuid-{name}", "name": name, "vcpus": 1, "memory_mb": 64, "root_gb": 1, "image": "img"}


def _running(agent: ComputeAgent, host: str) -> list[str]:
    return [i.uuid for i in agent.driver(host).list_instances() if i.power_state == PowerState.RUNNING]


def _move(agent: ComputeAgent, name: str) -> str:
    """Spawn ``name`` on box-1, prepare box-2, start the copy; the uuid."""
    spec = _spec(name)
    agent.driver("box-1").spawn(live_migration.work.instance_spec(agent, "box-1", spec))
    live_migration.run(agent, "box-2", spec["uuid"], 7, "pre_live_migration", "req", {"spec": spec})
    target = {"target_host": "box-2", "target_address": "198.18.0.12", "block_migration": True}
    live_migration.run(agent, "box-1", spec["uuid"], 7, "live_migration", "req", target)
    return spec["uuid"]


def test_the_guest_moves_to_the_other_fake_host_and_the_source_cleans_up(agent):
    uuid = _move(agent, "vm")
    queue: RecordingQueue = agent.app  # type: ignore[assignment]
    assert queue.wait_for("completed") == ("box-1", "completed", None)
    assert queue.steps[0] == ("box-2", "prepared", None)  # the target reported its own part
    assert (_running(agent, "box-1"), _running(agent, "box-2")) == ([], [uuid])
    source: FakeDriver = agent.driver("box-1")  # type: ignore[assignment]
    assert source.leftovers() == [uuid]
    live_migration.run(agent, "box-1", uuid, 7, "post_live_migration_at_source", "req", {})
    assert queue.wait_for("cleaned") == ("box-1", "cleaned", None) and source.leftovers() == []


def test_an_abort_reaches_the_copy_while_it_runs_and_the_guest_stays_on_its_source(agent):
    uuid = _move(agent, "lm-slow-vm")
    source: FakeDriver = agent.driver("box-1")  # type: ignore[assignment]
    deadline = time.monotonic() + 5
    while not source.migrating(uuid) and time.monotonic() < deadline:
        time.sleep(0.01)
    live_migration.run(agent, "box-1", uuid, 7, "live_migration_abort", "req", {})
    queue: RecordingQueue = agent.app  # type: ignore[assignment]
    assert queue.wait_for("aborted")[0] == "box-1"
    assert (_running(agent, "box-1"), _running(agent, "box-2")) == ([uuid], [])
    live_migration.run(agent, "box-2", uuid, 7, "rollback_live_migration_at_destination", "req", {})
    assert queue.wait_for("rolled_back") == ("box-2", "rolled_back", None)
    assert not agent.driver("box-2").incoming(uuid)  # type: ignore[attr-defined]


def test_an_abort_that_overtook_its_copy_ends_the_copy_at_once(agent):
    spec = _spec("vm-early")
    agent.driver("box-1").spawn(live_migration.work.instance_spec(agent, "box-1", spec))
    live_migration.run(agent, "box-2", spec["uuid"], 7, "pre_live_migration", "req", {"spec": spec})
    live_migration.run(agent, "box-1", spec["uuid"], 7, "live_migration_abort", "req", {})
    target = {"target_host": "box-2", "target_address": "198.18.0.12"}
    live_migration.run(agent, "box-1", spec["uuid"], 7, "live_migration", "req", target)
    queue: RecordingQueue = agent.app  # type: ignore[assignment]
    assert queue.wait_for("aborted")[0] == "box-1"
    assert _running(agent, "box-1") == [spec["uuid"]]


@pytest.mark.parametrize(
    ("name", "step", "reporter"), [("lm-fail-pre", "prepared", "box-2"), ("lm-fail-mid", "failed", "box-1")]
)
def test_an_injected_failure_is_reported_with_the_guest_still_on_its_source(agent, name, step, reporter):
    uuid = _move(agent, name)
    queue: RecordingQueue = agent.app  # type: ignore[assignment]
    host, _, error = queue.wait_for(step)
    assert host == reporter and "injected failure" in (error or "")
    if step == "prepared":  # the target failed: the control side never starts the copy; this one finds no target
        queue.wait_for("failed")
    assert _running(agent, "box-1") == [uuid] and _running(agent, "box-2") == []


def test_a_target_address_that_is_not_an_ip_address_is_refused_before_the_driver_sees_it(agent):
    spec = _spec("vm-bad-target")
    agent.driver("box-1").spawn(live_migration.work.instance_spec(agent, "box-1", spec))
    bad = {"target_host": "box-2", "target_address": "198.18.0.12; reboot"}
    live_migration.run(agent, "box-1", spec["uuid"], 7, "live_migration", "req", bad)
    queue: RecordingQueue = agent.app  # type: ignore[assignment]
    assert "does not appear to be an IPv4 or IPv6 address" in (queue.wait_for("failed")[2] or "")
    assert _running(agent, "box-1") == [spec["uuid"]]
