"""Builds handed to a host that will not finish them are found and given to another host; a host that took a build
too late is told to drop it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Base, Database
from common.settings import Settings
from compute import client, service
from compute.control import handoff
from compute.control.context import ComputeControl
from compute.models import Allocation, ComputeHost, Instance
from network.models import NetworkHost

SETTINGS = Settings(compute_build_take_timeout=8.0, compute_host_down_after=15.0)


class Sent:
    """A stand-in for the Celery app that records what would be sent."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, list[Any], dict[str, Any], str | None]] = []

    def send_task(self, name: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None,
                  queue: str | None = None, **_: Any) -> None:  # fmt: skip
        self.tasks.append((name, list(args or []), dict(kwargs or {}), queue))

    def named(self, name: str) -> list[tuple[str, list[Any], dict[str, Any], str | None]]:
        return [task for task in self.tasks if task[0] == name]


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ComputeControl]:
    database = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    Base.metadata.create_all(database.engine)
    now = service.now()
    with database.session() as session:
        for name in ("h1", "h2"):
            session.add(ComputeHost(name=name, vcpus=8, memory_mb=8192, disk_gb=100, last_heartbeat=now))
            session.add(NetworkHost(host=name, underlay_ip="198.18.0.1", networks=[], last_seen=now))
    yield ComputeControl(database, Sent(), SETTINGS)  # type: ignore[arg-type]
    database.dispose()


def _building(
    control: ComputeControl, task: str, host: str = "h1", waited: float = 10, taken_by: str | None = None
) -> str:
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", image_ref="i",
            flavor={"vcpus": 1, "ram": 64, "disk": 1}, requested_networks=[], vm_state="building", task_state=task,
            host=host, attempts=[host], taken_by=taken_by,
        )  # fmt: skip
        session.add(instance)
        session.flush()
        instance.updated_at = service.now() - timedelta(seconds=waited)
        session.add(Allocation(instance_id=instance.id, host=host, vcpus=1, memory_mb=64, disk_gb=1))
        return instance.id


def _silence(control: ComputeControl, host: str, seconds: float = 20) -> None:
    with control.db.session() as session:
        session.get_one(ComputeHost, host).last_heartbeat = service.now() - timedelta(seconds=seconds)


def _reasons(control: ComputeControl) -> dict[str, str]:
    return {build.instance_id: build.reason for build in handoff.stalled(control)}


def test_a_spawn_not_taken_within_the_take_timeout_is_stalled_and_a_taken_one_is_not(control):
    untaken = _building(control, "spawning")
    taken = _building(control, "spawning", taken_by="h1")
    recent = _building(control, "spawning", waited=1)
    reasons = _reasons(control)
    assert reasons == {untaken: "host h1 did not take the build within 8 s"}
    assert taken not in reasons and recent not in reasons


def test_a_build_on_a_host_that_is_down_is_stalled_at_any_step(control):
    spawning = _building(control, "spawning", taken_by="h1", waited=0)
    networking = _building(control, "networking", waited=0)
    _silence(control, "h1")
    assert _reasons(control) == dict.fromkeys([spawning, networking], "host h1 is down (no heartbeat for 15 s)")


def test_a_build_waiting_for_ports_on_a_host_whose_network_agent_is_down_is_stalled(control):
    waiting = _building(control, "networking")
    assert _reasons(control) == {}
    with control.db.session() as session:
        session.get_one(NetworkHost, "h1").last_seen = service.now() - timedelta(seconds=20)
    assert _reasons(control) == {waiting: "the network agent of host h1 is down"}


def test_giving_back_frees_the_claim_schedules_again_and_tells_the_old_host_to_drop_it(control):
    build_id = _building(control, "spawning")
    (stalled,) = handoff.stalled(control)
    assert handoff.give_back(control, stalled, "req-test") == "rescheduled"
    with control.db.session() as session:
        instance = session.get_one(Instance, build_id)
        assert (instance.task_state, instance.host) == ("scheduling", None)
        assert "did not take the build" in instance.fault["message"]
        assert session.query(Allocation).filter_by(instance_id=build_id).count() == 0
    sent = control.app
    assert [task[1] for task in sent.named(client.BUILD)] == [[build_id]]
    assert sent.named(client.AGENT_DESTROY) == [
        (client.AGENT_DESTROY, ["h1", build_id], {"request_id": "req-test", "report": False}, "compute.h1")
    ]


def test_a_host_that_takes_a_build_too_late_is_told_to_drop_it(control):
    build_id = _building(control, "spawning", host="h2")
    assert handoff.taken(control, build_id, "h2") == "taken"
    assert handoff.taken(control, build_id, "h2") == "already taken"
    assert handoff.taken(control, build_id, "h1") == "dropped: the build moved on"
    assert [(task[1], task[2]["report"], task[3]) for task in control.app.named(client.AGENT_DESTROY)] == [
        (["h1", build_id], False, "compute.h1")
    ]
