"""Celery entry points of the scheduler (control side): thin wrappers around the workflow modules."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_ready

from common.db import Database
from common.periodic import my_turn
from common.queue import message_seq
from common.settings import Settings
from compute import client, delete
from compute.control import (
    build,
    cold_migration,
    evacuation,
    events,
    ha,
    handoff,
    hosts,
    live_migration,
    move_steps,
    rebuild,
    reclaim,
    rescue,
    shelve,
    sweeper,
)
from compute.control.context import ComputeControl
from compute.control.host_cache import HostStateCache

LOG = logging.getLogger(__name__)
TASK_OPTIONS = {"acks_late": True, "time_limit": 300, "soft_time_limit": 280}
# What a host agent may send: reports about itself only (``host_arg``, checked by ``common.queue``).
FROM_HOST = {"from_hosts": True, "host_arg": "host"}
MOVE_STEPS = (
    {evacuation.STEP: evacuation.STEP_HANDLER}
    | dict.fromkeys(cold_migration.STEPS, cold_migration.STEP_HANDLER)
    | live_migration.STEP_HANDLERS
)
"""The moves' steps a host acknowledges, and how each workflow sends its step again or gives it up."""


def register(app: Celery, settings: Settings) -> None:
    control = ComputeControl(
        Database(settings.effective_database_url), app, settings, HostStateCache(settings.scheduler_host_state_ttl)
    )
    app.heard_from_host = lambda arguments, seq: hosts.heard(control, arguments, seq)  # type: ignore[attr-defined]

    @app.task(name=client.BUILD, **TASK_OPTIONS)
    def build_instance(instance_id: str, request_id: str = "") -> str:
        return build.build_instance(control, instance_id, request_id)

    @app.task(name=client.REBUILD, **TASK_OPTIONS)
    def rebuild_instance(instance_id: str, request_id: str = "") -> str:
        return rebuild.start(control, instance_id, request_id)

    @app.task(name=client.RESIZE, **TASK_OPTIONS)
    def resize_instance(instance_id: str, request_id: str = "") -> str:
        return cold_migration.start(control, instance_id, request_id, "resize")

    @app.task(name=client.MIGRATE, **TASK_OPTIONS)
    def migrate_instance(instance_id: str, request_id: str = "", host: str | None = None) -> str:
        return cold_migration.start(control, instance_id, request_id, "migration", host)

    @app.task(name=client.UNSHELVE, **TASK_OPTIONS)
    def unshelve_instance(instance_id: str, request_id: str = "") -> str:
        return shelve.start_unshelve(control, instance_id, request_id)

    @app.task(name=client.OFFLOAD, **TASK_OPTIONS)
    def shelve_offload_instance(instance_id: str, request_id: str = "") -> bool:
        return shelve.start_offload(control, instance_id, request_id)

    @app.task(name=client.RESCUE, **TASK_OPTIONS)
    def rescue_instance(instance_id: str, request_id: str = "", rescue_image: dict | None = None) -> str:
        return rescue.start(control, instance_id, request_id, rescue_image or {})

    @app.task(name=client.LIVE_MIGRATE, **TASK_OPTIONS)
    def live_migrate_instance(instance_id: str, migration_id: int, request_id: str = "", force: bool = False) -> str:
        return live_migration.start(control, instance_id, migration_id, request_id, force)

    @app.task(name=client.LIVE_MIGRATION_STEP, **TASK_OPTIONS, **FROM_HOST)
    def live_migration_step(
        instance_id: str,
        host: str,
        migration_id: int,
        step: str,
        request_id: str = "",
        error: str | None = None,
        stats: dict[str, Any] | None = None,
    ) -> str:
        return live_migration.step(control, instance_id, host, migration_id, step, request_id, error, stats)

    @app.task(name=client.DEFERRED, **TASK_OPTIONS, expires=settings.shelved_poll_interval)
    def deferred_work() -> dict[str, int]:
        if not my_turn(control.db, client.DEFERRED, settings.shelved_poll_interval):
            return {}
        return {"offloaded": shelve.offload_due(control), "reclaimed": reclaim.reclaim(control)}

    @app.task(name=client.SPAWNED, **TASK_OPTIONS, **FROM_HOST)
    def instance_spawned(instance_id: str, host: str, power_state: int, request_id: str = "") -> str:
        return events.spawned(control, instance_id, host, power_state, request_id)

    @app.task(name=client.SPAWN_FAILED, **TASK_OPTIONS, **FROM_HOST)
    def instance_spawn_failed(instance_id: str, host: str, reason: str, request_id: str = "") -> str:
        return events.spawn_failed(control, instance_id, host, reason, request_id)

    @app.task(name=client.NETWORK_READY, **TASK_OPTIONS)
    def instance_network_ready(instance_id: str, host: str, nics: list, request_id: str = "") -> str:
        return events.network_ready(control, instance_id, host, nics, request_id)

    @app.task(name=client.NETWORK_FAILED, **TASK_OPTIONS)
    def instance_network_failed(instance_id: str, host: str, reason: str, request_id: str = "") -> str:
        return events.spawn_failed(control, instance_id, host, reason, request_id)

    @app.task(name=client.DESTROYED, **TASK_OPTIONS, **FROM_HOST)
    def instance_destroyed(instance_id: str, host: str, request_id: str = "") -> str:
        return delete.destroyed(control, instance_id, host, request_id)

    @app.task(name=client.ACTION_DONE, **TASK_OPTIONS, **FROM_HOST)
    def instance_action_done(
        instance_id: str,
        host: str,
        action: str,
        request_id: str,
        power_state: int,
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> str:
        return events.action_done(control, instance_id, host, action, request_id, power_state, error, result)

    @app.task(name=client.HOST_REPORT, **TASK_OPTIONS, **FROM_HOST, expires=60)
    def host_report(host: str, resources: dict[str, Any], instances: dict[str, int], zone: str = "nova") -> dict:
        return hosts.host_report(control, host, resources, instances, zone, seq=message_seq())

    @app.task(name=client.HOST_HEARTBEAT, acks_late=False, time_limit=30, expires=30, from_hosts=True, host_arg="names")
    def host_heartbeat(names: list[str]) -> int:
        return hosts.heartbeat(control, names)

    @app.task(name=client.SWEEP, **TASK_OPTIONS, expires=settings.compute_sweep_interval)
    def sweep() -> dict[str, int]:
        if not my_turn(control.db, client.SWEEP, settings.compute_sweep_interval):
            return {}
        return sweeper.sweep(control)

    @app.task(name=client.TAKEN, **TASK_OPTIONS, **FROM_HOST)
    def instance_taken(instance_id: str, host: str, request_id: str = "") -> str:
        return handoff.taken(control, instance_id, host, request_id)

    @app.task(name=client.STEP_TAKEN, **TASK_OPTIONS, **FROM_HOST)
    def move_step_taken(instance_id: str, host: str, step: str, request_id: str = "") -> str:
        return move_steps.taken(control, MOVE_STEPS, instance_id, host, step, request_id)

    @app.task(name=client.CHECK_HANDOFFS, **TASK_OPTIONS, expires=settings.host_heartbeat_interval)
    def check_handoffs() -> dict[str, int]:
        """Builds not taken go to another host; moves' steps not taken are sent again (or their move given up)."""
        if not my_turn(control.db, client.CHECK_HANDOFFS, settings.host_heartbeat_interval):
            return {}
        counts = handoff.check(control)
        for outcome, count in move_steps.check(control, MOVE_STEPS).items():
            counts[f"move step {outcome}"] = count
        return counts

    @app.task(name=client.EVACUATE, **TASK_OPTIONS)
    def evacuate_instance(instance_id: str, request_id: str = "", force: bool = False) -> str:
        return evacuation.start(control, instance_id, request_id, force)

    @app.task(name=client.HA_CHECK, **TASK_OPTIONS, expires=settings.host_heartbeat_interval)
    def ha_check() -> dict[str, int]:
        if not my_turn(control.db, client.HA_CHECK, settings.host_heartbeat_interval):
            return {}
        return ha.check(control)

    app.conf.beat_schedule = {
        "compute-sweeper": {"task": client.SWEEP, "schedule": settings.compute_sweep_interval},
        "compute-handoffs": {"task": client.CHECK_HANDOFFS, "schedule": settings.host_heartbeat_interval},
        "compute-deferred": {"task": client.DEFERRED, "schedule": settings.shelved_poll_interval},
        "compute-ha": {"task": client.HA_CHECK, "schedule": settings.host_heartbeat_interval},
    }

    @worker_ready.connect(weak=False)
    def recover(**_: Any) -> None:
        """Recovery at start: whatever a crash left in flight is resent, finished or given up now."""
        try:
            LOG.info("recovery at start: %s", sweeper.sweep(control))
        except Exception:  # the worker must start even if the database is briefly away
            LOG.exception("recovery at start failed; the periodic sweeper will retry")
