"""The control side of shelve and unshelve, on a recording queue: what each report and each give-up leaves."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.settings import Settings
from compute import client
from compute.control import events, shelve, sweeper
from compute.control.context import ComputeControl
from compute.models import Allocation, ComputeHost, Instance
from compute.states import PowerState
from image import client as image_client
from tests.unit.compute.conftest import RecordingQueue
from tests.unit.conftest import fresh_database

FLAVOR = {"id": "1", "name": "f", "vcpus": 1, "ram": 64, "disk": 1}


def _control(path: Path, **settings: object) -> Iterator[ComputeControl]:
    for database in fresh_database(path):
        yield ComputeControl(database, RecordingQueue(), dataclasses.replace(Settings(), **settings))  # type: ignore[arg-type]


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ComputeControl]:
    yield from _control(tmp_path / "shelve.db")


def _server(control: ComputeControl, vm_state: str, task: str | None, host: str | None = "h1", **extra: object) -> str:
    with control.db.session() as session:
        if session.get(ComputeHost, "h1") is None:
            session.add(ComputeHost(name="h1", vcpus=8, memory_mb=4096, disk_gb=100))
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor=FLAVOR,
            image_ref="i", host=host, vm_state=vm_state, task_state=task, requested_networks=[], **extra,
        )  # fmt: skip
        session.add(instance)
        session.flush()
        if host:
            session.add(Allocation(instance_id=instance.id, host=host, vcpus=1, memory_mb=64, disk_gb=1))
        return instance.id


def _read(control: ComputeControl, server_id: str) -> tuple[Instance, list[Allocation]]:
    with control.db.session() as session:
        instance = session.get_one(Instance, server_id)
        held = list(session.query(Allocation).filter(Allocation.instance_id == server_id))
        session.expunge_all()
        return instance, held


def test_a_shelve_report_makes_the_server_shelved_and_asks_for_the_offload_when_the_setting_is_zero(control):
    server = _server(control, "active", "shelving", shelved_image_id="img-1")
    events.action_done(control, server, "h1", "shelve", "req-1", int(PowerState.SHUTDOWN))
    instance, held = _read(control, server)
    assert (instance.vm_state, instance.task_state, instance.shelved_image_id) == ("shelved", None, "img-1")
    assert instance.shelved_at is not None and held  # still on its host, holding its claim
    assert client.OFFLOAD in control.app.sent


def test_a_failed_shelve_leaves_the_server_as_it_was_and_deletes_its_image(control):
    server = _server(control, "active", "shelving", shelved_image_id="img-2")
    events.action_done(control, server, "h1", "shelve", "req-1", int(PowerState.RUNNING), error="disk full")
    instance, _ = _read(control, server)
    assert (instance.vm_state, instance.task_state, instance.shelved_image_id) == ("active", None, None)
    assert image_client.DELETE_SERVER_SNAPSHOT in control.app.sent and client.OFFLOAD not in control.app.sent


def test_the_offload_report_frees_the_host_and_the_claim(control):
    server = _server(control, "shelved", "shelving_offloading", shelved_image_id="img-3")
    events.action_done(control, server, "h1", "shelve_offload", "req-1", int(PowerState.NOSTATE))
    instance, held = _read(control, server)
    assert (instance.vm_state, instance.task_state, instance.host) == ("shelved_offloaded", None, None)
    assert held == [] and instance.shelved_image_id == "img-3"


def test_an_unshelve_that_fails_on_its_new_host_goes_back_to_offloaded_and_keeps_its_image(control):
    server = _server(control, "shelved_offloaded", "unshelving", shelved_image_id="img-4")
    events.action_done(control, server, "h1", "unshelve", "req-1", int(PowerState.NOSTATE), error="no disk")
    instance, held = _read(control, server)
    assert (instance.vm_state, instance.task_state, instance.host) == ("shelved_offloaded", None, None)
    assert held == [] and instance.shelved_image_id == "img-4"
    assert image_client.DELETE_SERVER_SNAPSHOT not in control.app.sent


def test_an_unshelve_that_succeeds_clears_the_shelved_image_and_deletes_it(control):
    server = _server(control, "shelved_offloaded", "unshelving", shelved_image_id="img-5")
    events.action_done(control, server, "h1", "unshelve", "req-1", int(PowerState.RUNNING))
    instance, held = _read(control, server)
    assert (instance.vm_state, instance.task_state, instance.shelved_image_id) == ("active", None, None)
    assert held and image_client.DELETE_SERVER_SNAPSHOT in control.app.sent


def test_the_sweeper_gives_up_a_stuck_unshelve_without_leaving_a_host_or_a_claim(control):
    server = _server(control, "shelved_offloaded", "unshelving", shelved_image_id="img-6")
    with control.db.session() as session:
        sweeper._give_up(session, session.get_one(Instance, server))
    instance, held = _read(control, server)
    assert (instance.vm_state, instance.task_state, instance.host) == ("shelved_offloaded", None, None)
    assert held == [] and "timed out" in instance.fault["message"]


def test_shelved_servers_are_offloaded_only_after_shelved_offload_time(tmp_path: Path):
    for control in _control(tmp_path / "later.db", shelved_offload_time=3600.0):
        server = _server(control, "active", "shelving", shelved_image_id="img-7")
        events.action_done(control, server, "h1", "shelve", "req-1", int(PowerState.SHUTDOWN))
        assert client.OFFLOAD not in control.app.sent
        assert shelve.offload_due(control) == 0  # shelved just now
        instance, _ = _read(control, server)
        assert instance.vm_state == "shelved"
