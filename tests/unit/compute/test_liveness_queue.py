"""A compute host's heartbeat and its acknowledgement of a build do not wait behind the scheduler's backlog.

Regression (``bench/scale.py --quick``): 400 creates on 40 fake hosts queued the hosts' heartbeats and take
acknowledgements on ``events`` behind the builds' own events; the scheduler, reading them 7-9 s apart, judged its
hosts down and builds not taken, and gave more than half the servers to ERROR. A host now sends them to the
liveness queue, which the scheduler's worker (the queues ``stratus-manage services up`` gives it) takes in turn with
the others. A real Celery worker over the in-memory broker, messages signed as in production.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from common import signing
from common.queue import LIVENESS_QUEUE, make_celery
from common.settings import load
from compute import client
from manage.services import WORKERS

BACKLOG = 30


def settings_for(state: Path) -> Any:
    return load({"STRATUS_STATE_DIR": str(state), "STRATUS_BROKER_URL": "memory://"})


@pytest.fixture
def state(tmp_path: Path) -> Path:
    master = signing.ensure_master_key(tmp_path / "queue-keys" / "master.key")
    signing.write_host_keys(tmp_path / "queue-keys" / "hosts" / "h1.keys", master, ["h1", "h1-1"])
    return tmp_path


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

    @app.task(shared=False, name=client.TAKEN, from_hosts=True, host_arg="host")
    def taken(instance_id: str, host: str, request_id: str = "") -> None:
        ran.append(f"taken {instance_id}")

    return app


def host_agent(state: Path) -> Celery:
    """A host agent's app, routed as ``compute.host.agent`` routes it."""
    app = make_celery(settings_for(state), sender="h1")
    app.conf.result_backend = "cache+memory://"
    client.route_liveness(app)
    return app


def test_a_heartbeat_and_a_take_sent_behind_a_backlog_of_events_run_before_it_is_through(state):
    ran: list[str] = []
    app = scheduler(state, ran)
    host = host_agent(state)
    for index in range(BACKLOG):
        host.send_task(client.SPAWNED, args=[f"i-{index}", "h1-1", 1])
    host.send_task(client.HOST_HEARTBEAT, args=[["h1", "h1-1"]])
    host.send_task(client.TAKEN, args=["i-new", "h1-1"])

    queues = next(spec.queues for spec in WORKERS if spec.name == "compute-worker")
    assert LIVENESS_QUEUE in queues
    with start_worker(app, pool="solo", perform_ping_check=False, queues=list(queues), shutdown_timeout=10):
        deadline = time.monotonic() + 20
        while len(ran) < BACKLOG + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(ran) == BACKLOG + 2, ran
    # Taken in turn with the backlog, not after it: each waits for at most a few of the events before it.
    assert ran.index("heartbeat") < 5, ran
    assert ran.index("taken i-new") < 5, ran


def test_a_host_sends_only_its_heartbeat_and_acknowledgements_to_the_liveness_queue(state):
    host = host_agent(state)
    routed = {name: host.amqp.router.route({}, name)["queue"].name for name in (*client.LIVENESS_TASKS, client.SPAWNED)}
    assert routed == {
        client.HOST_HEARTBEAT: LIVENESS_QUEUE,
        client.TAKEN: LIVENESS_QUEUE,
        client.STEP_TAKEN: LIVENESS_QUEUE,
        client.SPAWNED: "events",
    }


def test_a_hosts_reports_stay_in_order_with_its_events(state):
    """A report lists the guests as they were when it was taken: behind the events sent after it, a report taken
    just before a spawn would find the new ACTIVE server missing and put it in ERROR ("The guest is no longer on
    its host": a full run's failure once reports had a queue of their own). Reports and events share ``events``,
    which one worker takes in the order sent."""
    host = host_agent(state)
    routed = {name: host.amqp.router.route({}, name)["queue"].name for name in (client.HOST_REPORT, client.SPAWNED)}
    assert routed == {client.HOST_REPORT: "events", client.SPAWNED: "events"}
