"""A host is heard only about its own servers: reports naming a server that lives on another host change nothing
and are logged, even when the reporting host names itself honestly (``common.queue`` already refuses a report
naming another host)."""

from __future__ import annotations

import logging

import manage.models  # noqa: F401 - every table on the metadata
from compute import delete
from compute.control import events
from compute.control.context import ComputeControl
from compute.models import Instance
from compute.states import PowerState, TaskState, VmState


def server_on_h2(control: ComputeControl, task_state: TaskState) -> str:
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor={}, image_ref="i",
            host="h2", vm_state=VmState.ACTIVE.value, task_state=task_state.value, requested_networks=[],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        return instance.id


def state_of(control: ComputeControl, instance_id: str) -> tuple[str | None, bool]:
    with control.db.session() as session:
        instance = session.get_one(Instance, instance_id)
        return instance.task_state, instance.deleted


def test_an_action_outcome_reported_by_another_host_is_ignored_and_logged(control, caplog):
    server = server_on_h2(control, TaskState.POWERING_OFF)
    with caplog.at_level(logging.WARNING, logger="compute.actions"):
        result = events.action_done(control, server, "h1", "stop", "req-1", int(PowerState.SHUTDOWN))
    assert result == "ignored: the instance lives elsewhere"
    assert state_of(control, server) == (TaskState.POWERING_OFF.value, False)
    assert any("host h1 reported" in r.message and "on h2" in r.message for r in caplog.records)


def test_another_host_cannot_finish_the_delete_of_a_server_by_reporting_it_destroyed(control):
    server = server_on_h2(control, TaskState.DELETING)
    assert delete.destroyed(control, server, "h1", "req-1") == "ignored: the instance lives elsewhere"
    assert state_of(control, server) == (TaskState.DELETING.value, False)


def test_another_host_cannot_finish_the_delete_of_a_server_by_reporting_its_build_failed(control):
    server = server_on_h2(control, TaskState.DELETING)
    assert events.spawn_failed(control, server, "h1", "boom", "req-1") == "ignored: the instance lives elsewhere"
    assert state_of(control, server) == (TaskState.DELETING.value, False)


def test_the_servers_own_host_is_still_heard(control):
    server = server_on_h2(control, TaskState.DELETING)
    assert delete.destroyed(control, server, "h2", "req-1") == "deleted"
    assert state_of(control, server)[1] is True
