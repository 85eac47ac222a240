"""A delete takes its claim through the same compare-and-swap as every other action, so racing writers end
consistent: two deletes of one server both succeed (the second finds the first's work done, or joins it), a
delete racing an action takes its task over, and an action racing a delete loses (409). Each test interleaves
two sessions by hand: the loser read the server before the winner committed."""

from __future__ import annotations

import manage.models  # noqa: F401 - every table on the metadata
from compute import actions, delete
from compute.control import events
from compute.control.context import ComputeControl
from compute.models import Instance
from compute.states import Action, PowerState, TaskState, VmState


def server(control: ComputeControl, host: str | None, vm_state: VmState = VmState.ACTIVE) -> str:
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor={}, image_ref="i",
            host=host, vm_state=vm_state.value, requested_networks=[],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        return instance.id


def up(_host: str) -> bool:
    return True


def down(_host: str) -> bool:
    return False


def row(control: ComputeControl, server_id: str) -> tuple[str, str | None, bool]:
    with control.db.session() as session:
        instance = session.get_one(Instance, server_id)
        return instance.vm_state, instance.task_state, instance.deleted


def test_a_delete_that_lost_the_race_to_a_finished_delete_succeeds_with_nothing_left_to_do(control):
    server_id = server(control, host=None, vm_state=VmState.ERROR)
    with control.db.session() as late:
        stale = late.get_one(Instance, server_id)
        with control.db.session() as first:
            assert delete.request(first, first.get_one(Instance, server_id), down) == delete.Accepted()
        assert delete.request(late, stale, down) == delete.Accepted()
    assert row(control, server_id) == (VmState.DELETED, None, True)


def test_two_deletes_of_a_server_on_a_live_host_both_tell_the_host(control):
    server_id = server(control, host="h1")
    with control.db.session() as late:
        stale = late.get_one(Instance, server_id)
        with control.db.session() as first:
            assert delete.request(first, first.get_one(Instance, server_id), up) == delete.Accepted(destroy_on="h1")
        assert delete.request(late, stale, up) == delete.Accepted(destroy_on="h1")  # destroy is idempotent
    assert row(control, server_id) == (VmState.ACTIVE, TaskState.DELETING, False)
    assert delete.destroyed(control, server_id, "h1", "req-1") == "deleted"
    assert delete.destroyed(control, server_id, "h1", "req-2") == "already deleted"


def test_a_delete_racing_a_stop_takes_its_task_over_and_the_stops_outcome_changes_nothing(control):
    server_id = server(control, host="h1")
    with control.db.session() as deleting:
        stale = deleting.get_one(Instance, server_id)
        with control.db.session() as stopping:
            assert actions.claim(stopping, stopping.get_one(Instance, server_id), Action.STOP)
        assert delete.request(deleting, stale, up) == delete.Accepted(destroy_on="h1")
    assert row(control, server_id) == (VmState.ACTIVE, TaskState.DELETING, False)
    assert events.action_done(control, server_id, "h1", "stop", "req-1", int(PowerState.SHUTDOWN)) == "superseded"
    assert delete.destroyed(control, server_id, "h1", "req-2") == "deleted"
    assert row(control, server_id) == (VmState.DELETED, None, True)


def test_a_stop_racing_a_delete_loses_its_claim(control):
    server_id = server(control, host="h1")
    with control.db.session() as stopping:
        stale = stopping.get_one(Instance, server_id)
        with control.db.session() as deleting:
            delete.request(deleting, deleting.get_one(Instance, server_id), up)
        assert not actions.claim(stopping, stale, Action.STOP)
    assert row(control, server_id) == (VmState.ACTIVE, TaskState.DELETING, False)


def test_a_delete_on_a_down_host_is_finished_at_once_even_during_a_task(control):
    server_id = server(control, host="h1")
    with control.db.session() as session:
        assert actions.claim(session, session.get_one(Instance, server_id), Action.REBOOT)
    with control.db.session() as session:
        assert delete.request(session, session.get_one(Instance, server_id), down) == delete.Accepted()
    assert row(control, server_id) == (VmState.DELETED, None, True)
