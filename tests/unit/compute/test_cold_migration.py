"""The control side of a cold move on a recording queue: reports taken only from the host whose step it is, and a
move stuck past the timeout brought back to its source by the sweeper, with its target's claim released."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from compute import client, service
from compute.control import cold_migration, events, sweeper
from compute.control.context import ComputeControl
from compute.models import Allocation, ComputeHost, Instance, Migration
from compute.states import PowerState
from network import client as network_client
from tests.unit.compute.moving import move_state, moves_control

FLAVOR = {"id": "1", "name": "f", "vcpus": 1, "ram": 64, "disk": 1}
RUNNING, GONE = int(PowerState.RUNNING), int(PowerState.NOSTATE)


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ComputeControl]:
    yield from moves_control(tmp_path / "moves.db")


def _server(control: ComputeControl) -> str:
    """A running server on h1 whose migrate the API just claimed; h2 is up with room."""
    with control.db.session() as session:
        for name in ("h1", "h2"):
            session.add(ComputeHost(name=name, vcpus=8, memory_mb=4096, disk_gb=100, last_heartbeat=service.now()))
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor=FLAVOR,
            old_flavor=FLAVOR, image_ref="i", host="h1", vm_state="active", task_state="resize_prep",
            power_state=RUNNING, requested_networks=[],
        )  # fmt: skip
        session.add(instance)
        session.flush()
        session.add(Allocation(instance_id=instance.id, host="h1", vcpus=1, memory_mb=64, disk_gb=1))
        return instance.id


def _age(control: ComputeControl, server: str, seconds: float) -> None:
    with control.db.session() as session:
        past = service.now() - timedelta(seconds=seconds)
        session.execute(update(Instance).where(Instance.id == server).values(updated_at=past))


def test_the_target_is_claimed_and_each_report_counts_only_from_the_host_whose_step_it_is(control):
    server = _server(control)
    assert cold_migration.start(control, server, "req-1", "migration") == "moving from h1 to h2"
    instance, migration, claims = move_state(control, server)
    assert (instance.task_state, migration.status, claims) == (
        "resize_migrating",
        "migrating",
        {"instance": "h1", "migration": "h2"},
    )
    # The target may not report the source's step, nor the source the target's.
    assert events.action_done(control, server, "h2", cold_migration.DISK_COPY, "req-1", GONE) == "superseded"
    assert events.action_done(control, server, "h1", cold_migration.DISK_COPY, "req-1", GONE) == "finishing"
    assert events.action_done(control, server, "h1", cold_migration.FINISH, "req-1", RUNNING) == "superseded"
    assert events.action_done(control, server, "h2", cold_migration.FINISH, "req-1", RUNNING) == "verify resize"
    instance, migration, claims = move_state(control, server)
    assert (instance.vm_state, instance.host, migration.status) == ("resized", "h2", "finished")
    assert claims == {"instance": "h1", "migration": "h2"}
    # A redelivered report changes nothing.
    assert events.action_done(control, server, "h2", cold_migration.FINISH, "req-1", RUNNING) == "superseded"


def test_a_move_stuck_past_the_timeout_is_rolled_back_to_its_source_and_its_target_claim_released(control):
    server = _server(control)
    cold_migration.start(control, server, "req-1", "migration")
    events.action_done(control, server, "h1", cold_migration.DISK_COPY, "req-1", GONE)
    _age(control, server, 120)  # the target never answered the finish
    sent_before = len(control.app.sent)  # type: ignore[attr-defined]

    assert sweeper.sweep(control)["timed_out"] == 1
    instance, migration, _ = move_state(control, server)
    assert (instance.task_state, migration.status, migration.error) == (
        "resize_reverting",
        "reverting",
        "resize_finish timed out",
    )
    assert control.app.sent[sent_before:] == [client.AGENT_ACTION]  # type: ignore[attr-defined]  # destroy_moved

    assert events.action_done(control, server, "h2", cold_migration.CLEAR_TARGET, "req-x", GONE) == (
        "restoring the source"
    )
    assert events.action_done(control, server, "h1", cold_migration.REVERT_SOURCE, "req-x", RUNNING) == "rolled back"
    instance, migration, claims = move_state(control, server)
    assert (instance.vm_state, instance.task_state, instance.host) == ("active", None, "h1")
    assert (migration.status, claims) == ("error", {"instance": "h1"})


def test_a_revert_stuck_past_the_timeout_ends_on_the_source_at_once(control):
    server = _server(control)
    cold_migration.start(control, server, "req-1", "migration")
    events.action_done(control, server, "h1", cold_migration.DISK_COPY, "req-1", GONE)
    events.action_done(control, server, "h2", cold_migration.FINISH, "req-1", RUNNING)
    with control.db.session() as session:  # the API's revertResize (api.compute.server_moves)
        service.swap(session, server, {"task_state": None}, task_state="resize_reverting")
        session.execute(update(Migration).where(Migration.instance_id == server).values(status="reverting"))
    _age(control, server, 120)  # neither host ever answered

    assert sweeper.sweep(control)["timed_out"] == 1
    instance, migration, claims = move_state(control, server)
    assert (instance.vm_state, instance.task_state, instance.host) == ("active", None, "h1")
    assert (migration.status, claims) == ("error", {"instance": "h1"})
    # The target is told to remove its copy, the source to start its own: late answers change nothing.
    assert events.action_done(control, server, "h2", cold_migration.CLEAR_TARGET, "req-x", GONE) == "cleaned up"
    assert events.action_done(control, server, "h1", cold_migration.REVERT_SOURCE, "req-x", RUNNING) == "superseded"


@pytest.mark.parametrize("allowed", [True, False])
def test_a_resize_with_no_other_host_stays_in_place_only_where_the_setting_allows_it(tmp_path: Path, allowed: bool):
    for control in moves_control(tmp_path / "alone.db", allow_resize_to_same_host=allowed):
        server = _server(control)
        bigger = {**FLAVOR, "id": "2", "vcpus": 2}
        with control.db.session() as session:
            session.execute(update(ComputeHost).where(ComputeHost.name == "h2").values(enabled=False))
            session.execute(update(Instance).where(Instance.id == server).values(flavor=bigger))
        outcome = cold_migration.start(control, server, "req-1", "resize")
        instance, migration, claims = move_state(control, server)
        target = "h1" if allowed else None  # in place, the server's host is both; refused, there is no target
        assert (migration.migration_type, migration.source_compute, migration.dest_compute) == ("resize", "h1", target)
        if allowed:
            assert (outcome, instance.task_state, migration.status) == ("resizing on h1", "resize_prep", "migrating")
            assert claims == {"instance": "h1", "resize": "h1"}
        else:
            assert (outcome, instance.task_state, migration.status) == ("no valid host", None, "error")
            assert (instance.flavor["id"], claims) == ("1", {"instance": "h1"})
            assert (migration.old_flavor_id, migration.new_flavor_id) == ("1", "2")  # what was asked for


def test_ports_the_target_cannot_wire_roll_the_move_back_and_are_wired_on_the_source_again(control):
    server = _server(control)
    port = {"network_id": "n1", "port_id": "p1", "mac": "fa:16:3e:00:00:01", "tap": "tapp1", "mtu": 1450}
    with control.db.session() as session:
        session.execute(update(Instance).where(Instance.id == server).values(requested_networks=[port]))
    cold_migration.start(control, server, "req-1", "migration")
    assert (
        events.action_done(control, server, "h1", cold_migration.DISK_COPY, "req-1", GONE) == "binding the ports to h2"
    )
    assert control.app.sent[-1] == network_client.BIND_INSTANCE  # type: ignore[attr-defined]

    # The network service's "failed" for the target (it comes as a failed spawn's report): back to the source.
    assert events.spawn_failed(control, server, "h2", "no VXLAN", "req-1") == "rolling back"
    assert events.action_done(control, server, "h2", cold_migration.CLEAR_TARGET, "req-1", GONE) == (
        "binding the ports to h1"
    )
    nics = [{**port, "bridge": "brq-n1"}]
    assert events.network_ready(control, server, "h2", nics, "req-1") == "superseded"  # not the target's any more
    assert events.network_ready(control, server, "h1", nics, "req-1") == "restoring the source"
    assert events.action_done(control, server, "h1", cold_migration.REVERT_SOURCE, "req-1", RUNNING) == "rolled back"
    instance, migration, claims = move_state(control, server)
    assert (instance.vm_state, instance.host, claims) == ("active", "h1", {"instance": "h1"})
    assert migration.status == "error" and "no VXLAN" in (migration.error or "")
