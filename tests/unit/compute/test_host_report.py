"""A host's report of the guests it runs: each guest is left, destroyed or dropped by what the cloud knows of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from compute import client
from compute.control import hosts, records
from compute.control.context import ComputeControl
from compute.models import ComputeHost, Instance

FLAVOR = {"id": "1", "name": "f", "vcpus": 1, "ram": 64, "disk": 1}
RESOURCES = {"vcpus": 4, "memory_mb": 4096, "disk_gb": 40}


def _instance(control: ComputeControl, host: str, *, deleted: bool = False, task_state: str | None = None) -> str:
    with control.db.session() as session:
        instance = Instance(
            name="vm", project_id="p", user_id="u", hostname="vm", reservation_id="r", flavor=FLAVOR,
            old_flavor=FLAVOR, image_ref="i", host=host, vm_state="active", task_state=task_state,
            requested_networks=[], deleted=deleted,
        )  # fmt: skip
        session.add(instance)
        session.flush()
        return instance.id


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    calls: list[tuple[str, str, str]] = []
    monkeypatch.setattr(client, "agent_destroy", lambda app, host, uuid, **_: calls.append(("destroy", host, uuid)))
    monkeypatch.setattr(client, "agent_drop", lambda app, host, uuid, **_: calls.append(("drop", host, uuid)))
    return calls


def test_a_guest_whose_server_was_built_on_another_host_is_dropped_from_this_one(control, sent: list[Any]) -> None:
    # A spawn failed on h1 and its clean-up failed too (libvirtd down); the build went to h2. When h1 reports the
    # guest again, its copy goes, with no delete reported: the server must not run twice.
    moved = _instance(control, "h2")
    moving = _instance(control, "h2", task_state="resize_migrating")
    deleted = _instance(control, "h3", deleted=True)
    outcome = hosts.host_report(control, "h1", RESOURCES, {moved: 1, moving: 1, deleted: 1, "not-ours": 1})
    assert sorted(sent) == [("destroy", "h1", deleted), ("drop", "h1", moved)]
    assert outcome["orphans"] == 2


def test_a_hosts_reported_allocation_ratios_are_its_capacity_and_nonsense_keeps_the_last_good_ones(control) -> None:
    ratios = {"cpu_allocation_ratio": 8, "ram_allocation_ratio": 1.5, "disk_allocation_ratio": 2.0}
    hosts.host_report(control, "h1", RESOURCES | ratios, {})
    for hostile in (0, -1, float("nan"), float("inf"), 1e9, True, "4", None):
        hosts.host_report(control, "h1", RESOURCES | {"cpu_allocation_ratio": hostile}, {})
    with control.db.session() as session:
        host = session.get(ComputeHost, "h1")
        assert (host.cpu_allocation_ratio, host.ram_allocation_ratio, host.disk_allocation_ratio) == (8.0, 1.5, 2.0)


def test_a_host_that_reports_no_ratio_keeps_the_defaults(control) -> None:
    hosts.host_report(control, "h2", RESOURCES, {})
    with control.db.session() as session:
        host = session.get(ComputeHost, "h2")
        assert (host.cpu_allocation_ratio, host.ram_allocation_ratio, host.disk_allocation_ratio) == (4.0, 1.0, 1.0)


def _state(control: ComputeControl, server: str) -> tuple[str, int]:
    with control.db.session() as session:
        instance = session.get_one(Instance, server)
        return instance.vm_state, instance.power_state


def test_a_report_older_than_the_spawn_it_did_not_list_leaves_the_new_server_active(control, sent) -> None:
    """Regression: a report snapshot taken just before a spawn, handled after the spawn's event (another queue,
    another scheduler copy), found the new ACTIVE server missing and put it in ERROR."""
    server = _instance(control, "h1")
    hosts.heard(control, {"instance_id": server, "host": "h1"}, 11)  # the spawned event, numbered after the snapshot
    hosts.host_report(control, "h1", RESOURCES, {}, seq=10)
    assert _state(control, server)[0] == "active"
    hosts.host_report(control, "h1", RESOURCES, {}, seq=12)  # a newer report that does not list it: really gone
    assert _state(control, server)[0] == "error"


def test_a_report_older_than_one_already_handled_changes_nothing(control, sent) -> None:
    server = _instance(control, "h1")
    hosts.host_report(control, "h1", RESOURCES, {server: 4}, seq=20)  # the guest shut itself down
    assert _state(control, server) == ("stopped", 4)
    assert hosts.host_report(control, "h1", RESOURCES, {server: 1}, seq=15)["stale"] == 1  # still running, before
    assert _state(control, server) == ("stopped", 4)


def test_a_word_from_another_host_does_not_make_this_hosts_reports_stale(control, sent) -> None:
    """Two hosts' clocks are not one numbering: only the same host's words are compared."""
    server = _instance(control, "h1")
    hosts.heard(control, {"instance_id": server, "host": "h2"}, 2**62)  # the source of a move, its clock ahead
    hosts.host_report(control, "h1", RESOURCES, {}, seq=5)
    assert _state(control, server)[0] == "error"


def test_a_heartbeat_asks_for_the_report_a_workflow_waits_for_or_of_a_host_back_from_down(control, monkeypatch):
    """A host's periodic look reports only changes: the report an evacuation waits for from its source (still
    running the copy to drop), or that of a host back after an outage, is asked for at its next heartbeat, once."""
    asked: list[str] = []
    monkeypatch.setattr(client, "agent_report", lambda app, host: asked.append(host))
    for host in ("h1", "h2", "h3"):
        hosts.host_report(control, host, RESOURCES, {})
    hosts.heartbeat(control, ["h1", "h2", "h3"])
    assert asked == []
    with control.db.session() as session:
        records.want_report(session, "h1")
        back = session.get_one(ComputeHost, "h3")
        back.last_heartbeat = back.last_heartbeat - timedelta(seconds=control.settings.compute_host_down_after + 1)
    hosts.heartbeat(control, ["h1", "h2", "h3"])
    assert sorted(asked) == ["h1", "h3"]
    hosts.heartbeat(control, ["h1", "h2", "h3"])
    assert sorted(asked) == ["h1", "h3"]
