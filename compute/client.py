"""How other packages ask compute for work: every task name and its arguments live here, nowhere else.

Control-side tasks go to the ``compute`` queue, reports from hosts to ``events``, and work for one host to
that host's ``compute.<host>`` queue. Tasks carry ids and plain data, never ORM objects.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from common.queue import LIVENESS_QUEUE, REPORTS_QUEUE, host_queue, host_result_id

BUILD = "compute.build_instance"
DELETE = "compute.delete_instance"
REBUILD = "compute.rebuild_instance"
RESIZE = "compute.resize_instance"
SWEEP = "compute.sweep"
CHECK_HANDOFFS = "compute.check_handoffs"
UNSHELVE = "compute.unshelve_instance"
RESCUE = "compute.rescue_instance"
OFFLOAD = "compute.shelve_offload_instance"
MIGRATE = "compute.migrate_instance"
"""``migrate_instance(instance_id, request_id=..., host=None)``: a cold migration the API claimed (``resize_prep``):
pick and claim a target, then move (``compute.control.cold_migration``)."""
DEFERRED = "compute.deferred_work"
"""The periodic offload of shelved servers and reclaim of soft-deleted ones (``shelved_poll_interval``)."""
LIVE_MIGRATE = "compute.live_migrate_instance"
"""``live_migrate_instance(instance_id, migration_id)``: pick and claim the target, then prepare it
(``compute.control.live_migration``)."""
EVACUATE = "compute.evacuate_instance"
"""``evacuate_instance(instance_id, force=False)``: place a server of a fenced host elsewhere and rebuild it there
(``compute.control.evacuation``)."""
HA_CHECK = "compute.ha_check"
"""The periodic HA pass: fence hosts down past ``ha_grace_period``, evacuate their HA servers
(``compute.control.ha``)."""

SPAWNED = "events.instance_spawned"
SPAWN_FAILED = "events.instance_spawn_failed"
DESTROYED = "events.instance_destroyed"
ACTION_DONE = "events.instance_action_done"
HOST_REPORT = "events.host_report"
HOST_HEARTBEAT = "events.host_heartbeat"
NETWORK_READY = "events.instance_network_ready"
NETWORK_FAILED = "events.instance_network_failed"
LIVE_MIGRATION_STEP = "events.live_migration_step"
"""``live_migration_step(instance_id, host, migration_id, step, error=None, stats=None)``: a host reports a step of
a live migration it takes part in (``compute.control.live_migration.STEPS``); the control side checks that ``host``
plays the part the step belongs to (the target prepares and rolls back, the source migrates)."""
TAKEN = "events.instance_taken"
"""``instance_taken(instance_id, host)``: the host's agent received the spawn (sent by its main process at once)."""
STEP_TAKEN = "events.move_step_taken"
"""``move_step_taken(instance_id, host, step)``: the host's agent received a step of a move (one of
``ACKNOWLEDGED_STEPS``, sent by its main process at once); a step not taken in time is sent again
(``compute.control.move_steps``)."""
LIVENESS_TASKS = (HOST_HEARTBEAT, TAKEN, STEP_TAKEN)
"""What a host sends to ``common.queue.LIVENESS_QUEUE`` (``route_host_messages``), never behind the scheduler's backlog
of builds and events: on these the scheduler judges a host down or a handoff missed."""
ACKNOWLEDGED_STEPS = frozenset(
    {
        "evacuate",
        "migrate_disk_and_power_off",
        "finish_migration",
        "confirm_migration",
        "destroy_moved",
        "finish_revert_migration",
        "pre_live_migration",
        "live_migration",
    }
)
"""The steps of a move that the receiving host acknowledges (``STEP_TAKEN``): an evacuation's spawn and a cold
move's steps (``agent_action``, ``compute.control.cold_migration.STEPS``), a live migration's preparation and copy
(``agent_live_migration``)."""

AGENT_SPAWN = "agent.spawn"
AGENT_DESTROY = "agent.destroy"
AGENT_ACTION = "agent.action"
AGENT_CONSOLE = "agent.console_output"
AGENT_CONSOLE_ENDPOINT = "agent.console_endpoint"
AGENT_DIAGNOSTICS = "agent.diagnostics"
AGENT_REPORT = "agent.report"
AGENT_LOOK = "agent.look"
"""``look(hosts)``: an agent's periodic look at the hosts it serves (sent by the agent to itself)."""
AGENT_LIVE_MIGRATION = "agent.live_migration"
"""``live_migration(host, instance_id, migration_id, call, params)`` on one host's queue: ``call`` is one of the
driver's live-migration calls (``LIVE_MIGRATION_CALLS``), run by ``compute.host.work.live_migration``."""
LIVE_MIGRATION_CALLS = (
    "pre_live_migration",
    "live_migration",
    "live_migration_abort",
    "live_migration_force_complete",
    "rollback_live_migration_at_destination",
    "post_live_migration_at_source",
)

POWER_ACTIONS = ("stop", "start", "reboot", "reboot_hard", "pause", "unpause", "suspend", "resume")


def route_host_messages(app: Celery) -> None:
    """Make a host agent's ``app`` send ``LIVENESS_TASKS`` to ``LIVENESS_QUEUE`` and its reports (``HOST_REPORT``)
    to ``REPORTS_QUEUE``; the rest is routed as before."""
    routes = {name: {"queue": LIVENESS_QUEUE} for name in LIVENESS_TASKS} | {HOST_REPORT: {"queue": REPORTS_QUEUE}}
    app.conf.task_routes = (routes, *app.conf.task_routes)


def build(app: Celery, instance_id: str, request_id: str, countdown: float | None = None) -> None:
    """Place and spawn the server; ``countdown``: not before that many seconds (a build waiting for its volume)."""
    app.send_task(BUILD, args=[instance_id], kwargs={"request_id": request_id}, countdown=countdown)


def delete(app: Celery, instance_id: str, request_id: str) -> None:
    app.send_task(DELETE, args=[instance_id], kwargs={"request_id": request_id})


def unshelve(app: Celery, instance_id: str, request_id: str) -> None:
    """Place an offloaded shelved server again and spawn it from its shelved image."""
    app.send_task(UNSHELVE, args=[instance_id], kwargs={"request_id": request_id})


def shelve_offload(app: Celery, instance_id: str, request_id: str) -> None:
    """Take a shelved server off its host (``shelved_offload_time`` 0: right after the shelve)."""
    app.send_task(OFFLOAD, args=[instance_id], kwargs={"request_id": request_id})


def rescue(app: Celery, instance_id: str, request_id: str, rescue_image: dict[str, Any]) -> None:
    """Boot the server from ``rescue_image`` (id, disk_format, checksum, size) with its own disk second."""
    app.send_task(RESCUE, args=[instance_id], kwargs={"request_id": request_id, "rescue_image": rescue_image})


def evacuate(app: Celery, instance_id: str, request_id: str, force: bool = False) -> None:
    """Carry out the evacuation the caller recorded (``compute.evacuate.begin``); ``force``: the requested target is
    not checked by the scheduler's filters (Nova's 2.29 ``force``), only for room."""
    app.send_task(EVACUATE, args=[instance_id], kwargs={"request_id": request_id, "force": force})


def rebuild(app: Celery, instance_id: str, request_id: str) -> None:
    app.send_task(REBUILD, args=[instance_id], kwargs={"request_id": request_id})


def resize(app: Celery, instance_id: str, request_id: str) -> None:
    """To another host, or on its own when no other host has room (``allow_resize_to_same_host``)."""
    app.send_task(RESIZE, args=[instance_id], kwargs={"request_id": request_id})


def migrate(app: Celery, instance_id: str, request_id: str, host: str | None = None) -> None:
    """Cold-migrate the server to another host (``host``: the admin's choice, else the scheduler's)."""
    app.send_task(MIGRATE, args=[instance_id], kwargs={"request_id": request_id, "host": host})


def agent_spawn(
    app: Celery, host: str, spec: dict[str, Any], request_id: str, take_timeout: float | None = None
) -> None:
    """The host builds the guest. With ``take_timeout`` the message expires when the build is given to another
    host for not being taken (``compute.control.handoff``): a host that wakes up later never starts it."""
    app.send_task(
        AGENT_SPAWN,
        args=[host, spec],
        kwargs={"request_id": request_id},
        queue=host_queue("compute", host),
        expires=take_timeout,
    )


def agent_destroy(app: Celery, host: str, instance_id: str, request_id: str) -> None:
    app.send_task(
        AGENT_DESTROY, args=[host, instance_id], kwargs={"request_id": request_id}, queue=host_queue("compute", host)
    )


def agent_drop(app: Celery, host: str, instance_id: str, request_id: str) -> None:
    """The build moved to another host: whatever ``host`` made of it goes, without reporting a delete. Queued
    behind the spawn it overtakes, so it runs after it even on a host that wakes up much later."""
    app.send_task(
        AGENT_DESTROY,
        args=[host, instance_id],
        kwargs={"request_id": request_id, "report": False},
        queue=host_queue("compute", host),
    )


def agent_step(
    app: Celery, host: str, instance_id: str, step: str, request_id: str, take_timeout: float, **params: Any
) -> None:
    """A step of a move (``ACKNOWLEDGED_STEPS``) the host acknowledges on receipt, as ``agent_action`` otherwise.
    The message expires after ``take_timeout``, when the step is sent again: a host never runs an old copy late."""
    app.send_task(
        AGENT_ACTION,
        args=[host, instance_id, step],
        kwargs={"request_id": request_id, "params": params},
        queue=host_queue("compute", host),
        expires=take_timeout,
    )


def agent_action(app: Celery, host: str, instance_id: str, action: str, request_id: str, **params: Any) -> None:
    """A power action or snapshot on the host; the host reports the outcome with ``ACTION_DONE``."""
    app.send_task(
        AGENT_ACTION,
        args=[host, instance_id, action],
        kwargs={"request_id": request_id, "params": params},
        queue=host_queue("compute", host),
    )


def console_output(app: Celery, host: str, instance_id: str, max_bytes: int, timeout: float) -> str:
    """Ask the host for the console log tail and wait at most ``timeout`` seconds for the answer (the one
    synchronous call; celery's TimeoutError when the host does not answer in time). The request expires with
    the wait: a host busy with a long spawn drops it when it gets to it, instead of working through a backlog
    of answers nobody waits for."""
    result = app.send_task(
        AGENT_CONSOLE,
        args=[host, instance_id, max_bytes],
        queue=host_queue("compute", host),
        expires=timeout,
        task_id=host_result_id(host),  # the host may write this result, no other host may read it
    )
    try:
        return result.get(timeout=timeout)
    finally:
        result.forget()


def console_endpoint(app: Celery, host: str, instance_id: str, kind: str, timeout: float) -> dict[str, Any]:
    """Ask the host where the running guest's ``kind`` console (``serial`` or ``vnc``) listens now:
    ``{"host", "port", "kind"}``, or ``{"error": message}`` when it has none. Request and reply as
    :func:`console_output`: nothing is stored, the host reads its hypervisor's live answer each time."""
    result = app.send_task(
        AGENT_CONSOLE_ENDPOINT,
        args=[host, instance_id, kind],
        queue=host_queue("compute", host),
        expires=timeout,
        task_id=host_result_id(host),
    )
    try:
        return result.get(timeout=timeout)
    finally:
        result.forget()


def diagnostics(app: Celery, host: str, instance_id: str, timeout: float) -> dict[str, Any]:
    """Ask the host for the guest's live statistics (``compute.host.virt.base.Diagnostics`` as a dict, or
    ``{"error": message}``). Request and reply as :func:`console_output`: nothing is stored."""
    result = app.send_task(
        AGENT_DIAGNOSTICS,
        args=[host, instance_id],
        queue=host_queue("compute", host),
        expires=timeout,
        task_id=host_result_id(host),
    )
    try:
        return result.get(timeout=timeout)
    finally:
        result.forget()


def network_ready(app: Celery, instance_id: str, host: str, nics: list[dict[str, Any]], request_id: str) -> None:
    """From the network service: the server's ports are wired on ``host``; ``nics`` say how to plug them."""
    app.send_task(NETWORK_READY, args=[instance_id, host, nics], kwargs={"request_id": request_id})


def network_failed(app: Celery, instance_id: str, host: str, reason: str, request_id: str) -> None:
    """From the network service: ``host`` could not wire the server's ports (the build tries another host)."""
    app.send_task(NETWORK_FAILED, args=[instance_id, host, reason], kwargs={"request_id": request_id})


def live_migrate(app: Celery, instance_id: str, migration_id: int, request_id: str, force: bool = False) -> None:
    """Start the live migration the API recorded (``migration_id``): the scheduler picks and claims the target
    (``force``: the target the API recorded is not checked by the scheduler's filters, Nova's 2.30 ``force``)."""
    kwargs = {"request_id": request_id, "force": force}
    app.send_task(LIVE_MIGRATE, args=[instance_id, migration_id], kwargs=kwargs)


def agent_live_migration(
    app: Celery, host: str, instance_id: str, migration_id: int, call: str, request_id: str,
    *, take_timeout: float | None = None, **params: Any,
) -> None:  # fmt: skip
    """One step of a live migration on ``host`` (``call`` in ``LIVE_MIGRATION_CALLS``); the host reports the
    outcome with ``LIVE_MIGRATION_STEP``. The abort and force-complete of a migration in flight reach the source
    while its migration runs (the agent runs the migration beside its queue). ``take_timeout``: a step the host
    acknowledges (``ACKNOWLEDGED_STEPS``), whose message expires then."""
    if call not in LIVE_MIGRATION_CALLS:
        raise ValueError(f"no such live migration call: {call}")
    app.send_task(
        AGENT_LIVE_MIGRATION,
        args=[host, instance_id, migration_id, call],
        kwargs={"request_id": request_id, "params": params},
        queue=host_queue("compute", host),
        expires=take_timeout,
    )


def agent_report(app: Celery, host: str) -> None:
    """Ask ``host`` to report what it runs now (as it does periodically), e.g. to settle a move whose reports were
    lost. Expires with one report period: a host that is away reports when it is back anyway."""
    app.send_task(AGENT_REPORT, args=[host], queue=host_queue("compute", host), expires=60)
