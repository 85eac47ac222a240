"""A move's step a host does not acknowledge is sent again, a bounded number of times, then its move is given up
(an evacuation: ERROR on its fenced source with the fault, the target's claim freed, the target told to drop it; a
cold move: the step fails on its host, so the move rolls back or waits for its confirm or revert again, or ends on
its source; a live migration: the preparation fails with the guest on its source, and a copy, never sent twice, is
resolved from where the hosts say the guest runs); an acknowledged step is never sent again, and a host that
acknowledges one too late is told to drop it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from compute import actions, client, moves, service
from compute.control import cold_migration, evacuation, events, live_migration, move_steps, tasks
from compute.control.context import ComputeControl
from compute.models import Allocation, ComputeHost, Instance, InstanceAction, Migration
from compute.states import PowerState
from tests.unit.conftest import fresh_database

TAKE = 8.0
HANDLERS = tasks.MOVE_STEPS
RUNNING, GONE = int(PowerState.RUNNING), int(PowerState.NOSTATE)
FLAVOR = {"id": "1", "name": "f", "vcpus": 1, "ram": 64, "disk": 1}


class Sent:
    """A stand-in for the Celery app that records what would be sent, with its expiry."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, list[Any], str | None, float | None]] = []

    def send_task(self, name: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None,
                  queue: str | None = None, expires: float | None = None, **_: Any) -> None:  # fmt: skip
        self.tasks.append((name, list(args or []), queue, expires))

    def named(self, name: str) -> list[tuple[str, list[Any], str | None, float | None]]:
        return [task for task in self.tasks if task[0] == name]


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ComputeControl]:
    for database in fresh_database(tmp_path / "steps.db"):
        now = service.now()
        with database.session() as session:
            for name in ("source", "target"):
                session.add(ComputeHost(name=name, vcpus=8, memory_mb=8192, disk_gb=100, last_heartbeat=now))
        yield ComputeControl(database, Sent(), Settings(compute_build_take_timeout=TAKE))  # type: ignore[arg-type]


def _evacuating(control: ComputeControl) -> str:
    """A server of the fenced ``source`` whose evacuation has claimed ``target`` (its ports wired, or none)."""
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor=FLAVOR, image_ref="i",
            host="target", vm_state="active", task_state="rebuilding", requested_networks=[],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        actions.record_action(session, instance, "evacuate", "req-ev", "u", "p")
        move = moves.start(session, instance, moves.MigrationType.EVACUATION, moves.Status.PRE_MIGRATING, "req-ev",
                           "u", "p")  # fmt: skip
        move.source_compute, move.dest_compute = "source", "target"
        claim = {"vcpus": 1, "memory_mb": 64, "disk_gb": 1}
        session.add(Allocation(instance_id=instance.id, host="source", **claim))
        session.add(Allocation(instance_id=instance.id, host="target", purpose="migration", **claim))
        return instance.id


def _age(control: ComputeControl, server: str, seconds: float = TAKE + 1) -> None:
    """The step was sent ``seconds`` ago (the clock moves on without the test sleeping)."""
    with control.db.session() as session:
        move = moves.in_flight(session, server)
        assert move is not None and move.step_sent_at is not None
        move.step_sent_at = service.now() - timedelta(seconds=seconds)


def _spawns(control: ComputeControl) -> list[tuple[str, list[Any], str | None, float | None]]:
    return control.app.named(client.AGENT_ACTION)  # type: ignore[attr-defined]


def test_an_evacuation_spawn_not_taken_in_time_is_sent_again_with_an_expiry(control) -> None:
    server = _evacuating(control)
    assert evacuation.spawn(control, server, "target", "req-ev")
    assert move_steps.check(control, HANDLERS) == {}  # not due yet
    _age(control, server)
    assert move_steps.check(control, HANDLERS) == {"resent": 1}
    first, again = _spawns(control)
    assert first[1][:3] == again[1][:3] == ["target", server, "evacuate"]
    assert first[2] == again[2] == "compute.target" and first[3] == again[3] == TAKE  # an old copy never runs late
    with control.db.session() as session:
        move = session.query(Migration).one()
        assert (move.step, move.step_host, move.step_sends) == ("evacuate", "target", 2)
        assert session.get(Instance, server).task_state == "rebuilding"


def test_an_acknowledged_spawn_is_never_sent_again(control) -> None:
    server = _evacuating(control)
    evacuation.spawn(control, server, "target", "req-ev")
    assert move_steps.taken(control, HANDLERS, server, "target", "evacuate", "req-ev") == "taken"
    assert move_steps.taken(control, HANDLERS, server, "target", "evacuate", "req-ev") == "already taken"
    with control.db.session() as session:
        session.query(Migration).one().updated_at = service.now() - timedelta(hours=1)
    assert move_steps.check(control, HANDLERS) == {}
    assert not evacuation.STEP_HANDLER.resend(control, server, "target", "req")  # nothing awaits: nothing sent
    assert len(_spawns(control)) == 1


def test_a_spawn_never_taken_ends_the_evacuation_in_error_on_its_source_after_the_last_send(control) -> None:
    server = _evacuating(control)
    evacuation.spawn(control, server, "target", "req-ev")
    for _ in range(move_steps.MAX_SENDS - 1):
        _age(control, server)
        assert move_steps.check(control, HANDLERS) == {"resent": 1}
    _age(control, server)
    assert move_steps.check(control, HANDLERS) == {"given up": 1}
    assert len(_spawns(control)) == move_steps.MAX_SENDS
    assert [task[1][:2] for task in control.app.named(client.AGENT_DESTROY)] == [["target", server]]  # type: ignore[attr-defined]
    with control.db.session() as session:
        instance = session.get(Instance, server)
        assert (instance.vm_state, instance.task_state, instance.host) == ("error", None, "source")
        message = instance.fault["message"]
        assert message.startswith("Evacuation to target failed: target did not acknowledge the evacuate step")
        assert f"sent {move_steps.MAX_SENDS} times" in message
        assert [(a.purpose, a.host) for a in session.query(Allocation).all()] == [("instance", "source")]
        move = session.query(Migration).one()
        assert (move.status, move.error, move.step_sent_at) == ("failed", message, None)
        (action,) = session.query(InstanceAction).all()
        assert [(e["event"], e["result"], e["host"]) for e in action.events] == [
            ("compute_evacuate_instance", "Error", "target")
        ]
    assert move_steps.check(control, HANDLERS) == {}  # given up once


def test_a_host_that_takes_the_spawn_after_the_evacuation_gave_it_up_is_told_to_drop_it(control) -> None:
    server = _evacuating(control)
    evacuation.spawn(control, server, "target", "req-ev")
    assert evacuation.not_taken(control, server, "target", "gone", "req") == "given up"
    assert evacuation.not_taken(control, server, "target", "gone", "req") == "moved on"
    outcome = move_steps.taken(control, HANDLERS, server, "target", "evacuate", "req-ev")
    assert outcome == "dropped: the evacuation moved on"
    assert len(control.app.named(client.AGENT_DESTROY)) == 2  # type: ignore[attr-defined]


def test_a_spawn_taken_just_before_the_give_up_is_not_given_up(control) -> None:
    server = _evacuating(control)
    evacuation.spawn(control, server, "target", "req-ev")
    for _ in range(move_steps.MAX_SENDS - 1):
        _age(control, server)
        move_steps.check(control, HANDLERS)
    _age(control, server)
    (due,) = move_steps.unacknowledged(control)
    assert due.sends == move_steps.MAX_SENDS
    move_steps.taken(control, HANDLERS, server, "target", "evacuate", "req-ev")  # between the read and the give-up
    assert move_steps.handle(control, HANDLERS, due) == "taken meanwhile"
    with control.db.session() as session:
        assert session.get(Instance, server).task_state == "rebuilding"
    assert control.app.named(client.AGENT_DESTROY) == []  # type: ignore[attr-defined]


def test_the_end_of_an_evacuation_leaves_no_step_awaited(control) -> None:
    server = _evacuating(control)
    evacuation.spawn(control, server, "target", "req-ev")
    with control.db.session() as session:
        evacuation.finish(session, session.get(Instance, server), 1, None)
        assert session.query(Migration).one().step_sent_at is None
    _spawn_count = len(_spawns(control))
    assert move_steps.check(control, HANDLERS) == {}
    assert len(_spawns(control)) == _spawn_count


def test_the_spawn_goes_only_to_the_target_the_evacuation_waits_on(control) -> None:
    server = _evacuating(control)
    assert not evacuation.spawn(control, server, "source", "req-ev")
    with control.db.session() as session:
        assert session.query(Migration).one().step is None
    assert _spawns(control) == []


# --- a cold move's steps ----------------------------------------------------------------------------------------


def test_every_step_a_host_acknowledges_has_its_workflows_handler() -> None:
    live = {live_migration.PREPARE, live_migration.COPY}
    assert set(tasks.MOVE_STEPS) == client.ACKNOWLEDGED_STEPS == cold_migration.STEPS | {evacuation.STEP} | live


def _migrating(control: ComputeControl) -> str:
    """A running server on ``source`` whose migrate to ``target`` the API claimed and the scheduler started."""
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor=FLAVOR,
            old_flavor=FLAVOR, image_ref="i", host="source", vm_state="active", task_state="resize_prep",
            power_state=RUNNING, requested_networks=[],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        actions.record_action(session, instance, "migrate", "req-mig", "u", "p")
        session.add(Allocation(instance_id=instance.id, host="source", vcpus=1, memory_mb=64, disk_gb=1))
        server = instance.id
    assert cold_migration.start(control, server, "req-mig", "migration") == "moving from source to target"
    return server


def _until_given_up(control: ComputeControl, server: str) -> dict[str, int]:
    for _ in range(move_steps.MAX_SENDS - 1):
        _age(control, server)
        assert move_steps.check(control, HANDLERS) == {"resent": 1}
    _age(control, server)
    return move_steps.check(control, HANDLERS)


def _move_of(control: ComputeControl, server: str) -> tuple[Instance, Migration]:
    with control.db.session() as session:
        instance, move = session.get_one(Instance, server), session.query(Migration).one()
        session.expunge_all()
        return instance, move


def test_a_finish_its_target_never_takes_is_sent_again_then_rolls_the_move_back(control) -> None:
    server = _migrating(control)
    assert events.action_done(control, server, "source", cold_migration.DISK_COPY, "req-mig", GONE) == "finishing"
    assert _until_given_up(control, server) == {"rolling back": 1}
    finishes = [task for task in _spawns(control) if task[1][2] == cold_migration.FINISH]
    assert len(finishes) == move_steps.MAX_SENDS and {task[2] for task in finishes} == {"compute.target"}
    instance, move = _move_of(control, server)
    assert (instance.task_state, move.status) == ("resize_reverting", "reverting")
    assert move.error.startswith("The target target could not start the guest: target did not acknowledge")
    # The roll-back's own step goes to the target, awaited in its turn.
    assert (move.step, move.step_host, move.step_sends) == (cold_migration.CLEAR_TARGET, "target", 1)
    assert _spawns(control)[-1][1][:3] == ["target", server, cold_migration.CLEAR_TARGET]


def test_a_disk_copy_taken_is_not_sent_again_and_its_report_goes_on(control) -> None:
    server = _migrating(control)
    assert move_steps.taken(control, HANDLERS, server, "source", cold_migration.DISK_COPY, "req-mig") == "taken"
    _age_move(control, server)
    assert move_steps.check(control, HANDLERS) == {}
    assert events.action_done(control, server, "source", cold_migration.DISK_COPY, "req-mig", GONE) == "finishing"


def test_a_step_whose_report_came_though_its_acknowledgement_was_lost_is_not_sent_again(control) -> None:
    server = _migrating(control)
    events.action_done(control, server, "source", cold_migration.DISK_COPY, "req-mig", GONE)
    events.action_done(control, server, "target", cold_migration.FINISH, "req-mig", RUNNING)  # VERIFY_RESIZE
    _age(control, server)
    sent = len(_spawns(control))
    assert move_steps.check(control, HANDLERS) == {"moved on": 1}
    assert move_steps.check(control, HANDLERS) == {}
    assert len(_spawns(control)) == sent


def test_a_confirm_its_source_never_takes_leaves_the_server_to_be_confirmed_again(control) -> None:
    server = _verify_resize(
        control, "confirm_resize", "resize_confirming", "confirming", cold_migration.CONFIRM, "source"
    )
    assert _until_given_up(control, server) == {"error": 1}
    instance, move = _move_of(control, server)
    assert (instance.vm_state, instance.task_state, instance.host, move.status) == (
        "resized",
        None,
        "target",
        "finished",
    )
    with control.db.session() as session:
        action = session.query(InstanceAction).filter_by(request_id="req-confirm").one()
        (event,) = action.events
    assert (event["event"], event["result"], event["host"]) == ("compute_confirm_resize", "Error", "source")
    assert event["traceback"].startswith("source did not acknowledge the confirm_migration step")


def test_a_restart_its_source_never_takes_ends_the_revert_on_the_source_with_the_fault(control) -> None:
    server = _verify_resize(control, "revert_resize", "resize_reverting", "reverting", cold_migration.CLEAR_TARGET,
                            "target")  # fmt: skip
    move_steps.taken(control, HANDLERS, server, "target", cold_migration.CLEAR_TARGET, "req-revert")
    assert events.action_done(control, server, "target", cold_migration.CLEAR_TARGET, "req-revert", GONE) == (
        "restoring the source"
    )
    assert _until_given_up(control, server) == {"ended on the source": 1}
    instance, move = _move_of(control, server)
    assert (instance.vm_state, instance.task_state, instance.host, move.status) == ("active", None, "source", "error")
    assert instance.fault["message"].startswith("source did not acknowledge the finish_revert_migration step")
    restarts = [t for t in _spawns(control) if t[1][2] == cold_migration.REVERT_SOURCE]
    assert len(restarts) == move_steps.MAX_SENDS + 1  # and once more, unawaited, as the sweeper's end sends it


def _verify_resize(control: ComputeControl, action: str, task: str, status: str, step: str, host: str) -> str:
    """A server moved to ``target`` and VERIFY_RESIZE, whose confirm or revert the API just claimed and sent."""
    server = _migrating(control)
    events.action_done(control, server, "source", cold_migration.DISK_COPY, "req-mig", GONE)
    events.action_done(control, server, "target", cold_migration.FINISH, "req-mig", RUNNING)
    request_id = "req-confirm" if action == "confirm_resize" else "req-revert"
    with control.db.session() as session:  # what api.compute.server_moves does
        instance = session.get_one(Instance, server)
        actions.record_action(session, instance, action, request_id, "u", "p")
        service.swap(session, server, {"task_state": None}, task_state=task)
        move = session.query(Migration).one()
        move.status = status
        moves.handed(move, step, host)
    return server


def _age_move(control: ComputeControl, server: str) -> None:
    with control.db.session() as session:
        session.query(Migration).one().updated_at = service.now() - timedelta(hours=1)


# --- a live migration's steps -----------------------------------------------------------------------------------


def _live(control: ComputeControl) -> tuple[str, int]:
    """A running server on ``source`` whose live migration to ``target`` waits for the target's preparation."""
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor=FLAVOR, image_ref="i",
            host="source", vm_state="active", task_state="migrating", power_state=RUNNING, requested_networks=[],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        actions.record_action(session, instance, "live-migration", "req-live", "u", "p")
        session.add(Allocation(instance_id=instance.id, host="source", vcpus=1, memory_mb=64, disk_gb=1))
        row = moves.start(session, instance, moves.MigrationType.LIVE_MIGRATION, moves.Status.ACCEPTED, "req-live",
                          "u", "p", dest_compute="target")  # fmt: skip
        server, migration_id = instance.id, row.id
    assert live_migration.start(control, server, migration_id, "req-live") == "preparing target"
    assert live_migration.network_ready(control, server, "target", [], "req-live") == "preparing on target"
    return server, migration_id


def _calls(control: ComputeControl, call: str) -> list[tuple[str, list[Any], str | None, float | None]]:
    return [t for t in control.app.named(client.AGENT_LIVE_MIGRATION) if t[1][3] == call]  # type: ignore[attr-defined]


def test_a_preparation_its_target_never_takes_is_sent_again_then_fails_the_move_with_the_guest_on_its_source(
    control,
) -> None:
    server, _ = _live(control)
    assert _until_given_up(control, server) == {"failed": 1}
    prepares = _calls(control, live_migration.PREPARE)
    assert len(prepares) == move_steps.MAX_SENDS and {(t[2], t[3]) for t in prepares} == {("compute.target", TAKE)}
    assert [t[2] for t in _calls(control, "rollback_live_migration_at_destination")] == ["compute.target"]
    instance, move = _move_of(control, server)
    assert (instance.host, instance.task_state, instance.vm_state, move.status) == ("source", None, "active", "failed")
    assert move.error.startswith("The target could not prepare the server: target did not acknowledge")
    with control.db.session() as session:
        assert [(a.purpose, a.host) for a in session.query(Allocation).all()] == [("instance", "source")]


def test_a_copy_its_source_never_takes_is_never_sent_twice_and_is_resolved_from_where_the_guest_runs(control) -> None:
    server, migration_id = _live(control)
    move_steps.taken(control, HANDLERS, server, "target", live_migration.PREPARE, "req-live")
    assert live_migration.step(control, server, "target", migration_id, "prepared", "req-live") == "running"
    _age(control, server)
    assert move_steps.check(control, HANDLERS) == {"resolving": 1}
    assert len(_calls(control, live_migration.COPY)) == 1
    assert [t[2] for t in _calls(control, "live_migration_abort")] == ["compute.source"]
    instance, move = _move_of(control, server)
    assert (instance.task_state, move.status, move.error) == ("migrating", "running", live_migration.RESOLVING)
    assert move_steps.check(control, HANDLERS) == {}
