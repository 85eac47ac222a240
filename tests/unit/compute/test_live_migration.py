"""The control side of a live migration on a recording queue: the target claimed by compare-and-swap (two moves to
room for one never both win), each step taken only from the host whose part it is (and only once), the server and
its claim following the guest at the end, and a move whose reports were lost settled from where the hosts say the
guest runs: the source's report first, so the guest never runs twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from compute import client, moves, service
from compute.control import live_migration, sweeper
from compute.control.context import ComputeControl
from compute.models import Allocation, ComputeHost, Instance, Migration
from compute.moves import MigrationType, Status
from compute.states import PowerState
from network import client as network_client
from tests.unit.compute.moving import move_state, moves_control

FLAVOR = {"id": "1", "name": "f", "vcpus": 1, "ram": 3000, "disk": 1}
RUNNING = int(PowerState.RUNNING)


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ComputeControl]:
    yield from moves_control(tmp_path / "live.db")


def _hosts(control: ComputeControl) -> None:
    """h1 and h2 up, 4096 MiB each: room for one server of FLAVOR."""
    with control.db.session() as session:
        for name in ("h1", "h2", "h3"):
            session.add(ComputeHost(name=name, vcpus=8, memory_mb=4096, disk_gb=100, last_heartbeat=service.now()))


def _server(control: ComputeControl, host: str = "h1", target: str | None = "h2") -> tuple[str, int]:
    """A running server on ``host`` whose live migration (to ``target``) the API just recorded."""
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor=FLAVOR,
            image_ref="i", host=host, vm_state="active", task_state="migrating", power_state=RUNNING,
            requested_networks=[],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        session.add(Allocation(instance_id=instance.id, host=host, vcpus=1, memory_mb=3000, disk_gb=1))
        row = moves.start(session, instance, MigrationType.LIVE_MIGRATION, Status.ACCEPTED, "req-1", "u", "p",
                          dest_compute=target)  # fmt: skip
        return instance.id, row.id


def _sent(control: ComputeControl) -> list[str]:
    return control.app.sent  # type: ignore[attr-defined, no-any-return]


def test_each_step_counts_only_from_the_host_whose_part_it_is_and_the_server_follows_the_guest(control):
    _hosts(control)
    server, migration_id = _server(control)
    assert live_migration.start(control, server, migration_id, "req-1") == "preparing h2"
    assert _sent(control)[-1] == network_client.MIGRATION_BINDING
    _, migration, claims = move_state(control, server)
    assert (migration.status, claims) == ("queued", {"instance": "h1", "migration": "h2"})

    assert live_migration.network_ready(control, server, "h1", [], "req-1") is None  # the source: no migration's
    assert live_migration.network_ready(control, server, "h2", [], "req-1") == "preparing on h2"
    assert live_migration.network_ready(control, server, "h2", [], "req-1") == "not waiting"  # told once only
    assert _sent(control).count(client.AGENT_LIVE_MIGRATION) == 1

    step = live_migration.step
    assert step(control, server, "h1", migration_id, "prepared", "req-1") == "ignored: not this host's part"
    assert step(control, server, "h2", migration_id, "prepared", "req-1") == "running"
    assert step(control, server, "h2", migration_id, "completed", "req-1") == "ignored: not this host's part"
    stats = {"memory_total": 100, "memory_processed": 50, "memory_remaining": 50}
    assert step(control, server, "h1", migration_id, "progress", "req-1", stats=stats) == "50%"
    final = {"memory_total": 100, "memory_processed": 100, "downtime_ms": 23, "elapsed_ms": 400}
    assert step(control, server, "h1", migration_id, "completed", "req-1", stats=final) == "completed"
    instance, migration, claims = move_state(control, server)
    assert (instance.host, instance.task_state, instance.vm_state) == ("h2", None, "active")
    assert (migration.status, migration.downtime_ms, claims) == ("completed", 23, {"instance": "h2"})
    # A late or redelivered report changes nothing.
    assert step(control, server, "h1", migration_id, "completed", "req-1", stats=final) == "not running"
    assert step(control, server, "h1", migration_id, "failed", "req-1", error="x") == "already ended"
    assert move_state(control, server)[0].host == "h2"


def test_a_failure_before_the_switch_leaves_the_server_on_its_source_and_releases_the_target(control):
    _hosts(control)
    server, migration_id = _server(control)
    live_migration.start(control, server, migration_id, "req-1")
    live_migration.network_ready(control, server, "h2", [], "req-1")
    live_migration.step(control, server, "h2", migration_id, "prepared", "req-1")
    sent_before = len(_sent(control))
    assert live_migration.step(control, server, "h1", migration_id, "failed", "req-1", error="broken pipe") == "failed"
    instance, migration, claims = move_state(control, server)
    assert (instance.host, instance.task_state, instance.vm_state, instance.fault) == ("h1", None, "active", None)
    assert (migration.status, claims) == ("failed", {"instance": "h1"})
    assert "broken pipe" in (migration.error or "")
    # The target rolls back and the ports' target wiring is cleared.
    assert _sent(control)[sent_before:] == [client.AGENT_LIVE_MIGRATION, network_client.MIGRATION_BINDING]


def test_two_live_migrations_to_a_target_with_room_for_one_never_both_claim_it(control):
    _hosts(control)
    first, first_migration = _server(control, "h1", "h3")
    second, second_migration = _server(control, "h2", "h3")
    assert live_migration.start(control, first, first_migration, "req-1") == "preparing h3"
    assert live_migration.start(control, second, second_migration, "req-2") == "no valid host"
    _, migration, claims = move_state(control, second)
    assert (migration.status, claims) == ("error", {"instance": "h2"})
    assert "RamFilter removed" in (migration.error or "")


def _stuck(control: ComputeControl) -> tuple[str, int]:
    """A move that got as far as running, then whose reports were lost, past the timeout."""
    _hosts(control)
    server, migration_id = _server(control)
    live_migration.start(control, server, migration_id, "req-1")
    live_migration.network_ready(control, server, "h2", [], "req-1")
    live_migration.step(control, server, "h2", migration_id, "prepared", "req-1")
    with control.db.session() as session:
        past = service.now() - timedelta(seconds=120)
        session.execute(update(Instance).where(Instance.id == server).values(updated_at=past))
    assert sweeper.sweep(control)["resent"] == 1
    assert move_state(control, server)[1].error == live_migration.RESOLVING
    return server, migration_id


def test_a_stuck_move_whose_guest_still_runs_on_its_source_ends_there(control):
    server, _ = _stuck(control)
    assert client.AGENT_REPORT in _sent(control)  # both hosts asked to report now
    assert live_migration.settle(control, "h2", {server: RUNNING}) == 0  # the target waits for the source's word
    assert live_migration.settle(control, "h1", {server: RUNNING}) == 0  # the first report may predate the abort
    assert live_migration.settle(control, "h1", {server: RUNNING}) == 1
    instance, migration, claims = move_state(control, server)
    assert (instance.host, instance.task_state, migration.status, claims) == ("h1", None, "error", {"instance": "h1"})


def test_a_stuck_move_whose_guest_runs_on_its_target_completes_there(control):
    server, _ = _stuck(control)
    assert live_migration.settle(control, "h1", {}) == 0
    assert live_migration.settle(control, "h2", {server: RUNNING}) == 1
    instance, migration, claims = move_state(control, server)
    assert (instance.host, instance.task_state, migration.status, claims) == (
        "h2",
        None,
        "completed",
        {"instance": "h2"},
    )


def test_a_stuck_move_whose_guest_runs_nowhere_is_an_error_with_the_servers_fault(control):
    server, _ = _stuck(control)
    live_migration.settle(control, "h1", {})
    assert live_migration.settle(control, "h2", {}) == 1
    instance, migration, claims = move_state(control, server)
    assert (instance.vm_state, instance.task_state, migration.status, claims) == (
        "error",
        None,
        "error",
        {"instance": "h1"},
    )
    assert "lost" in instance.fault["message"]


def test_a_server_whose_host_is_down_does_not_move_live(control):
    _hosts(control)
    server, migration_id = _server(control)
    with control.db.session() as session:
        session.execute(update(ComputeHost).where(ComputeHost.name == "h1").values(forced_down=True))
    assert live_migration.start(control, server, migration_id, "req-1") == "source down"
    instance, migration, claims = move_state(control, server)
    assert (instance.task_state, migration.status, claims) == (None, "error", {"instance": "h1"})
    assert "h1 is down" in (migration.error or "")


def test_an_abort_of_a_move_still_preparing_cancels_it_when_the_target_reports(control):
    _hosts(control)
    server, migration_id = _server(control)
    live_migration.start(control, server, migration_id, "req-1")
    live_migration.network_ready(control, server, "h2", [], "req-1")
    with control.db.session() as session:  # the API's abort (2.65): preparing -> cancelling
        session.execute(update(Migration).where(Migration.id == migration_id).values(status="cancelling"))
    assert live_migration.step(control, server, "h2", migration_id, "prepared", "req-1") == "cancelled"
    instance, migration, claims = move_state(control, server)
    assert (instance.host, instance.task_state, migration.status, claims) == (
        "h1",
        None,
        "cancelled",
        {"instance": "h1"},
    )
    assert client.AGENT_LIVE_MIGRATION in _sent(control)[-2:]  # the target rolls back; the source never copied


def test_a_target_that_cannot_wire_the_ports_fails_the_move(control):
    _hosts(control)
    server, migration_id = _server(control)
    live_migration.start(control, server, migration_id, "req-1")
    assert live_migration.network_failed(control, server, "h1", "x", "req-1") is None  # not the target
    assert live_migration.network_failed(control, server, "h2", "no bridge", "req-1") == "failed"
    _, migration, claims = move_state(control, server)
    assert (migration.status, claims) == ("failed", {"instance": "h1"}) and "no bridge" in (migration.error or "")


def _abort(control: ComputeControl, migration_id: int, before_copy: bool) -> None:
    """What the API's abort writes (``api.compute.migrations``)."""
    marked = {"error": moves.ABORTED_BEFORE_COPY} if before_copy else {}
    with control.db.session() as session:
        session.execute(update(Migration).where(Migration.id == migration_id).values(status="cancelling", **marked))


def test_an_abort_of_a_queued_move_cancels_it_at_the_targets_next_report(control):
    _hosts(control)
    server, migration_id = _server(control)
    live_migration.start(control, server, migration_id, "req-1")
    _abort(control, migration_id, before_copy=True)
    assert live_migration.network_ready(control, server, "h2", [], "req-1") == "aborted"
    instance, migration, claims = move_state(control, server)
    assert (instance.host, instance.task_state, migration.status, claims) == (
        "h1",
        None,
        "cancelled",
        {"instance": "h1"},
    )


def test_an_abort_of_a_running_move_waits_for_its_copy_which_may_have_completed(control):
    """The target's reports go on while the copy runs: they must not end a move whose copy may have landed."""
    _hosts(control)
    server, migration_id = _server(control)
    live_migration.start(control, server, migration_id, "req-1")
    live_migration.network_ready(control, server, "h2", [], "req-1")
    live_migration.step(control, server, "h2", migration_id, "prepared", "req-1")
    _abort(control, migration_id, before_copy=False)
    assert live_migration.network_ready(control, server, "h2", [], "req-1") == "not waiting"
    assert live_migration.step(control, server, "h1", migration_id, "completed", "req-1", stats={}) == "completed"
    instance, migration, claims = move_state(control, server)
    assert (instance.host, migration.status, claims) == ("h2", "completed", {"instance": "h2"})
