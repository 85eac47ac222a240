"""stratus-compute: the host agent that drives the hypervisor, on its ``compute.<host>`` queue(s).

It never touches the database: what it needs comes in the task. With the fake driver one process can serve
many simulated hosts (``compute_fake_hosts``), each with its own queue. Start with
``celery -A compute.host.agent:app worker -Q compute.<host> --beat`` (beat sends the periodic host reports).
"""

import logging
from typing import Any

from celery.signals import task_received, worker_ready

from common.agents import look_schedule, start_heartbeats
from common.logs import setup_logging
from common.queue import host_queue, make_celery
from common.settings import load_host
from compute import client
from compute.host import live_migration, work
from compute.host.context import ComputeAgent

settings = load_host()
setup_logging("stratus-compute", settings.log_level)
app = make_celery(settings, sender=settings.effective_host)
client.route_host_messages(app)  # heartbeats, acknowledgements, reports: each kind on a queue of its own
agent = ComputeAgent.start(settings, app)
AGENT_TASK = {"acks_late": True, "time_limit": 3600}
# Receive (and acknowledge) spawns while the pool is busy with another: a host that takes its work late is not a
# host that is gone (compute.control.handoff gives untaken builds to other hosts).
app.conf.worker_prefetch_multiplier = 64


@app.task(name=client.AGENT_SPAWN, **AGENT_TASK)
def spawn(host: str, spec: dict[str, Any], request_id: str = "") -> None:
    work.spawn(agent, host, spec, request_id)


@app.task(name=client.AGENT_DESTROY, **AGENT_TASK)
def destroy(host: str, instance_id: str, request_id: str = "", report: bool = True) -> None:
    work.destroy(agent, host, instance_id, request_id, report)


@app.task(name=client.AGENT_ACTION, **AGENT_TASK)
def action(host: str, instance_id: str, name: str, request_id: str = "", params: dict | None = None) -> None:
    work.action(agent, host, instance_id, name, request_id, params or {})


@app.task(name=client.AGENT_LIVE_MIGRATION, **AGENT_TASK)
def live_migration_call(
    host: str, instance_id: str, migration_id: int, call: str, request_id: str = "", params: dict | None = None
) -> None:
    """One step of a live migration; the copy itself runs beside the queue (``compute.host.live_migration``)."""
    live_migration.run(agent, host, instance_id, migration_id, call, request_id, params or {})


@app.task(name=client.AGENT_CONSOLE, time_limit=60, ignore_result=False)  # the API waits for it
def console_output(host: str, instance_id: str, max_bytes: int) -> str:
    return work.console_output(agent, host, instance_id, max_bytes)


@app.task(name=client.AGENT_CONSOLE_ENDPOINT, time_limit=60, ignore_result=False)  # the API waits for it
def console_endpoint(host: str, instance_id: str, kind: str) -> dict[str, Any]:
    return work.console_endpoint(agent, host, instance_id, kind)


@app.task(name=client.AGENT_DIAGNOSTICS, time_limit=60, ignore_result=False)  # the API waits for it
def diagnostics(host: str, instance_id: str) -> dict[str, Any]:
    return work.diagnostics(agent, host, instance_id)


@app.task(name=client.AGENT_REPORT, time_limit=60, expires=settings.compute_report_interval)
def report(host: str, changed_only: bool = False) -> None:
    """A report of ``host`` (the control side asks for one); ``changed_only``: only if it changed or the last is
    old."""
    work.report(agent, host, changed_only)


@app.task(name=client.AGENT_LOOK, time_limit=60, expires=settings.compute_report_interval)
def look(hosts: list[str]) -> None:
    """This agent's own clock: a report of each served host of ``hosts`` that changed, or whose last is old."""
    for host in hosts:
        if host in agent.hosts:
            work.report(agent, host, changed_only=True)


app.conf.beat_schedule = look_schedule("compute", client.AGENT_LOOK, settings.compute_report_interval, agent.hosts)


@worker_ready.connect(weak=False)
def register_hosts(**_: Any) -> None:
    """Report at once, so a new host is schedulable without waiting for the first period; then keep a
    heartbeat from the main process, which runs even while the pool process is busy with a long spawn."""
    for host in agent.hosts:
        app.send_task(client.AGENT_REPORT, args=[host], queue=host_queue("compute", host))
    start_heartbeats(app, client.HOST_HEARTBEAT, list(agent.hosts), settings.host_heartbeat_interval)


@task_received.connect(weak=False)
def acknowledge_spawn(request: Any = None, **_: Any) -> None:
    """Tell the control side at once that a spawn reached this host (the main process runs this on receipt, before
    the pool starts it), so the build is not given to another host while it waits behind earlier work here; a
    move's step likewise (``acknowledge_step``)."""
    if request is not None and request.name in (client.AGENT_ACTION, client.AGENT_LIVE_MIGRATION):
        acknowledge_step(request)
    if request is None or request.name != client.AGENT_SPAWN:
        return
    try:
        host, spec = request.args[0], request.args[1]
        app.send_task(
            client.TAKEN, args=[spec["uuid"], host], kwargs={"request_id": request.kwargs.get("request_id", "")}
        )
        # Taken in time, so it runs however long it waits here: the expiry is only for a spawn never received (a host
        # that comes back after its builds went elsewhere). Celery checks it again before running the task.
        request.expires = None
    except Exception:  # not fatal: without it the build is given back after compute_build_take_timeout
        logging.getLogger(__name__).warning("could not acknowledge spawn %s", request.id, exc_info=True)


def acknowledge_step(request: Any) -> None:
    """The same for a move's step (``client.ACKNOWLEDGED_STEPS``: an evacuation's spawn, a cold move's steps, a live
    migration's preparation and copy), which the control side sends again while no acknowledgement comes, or gives
    its move up (``compute.control.move_steps``)."""
    try:
        host, instance_id = request.args[0], request.args[1]
        step = request.args[3] if request.name == client.AGENT_LIVE_MIGRATION else request.args[2]
        if step not in client.ACKNOWLEDGED_STEPS:
            return
        app.send_task(
            client.STEP_TAKEN,
            args=[instance_id, host, step],
            kwargs={"request_id": request.kwargs.get("request_id", "")},
        )
        request.expires = None  # taken in time: it runs however long it waits behind earlier work here
    except Exception:  # not fatal: without it the step is sent again after compute_build_take_timeout
        logging.getLogger(__name__).warning("could not acknowledge step %s", request.id, exc_info=True)
