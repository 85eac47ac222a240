"""The state table itself: every task state is held by an action and has a way out, nothing leaves DELETED, the
API's 409s are those of the table as it was before it was declared, and every host-reported outcome returns the
task to idle in the state the table names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.settings import Settings
from compute.control import events
from compute.control.context import ComputeControl
from compute.control.sweeper import matching_rule, seconds
from compute.models import Instance
from compute.states import (
    STUCK_RULES,
    TRANSITIONS,
    Action,
    Clock,
    PowerState,
    Remedy,
    TaskState,
    VmState,
    allowed,
    server_status,
)
from tests.unit.compute.conftest import recording_control

V = VmState
RUNNABLE = {V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED}
# The ACTIONS table as it was before transitions were declared: the 409s users see must not change.
STARTS_FROM_BEFORE = {
    "stop": {V.ACTIVE, V.ERROR},
    "start": {V.STOPPED},
    "reboot": RUNNABLE | {V.ERROR},
    "reboot_hard": RUNNABLE | {V.ERROR},
    "pause": {V.ACTIVE},
    "unpause": {V.PAUSED},
    "suspend": {V.ACTIVE},
    "resume": {V.SUSPENDED},
    "rebuild": {V.ACTIVE, V.STOPPED, V.ERROR},
    "resize": {V.ACTIVE, V.STOPPED},
    "confirm_resize": {V.RESIZED},
    "revert_resize": {V.RESIZED},
    "create_image": RUNNABLE,
    "console_output": RUNNABLE | {V.RESIZED, V.ERROR},
}
HOST_ACTIONS = [t for t in TRANSITIONS.values() if t.task_state and t.action not in (Action.BUILD, Action.DELETE)]


# Nova's own task names: a cold migration is a resize to the same flavor, an evacuation a rebuild elsewhere.
SHARED_TASKS = {
    TaskState.RESIZE_PREP: {Action.RESIZE, Action.MIGRATE},
    TaskState.REBUILDING: {Action.REBUILD, Action.EVACUATE},
}


def test_every_task_state_is_held_by_exactly_one_action_or_shared_as_nova_shares_it():
    held: dict[TaskState, set[Action]] = {}
    for transition in TRANSITIONS.values():
        for task in transition.task_states:
            held.setdefault(task, set()).add(transition.action)
    assert set(held) == set(TaskState)
    assert {task: actions for task, actions in held.items() if len(actions) > 1} == SHARED_TASKS


def test_no_transition_leaves_deleted_and_delete_reaches_it_from_every_other_state():
    assert not [t.action for t in TRANSITIONS.values() if V.DELETED in t.starts_from]
    delete = TRANSITIONS[Action.DELETE]
    assert delete.starts_from == set(VmState) - {V.DELETED} and delete.on_success == (V.DELETED,)
    assert all(delete.allows(state, task) for state in delete.starts_from for task in [None, *TaskState])


@pytest.mark.parametrize("action", sorted(STARTS_FROM_BEFORE))
def test_each_action_is_allowed_exactly_where_it_was_and_only_when_idle(action):
    for state in VmState:
        assert allowed(action, state, None) == (state in STARTS_FROM_BEFORE[action]), state
        assert not any(allowed(action, state, task) for task in TaskState)


def test_the_status_clients_see_is_derived_as_before():
    assert server_status("active", "rebooting_hard") == "HARD_REBOOT"
    assert server_status("active", "deleting") == "ACTIVE"
    assert server_status("stopped", "powering-on") == "SHUTOFF"
    assert server_status("resized", None) == "VERIFY_RESIZE"


@pytest.mark.parametrize("task", list(TaskState))
def test_every_task_state_has_a_way_out_once_it_timed_out(task):
    """Whatever the host and the vm_state, a task older than the timeout gets a remedy that ends it."""
    settings = Settings()
    old = seconds(Clock.TIMEOUT, settings) + timedelta(seconds=1)
    # A live migration ends where the hosts' reports say the guest runs (compute.control.live_migration.settle).
    ending = {Remedy.FINISH_DELETE, Remedy.FAIL_BUILD, Remedy.GIVE_UP, Remedy.RESEND_BUILD, Remedy.ASK_WHERE_IT_RUNS}
    for state in set(VmState) - {V.DELETED}:
        for host_up in (True, False):
            rule = matching_rule(Instance(vm_state=state.value, task_state=task.value), old, host_up, settings)
            assert rule is not None and rule.remedy in ending, (state, host_up, rule)
    assert STUCK_RULES[task][-1].remedy is Remedy.GIVE_UP


def test_a_delete_whose_host_is_up_is_sent_again_once_then_left_to_the_timeout():
    settings = Settings()
    deleting = Instance(vm_state="active", task_state="deleting")
    resend = seconds(Clock.RESEND, settings)
    window_end = seconds(Clock.RESEND_AND_ONE_SWEEP, settings)
    assert matching_rule(deleting, resend, True, settings) is None
    assert matching_rule(deleting, resend + timedelta(seconds=1), True, settings).remedy is Remedy.RESEND_DESTROY
    assert matching_rule(deleting, window_end + timedelta(seconds=1), True, settings) is None
    assert matching_rule(deleting, timedelta(0), False, settings).remedy is Remedy.FINISH_DELETE


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComputeControl]:
    yield from recording_control(tmp_path_factory.mktemp("states") / "states.db")


def _server(control: ComputeControl, vm_state: VmState, task: TaskState) -> str:
    flavor = {"id": "1", "name": "f", "vcpus": 1, "ram": 64, "disk": 1}
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor=flavor,
            old_flavor=flavor, image_ref="i", host="h1", vm_state=vm_state.value, task_state=task.value,
            requested_networks=[],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        return instance.id


@pytest.mark.parametrize("transition", HOST_ACTIONS, ids=lambda t: t.action.value)
@pytest.mark.parametrize("error", [None, "the host failed"], ids=["succeeds", "fails"])
def test_every_host_reported_outcome_returns_the_task_to_idle_where_the_table_says(control, transition, error):
    start = sorted(transition.starts_from)[0]
    power = PowerState.SHUTDOWN if transition.on_success == (V.STOPPED,) else PowerState.RUNNING
    server = _server(control, start, transition.task_state)
    events.action_done(control, server, "h1", transition.action.value, "req-1", int(power), error)
    with control.db.session() as session:
        instance = session.get_one(Instance, server)
        assert instance.task_state is None
        if error is not None:
            assert instance.vm_state == (transition.on_failure or start)
        elif len(transition.on_success) > 1:  # the guest's power state picks: it runs
            assert instance.vm_state == V.ACTIVE
        else:
            assert instance.vm_state == (transition.on_success or (start,))[0]
