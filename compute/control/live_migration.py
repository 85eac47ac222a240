"""Live migration (``os-migrateLive``): move a running guest to another host without stopping it.

The API claims the ``migrating`` task and records the move (``compute.moves``, status ``accepted``); from then on
each step is a message and each outcome a report, so the scheduler never waits on a host:

1. :func:`start` picks the target (the one asked for, checked; or the scheduler's choice, the source excluded),
   claims the guest's resources there (allocation purpose ``migration``, by the builds' compare-and-swap, so
   concurrent moves never overcommit a host), checks the hosts are alike (CPU architecture, hypervisor type), and
   asks the network service to wire the ports on the target too (``network.control.migration``: ``prepare``).
   Status ``queued``, then ``preparing``.
2. "Network ready" for the target (:func:`network_ready`): the target prepares (``pre_live_migration``).
3. The target reports ``prepared``: the source copies the guest (``live_migration``), status ``running``; it
   reports ``progress`` (written to the migration and the server's ``progress``), then ``completed`` (figures and
   downtime), ``failed`` or ``aborted``.
4. ``completed``: the server's host is the target, the ``migration`` claim becomes its ``instance`` claim and the
   source's is released, in one transaction; the ports switch to the target; the source removes what is left
   (``post_live_migration_at_source``). Status ``completed``.

The target acknowledges the preparation on receipt, the source the copy: a preparation not acknowledged within
``compute_build_take_timeout`` is sent again (``move_steps.MAX_SENDS`` times in all, then the move fails as a
failed preparation does); a copy is never sent twice (a second copy of a guest that landed would be a second
guest): one its source does not acknowledge is resolved at once as the sweeper resolves a move whose reports were
lost (``compute.control.move_steps``, :func:`not_taken`).

Any failure before the switch ends the move with the guest where it was (the driver's contract): the target's claim
released, the target told to roll back, the ports' target wiring cleared, the task cleared, the reason in the
action's event (not the server's fault: the server is fine). Status ``error`` for a move refused before it began
(no target, unlike hosts), ``failed`` for one that failed, ``cancelled`` for an abort. Every handler acts only on
the status it expects (compare-and-swap), so a redelivered or late report changes nothing. A move whose reports are
lost is resolved by the sweeper from where the hosts say the guest runs (:func:`resolve`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from compute import actions, client, moves, service, volumes
from compute.control import build, move_steps, records, scheduler
from compute.control.context import ComputeControl
from compute.models import Allocation, ComputeHost, Instance, InstanceAction, Migration
from compute.moves import Status
from compute.states import PowerState, TaskState, VmState
from network import client as network_client

LOG = logging.getLogger(__name__)
CLAIM = "migration"
"""The allocation purpose of the target's claim while the guest moves."""
SOURCE, TARGET = "source", "target"
STEPS = {
    "prepared": TARGET,
    "rolled_back": TARGET,
    "progress": SOURCE,
    "completed": SOURCE,
    "failed": SOURCE,
    "aborted": SOURCE,
    "cleaned": SOURCE,
}
"""Every step a host reports, and the part that reports it: a host speaks only for its own part of a move."""
EVENT = "compute_live_migration"
PREPARE, COPY = "pre_live_migration", "live_migration"
"""The steps its host acknowledges on receipt (``client.ACKNOWLEDGED_STEPS``)."""


def _set_status(session: Session, migration_id: int, expected: set[Status], **values: Any) -> bool:
    """Compare-and-swap on the migration's status, as ``service.swap`` on a server's task."""
    query = update(Migration).where(Migration.id == migration_id, Migration.status.in_([s.value for s in expected]))
    return session.execute(query.values(updated_at=service.now(), **values)).rowcount == 1


def _request(session: Session, instance: Instance, source: ComputeHost | None, down_after: float) -> scheduler.Request:
    flavor = instance.flavor
    root_gb = 0 if volumes.root_mapping(session, instance.id) is not None else int(flavor["disk"])
    return scheduler.Request(
        instance_id=instance.id,
        vcpus=int(flavor["vcpus"]),
        memory_mb=int(flavor["ram"]),
        disk_gb=root_gb + int(flavor.get("ephemeral", 0)),
        zone=instance.requested_zone,
        arch=source.cpu_arch if source is not None else None,
        down_after=timedelta(seconds=down_after),
        **scheduler.group_request_fields(session, instance.server_group_id),  # type: ignore[arg-type]
    )


def _name_of(source: ComputeHost | None) -> str:
    return source.name if source is not None else "(none)"


def _unlike(source: ComputeHost | None, target: ComputeHost) -> str | None:
    """Why the guest cannot run on ``target`` as it runs on ``source`` (Nova's pre-checks), or None."""
    if source is None:
        return "the source host is not known"
    if target.hypervisor_type != source.hypervisor_type:
        return f"{target.name} runs {target.hypervisor_type}, the source {source.hypervisor_type}"
    if target.cpu_arch != source.cpu_arch:
        return f"{target.name} is {target.cpu_arch}, the source {source.cpu_arch}"
    return None


def start(control: ComputeControl, instance_id: str, migration_id: int, request_id: str, force: bool = False) -> str:
    """Pick and claim the target, then have its network prepared; returns what happened, for logs and tests."""
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        migration = session.get(Migration, migration_id)
        if instance is None or instance.deleted or migration is None or migration.instance_id != instance_id:
            return "gone"
        if instance.task_state != TaskState.MIGRATING or migration.status != Status.ACCEPTED:
            return "superseded"
        source = session.get(ComputeHost, instance.host) if instance.host else None
        request = _request(session, instance, source, control.settings.compute_host_down_after)
        asked = migration.dest_compute
        group_id, project_id = instance.server_group_id, instance.project_id
        source_up = service.host_is_up(source, timedelta(seconds=control.settings.compute_host_down_after))
    if not source_up:  # Nova's pre-check too: nobody would copy the guest
        message = f"The source host {_name_of(source)} is down: the server cannot move live."
        fail(control, instance_id, migration_id, request_id, Status.ERROR, message)
        return "source down"
    target, reason = _claim_target(control, migration_id, request, source, asked, force, group_id)
    if target is None:
        fail(control, instance_id, migration_id, request_id, Status.ERROR, f"No valid host was found. {reason}")
        return "no valid host"
    LOG.info("[%s] live migration of %s: target %s claimed", request_id, instance_id, target)
    network_client.migration_binding(control.app, instance_id, project_id, target, "prepare", request_id)
    return f"preparing {target}"


def _claim_target(
    control: ComputeControl,
    migration_id: int,
    request: scheduler.Request,
    source: ComputeHost | None,
    asked: str | None,
    force: bool,
    group_id: str | None,
) -> tuple[str | None, str]:
    """The claimed target, or None and why there is none. ``force`` (2.30-2.67, with a host): the scheduler's
    filters are skipped, never the capacity, the liveness or the likeness checks."""
    down_after = timedelta(seconds=control.settings.compute_host_down_after)
    request_source = source.name if source is not None else None
    with control.db.session() as session:
        if asked is not None and force:
            candidates = [asked]
        else:
            if asked is not None:
                request = scheduler.Request(**{**request.__dict__, "forced_host": asked})
            control.hosts.invalidate()  # a move is rare: decide from the hosts as they are now
            states, _ = control.hosts.states(session, group_id)
            decision = scheduler.select_hosts(states, request, control.settings.scheduler_strategy)
            candidates = [state.host.name for state in decision.ranked() if state.host.name != request_source]
            if not candidates:
                return None, f"{decision.explain()} The server's own host is no target."
    reasons = []
    for name in candidates:
        with control.db.session() as session:
            host = session.get(ComputeHost, name)
            why = _refusal(host, name, source, down_after)
            if why is not None:
                reasons.append(why)
                continue
            if not scheduler.claim(session, name, request, purpose=CLAIM, require_enabled=not force):
                reasons.append(f"{name} has no room for the server now")
                control.hosts.invalidate()
                continue
            values = {"dest_compute": name, "dest_host": host.host_ip, "status": Status.QUEUED.value}
            if not _set_status(session, migration_id, {Status.ACCEPTED}, **values):
                session.rollback()  # the move ended meanwhile (the server was deleted): give the claim back
                return None, "the move ended before a target was claimed"
        control.hosts.claimed(name, request)
        return name, ""
    return None, "; ".join(reasons)


def _refusal(host: ComputeHost | None, name: str, source: ComputeHost | None, down_after: timedelta) -> str | None:
    if host is None:
        return f"no compute host is named {name}"
    if source is not None and host.name == source.name:
        return f"{name} is the host the server runs on"
    if not service.host_is_up(host, down_after):
        return f"{name} is down"
    return _unlike(source, host)


def network_ready(
    control: ComputeControl, instance_id: str, host: str, nics: list[dict[str, Any]], request_id: str
) -> str | None:
    """The server's ports are wired on ``host``: when that is the target of its live migration being prepared,
    the target prepares the guest. None when no live migration waits for it (a build's network-ready)."""
    with control.db.session() as session:
        migration = _moving_to(session, instance_id, host)
        if migration is None:
            return None
        migration_id, status, block = migration.id, migration.status, migration.block_migration
        aborted_early = status == Status.CANCELLING and migration.error == moves.ABORTED_BEFORE_COPY
        # Told at each of the target's reports while the move lasts: only the first starts the preparation.
        first = status == Status.QUEUED and _set_status(session, migration_id, {Status.QUEUED}, status=Status.PREPARING)
        if first:
            spec = build.instance_spec(session.get(Instance, instance_id))
            event = "compute_check_can_live_migrate_destination"
            actions.record_event(session, instance_id, migration.request_id, event, "Success", host)
            moves.handed(migration, PREPARE, host)
    if aborted_early:  # aborted while queued or preparing; one aborted while running ends with its copy's report
        fail(control, instance_id, migration_id, request_id, Status.CANCELLED, "The live migration was aborted.")
        return "aborted"
    if not first:
        return "not waiting"
    client.agent_live_migration(control.app, host, instance_id, migration_id, PREPARE, request_id, spec=spec,
                                block_migration=block, take_timeout=_take(control))  # fmt: skip
    return f"preparing on {host}"


def _take(control: ComputeControl) -> float:
    return control.settings.compute_build_take_timeout


def network_failed(control: ComputeControl, instance_id: str, host: str, reason: str, request_id: str) -> str | None:
    """The target could not wire the ports: the move fails. None when no live migration waits for ``host``."""
    with control.db.session() as session:
        migration = _moving_to(session, instance_id, host)
        if migration is None:
            return None
        migration_id, status = migration.id, migration.status
    if status not in (Status.QUEUED, Status.PREPARING):
        return "not waiting"
    fail(control, instance_id, migration_id, request_id, Status.FAILED, f"The target's network failed: {reason}")
    return "failed"


def _moving_to(session: Session, instance_id: str, host: str) -> Migration | None:
    migration = moves.in_flight(session, instance_id)
    if migration is None or migration.migration_type != moves.MigrationType.LIVE_MIGRATION:
        return None
    return migration if migration.dest_compute == host else None


def step(
    control: ComputeControl,
    instance_id: str,
    host: str,
    migration_id: int,
    name: str,
    request_id: str,
    error: str | None = None,
    stats: dict[str, Any] | None = None,
) -> str:
    """A host reports ``name`` of the live migration ``migration_id``; ignored unless it plays that part."""
    part = STEPS.get(name)
    with control.db.session() as session:
        migration = session.get(Migration, migration_id)
        if part is None or migration is None or migration.instance_id != instance_id:
            return "unknown"
        expected_host = migration.source_compute if part == SOURCE else migration.dest_compute
        if host != expected_host:
            LOG.warning("host %s reported %s of migration %s, which is not its part: ignored", host, name, migration_id)
            return "ignored: not this host's part"
        timed_out = migration.error in RESOLUTION
    if name == "prepared":
        return _prepared(control, instance_id, migration_id, request_id, error)
    if name == "progress":
        return _progress(control, instance_id, migration_id, stats or {})
    if name == "completed":
        return _completed(control, instance_id, migration_id, request_id, stats or {})
    if name in ("failed", "aborted") and timed_out:  # the sweeper stopped the copy: the guest runs on the source
        message = (
            "The live migration timed out (compute_task_timeout); the copy was stopped, the guest runs on its source."
        )
        return fail(control, instance_id, migration_id, request_id, Status.ERROR, message, event=EVENT, host=host)
    if name in ("failed", "aborted"):
        status = Status.CANCELLED if name == "aborted" else Status.FAILED
        message = "The live migration was aborted." if name == "aborted" else f"The live migration failed: {error}"
        return fail(control, instance_id, migration_id, request_id, status, message, event=EVENT, host=host)
    return _after(control, instance_id, migration_id, name, host, error)


def _prepared(control: ComputeControl, instance_id: str, migration_id: int, request_id: str, error: str | None) -> str:
    if error is not None:
        message = f"The target could not prepare the server: {error}"
        return fail(
            control, instance_id, migration_id, request_id, Status.FAILED, message, event="compute_pre_live_migration"
        )
    with control.db.session() as session:
        migration = session.get(Migration, migration_id)
        if migration.status == Status.CANCELLING:
            cancelled = True
        elif not _set_status(session, migration_id, {Status.PREPARING}, status=Status.RUNNING.value):
            return "not waiting"
        else:
            cancelled = False
            target = session.get(ComputeHost, migration.dest_compute)
            params = {
                "target_host": migration.dest_compute,
                "target_address": target.host_ip if target is not None else migration.dest_host,
                "block_migration": migration.block_migration,
            }
            source = migration.source_compute
            actions.record_event(session, instance_id, migration.request_id, "compute_pre_live_migration", "Success",
                                 migration.dest_compute)  # fmt: skip
            moves.handed(migration, COPY, source or "")
    if cancelled:
        return fail(control, instance_id, migration_id, request_id, Status.CANCELLED, "The live migration was aborted.")
    client.agent_live_migration(control.app, source, instance_id, migration_id, COPY, request_id,
                                take_timeout=_take(control), **params)  # fmt: skip
    return "running"


def _progress(control: ComputeControl, instance_id: str, migration_id: int, stats: dict[str, Any]) -> str:
    figures = _figures(stats)
    with control.db.session() as session:
        if not _set_status(session, migration_id, {Status.RUNNING, Status.CANCELLING}, **figures):
            return "not running"
        total = figures["memory_total"] + figures["disk_total"]
        done = figures["memory_processed"] + figures["disk_processed"]
        progress = min(99, done * 100 // total) if total else 0
        service.swap(session, instance_id, {"task_state": TaskState.MIGRATING.value}, progress=progress)
    return f"{progress}%"


def _figures(stats: dict[str, Any]) -> dict[str, int]:
    """The migration's byte counts from a host's report (numbers only, never negative)."""
    keys = ("memory_total", "memory_processed", "memory_remaining", "disk_total", "disk_processed", "disk_remaining")
    return {key: max(0, int(stats.get(key) or 0)) for key in keys}


def _completed(
    control: ComputeControl, instance_id: str, migration_id: int, request_id: str, stats: dict[str, Any]
) -> str:
    """The guest runs on the target: the server follows it, in one transaction; then its ports and the source."""
    figures = _figures(stats)
    downtime = stats.get("downtime_ms")
    with control.db.session() as session:
        migration = session.get(Migration, migration_id)
        source, target = migration.source_compute, migration.dest_compute
        # An abort that came too late changes nothing: the guest runs on the target.
        expected = {Status.RUNNING, Status.CANCELLING, Status.PREPARING, Status.QUEUED}
        values = {**figures, "status": Status.COMPLETED.value, "downtime_ms": int(downtime) if downtime else None}
        if not _set_status(session, migration_id, expected, **values):
            return "not running"
        _move_server(session, instance_id, source, target)
        summary = (
            f"Moved from {source} to {target}: {figures['memory_processed'] >> 20} MiB of memory and "
            f"{figures['disk_processed'] >> 20} MiB of disk copied in {int(stats.get('elapsed_ms') or 0)} ms, "
            f"downtime {downtime if downtime is not None else 'unknown'} ms."
        )
        actions.record_event(session, instance_id, migration.request_id, EVENT, "Success", source)
        _annotate_last_event(session, instance_id, migration.request_id, summary)
        project_id = session.get(Instance, instance_id).project_id
    LOG.info("[%s] live migration of %s done: %s", request_id, instance_id, summary)
    network_client.migration_binding(control.app, instance_id, project_id, target, "switch", request_id)
    client.agent_live_migration(
        control.app, source, instance_id, migration_id, "post_live_migration_at_source", request_id
    )
    return "completed"


def _move_server(session: Session, instance_id: str, source: str, target: str) -> None:
    """The server's host, zone and claims follow the guest (whatever its task: the guest has moved)."""
    record = session.get(ComputeHost, target)
    zone = record.availability_zone if record is not None else None
    service.swap(
        session,
        instance_id,
        {"host": source},
        host=target,
        availability_zone=zone,
        task_state=None,
        progress=100,
    )
    session.execute(delete(Allocation).where(Allocation.instance_id == instance_id, Allocation.purpose == "instance"))
    session.execute(
        update(Allocation)
        .where(Allocation.instance_id == instance_id, Allocation.purpose == CLAIM)
        .values(purpose="instance")
    )


def _annotate_last_event(session: Session, instance_id: str, request_id: str, text: str) -> None:
    """Add the move's figures to the action's last event (shown to admins, as an event's details are)."""
    action = session.scalars(
        select(InstanceAction).where(InstanceAction.instance_id == instance_id, InstanceAction.request_id == request_id)
    ).first()
    if action is not None and action.events:
        action.events = [*action.events[:-1], {**action.events[-1], "traceback": text}]


def _after(
    control: ComputeControl, instance_id: str, migration_id: int, name: str, host: str, error: str | None
) -> str:
    """The source cleaned up, or the target rolled back: recorded in the action (the move itself has ended)."""
    event = (
        "compute_post_live_migration_at_source"
        if name == "cleaned"
        else "compute_rollback_live_migration_at_destination"
    )
    with control.db.session() as session:
        migration = session.get(Migration, migration_id)
        if error is not None:
            what = "remove what the server left on it" if name == "cleaned" else "remove what it prepared"
            message = f"{host} could not {what}: {error}"
            actions.record_event(session, instance_id, migration.request_id, event, "Error", host, message)
            LOG.warning("live migration %s of %s: %s", migration_id, instance_id, message)
            return "error"
        actions.record_event(session, instance_id, migration.request_id, event, "Success", host)
    return "done"


def fail(
    control: ComputeControl,
    instance_id: str,
    migration_id: int,
    request_id: str,
    status: Status,
    message: str,
    event: str = "conductor_live_migrate_instance",
    host: str | None = None,
) -> str:
    """End the move with the guest where it was: the target's claim released, the task cleared, the reason in the
    action; then the target rolls back and the ports' target wiring is cleared. Idempotent."""
    with control.db.session() as session:
        migration = session.get(Migration, migration_id)
        if migration is None or migration.status not in {s.value for s in moves.IN_FLIGHT}:
            return "already ended"
        if not _set_status(session, migration_id, set(moves.IN_FLIGHT), status=status.value, error=message[:1024]):
            return "already ended"
        session.execute(delete(Allocation).where(Allocation.instance_id == instance_id, Allocation.purpose == CLAIM))
        service.swap(session, instance_id, {"task_state": TaskState.MIGRATING.value}, task_state=None, progress=0)
        actions.record_event(session, instance_id, migration.request_id, event, "Error", host, message)
        instance = session.get(Instance, instance_id)
        target, project_id = migration.dest_compute, instance.project_id if instance is not None else ""
    LOG.warning("[%s] live migration of %s ended (%s): %s", request_id, instance_id, status, message)
    if target:
        rollback = "rollback_live_migration_at_destination"
        client.agent_live_migration(control.app, target, instance_id, migration_id, rollback, request_id)
        network_client.migration_binding(control.app, instance_id, project_id, target, "clear", request_id)
    return str(status)


# --- a move whose reports were lost: where does the guest run? ----------------------------------------------------

RESOLVING = "Timed out: asking the hosts where the guest runs."
ON_SOURCE = "Timed out: the source still runs the guest; waiting for its copy to stop."
NOT_ON_SOURCE = "Timed out: the source no longer runs the guest; asking the target."
RESOLUTION = (RESOLVING, ON_SOURCE, NOT_ON_SOURCE)
"""The ``error`` of a live migration being settled, each step of it (``settle``)."""
_RUNS = {int(PowerState.RUNNING), int(PowerState.PAUSED)}


def resolve(control: ComputeControl, session: Session, instance: Instance) -> list[tuple[str, str]]:
    """The sweeper's remedy for a live migration in flight past ``compute_task_timeout``: mark it as being resolved
    and return the (host, call) messages to send once committed: the source stops any copy, both hosts report
    now. :func:`settle` decides from their reports, the source's first, so the guest never runs twice."""
    migration = moves.in_flight(session, instance.id)
    if migration is None or migration.migration_type != moves.MigrationType.LIVE_MIGRATION:
        return []
    if migration.error not in RESOLUTION:
        _set_status(session, migration.id, set(moves.IN_FLIGHT), error=RESOLVING)
    hosts = [h for h in (migration.source_compute, migration.dest_compute) if h]
    return [(migration.source_compute or "", "live_migration_abort"), *((host, "report") for host in hosts)]


def send_resolution(control: ComputeControl, instance_id: str, messages: list[tuple[str, str]]) -> None:
    with control.db.session() as session:
        migration = moves.in_flight(session, instance_id)
        migration_id = migration.id if migration is not None else 0
    for host, call in messages:
        if not host:
            continue
        if call == "report":
            client.agent_report(control.app, host)
        else:
            client.agent_live_migration(control.app, host, instance_id, migration_id, call, "req-sweeper")


def settle(control: ComputeControl, host: str, instances: dict[str, int]) -> int:
    """A host reported what it runs: settle the live migrations being resolved that it takes part in. The source
    running the guest in two reports in a row ends the move there (the target rolls back): the first may predate
    the abort ``resolve`` sent, and a copy still running reports its own end meanwhile (completed, if it landed).
    The source without the guest, then the target with it, completes the move; neither: the guest is lost (the
    server's fault says so)."""
    with control.db.session() as session:
        query = select(Migration).where(
            Migration.status.in_([s.value for s in moves.IN_FLIGHT]),
            Migration.migration_type == moves.MigrationType.LIVE_MIGRATION.value,
            Migration.error.in_(RESOLUTION),
            or_(Migration.source_compute == host, Migration.dest_compute == host),
        )
        pending = [(m.id, m.instance_id, m.source_compute, m.dest_compute, m.error) for m in session.scalars(query)]
    settled = 0
    for migration_id, instance_id, source, target, state in pending:
        runs_here = instances.get(instance_id) in _RUNS
        if host == source and runs_here and state == ON_SOURCE:
            message = "The live migration timed out; the guest still runs on its source."
            fail(control, instance_id, migration_id, "req-sweeper", Status.ERROR, message)
        elif host == source:
            with control.db.session() as session:
                _set_status(
                    session, migration_id, set(moves.IN_FLIGHT), error=ON_SOURCE if runs_here else NOT_ON_SOURCE
                )
            continue
        elif host == target and state == NOT_ON_SOURCE and runs_here:
            _completed(control, instance_id, migration_id, "req-sweeper", {})
        elif host == target and state == NOT_ON_SOURCE:
            _lost(control, instance_id, migration_id)
        else:
            continue
        settled += 1
    return settled


def _lost(control: ComputeControl, instance_id: str, migration_id: int) -> None:
    message = "The guest was lost during its live migration: neither its source nor its target runs it."
    with control.db.session() as session:
        if not _set_status(session, migration_id, set(moves.IN_FLIGHT), status=Status.ERROR.value, error=message):
            return
        session.execute(delete(Allocation).where(Allocation.instance_id == instance_id, Allocation.purpose == CLAIM))
        service.swap(
            session,
            instance_id,
            {"task_state": TaskState.MIGRATING.value},
            task_state=None,
            vm_state=VmState.ERROR.value,
            power_state=int(PowerState.NOSTATE),
            fault=records.fault(500, message),
        )


# --- a step its host does not acknowledge (compute.control.move_steps) -------------------------------------------


def _prepare_again(control: ComputeControl, instance_id: str, host: str, request_id: str) -> bool:
    """Send the preparation again while the target has not acknowledged it (preparing is idempotent there)."""
    with control.db.session() as session:
        migration = _moving_to(session, instance_id, host)
        if migration is None or migration.status != Status.PREPARING or migration.step_sent_at is None:
            return False
        if migration.step != PREPARE:
            return False
        spec, block = build.instance_spec(session.get(Instance, instance_id)), migration.block_migration
        migration_id, request_id = migration.id, migration.request_id or request_id
        moves.handed(migration, PREPARE, host)
    client.agent_live_migration(control.app, host, instance_id, migration_id, PREPARE, request_id, spec=spec,
                                block_migration=block, take_timeout=_take(control))  # fmt: skip
    return True


def not_taken(control: ComputeControl, instance_id: str, host: str, reason: str, request_id: str) -> str:
    """The target never took the preparation: the move fails as a failed preparation does (the guest stays on its
    source; the target rolls back whatever it may still prepare). The source never took the copy: the move is
    resolved from where the hosts say the guest runs, as the sweeper resolves one whose reports were lost (an
    unacknowledged copy message expired, so it normally never ran; if only its acknowledgement was lost, the copy's
    own report or the hosts' reports settle it, never with two running copies)."""
    with control.db.session() as session:
        migration = moves.in_flight(session, instance_id)
        instance = session.get(Instance, instance_id)
        if migration is None or instance is None or migration.migration_type != moves.MigrationType.LIVE_MIGRATION:
            return "moved on"
        migration_id, step = migration.id, migration.step
        if step == COPY and migration.status in (Status.RUNNING, Status.CANCELLING):
            messages = resolve(control, session, instance)
        elif step != PREPARE or migration.status != Status.PREPARING:
            return "moved on"
    if step == COPY:
        LOG.warning("[%s] live migration of %s: %s; asking the hosts where the guest runs", request_id, instance_id,
                    reason)  # fmt: skip
        send_resolution(control, instance_id, messages)
        return "resolving"
    message = f"The target could not prepare the server: {reason}"
    return fail(control, instance_id, migration_id, request_id, Status.FAILED, message,
                event="compute_pre_live_migration", host=host)  # fmt: skip


def _no_answer(control: ComputeControl, instance_id: str, host: str, request_id: str) -> str:
    return "superseded"  # a late preparation is followed by its rollback on the same queue; a late copy reports


STEP_HANDLERS = {
    PREPARE: move_steps.StepHandler(resend=_prepare_again, give_up=not_taken, late=_no_answer),
    COPY: move_steps.StepHandler(
        resend=lambda control, instance_id, host, request_id: False, give_up=not_taken, late=_no_answer, max_sends=1
    ),
}
"""How ``move_steps`` sends a live migration's preparation again, and gives up either step."""
