"""stratus-compute: the host agent that drives the hypervisor, on its ``compute.<host>`` queue(s).

It never touches the database: what it needs comes in the task. With the fake driver one process can serve
many simulated hosts (``compute_fake_hosts``), each with its own queue. Start with
``celery -A compute.agent:app worker -Q compute.<host> --beat`` (beat sends the periodic host reports).
"""

import logging
import threading
from typing import Any

from celery.signals import worker_ready

from common.logs import setup_logging
from common.queue import host_queue, make_celery
from common.settings import load
from compute import client
from compute.host_agent import HostAgent

settings = load()
setup_logging("stratus-compute", settings.log_level)
app = make_celery(settings)
agent = HostAgent(settings, app)
AGENT_TASK = {"acks_late": True, "time_limit": 3600}


@app.task(name=client.AGENT_SPAWN, **AGENT_TASK)
def spawn(host: str, spec: dict[str, Any], request_id: str = "") -> None:
    agent.spawn(host, spec, request_id)


@app.task(name=client.AGENT_DESTROY, **AGENT_TASK)
def destroy(host: str, instance_id: str, request_id: str = "") -> None:
    agent.destroy(host, instance_id, request_id)


@app.task(name=client.AGENT_ACTION, **AGENT_TASK)
def action(host: str, instance_id: str, name: str, request_id: str = "", params: dict | None = None) -> None:
    agent.action(host, instance_id, name, request_id, params or {})


@app.task(name=client.AGENT_CONSOLE, time_limit=60)
def console_output(host: str, instance_id: str, max_bytes: int) -> str:
    return agent.console_output(host, instance_id, max_bytes)


@app.task(name=client.AGENT_REPORT, time_limit=60, expires=settings.compute_report_interval)
def report(host: str) -> None:
    agent.report(host)


app.conf.beat_schedule = {
    f"report-{host}": {
        "task": client.AGENT_REPORT,
        "schedule": settings.compute_report_interval,
        "args": [host],
        "options": {"queue": host_queue("compute", host)},
    }
    for host in agent.hosts
}


def _heartbeats(stop: threading.Event) -> None:
    while not stop.wait(settings.compute_report_interval):
        try:
            app.send_task(client.HOST_HEARTBEAT, args=[agent.hosts], expires=30)
        except Exception:  # the broker is briefly away: the next beat will do
            logging.getLogger(__name__).warning("heartbeat not sent", exc_info=True)


@worker_ready.connect(weak=False)
def register_hosts(**_: Any) -> None:
    """Report at once, so a new host is schedulable without waiting for the first period; then keep a
    heartbeat from the main process, which runs even while the pool process is busy with a long spawn."""
    for host in agent.hosts:
        app.send_task(client.AGENT_REPORT, args=[host], queue=host_queue("compute", host))
    threading.Thread(target=_heartbeats, args=(threading.Event(),), name="heartbeat", daemon=True).start()
