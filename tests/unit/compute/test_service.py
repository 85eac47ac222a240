"""compute.service: the liveness rule every process applies to hosts and services, and the compare-and-swap claim."""

from __future__ import annotations

from datetime import timedelta

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from compute import service
from compute.models import ComputeHost, Instance, ServiceRecord
from tests.unit.quota.conftest import instance

GRACE = timedelta(seconds=30)


def _host(seconds_ago: float | None, forced_down: bool = False) -> ComputeHost:
    seen = None if seconds_ago is None else service.now() - timedelta(seconds=seconds_ago)
    return ComputeHost(name="h1", last_heartbeat=seen, forced_down=forced_down)


@pytest.mark.parametrize(
    ("seconds_ago", "forced_down", "up"),
    [(5, False, True), (45, False, False), (5, True, False), (None, False, False)],
    ids=["recent", "stale", "forced-down", "never-seen"],
)
def test_a_host_is_up_only_while_it_heartbeats_within_the_grace_and_is_not_forced_down(seconds_ago, forced_down, up):
    assert service.host_is_up(_host(seconds_ago, forced_down), GRACE) is up


def test_a_missing_host_is_down():
    assert service.host_is_up(None, GRACE) is False


def test_a_service_record_follows_the_same_rule_as_a_host():
    record = ServiceRecord(binary="stratus-scheduler", host="c1", last_seen=service.now() - timedelta(seconds=45))
    assert service.service_is_up(record, GRACE) is False
    assert service.service_is_up(record, timedelta(seconds=60)) is True


def test_swap_wins_once_then_loses_while_the_expected_state_no_longer_matches(db):
    with db.session() as session:
        server = instance(vcpus=1, ram=512)
        session.add(server)
    with db.session() as session:
        assert service.swap(session, server.id, {"task_state": None}, task_state="rebooting") is True
        assert service.swap(session, server.id, {"task_state": None}, task_state="pausing") is False
    with db.session() as session:
        assert session.get_one(Instance, server.id).task_state == "rebooting"
