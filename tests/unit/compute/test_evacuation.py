"""Fencing, the HA pass and the end of an evacuation on a real (SQLite) database, without workers: a host is fenced
only by a fence command that succeeded (run with the host's name and address as plain arguments), only servers
marked HA of a fenced host are evacuated and each once, and a host that comes back completes its evacuations."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from common.settings import HostSettings
from compute import client, delete, fencing, moves, service
from compute.control import evacuation, ha, hosts
from compute.control import fencing as fence_runner
from compute.control.context import ComputeControl
from compute.host import work
from compute.host.context import ComputeAgent
from compute.models import Allocation, ComputeHost, Instance, Migration

FLAVOR = {"id": "1", "name": "f", "vcpus": 1, "ram": 64, "disk": 1}
RESOURCES = {"vcpus": 4, "memory_mb": 4096, "disk_gb": 40}


def _script(tmp_path: Path, body: str) -> tuple[str, Path]:
    log = tmp_path / "argv.log"
    script = tmp_path / "fence.sh"
    script.write_text(f'#!/bin/sh\nfor a in "$@"; do echo "[$a]" >> {log}; done\n{body}\n')
    return f"/bin/sh {script}", log


def _with(control: ComputeControl, **settings: Any) -> ComputeControl:
    return dataclasses.replace(control, settings=control.settings.replace(**settings))


def _host(control: ComputeControl, name: str, down_for: float = 0.0, address: str = "192.0.2.7") -> None:
    with control.db.session() as session:
        beat = service.now() - timedelta(seconds=down_for)
        session.add(ComputeHost(name=name, vcpus=8, memory_mb=8192, disk_gb=100, last_heartbeat=beat, host_ip=address))


def _server(control: ComputeControl, host: str, ha_enabled: bool = True) -> str:
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor=FLAVOR,
            image_ref="i", host=host, vm_state="active", requested_networks=[],
            metadata_items={"HA_Enabled": "True"} if ha_enabled else {},
        )  # fmt: skip
        session.add(instance)
        session.flush()
        session.add(Allocation(instance_id=instance.id, host=host, vcpus=1, memory_mb=64, disk_gb=1))
        return instance.id


# --- the fence command ------------------------------------------------------------------------------------------


def test_the_fence_command_gets_the_name_and_address_as_two_arguments_and_no_shell(control, tmp_path) -> None:
    command, log = _script(tmp_path, "exit 0")
    settings = control.settings.replace(fence_command=command)
    assert fence_runner.run(settings, "h-1.example", "192.0.2.7") is None
    assert log.read_text().splitlines() == ["[h-1.example]", "[192.0.2.7]"]


@pytest.mark.parametrize(
    ("host", "address"),
    [("-rf", "192.0.2.7"), ("a b", "192.0.2.7"), ("$(reboot)", "192.0.2.7"), ("h;id", "192.0.2.7"),
     ("h", "192.0.2.7; id"), ("h", "--help"), ("h", "")],
)  # fmt: skip
def test_a_host_record_that_could_be_read_as_more_than_a_name_is_never_given_to_the_command(
    control, tmp_path, host: str, address: str
) -> None:
    command, log = _script(tmp_path, "exit 0")
    error = fence_runner.run(control.settings.replace(fence_command=command), host, address)
    assert error is not None and not log.exists()


def test_a_fence_command_that_fails_or_hangs_fences_nothing(control, tmp_path) -> None:
    command, _ = _script(tmp_path, "echo no power >&2; exit 3")
    assert "exited 3: no power" in str(fence_runner.run(control.settings.replace(fence_command=command), "h", "::1"))
    command, _ = _script(tmp_path, "sleep 5")
    slow = control.settings.replace(fence_command=command, fence_timeout=0.3)
    assert "did not finish within 0.3 s" in str(fence_runner.run(slow, "h", "::1"))
    assert fence_runner.run(control.settings.replace(fence_command="/nonexistent/fence"), "h", "::1") is not None
    assert fence_runner.run(control.settings, "h", "::1") == "no fence_command is set"


# --- the HA pass ------------------------------------------------------------------------------------------------


@pytest.fixture
def evacuations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    sent: list[str] = []
    monkeypatch.setattr(client, "evacuate", lambda app, instance_id, request_id, force=False: sent.append(instance_id))
    monkeypatch.setattr(ha, "_tried", {})
    return sent


def test_ha_servers_of_a_host_down_past_the_grace_period_are_evacuated_once_it_is_fenced(
    control, tmp_path, evacuations
) -> None:
    command, log = _script(tmp_path, "exit 0")
    control = _with(
        control, fence_command=command, host_heartbeat_interval=1.0, compute_host_down_after=5.0, ha_grace_period=2.0
    )
    _host(control, "down", down_for=30)
    _host(control, "up")
    marked, plain, elsewhere = (
        _server(control, "down"),
        _server(control, "down", ha_enabled=False),
        _server(control, "up"),
    )
    assert ha.check(control) == {"evacuated": 1, "unfenced": 0}
    assert evacuations == [marked]
    assert log.read_text().splitlines() == ["[down]", "[192.0.2.7]"]
    with control.db.session() as session:
        host = session.get(ComputeHost, "down")
        assert fencing.is_fenced(host) and host.fenced_by == "fence_command"
        assert host.forced_down and not host.enabled and host.disabled_reason == "fenced (fence_command)"
        assert session.get(Instance, marked).task_state == "rebuilding"
        assert session.get(Instance, plain).task_state is None and session.get(Instance, elsewhere).task_state is None
        (move,) = session.query(Migration).all()
        assert (move.instance_id, move.status, move.source_compute, move.migration_type) == (
            marked, "accepted", "down", "evacuation"
        )  # fmt: skip
    assert ha.check(control) == {"evacuated": 0, "unfenced": 0}  # one evacuation per server
    assert evacuations == [marked]


def test_a_host_that_cannot_be_fenced_keeps_its_servers(control, tmp_path, evacuations) -> None:
    command, _ = _script(tmp_path, "exit 1")
    control = _with(
        control, fence_command=command, host_heartbeat_interval=1.0, compute_host_down_after=5.0, ha_grace_period=2.0
    )
    _host(control, "cut-off", down_for=30)
    server = _server(control, "cut-off")
    assert ha.check(control) == {"evacuated": 0, "unfenced": 1}
    no_command = _with(control, fence_command="")
    ha._tried.clear()  # no retry delay: the host is tried again at once
    assert ha.check(no_command) == {"evacuated": 0, "unfenced": 1}
    assert evacuations == []
    with control.db.session() as session:
        assert session.get(Instance, server).task_state is None
        assert not fencing.is_fenced(session.get(ComputeHost, "cut-off"))


def test_nothing_is_evacuated_within_the_grace_period_or_from_a_host_that_is_up(control, tmp_path, evacuations) -> None:
    command, log = _script(tmp_path, "exit 0")
    control = _with(
        control, fence_command=command, host_heartbeat_interval=1.0, compute_host_down_after=5.0, ha_grace_period=30.0
    )
    _host(control, "just-down", down_for=10)
    _host(control, "up")
    _server(control, "just-down")
    _server(control, "up")
    assert ha.check(control) == {"evacuated": 0, "unfenced": 0}
    assert evacuations == [] and not log.exists()


def test_a_host_an_operator_forced_down_needs_no_fence_command(control, evacuations) -> None:
    control = _with(control, host_heartbeat_interval=1.0, compute_host_down_after=5.0, ha_grace_period=0.0)
    _host(control, "forced")
    with control.db.session() as session:
        record = session.get(ComputeHost, "forced")
        record.forced_down, record.fenced_at, record.fenced_by = True, service.now(), "operator"
    server = _server(control, "forced")
    assert ha.check(control) == {"evacuated": 1, "unfenced": 0}
    assert evacuations == [server]


def test_a_failed_ha_evacuation_is_not_retried_while_its_host_stays_forced_down_and_heartbeats(
    control, evacuations
) -> None:
    control = _with(control, host_heartbeat_interval=1.0, compute_host_down_after=5.0, ha_grace_period=0.0)
    _host(control, "forced")  # heartbeating now
    server = _server(control, "forced")
    with control.db.session() as session:
        record = session.get(ComputeHost, "forced")
        record.forced_down, record.fenced_at, record.fenced_by = True, service.now() - timedelta(seconds=60), "operator"
        instance = session.get(Instance, server)
        instance.vm_state = "error"
        failed = moves.start(session, instance, moves.MigrationType.EVACUATION, moves.Status.FAILED, "r", "u", "p")
        failed.created_at = service.now() - timedelta(seconds=30)
    assert ha.check(control) == {"evacuated": 0, "unfenced": 0}
    assert evacuations == []


# --- the end of an evacuation -----------------------------------------------------------------------------------


def _evacuated(control: ComputeControl, status: str) -> str:
    server = _server(control, "target")
    with control.db.session() as session:
        instance = session.get(Instance, server)
        move = moves.start(session, instance, moves.MigrationType.EVACUATION, moves.Status(status), "r", "u", "p")
        move.source_compute, move.dest_compute = "source", "target"
    return server


def test_an_evacuation_completes_when_its_source_reports_without_the_stale_copy(control, monkeypatch) -> None:
    dropped: list[str] = []
    monkeypatch.setattr(client, "agent_drop", lambda app, host, uuid, request_id: dropped.append(uuid))
    _host(control, "source")
    _host(control, "target")
    server = _evacuated(control, "done")
    hosts.host_report(control, "source", RESOURCES, {server: 1})  # still there: dropped, not completed yet
    assert dropped == [server]
    with control.db.session() as session:
        assert session.query(Migration).one().status == "done"
    hosts.host_report(control, "source", RESOURCES, {})
    with control.db.session() as session:
        assert session.query(Migration).one().status == "completed"
        assert fencing.done_evacuations(session, "source") == 0


def test_a_failed_spawn_on_the_target_puts_the_server_back_in_error_with_its_claim_released(control) -> None:
    _host(control, "source")
    _host(control, "target")
    server = _server(control, "source")
    with control.db.session() as session:
        instance = session.get(Instance, server)
        instance.task_state, instance.host = "rebuilding", "target"
        move = moves.start(session, instance, moves.MigrationType.EVACUATION, moves.Status.PRE_MIGRATING, "r", "u", "p")
        move.source_compute, move.dest_compute = "source", "target"
        session.add(
            Allocation(instance_id=server, purpose="migration", host="target", vcpus=1, memory_mb=64, disk_gb=1)
        )
    with control.db.session() as session:
        values = evacuation.finish(session, session.get(Instance, server), 0, "no room in the fake")
        assert values["vm_state"] == "error" and values["host"] == "source"
        assert values["fault"]["message"] == "Evacuation to target failed: no room in the fake"
        assert [(a.purpose, a.host) for a in session.query(Allocation).all()] == [("instance", "source")]
        assert session.query(Migration).one().status == "failed"


# --- the host side ----------------------------------------------------------------------------------------------


class _Queue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def send_task(self, name: str, args: list[Any], kwargs: dict[str, Any] | None = None, **_: Any) -> None:
        self.sent.append((name, (kwargs or {}).get("error")))


def test_a_dropped_copy_goes_with_destroy_moved_and_no_delete_is_reported(tmp_path, monkeypatch) -> None:
    settings = HostSettings(state_dir=str(tmp_path), host="box", compute_driver="fake")
    agent = ComputeAgent.start(settings, _Queue())  # type: ignore[arg-type]
    driver = agent.driver("box")
    calls: list[str] = []
    monkeypatch.setattr(driver, "destroy", lambda uuid: calls.append(f"destroy {uuid}"))
    monkeypatch.setattr(driver, "destroy_moved", lambda uuid: calls.append(f"destroy_moved {uuid}"))
    work.destroy(agent, "box", "i-1", "req", report=False)
    work.destroy(agent, "box", "i-2", "req")
    assert calls == ["destroy_moved i-1", "destroy i-2"]
    assert agent.app.sent == [(client.DESTROYED, None)]  # type: ignore[attr-defined]


def test_an_evacuated_server_is_spawned_on_its_target_and_powered_off_when_it_was_stopped(tmp_path) -> None:
    settings = HostSettings(state_dir=str(tmp_path), host="box", compute_driver="fake")
    agent = ComputeAgent.start(settings, _Queue())  # type: ignore[arg-type]
    spec = {"uuid": "i-1", "name": "vm", "vcpus": 1, "memory_mb": 64, "root_gb": 1, "image": {"id": "img"}}
    work.action(agent, "box", "i-1", "evacuate", "req", {"spec": spec, "power_on": False})
    assert agent.app.sent == [(client.ACTION_DONE, None)]  # type: ignore[attr-defined]
    assert agent.driver("box").get_info("i-1").power_state.name == "SHUTDOWN"


def test_a_server_deleted_mid_evacuation_ends_its_move_and_both_claims(control) -> None:
    _host(control, "source")
    _host(control, "target")
    server = _server(control, "source")
    with control.db.session() as session:
        instance = session.get(Instance, server)
        instance.task_state, instance.host = "deleting", "target"
        move = moves.start(session, instance, moves.MigrationType.EVACUATION, moves.Status.PRE_MIGRATING, "r", "u", "p")
        move.source_compute, move.dest_compute = "source", "target"
        claim = {"vcpus": 1, "memory_mb": 64, "disk_gb": 1}
        session.add(Allocation(instance_id=server, purpose="migration", host="target", **claim))
    with control.db.session() as session:
        delete.finish(session, server)
    with control.db.session() as session:
        move = session.query(Migration).one()
        assert (move.status, move.error) == ("error", "the server was deleted")
        assert session.query(Allocation).all() == []
        assert moves.in_flight(session, server) is None
