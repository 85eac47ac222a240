"""Task messages are authenticated: a real Celery worker (in-process broker) runs what the control side or a host
signs for it, and refuses and logs a forged message (no signature, another cloud's key, one host's key speaking
as another, tampered arguments, a message too old), a control-only task sent by a host, and a host's report
about a host it does not serve."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from common import signing
from common.queue import make_celery
from tests.unit.queue_apps import in_memory, keyed_state, settings_for

REFUSED = "refused task"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keyed_state(tmp_path_factory.mktemp("state"), {"h1": ["h1", "h1-1", "h1-2"], "h2": ["h2"]})


class Recorder:
    """The control side's tasks, recording what actually ran."""

    def __init__(self, app: Celery) -> None:
        self.ran: list[tuple[str, Any]] = []

        @app.task(shared=False, name="events.report", from_hosts=True, host_arg="host")
        def report(host: str, value: int) -> str:
            self.ran.append(("report", (host, value)))
            return "ok"

        @app.task(shared=False, name="events.heartbeat", from_hosts=True, host_arg="names")
        def heartbeat(names: list[str]) -> str:
            self.ran.append(("heartbeat", names))
            return "ok"

        @app.task(shared=False, name="compute.control.build", from_hosts=False)
        def build(instance_id: str) -> str:
            self.ran.append(("build", instance_id))
            return "ok"

        @app.task(shared=False, name="compute.fence")
        def fence() -> str:
            return "done"

        self.fence = fence


@pytest.fixture(scope="module")
def control_worker(state: Path) -> Iterator[tuple[Celery, Recorder]]:
    """One worker for the module: stopping one takes seconds."""
    app = in_memory(make_celery(settings_for(state), speaks_for=lambda host: [host, f"{host}-1", f"{host}-2"]))
    recorder = Recorder(app)
    with start_worker(app, pool="solo", perform_ping_check=False, queues=["events", "compute"]):
        yield app, recorder


@pytest.fixture
def control(control_worker: tuple[Celery, Recorder]) -> tuple[Celery, Recorder]:
    control_worker[1].ran.clear()
    return control_worker


def drain(app: Celery) -> None:
    """Wait until everything sent before has been handled (the solo worker runs one message at a time)."""
    assert app.send_task("compute.fence", queue="compute").get(timeout=10) == "done"


def host_app(state: Path, host: str) -> Celery:
    return in_memory(make_celery(settings_for(state), sender=host))


def forger(state: Path) -> Celery:
    """A process with broker access and no signing: sends whatever headers it likes."""
    return in_memory(Celery("forger", broker="memory://", backend="cache+memory://"))


def test_messages_signed_by_the_control_side_and_by_a_host_about_itself_run(state, control):
    app, recorder = control
    assert app.send_task("compute.control.build", args=["i-1"], queue="compute").get(timeout=10) == "ok"
    h1 = host_app(state, "h1")
    h1.send_task("events.report", args=["h1-2"], kwargs={"value": 7}, queue="events")
    h1.send_task("events.heartbeat", args=[["h1", "h1-1"]], queue="events")
    drain(app)
    assert recorder.ran == [("build", "i-1"), ("report", ("h1-2", 7)), ("heartbeat", ["h1", "h1-1"])]


def test_an_unsigned_message_is_refused_and_logged(state, control, caplog):
    app, recorder = control
    with caplog.at_level(logging.WARNING, logger="common.queue"):
        forger(state).send_task("compute.control.build", args=["i-unsigned"], queue="compute")
        drain(app)
    assert recorder.ran == []
    assert any(REFUSED in r.message and "no signature" in r.message for r in caplog.records)


def test_a_message_signed_with_another_clouds_key_is_refused(state, tmp_path_factory, control, caplog):
    app, recorder = control
    other = tmp_path_factory.mktemp("other-cloud")
    with caplog.at_level(logging.WARNING, logger="common.queue"):
        in_memory(make_celery(settings_for(other))).send_task("compute.control.build", args=["i-x"], queue="compute")
        drain(app)
    assert recorder.ran == []
    assert any(REFUSED in r.message and "signature does not match" in r.message for r in caplog.records)


def test_a_host_cannot_sign_as_another_host_or_as_the_control_side(state, control, caplog):
    app, recorder = control
    h2_keys = signing.read_host_keys(state / "queue-keys" / "hosts" / "h2.keys")
    with caplog.at_level(logging.WARNING, logger="common.queue"):
        for claimed in ("h1", signing.CONTROL):  # h2's key, h2's report, a sender that is not h2
            task_id = str(uuid.uuid4())
            sent = time.time()
            mac = signing.mac(h2_keys["h2"], "events.report", task_id, ["h1"], {"value": 1}, claimed, "", sent)
            headers = {"stratus_sender": claimed, "stratus_to": "", "stratus_sent": sent, "stratus_mac": mac}
            forger(state).send_task(
                "events.report", args=["h1"], kwargs={"value": 1}, task_id=task_id, headers=headers, queue="events"
            )
        drain(app)
    assert recorder.ran == []
    assert sum(REFUSED in r.message for r in caplog.records) == 2


def test_tampered_arguments_are_refused(state, control, caplog):
    app, recorder = control
    auth = host_app(state, "h1").message_auth
    task_id = str(uuid.uuid4())
    headers = auth.sign("events.report", task_id, ["h1"], {"value": 1}, "")
    with caplog.at_level(logging.WARNING, logger="common.queue"):
        forger(state).send_task(
            "events.report", args=["h1"], kwargs={"value": 666}, task_id=task_id, headers=headers, queue="events"
        )
        drain(app)
    assert recorder.ran == []
    assert any("signature does not match" in r.message for r in caplog.records)


def test_a_replayed_message_older_than_the_limit_is_refused(state, control, caplog):
    app, recorder = control
    key = signing.read_host_keys(state / "queue-keys" / "hosts" / "h1.keys")["h1"]
    task_id = str(uuid.uuid4())
    sent = time.time() - settings_for(state).queue_message_max_age - 60
    mac = signing.mac(key, "events.report", task_id, ["h1"], {"value": 1}, "h1", "", sent)
    headers = {"stratus_sender": "h1", "stratus_to": "", "stratus_sent": sent, "stratus_mac": mac}
    with caplog.at_level(logging.WARNING, logger="common.queue"):
        forger(state).send_task(
            "events.report", args=["h1"], kwargs={"value": 1}, task_id=task_id, headers=headers, queue="events"
        )
        drain(app)
    assert recorder.ran == []
    assert any(REFUSED in r.message and "old" in r.message for r in caplog.records)


def test_a_host_may_send_only_reports_and_only_about_hosts_it_serves(state, control, caplog):
    app, recorder = control
    h1 = host_app(state, "h1")
    with caplog.at_level(logging.WARNING, logger="common.queue"):
        h1.send_task("compute.control.build", args=["i-from-host"], queue="compute")
        h1.send_task("events.report", args=["h2"], kwargs={"value": 1}, queue="events")
        h1.send_task("events.heartbeat", args=[["h1", "h2"]], queue="events")
        drain(app)
    assert recorder.ran == []
    messages = [r.message for r in caplog.records if REFUSED in r.message]
    assert len(messages) == 3
    assert sum("host 'h1' may not send compute.control.build" in m for m in messages) == 1
    assert sum("host 'h1' reported about host(s) ['h2']" in m for m in messages) == 2


def test_a_host_agent_runs_work_the_control_side_signs_for_it_and_refuses_another_hosts(state, caplog):
    ran: list[str] = []
    agent = host_app(state, "h2")

    # A host's tasks keep no result unless they say so (as console output does): here the control side waits.
    @agent.task(shared=False, name="agent.test_spawn", ignore_result=False)
    def spawn(host: str) -> str:
        ran.append(host)
        return "spawned"

    @agent.task(shared=False, name="agent.test_fence", ignore_result=False)
    def fence() -> str:
        return "done"

    control_app = in_memory(make_celery(settings_for(state)))
    with (
        caplog.at_level(logging.WARNING, logger="common.queue"),
        start_worker(agent, pool="solo", perform_ping_check=False, queues=["compute.h2"]),
    ):
        assert control_app.send_task("agent.test_spawn", args=["h2"], queue="compute.h2").get(timeout=10) == "spawned"
        host_app(state, "h1").send_task("agent.test_spawn", args=["h2"], queue="compute.h2")  # h1 has no key of h2's
        assert control_app.send_task("agent.test_fence", queue="compute.h2").get(timeout=10) == "done"
    assert ran == ["h2"]
    assert any(REFUSED in r.message and "accepts no message from 'h1'" in r.message for r in caplog.records)


def test_a_host_key_file_holds_only_the_keys_of_the_hosts_it_serves(state):
    keys = signing.read_host_keys(state / "queue-keys" / "hosts" / "h1.keys")
    master = signing.read_master_key(state / "queue-keys" / "master.key")
    assert set(keys) == {"h1", "h1-1", "h1-2"}
    assert keys["h1"] == signing.host_key(master, "h1") and master not in keys.values()
    assert signing.control_key(master) not in keys.values()
    assert (state / "queue-keys" / "hosts" / "h1.keys").stat().st_mode & 0o777 == 0o600
    assert (state / "queue-keys" / "master.key").stat().st_mode & 0o777 == 0o600


def test_workers_keep_no_remote_control_command_but_ping(state):
    from celery.worker.control import Panel

    make_celery(settings_for(state))
    assert set(Panel.data) == {"ping"}
