"""A move's step a host does not acknowledge is sent again, a bounded number of times, then its move is given up
(an evacuation: ERROR on its fenced source with the fault, the target's claim freed, the target told to drop it);
an acknowledged step is never sent again, and a host that acknowledges one too late is told to drop it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from compute import actions, client, moves, service
from compute.control import evacuation, move_steps
from compute.control.context import ComputeControl
from compute.models import Allocation, ComputeHost, Instance, InstanceAction, Migration
from tests.unit.conftest import fresh_database

TAKE = 8.0
HANDLERS = {evacuation.STEP: evacuation.STEP_HANDLER}
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
