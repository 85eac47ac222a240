"""The scheduler takes its queues by priority on a real Redis: the hosts' heartbeats first, then the events of work
in flight, then new work, then the periodic reports.

Regression (``bench/scale.py``, 1,000 hosts): taken in turns, one heartbeat per round of a busy scheduler (a
placement, its events, a report: over a second) was fewer than the 7 a second 20 agent processes send; they expired
queued, every host was judged down, and 1,465 of 2,000 builds failed with "No valid host". kombu's in-memory broker
has no queue order of its own, hence Redis here."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from common.queue import make_celery, take_queues_in_order
from compute import client
from manage.services import WORKERS
from tests.harness import start_redis
from tests.unit.queue_apps import in_memory, keyed_state, settings_for

pytestmark = pytest.mark.functional

BACKLOG = 20


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    url, stop = start_redis(tmp_path / "redis")
    try:
        yield url
    finally:
        stop()


def _app(state: Path, broker: str, sender: str = "control") -> Celery:
    settings = settings_for(state).replace(broker_url=broker)
    if sender == "control":
        return in_memory(make_celery(settings, speaks_for=lambda host: [host]))
    host = in_memory(make_celery(settings, sender=sender))
    client.route_host_messages(host)
    return host


def _recorder(name: str, ran: list[str]) -> Callable[..., None]:
    def record(*args: Any, **kwargs: Any) -> None:
        ran.append(name)

    return record


def test_a_heartbeat_sent_after_a_backlog_of_reports_events_and_builds_runs_first(tmp_path, broker):
    state = keyed_state(tmp_path, {"h1": ["h1"]})
    ran: list[str] = []
    scheduler = _app(state, broker)
    take_queues_in_order(scheduler)
    for name in (client.SPAWNED, client.BUILD, client.HOST_REPORT, client.HOST_HEARTBEAT):
        scheduler.task(shared=False, name=name, from_hosts=True)(_recorder(name, ran))

    host = _app(state, broker, sender="h1")
    for _ in range(BACKLOG):
        host.send_task(client.HOST_REPORT, args=["h1", {}, {}])
        host.send_task(client.SPAWNED, args=["i", "h1", 1])
        scheduler.send_task(client.BUILD, args=["i"])
    host.send_task(client.HOST_HEARTBEAT, args=[["h1"]])

    queues = next(spec.queues for spec in WORKERS if spec.name == "compute-worker")
    with start_worker(scheduler, pool="solo", perform_ping_check=False, queues=list(queues), shutdown_timeout=10):
        deadline = time.monotonic() + 30
        while len(ran) < 3 * BACKLOG + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(ran) == 3 * BACKLOG + 1, ran
    assert ran.index(client.HOST_HEARTBEAT) <= 1, ran  # one task may have been taken before it was sent
    events, builds, reports = (
        [i for i, name in enumerate(ran) if name == wanted]
        for wanted in (client.SPAWNED, client.BUILD, client.HOST_REPORT)
    )
    assert max(events) < min(builds) + 2 and max(builds) < min(reports) + 2, ran
