"""A compute host's heartbeat and its acknowledgement of a build do not wait behind the scheduler's backlog, and a
flood of host reports does not hold the builds' events up.

Regression (``bench/scale.py --quick``): 400 creates on 40 fake hosts queued the hosts' heartbeats and take
acknowledgements on ``events`` behind the builds' own events; the scheduler, reading them 7-9 s apart, judged its
hosts down and builds not taken, and gave more than half the servers to ERROR. A host now sends them to the
liveness queue, which the scheduler's worker (the queues ``stratus-manage services up`` gives it) takes in turn with
the others. Likewise 1,000 hosts' reports (100 a second) expired unread on ``events`` faster than the scheduler
dropped them, and a build's events waited behind them; reports now have a queue of their own. A real Celery worker
over the in-memory broker, messages signed as in production.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from common.queue import HOST_SEQ_ARG, LIVENESS_QUEUE, REPORTS_QUEUE, host_seq, make_celery, message_seq
from compute import client
from manage.services import WORKERS
from tests.unit.queue_apps import keyed_state, settings_for

BACKLOG = 30


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return keyed_state(tmp_path, {"h1": ["h1", "h1-1"]})


def scheduler(state: Path, ran: list[str]) -> Celery:
    """The control side's app with the three tasks in play, recording the order in which they run."""
    app = make_celery(settings_for(state), speaks_for=lambda host: [host, f"{host}-1"])
    app.conf.result_backend = "cache+memory://"

    @app.task(shared=False, name=client.SPAWNED, from_hosts=True, host_arg="host")
    def spawned(instance_id: str, host: str, power_state: int, request_id: str = "") -> None:
        ran.append(f"spawned {instance_id}")

    @app.task(shared=False, name=client.HOST_HEARTBEAT, from_hosts=True, host_arg="names")
    def heartbeat(names: list[str]) -> None:
        ran.append("heartbeat")

    @app.task(shared=False, name=client.HOST_REPORT, from_hosts=True, host_arg="host")
    def report(host: str, resources: dict, instances: dict, zone: str = "nova") -> None:
        ran.append(f"report {host}")

    @app.task(shared=False, name=client.TAKEN, from_hosts=True, host_arg="host")
    def taken(instance_id: str, host: str, request_id: str = "") -> None:
        ran.append(f"taken {instance_id}")

    return app


def host_agent(state: Path) -> Celery:
    """A host agent's app, routed as ``compute.host.agent`` routes it."""
    app = make_celery(settings_for(state), sender="h1")
    app.conf.result_backend = "cache+memory://"
    client.route_host_messages(app)
    return app


def test_a_heartbeat_and_a_take_sent_behind_a_backlog_of_events_run_before_it_is_through(state):
    ran: list[str] = []
    app = scheduler(state, ran)
    host = host_agent(state)
    for index in range(BACKLOG):
        host.send_task(client.SPAWNED, args=[f"i-{index}", "h1-1", 1])
    host.send_task(client.HOST_HEARTBEAT, args=[["h1", "h1-1"]])
    host.send_task(client.TAKEN, args=["i-new", "h1-1"])

    run_until(app, ran, BACKLOG + 2)
    # Taken in turn with the backlog, not after it: each waits for at most a few of the events before it.
    assert ran.index("heartbeat") < 5, ran
    assert ran.index("taken i-new") < 5, ran


def test_a_builds_event_sent_behind_a_flood_of_host_reports_runs_before_it_is_through(state):
    ran: list[str] = []
    app = scheduler(state, ran)
    host = host_agent(state)
    for _ in range(BACKLOG):
        host.send_task(client.HOST_REPORT, args=["h1-1", {}, {}])
    host.send_task(client.SPAWNED, args=["i-new", "h1-1", 1])

    run_until(app, ran, BACKLOG + 1)
    assert ran.index("spawned i-new") < 5, ran


def run_until(app: Celery, ran: list[str], count: int) -> None:
    """The scheduler's worker, on the queues ``services up`` gives it, until ``count`` tasks have run."""
    queues = next(spec.queues for spec in WORKERS if spec.name == "compute-worker")
    assert {LIVENESS_QUEUE, REPORTS_QUEUE} <= set(queues)
    with start_worker(app, pool="solo", perform_ping_check=False, queues=list(queues), shutdown_timeout=10):
        deadline = time.monotonic() + 20
        while len(ran) < count and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(ran) == count, ran


def test_a_host_sends_its_heartbeat_and_acknowledgements_to_the_liveness_queue_and_its_reports_apart(state):
    host = host_agent(state)
    names = (*client.LIVENESS_TASKS, client.HOST_REPORT, client.SPAWNED)
    routed = {name: host.amqp.router.route({}, name)["queue"].name for name in names}
    assert routed == {
        client.HOST_HEARTBEAT: LIVENESS_QUEUE,
        client.TAKEN: LIVENESS_QUEUE,
        client.STEP_TAKEN: LIVENESS_QUEUE,
        client.HOST_REPORT: REPORTS_QUEUE,
        client.SPAWNED: "events",
    }


def test_a_hosts_words_carry_their_order_across_the_queues(state):
    """A report taken from ``reports`` may run after an event its host sent later on ``events``: each host message
    carries the host's sequence number (signed with it), the scheduler is told it before the task runs, and a report
    carries the number taken before its snapshot."""
    seen: list[tuple[str, int | None]] = []
    heard: list[tuple[str, str, int]] = []
    app = make_celery(settings_for(state), speaks_for=lambda host: [host, f"{host}-1"])
    app.conf.result_backend = "cache+memory://"
    app.heard_from_host = lambda arguments, seq: heard.append((arguments.get("instance_id"), arguments["host"], seq))

    @app.task(shared=False, name=client.SPAWNED, from_hosts=True, host_arg="host")
    def spawned(instance_id: str, host: str, power_state: int, request_id: str = "") -> None:
        seen.append((f"spawned {instance_id}", message_seq()))

    @app.task(shared=False, name=client.HOST_REPORT, from_hosts=True, host_arg="host")
    def report(host: str, resources: dict, instances: dict, zone: str = "nova") -> None:
        seen.append((f"report {host}", message_seq()))

    host = host_agent(state)
    snapshot = host_seq()  # the report's guests are read here; the spawn's event is sent after
    host.send_task(client.SPAWNED, args=["i-new", "h1-1", 1])
    host.send_task(client.HOST_REPORT, args=["h1-1", {}, {}], kwargs={HOST_SEQ_ARG: snapshot})
    app.send_task(client.SPAWNED, args=["i-control", "h1-1", 1])  # the control side's own: no host numbering

    queues = next(spec.queues for spec in WORKERS if spec.name == "compute-worker")
    with start_worker(app, pool="solo", perform_ping_check=False, queues=list(queues), shutdown_timeout=10):
        deadline = time.monotonic() + 20
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    by_name = dict(seen)
    assert by_name["report h1-1"] == snapshot
    assert by_name["spawned i-new"] is not None and by_name["spawned i-new"] > snapshot
    assert by_name["spawned i-control"] is None
    assert sorted(heard, key=lambda word: word[2]) == [
        (None, "h1-1", snapshot),
        ("i-new", "h1-1", by_name["spawned i-new"]),
    ]
