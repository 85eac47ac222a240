"""A host's part in a live migration: the driver's calls run for the control side, and each outcome reported.

The target prepares (``pre_live_migration``) and, when the move fails, removes what it prepared
(``rollback_live_migration_at_destination``); the source copies the running guest (``live_migration``) and, once it
runs on the target, removes what is left here (``post_live_migration_at_source``). Each reports its step with
``events.live_migration_step``, about itself only (``common.queue`` checks the ``host`` it names).

Why a thread for the copy: the agent runs one task at a time (prefork, concurrency 1), and a migration lasts as
long as the guest's memory takes to converge. While it runs, the agent must still take the abort and the
force-complete the user sends for it (and its other work). So the ``live_migration`` task starts the copy in a
thread of the agent's process and returns; the thread reports progress and the outcome. An abort that arrives
before its copy started (both were queued) is remembered, and the copy then ends at once as aborted. Every
handler is idempotent: a redelivered ``live_migration`` while its copy runs does nothing.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import threading
import time
from typing import Any

from compute import client
from compute.host import work
from compute.host.context import ComputeAgent
from compute.host.virt.base import MigrationAborted, MigrationStats, MigrationTarget

LOG = logging.getLogger(__name__)

PROGRESS_EVERY = 0.5
"""Fewest seconds between two progress reports of one migration (the driver may call more often)."""
EARLY_ABORT_KEPT = 600.0
"""Seconds an abort that found no migration running is remembered for the copy it was meant for."""

STEP_OF = {
    "pre_live_migration": "prepared",
    "rollback_live_migration_at_destination": "rolled_back",
    "post_live_migration_at_source": "cleaned",
}
"""The step each one-shot call reports (the copy reports ``progress``, then ``completed``, ``failed`` or
``aborted``; abort and force-complete report nothing: the copy's outcome says what they did)."""

_running: dict[str, threading.Thread] = {}
_early_aborts: dict[str, float] = {}
_guard = threading.Lock()


def run(
    agent: ComputeAgent,
    host: str,
    instance_id: str,
    migration_id: int,
    call: str,
    request_id: str,
    params: dict[str, Any],
) -> None:
    driver = agent.driver(host)
    if call == "live_migration":
        _start(agent, host, instance_id, migration_id, request_id, params)
        return
    if call == "live_migration_abort":
        with _guard:
            if instance_id not in _running:
                _early_aborts[instance_id] = time.monotonic()
        driver.live_migration_abort(instance_id)
        return
    if call == "live_migration_force_complete":
        driver.live_migration_force_complete(instance_id)
        return
    error = None
    try:
        if call == "pre_live_migration":
            spec = work.instance_spec(agent, host, params["spec"])
            driver.pre_live_migration(spec, bool(params.get("block_migration")))
        elif call == "rollback_live_migration_at_destination":
            driver.rollback_live_migration_at_destination(instance_id)
        elif call == "post_live_migration_at_source":
            driver.post_live_migration_at_source(instance_id)
        else:
            raise ValueError(f"no such live migration call: {call}")
    except Exception as exc:  # every failure is reported: the control side decides what follows
        LOG.exception("[%s] %s of %s failed on %s", request_id, call, instance_id, host)
        error = str(exc) or type(exc).__name__
    _report(agent, instance_id, host, migration_id, STEP_OF.get(call, call), request_id, error=error)


def _target(params: dict[str, Any]) -> MigrationTarget:
    """The target as the control side read it from the target's own report: a host name and an address, checked
    (the address must be a plain IP address: it is all the driver dials)."""
    address = str(ipaddress.ip_address(str(params["target_address"])))
    return MigrationTarget(host=str(params["target_host"]), address=address)


def _start(
    agent: ComputeAgent, host: str, instance_id: str, migration_id: int, request_id: str, params: dict[str, Any]
) -> None:
    with _guard:
        current = _running.get(instance_id)
        if current is not None and current.is_alive():
            LOG.info("[%s] live migration of %s already runs here", request_id, instance_id)
            return
        now = time.monotonic()
        for uuid, when in list(_early_aborts.items()):
            if now - when > EARLY_ABORT_KEPT:
                del _early_aborts[uuid]
        aborted = _early_aborts.pop(instance_id, None) is not None
        thread = threading.Thread(
            target=_copy,
            args=(agent, host, instance_id, migration_id, request_id, params, aborted),
            name=f"live-migration-{instance_id}",
            daemon=True,
        )
        _running[instance_id] = thread
    thread.start()


def _copy(
    agent: ComputeAgent,
    host: str,
    instance_id: str,
    migration_id: int,
    request_id: str,
    params: dict[str, Any],
    aborted: bool,
) -> None:
    last = [0.0]

    def progress(stats: MigrationStats) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            _report(agent, instance_id, host, migration_id, "progress", request_id, stats=stats)

    try:
        if aborted:
            raise MigrationAborted(uuid=instance_id)
        target = _target(params)
        stats = agent.driver(host).live_migration(instance_id, target, bool(params.get("block_migration")), progress)
    except MigrationAborted as exc:
        _report(agent, instance_id, host, migration_id, "aborted", request_id, error=str(exc))
    except Exception as exc:  # the guest still runs here (the driver's contract): the control side rolls back
        LOG.exception("[%s] live migration of %s from %s failed", request_id, instance_id, host)
        _report(agent, instance_id, host, migration_id, "failed", request_id, error=str(exc) or type(exc).__name__)
    else:
        _report(agent, instance_id, host, migration_id, "completed", request_id, stats=stats)
    finally:
        with _guard:
            if _running.get(instance_id) is threading.current_thread():
                del _running[instance_id]


def _report(
    agent: ComputeAgent,
    instance_id: str,
    host: str,
    migration_id: int,
    step: str,
    request_id: str,
    error: str | None = None,
    stats: MigrationStats | None = None,
) -> None:
    try:
        agent.app.send_task(
            client.LIVE_MIGRATION_STEP,
            args=[instance_id, host, migration_id, step],
            kwargs={
                "request_id": request_id,
                "error": error,
                "stats": dataclasses.asdict(stats) if stats is not None else None,
            },
        )
    except Exception:  # a lost report is the sweeper's to resolve (it asks where the guest runs)
        LOG.exception("[%s] could not report %s of the live migration of %s", request_id, step, instance_id)
