"""Hosts: capacity and allocation per host as bars with their figures, up or down from the heartbeat, enabled
or disabled with the reason, and the button that switches a host (a reason that is too long is refused next to
its field); the Drain button disables a host and starts a live migration of each running server on it and a cold
one of each stopped server, naming the servers that stay, the migrations panel shows the moves in flight (polled
while there are any) and confirms the drain's finished cold moves, and a drained host lists the servers still on
it with why they have not moved."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, update

from compute.models import Allocation, ComputeHost, Instance, InstanceAction, Migration
from compute.moves import IN_FLIGHT
from compute.states import VmState
from portal.admin import drain
from portal.admin.hosts import heartbeat_text
from tests.unit.portal.admin_support import admin_fixture, admin_token, call, unique  # noqa: F401 - fixture


@pytest.fixture
def hosts(portal_app: Flask) -> Iterator[tuple[str, str]]:
    """Two hosts as their agents would have reported them: one alive with claims on it, one silent for 10 min."""
    alive, silent = unique("node-a"), unique("node-b")
    now = datetime.now(UTC)
    db = portal_app.extensions["stratus"].db
    with db.session() as session:
        session.add(ComputeHost(name=alive, vcpus=8, memory_mb=16384, disk_gb=100, last_heartbeat=now))
        session.add(ComputeHost(name=silent, vcpus=4, memory_mb=8192, disk_gb=50,
                                last_heartbeat=now - timedelta(minutes=10)))  # fmt: skip
        session.flush()
        for vcpus, memory_mb, disk_gb in ((8, 4096, 10), (4, 2048, 10)):
            session.add(Allocation(instance_id=str(uuid.uuid4()), host=alive, vcpus=vcpus, memory_mb=memory_mb,
                                   disk_gb=disk_gb))  # fmt: skip
    yield alive, silent
    with db.session() as session:
        session.execute(delete(ComputeHost).where(ComputeHost.name.in_([alive, silent])))


def _section(html: str, host: str) -> str:
    found = re.search(rf'<section class="panel host" id="host-{re.escape(host)}".*?</section>', html, re.S)
    assert found, f"no section for {host}"
    return found.group(0)


def _service(client: FlaskClient, host: str) -> dict:
    found = call(client, "GET", f"/compute/v2.1/os-services?host={host}", admin_token(client))["services"]
    return found[0]


def test_each_host_shows_capacity_allocation_and_state(admin: tuple[FlaskClient, str], hosts: tuple[str, str]) -> None:
    client, _ = admin
    alive, silent = hosts
    html = client.get("/admin/hosts").get_data(as_text=True)
    busy = _section(html, alive)
    assert "12 of 8 allocated (150 %)" in busy  # vCPUs over-committed
    assert "6,144 of 16,384 MiB allocated (38 %)" in busy and "20 of 100 GiB allocated (20 %)" in busy
    assert '<span class="status status-ACTIVE">up</span>' in busy and ">enabled<" in busy
    assert 'class="bar bar-full"' in busy and "<svg" in busy
    quiet = _section(html, silent)
    assert '<span class="status status-ERROR">down</span>' in quiet and "0 of 4 allocated (0 %)" in quiet
    assert re.search(r"<dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(1[01] min ago\)</dd>", quiet)
    assert re.search(rf'<label for="host-{silent}-reason">Reason for disabling {silent}</label>', quiet)


def test_disable_with_a_reason_and_enable_again(admin: tuple[FlaskClient, str], hosts: tuple[str, str]) -> None:
    client, csrf = admin
    alive, _ = hosts
    response = client.post(f"/admin/hosts/{alive}/disable", data={"csrf_token": csrf, "reason": "new disks"})
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Host {alive} is disabled (new disks)" in html
    section = _section(html, alive)
    assert ">disabled<" in section and "<dd>new disks</dd>" in section and f"Enable {alive}" in section
    assert _service(client, alive)["status"] == "disabled"
    assert _service(client, alive)["disabled_reason"] == "new disks"

    client.post(f"/admin/hosts/{alive}/enable", data={"csrf_token": csrf})
    assert _service(client, alive)["status"] == "enabled"
    client.post(f"/admin/hosts/{alive}/disable", data={"csrf_token": csrf, "reason": ""})  # a reason is optional
    assert _service(client, alive)["status"] == "disabled"


def test_a_bad_disable_is_refused_next_to_the_reason(admin: tuple[FlaskClient, str], hosts: tuple[str, str]) -> None:
    client, csrf = admin
    alive, _ = hosts
    response = client.post(f"/admin/hosts/{alive}/disable", data={"csrf_token": csrf, "reason": "x" * 300})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert re.search(rf'id="host-{alive}-reason-error"[^>]*>Keep the reason to 255 characters', html)
    assert _service(client, alive)["status"] == "enabled"
    gone = client.post("/admin/hosts/no-such-host/disable", data={"csrf_token": csrf, "reason": "why"})
    assert gone.status_code == 404 and "no-such-host" in gone.get_data(as_text=True)


def test_heartbeat_in_words() -> None:
    now = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
    assert heartbeat_text("2026-12-01T08:59:55.123456", now) == "2026-12-01 08:59:55 UTC (4 s ago)"
    assert heartbeat_text("2026-12-01T08:30:00", now) == "2026-12-01 08:30:00 UTC (30 min ago)"
    assert heartbeat_text("2026-11-30T09:00:00", now) == "2026-11-30 09:00:00 UTC (24 h ago)"
    assert heartbeat_text(None, now) == "never"


def _server(portal_app: Flask, host: str, name: str, vm_state: str, **values: object) -> str:
    db = portal_app.extensions["stratus"].db
    flavor = {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0}
    with db.session() as session:
        instance = Instance(
            name=name, project_id="tenant-a", user_id="u", hostname=name, reservation_id="r", flavor=flavor,
            image_ref="", host=host, vm_state=vm_state, requested_networks=[], **values,
        )  # fmt: skip
        session.add(instance)
        session.flush()
        return instance.id


def test_drain_disables_the_host_moves_running_servers_live_and_stopped_ones_cold_and_names_what_stays(
    admin: tuple[FlaskClient, str], hosts: tuple[str, str], portal_app: Flask
) -> None:
    client, csrf = admin
    alive, _ = hosts
    running = _server(portal_app, alive, unique("web"), VmState.ACTIVE.value)
    stopped = _server(portal_app, alive, unique("db"), VmState.STOPPED.value)
    broken_name = unique("broken")
    broken = _server(portal_app, alive, broken_name, VmState.ERROR.value)
    page = client.get("/admin/hosts").get_data(as_text=True)
    assert f"Drain {alive}</button>" in _section(page, alive) and 'id="migrations-none"' in page
    response = client.post(f"/admin/hosts/{alive}/drain", data={"csrf_token": csrf})
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Host {alive} is disabled; 1 live and 1 cold migration(s) started." in html
    assert f"{broken_name} (ERROR cannot move)" in html
    service = _service(client, alive)
    assert (service["status"], service["disabled_reason"]) == ("disabled", "drained from the portal by admin")
    moving = re.search(r'<table id="migrations-moving">.*?</table>', html, re.S)
    assert moving and f'data-server="{running}"' in moving.group(0) and "live-migration" in moving.group(0)
    with portal_app.extensions["stratus"].db.session() as session:  # the cold move is asked for (no worker runs it)
        assert session.get(Instance, stopped).task_state == "resize_prep"
    stays = _stays(html, alive)
    assert stays[broken] == ("ERROR", "ERROR cannot move")
    assert stays[running][1].startswith("moving: live-migration")
    assert stays[stopped] == ("RESIZE", "busy: RESIZE with task resize_prep")
    fragment = client.get("/admin/hosts/migrations", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="every 3s"' in fragment and f"<td>{alive}</td>" in fragment


def _stays(html: str, host: str) -> dict[str, tuple[str, str]]:
    """The host's "Still on" table: each server's status and why, by server id."""
    found = re.search(r'<table class="stays".*?</table>', _section(html, host), re.S)
    assert found, f"no servers listed as still on {host}"
    rows = re.findall(r'<tr data-server="([^"]+)"><td>[^<]*</td><td><span[^>]*>([^<]*)</span></td><td>([^<]*)</td>',
                      found.group(0))  # fmt: skip
    return {server: (status, unescape(why)) for server, status, why in rows}


def _finished_cold_move(portal_app: Flask, source: str, target: str, kind: str = "migration") -> tuple[str, int]:
    """A server whose cold move off ``source`` has finished: on ``target`` in VERIFY_RESIZE, its record
    ``finished``, both hosts' claims held (as ``compute.control.cold_migration`` leaves them)."""
    server = _server(portal_app, target, unique("moved"), VmState.RESIZED.value)
    with portal_app.extensions["stratus"].db.session() as session:
        record = Migration(instance_id=server, migration_type=kind, status="finished", source_compute=source,
                           dest_compute=target)  # fmt: skip
        session.add(record)
        session.flush()
        return server, record.id


def _disable(client: FlaskClient, host: str, reason: str) -> None:
    body = {"host": host, "binary": "nova-compute", "disabled_reason": reason}
    call(client, "PUT", "/compute/v2.1/os-services/disable-log-reason", admin_token(client), json=body)


def _status(portal_app: Flask, record_id: int) -> str:
    with portal_app.extensions["stratus"].db.session() as session:
        return session.get(Migration, record_id).status


def test_the_panel_confirms_a_finished_cold_move_off_a_host_the_portal_drained(
    admin: tuple[FlaskClient, str], hosts: tuple[str, str], portal_app: Flask
) -> None:
    client, _ = admin
    alive, silent = hosts
    _disable(client, alive, "drained from the portal by admin")
    _, record = _finished_cold_move(portal_app, alive, silent)
    fragment = client.get("/admin/hosts/migrations", headers={"HX-Request": "true"})
    assert _status(portal_app, record) == "confirming"  # the API took the confirmation
    assert "confirming" in fragment.get_data(as_text=True) and "HX-Refresh" not in fragment.headers


def test_the_panel_confirms_no_other_move(
    admin: tuple[FlaskClient, str], hosts: tuple[str, str], portal_app: Flask
) -> None:
    """A host drained by ``stratus host drain --no-wait`` keeps its moves waiting; a move off an enabled host is
    an admin's own; a resize is its owner's to confirm, wherever it started."""
    client, _ = admin
    alive, silent = hosts
    _disable(client, alive, "drained by stratus host drain")
    _, by_cli = _finished_cold_move(portal_app, alive, silent)
    _, off_enabled = _finished_cold_move(portal_app, silent, alive)
    client.get("/admin/hosts/migrations", headers={"HX-Request": "true"})
    assert [_status(portal_app, r) for r in (by_cli, off_enabled)] == ["finished", "finished"]
    _disable(client, silent, "drained from the portal by admin")
    _, resize = _finished_cold_move(portal_app, silent, alive, kind="resize")
    client.get("/admin/hosts")
    assert [_status(portal_app, r) for r in (by_cli, resize)] == ["finished", "finished"]
    assert _status(portal_app, off_enabled) == "confirming"  # its host is now one the portal drained
    with portal_app.extensions["stratus"].db.session() as session:  # later tests see no move in flight
        session.execute(update(Migration).where(Migration.id.in_([by_cli, resize])).values(status="error"))


def test_a_drained_host_lists_what_is_still_on_it_and_why(
    admin: tuple[FlaskClient, str], hosts: tuple[str, str], portal_app: Flask
) -> None:
    client, csrf = admin
    alive, silent = hosts
    client.post(f"/admin/hosts/{alive}/drain", data={"csrf_token": csrf})
    late = _server(portal_app, alive, unique("late"), VmState.ACTIVE.value)
    failed = _server(portal_app, alive, unique("failed"), VmState.ACTIVE.value)
    with portal_app.extensions["stratus"].db.session() as session:
        session.add(Migration(instance_id=failed, migration_type="live-migration", status="failed",
                              source_compute=alive, dest_compute=silent))  # fmt: skip
    refused = _server(portal_app, alive, unique("refused"), VmState.ACTIVE.value)
    with portal_app.extensions["stratus"].db.session() as session:  # its move failed; the host said why
        session.add(Migration(instance_id=refused, migration_type="live-migration", status="error",
                              source_compute=alive, dest_compute=silent))  # fmt: skip
        trace = "Traceback (most recent call last):\n  ...\nMigrationError: the target refused the CPU model\n"
        event = {"event": "compute_live_migration", "result": "Error", "start_time": "2026-12-07T00:00:00",
                 "finish_time": "2026-12-07T00:00:01", "traceback": trace}  # fmt: skip
        session.add(InstanceAction(instance_id=refused, action="live-migration", request_id="req-x", user_id="u",
                                   project_id="tenant-a", start_time=datetime.now(UTC), events=[event]))  # fmt: skip
    stays = _stays(client.get("/admin/hosts").get_data(as_text=True), alive)
    assert stays[refused] == ("ACTIVE", "its live-migration error: MigrationError: the target refused the CPU model")
    assert stays[late] == ("ACTIVE", "not asked to move (it came after the drain, or the move was refused): press "
                                     "Drain again")  # fmt: skip
    assert stays[failed] == ("ACTIVE", "its live-migration failed")
    client.post(f"/admin/hosts/{alive}/enable", data={"csrf_token": csrf})
    assert 'class="stays"' not in _section(client.get("/admin/hosts").get_data(as_text=True), alive)


def test_the_panel_reloads_the_page_when_the_last_move_has_ended(
    admin: tuple[FlaskClient, str], portal_app: Flask
) -> None:
    client, _ = admin
    with portal_app.extensions["stratus"].db.session() as session:  # every move so far ends (no worker runs them)
        session.execute(update(Migration).where(Migration.status.in_(IN_FLIGHT)).values(status="error"))
    polled = client.get("/admin/hosts/migrations", headers={"HX-Request": "true"})
    assert polled.status_code == 200 and polled.headers.get("HX-Refresh") == "true"
    assert "HX-Refresh" not in client.get("/admin/hosts/migrations").headers  # not a poll: no reload


def test_drain_needs_the_csrf_token(admin: tuple[FlaskClient, str], hosts: tuple[str, str]) -> None:
    client, _ = admin
    alive, _ = hosts
    assert client.post(f"/admin/hosts/{alive}/drain", data={}).status_code == 403
    assert _service(client, alive)["status"] == "enabled"


def test_a_member_gets_no_migrations(demo: tuple[FlaskClient, str]) -> None:
    client, _ = demo
    response = client.get("/admin/hosts/migrations", headers={"HX-Request": "true"})
    assert response.status_code == 403 and "for cloud administrators" in response.get_data(as_text=True)


def test_the_portal_knows_the_in_flight_statuses_of_compute_moves() -> None:
    """The portal reads only the API, so it keeps its own copy of the statuses of a move not yet ended."""
    assert {s.value for s in IN_FLIGHT} == drain.IN_FLIGHT
