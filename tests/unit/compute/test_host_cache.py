"""The scheduler's host cache: reused within its time to live, updated by this process's own claims, reloaded
when stale or invalidated; and a placement that finds no host in a cached picture looks again at a fresh one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Base, Database
from common.settings import Settings
from compute.control import build, scheduler
from compute.control.context import ComputeControl
from compute.control.host_cache import HostStateCache
from compute.models import Allocation, ComputeHost, Instance
from compute.states import TaskState, VmState


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/cache.db")
    Base.metadata.create_all(database.engine)
    with database.session() as session:
        session.add_all(
            ComputeHost(name=f"h{i}", vcpus=4, memory_mb=4096, disk_gb=100, last_heartbeat=datetime.now(UTC))
            for i in range(2)
        )
    yield database
    database.dispose()


def request(instance: str, memory_mb: int = 1024) -> scheduler.Request:
    return scheduler.Request(instance_id=instance, vcpus=1, memory_mb=memory_mb, disk_gb=10)


def allocate(db: Database, instance: str, host: str, memory_mb: int) -> None:
    with db.session() as session:
        session.add(Allocation(instance_id=instance, host=host, vcpus=1, memory_mb=memory_mb, disk_gb=1))


def free_memory(cache: HostStateCache, db: Database) -> dict[str, float]:
    with db.session() as session:
        states, _ = cache.states(session)
    return {s.host.name: s.free_memory_mb for s in states}


def test_the_picture_is_reused_within_its_ttl_and_reloaded_after(db: Database) -> None:
    clock = Clock()
    cache = HostStateCache(ttl=2.0, clock=clock)
    assert free_memory(cache, db) == {"h0": 4096, "h1": 4096}
    allocate(db, "other-scheduler", "h0", 1000)
    clock.now = 1.9
    assert free_memory(cache, db)["h0"] == 4096  # reused: another process's claim is not seen yet
    clock.now = 2.1
    assert free_memory(cache, db)["h0"] == 3096


def test_own_claims_count_at_once_and_invalidate_forces_a_load(db: Database) -> None:
    cache = HostStateCache(ttl=60.0, clock=Clock())
    free_memory(cache, db)
    cache.claimed("h1", request("mine", 512))
    assert free_memory(cache, db) == {"h0": 4096, "h1": 3584}
    allocate(db, "other", "h0", 96)
    cache.invalidate()
    assert free_memory(cache, db) == {"h0": 4000, "h1": 4096}  # "mine" was never written: the load is the truth


def test_an_own_claim_moves_its_host_down_the_picture_the_decision_walks(db: Database) -> None:
    cache = HostStateCache(ttl=60.0, clock=Clock())
    with db.session() as session:
        assert [s.host.name for s in cache.states(session)[0]] == ["h0", "h1"]  # a tie: by name
        cache.claimed("h0", request("mine", 512))
        states, cached = cache.states(session)
    assert cached and [s.host.name for s in states] == ["h1", "h0"]
    assert [s.host.name for s in scheduler.select_hosts(states, request("next")).ranked()] == ["h1", "h0"]


def test_a_placement_that_finds_no_room_in_a_stale_picture_looks_again(db: Database, tmp_path: Path) -> None:
    allocate(db, "big-1", "h0", 4096)
    allocate(db, "big-2", "h1", 4096)
    with db.session() as session:
        session.add(
            Instance(
                id="new",
                name="new",
                project_id="p",
                user_id="u",
                hostname="new",
                reservation_id="r",
                flavor={"vcpus": 1, "ram": 1024, "disk": 10},
                image_ref="i",
                requested_networks="none",
                vm_state=VmState.BUILDING.value,
                task_state=TaskState.SCHEDULING.value,
            )
        )
    hosts = HostStateCache(ttl=60.0)
    control = ComputeControl(db, app=None, settings=Settings(state_dir=str(tmp_path)), hosts=hosts)  # type: ignore[arg-type]
    with db.session() as session:
        hosts.states(session)  # the picture: both hosts full
    with db.session() as session:
        session.execute(delete(Allocation).where(Allocation.instance_id == "big-2"))  # freed by another process
    outcome, host, _ = build._place(control, "new", request("new"), None, [])
    assert (outcome, host) == (build.Outcome.PLACED, "h1")
    assert free_memory(hosts, db)["h1"] == 4096 - 1024  # reloaded, then counted its own claim
