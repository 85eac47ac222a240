"""Evacuating a server of a fenced host: placed again elsewhere and rebuilt there, as Nova's evacuate.

The request (``compute.evacuate.begin``: an admin's, or the HA pass's) has claimed ``rebuilding``, recorded the
move ``accepted`` and the source host fenced. Then, each step a compare-and-swap on the state it expects:

1. ``start``: the target is picked by the scheduler with the source left out (or the requested one is checked by
   its filters, or with ``force`` only for room) and claimed as the move's allocation (``migration``) beside the
   source's, in the same transaction that points the server at the target and makes the move ``pre-migrating``.
2. The server's ports are bound on the target (``network_ready``), then the target spawns it from its spec: its
   image, or its root volume and attached volumes, which a host opens from wherever it runs (``spawn``). The
   target acknowledges the step on receipt; one it has not taken within ``compute_build_take_timeout`` is sent
   again, ``move_steps.MAX_SENDS`` times in all, and then the evacuation fails as in 3 (``not_taken``), the target
   told to drop whatever it may still make of it (``compute.control.move_steps``).
3. The target's report (``events.action_done``, action ``evacuate``) ends it (``finish``): success frees the
   source's allocation, makes the target's the server's own, moves its volume attachments to the target and
   makes the move ``done``; failure frees the target's claim, points the server back at its (dead) source, ERROR
   with a fault, the move ``failed``, as Nova leaves a failed evacuation. No valid host is Nova's ``error``.
4. The source, if it ever reports again, lists a guest whose server runs elsewhere: ``hosts.host_report`` tells it
   to drop it (``destroy_moved``: never a disk the new copy uses) and ``source_reported`` makes the move
   ``completed`` once its report no longer lists the guest.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from compute import actions, client, moves, service, volumes
from compute.control import build, move_steps, records, scheduler
from compute.control.context import ComputeControl
from compute.models import Allocation, ComputeHost, Instance, Migration, ports_of
from compute.states import PowerState, TaskState, VmState
from network import client as network_client
from volume.models import VolumeAttachment

LOG = logging.getLogger(__name__)
MIGRATION = "migration"
"""The target's claim while the move is under way (``Allocation.purpose``), beside the source's ``instance``."""
INSTANCE = "instance"
EVENT = "compute_evacuate_instance"
STEP = "evacuate"
"""The target's step (``client.ACKNOWLEDGED_STEPS``): spawn the server from its spec."""


class _LostRace(Exception):
    """The claim or the server changed under us: roll the transaction back."""


def _move(session: Session, instance_id: str) -> Migration | None:
    move = moves.in_flight(session, instance_id)
    return move if move is not None and move.migration_type == moves.MigrationType.EVACUATION else None


def _expect(instance: Instance) -> dict[str, Any]:
    return {"task_state": TaskState.REBUILDING.value, "host": instance.host}


# --- 1. the target ----------------------------------------------------------------------------------------------


def start(control: ComputeControl, instance_id: str, request_id: str, force: bool = False) -> str:
    """Pick and claim the target, then bind the ports there (or spawn at once: no ports)."""
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        move = _move(session, instance_id) if instance is not None else None
        if instance is None or instance.deleted or instance.task_state != TaskState.REBUILDING or move is None:
            return "superseded"
        if move.status != moves.Status.ACCEPTED or instance.host != move.source_compute:
            return "superseded"  # a redelivered task: the target is claimed already
        request = build.placement_request(session, instance, control.settings.compute_host_down_after)
        wanted = move.dest_compute
        request = dataclasses.replace(request, forced_host=wanted, excluded=frozenset({move.source_compute or ""}))
        source, group_id, move_id = move.source_compute or "", instance.server_group_id, move.id
        networked, project_id = bool(ports_of(instance)), instance.project_id
    if force and wanted:
        host, reason = _claim_forced(control, instance_id, source, wanted, request, move_id)
    else:
        host, reason = _place(control, instance_id, source, request, group_id, move_id)
    if host is None:
        if reason != "superseded":
            fail(control, instance_id, request_id, reason, moves.Status.ERROR)
        return reason
    LOG.info("[%s] evacuating %s from %s to %s", request_id, instance_id, source, host)
    if networked:
        network_client.bind_instance(control.app, instance_id, project_id, host, request_id)
        return f"placed on {host}, networking"
    spawn(control, instance_id, host, request_id)
    return f"placed on {host}"


def _claim(
    control: ComputeControl, instance_id: str, source: str, host: str, request: scheduler.Request, move_id: int,
    require_enabled: bool = True,
) -> bool | None:  # fmt: skip
    """Claim the move's allocation on ``host`` and point the server there; False: the host no longer fits, None:
    the server moved on."""
    try:
        with control.db.session() as session:
            if not scheduler.claim(session, host, request, purpose=MIGRATION, require_enabled=require_enabled):
                raise _LostRace(False)
            target = session.get(ComputeHost, host)
            expect = {"task_state": TaskState.REBUILDING.value, "host": source}
            if target is None or not service.swap(
                session, instance_id, expect, host=host, availability_zone=target.availability_zone, taken_by=None
            ):
                raise _LostRace(None)
            move = session.get(Migration, move_id)
            if move is None or move.status != moves.Status.ACCEPTED:
                raise _LostRace(None)
            move.status, move.dest_compute, move.dest_host = moves.Status.PRE_MIGRATING.value, host, target.host_ip
    except _LostRace as lost:
        return lost.args[0]
    return True


def _place(
    control: ComputeControl, instance_id: str, source: str, request: scheduler.Request, group_id: str | None,
    move_id: int,
) -> tuple[str | None, str]:  # fmt: skip
    """The best host the filters leave, claimed; or None and why (a fresh picture of the hosts is tried once)."""
    decision = None
    for _ in range(2):
        with control.db.session() as session:
            states, cached = control.hosts.states(session, group_id)
        decision = scheduler.select_hosts(states, request, control.settings.scheduler_strategy)
        for candidate in decision.ranked():
            claimed = _claim(control, instance_id, source, candidate.host.name, request, move_id)
            if claimed:
                control.hosts.claimed(candidate.host.name, request)
                return candidate.host.name, ""
            if claimed is None:
                return None, "superseded"
            control.hosts.invalidate()
        if not cached:
            break
        control.hosts.invalidate()
    explained = decision.explain() if decision is not None else ""
    return None, scheduler.NoValidHost(reason=explained).message


def _claim_forced(
    control: ComputeControl, instance_id: str, source: str, host: str, request: scheduler.Request, move_id: int
) -> tuple[str | None, str]:
    """Nova's ``force``: the requested host without the filters (disabled is no obstacle), but it must be up and
    have room: a claim never overcommits a host."""
    with control.db.session() as session:
        up = service.host_is_up(session.get(ComputeHost, host), request.down_after)
    if not up:
        return None, f"No valid host was found. The requested host {host} is down."
    claimed = _claim(control, instance_id, source, host, request, move_id, require_enabled=False)
    if claimed is None:
        return None, "superseded"
    if not claimed:
        return None, f"No valid host was found. The requested host {host} has no room for the server."
    return host, ""


# --- 2. the spawn -----------------------------------------------------------------------------------------------


def evacuating_here(control: ComputeControl, instance_id: str, host: str) -> bool:
    """Whether a "network ready" (or failed) for ``instance_id`` on ``host`` belongs to an evacuation to it."""
    with control.db.session() as session:
        return _waiting_on(session, instance_id, host) is not None


def _waiting_on(session: Session, instance_id: str, host: str) -> tuple[Instance, Migration] | None:
    """The server and its evacuation, if the evacuation waits on its target ``host`` (its ports, or its spawn)."""
    instance = session.get(Instance, instance_id)
    if instance is None or instance.deleted or instance.host != host:
        return None
    if instance.task_state != TaskState.REBUILDING:
        return None
    move = _move(session, instance_id)
    if move is None or move.dest_compute != host or move.status != moves.Status.PRE_MIGRATING:
        return None
    return instance, move


def network_ready(
    control: ComputeControl, instance_id: str, host: str, nics: list[dict[str, Any]], request_id: str
) -> str:
    """The ports are wired on the target: remember how to plug them, and spawn."""
    with control.db.session() as session:
        if not records.remember_nics(session, instance_id, host, TaskState.REBUILDING, nics):
            return "superseded"
    spawn(control, instance_id, host, request_id)
    return "spawning"


def network_failed(control: ComputeControl, instance_id: str, host: str, reason: str, request_id: str) -> str:
    fail(control, instance_id, request_id, f"The ports could not be wired on {host}: {reason}", moves.Status.FAILED)
    return "error"


def spawn(control: ComputeControl, instance_id: str, host: str, request_id: str, again: bool = False) -> bool:
    """Send the target the server's spec; it ends stopped when it was (or the request asked for it, 2.95). The
    send is recorded on the move for ``move_steps``; ``again``: only while the target has not acknowledged it.
    False when the evacuation no longer waits on ``host``."""
    with control.db.session() as session:
        found = _waiting_on(session, instance_id, host)
        if found is None or (again and found[1].step_sent_at is None):
            return False
        instance, move = found
        spec = build.instance_spec(instance)
        power_on = instance.vm_state != VmState.STOPPED
        moves.handed(move, STEP, host)
        request_id = move.request_id or request_id  # the target's report ends the evacuation's action
    take = control.settings.compute_build_take_timeout
    client.agent_step(control.app, host, instance_id, STEP, request_id, take, spec=spec, power_on=power_on)
    return True


def not_taken(control: ComputeControl, instance_id: str, host: str, reason: str, request_id: str) -> str:
    """The target never acknowledged the spawn, sent ``move_steps.MAX_SENDS`` times: the evacuation fails (the
    server ERROR on its fenced source with the fault, the target's claim freed) and the target is told to drop
    whatever it may still make of it (a message it receives late has expired; its report drops a stray guest)."""
    message = f"Evacuation to {host} failed: {reason}."
    if not fail(control, instance_id, request_id, message, moves.Status.FAILED, unacknowledged_on=host):
        return "moved on"
    client.agent_drop(control.app, host, instance_id, request_id)
    return "given up"


def taken_late(control: ComputeControl, instance_id: str, host: str, request_id: str) -> str:
    """``host`` acknowledged a spawn after the evacuation went on without it: unless the server lives there, the
    host drops what it makes of it (never a disk the server's copy elsewhere uses: ``destroy_moved``)."""
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        here = instance is not None and not instance.deleted and instance.host == host
    if here:
        return "already taken"
    LOG.warning("[%s] %s took the evacuation of %s too late; telling it to drop it", request_id, host, instance_id)
    client.agent_drop(control.app, host, instance_id, request_id)
    return "dropped: the evacuation moved on"


STEP_HANDLER = move_steps.StepHandler(
    resend=lambda control, instance_id, host, request_id: spawn(control, instance_id, host, request_id, again=True),
    give_up=not_taken,
    late=taken_late,
)
"""How ``move_steps`` sends the evacuation's spawn again, gives it up, and answers a late acknowledgement."""


# --- 3. the outcome ---------------------------------------------------------------------------------------------


def finish(session: Session, instance: Instance, power_state: int, error: str | None) -> dict[str, Any]:
    """The target's report, in its transaction: the columns to write besides clearing the task."""
    move = _move(session, instance.id)
    if move is None:  # not an evacuation the records know (cannot happen but by hand): only the outcome
        return {} if error is None else {"vm_state": VmState.ERROR.value, "fault": records.fault(500, error)}
    target = instance.host or ""
    if error is not None:
        message = f"Evacuation to {target} failed: {error}"
        return _undo(session, instance, move, message, moves.Status.FAILED)
    session.execute(
        delete(Allocation).where(
            Allocation.instance_id == instance.id, Allocation.purpose == INSTANCE, Allocation.host != target
        )
    )
    session.execute(
        update(Allocation)
        .where(Allocation.instance_id == instance.id, Allocation.purpose == MIGRATION)
        .values(purpose=INSTANCE)
    )
    _move_attachments(session, instance.id, target)
    move.status = moves.Status.DONE.value
    moves.settled(move)
    records.want_report(session, move.source_compute)  # its report says the copy there is gone (or drops it)
    stopped = power_state in (PowerState.SHUTDOWN, PowerState.CRASHED)
    return {
        "vm_state": (VmState.STOPPED if stopped else VmState.ACTIVE).value,
        "launched_at": service.now(),
        "fault": None,
    }


def _move_attachments(session: Session, instance_id: str, host: str) -> None:
    """The server's volumes are plugged in on the target now (their connection_info is host-independent)."""
    for mapping in volumes.mappings(session, instance_id):
        attachment = session.get(VolumeAttachment, mapping.attachment_id) if mapping.attachment_id else None
        if attachment is not None and not attachment.deleted:
            attachment.attached_host = host
    volumes.booted(session, instance_id, host)


def _undo(session: Session, instance: Instance, move: Migration, message: str, status: moves.Status) -> dict:
    """The move is over without a copy on the target: its claim freed, the server back on its source (where it
    holds its allocation still), ERROR with the fault."""
    session.execute(delete(Allocation).where(Allocation.instance_id == instance.id, Allocation.purpose == MIGRATION))
    move.status, move.error = status.value, message
    moves.settled(move)
    source = session.get(ComputeHost, move.source_compute) if move.source_compute else None
    values: dict[str, Any] = {"vm_state": VmState.ERROR.value, "fault": records.fault(500, message)}
    if source is not None:
        values |= {"host": source.name, "availability_zone": source.availability_zone}
    return values


def fail(
    control: ComputeControl, instance_id: str, request_id: str, message: str, status: moves.Status,
    unacknowledged_on: str | None = None,
) -> bool:  # fmt: skip
    """End the evacuation before a spawn (no valid host, the ports not wired, the spawn never taken): ERROR with a
    fault, as Nova. ``unacknowledged_on``: only while the evacuation still waits on that host (``move_steps`` has
    claimed the give-up of its unacknowledged spawn). False when the evacuation had moved on."""
    try:
        with control.db.session() as session:
            instance = session.get(Instance, instance_id)
            move = _move(session, instance_id) if instance is not None else None
            if instance is None or move is None or instance.task_state != TaskState.REBUILDING:
                return False
            if unacknowledged_on is not None and _waiting_on(session, instance_id, unacknowledged_on) is None:
                return False
            target = move.dest_compute if move.status == moves.Status.PRE_MIGRATING else None
            values = _undo(session, instance, move, message, status)
            if not service.swap(session, instance_id, _expect(instance), task_state=None, **values):
                raise _LostRace(None)  # a delete took over meanwhile: roll back, it frees everything
            event_request = move.request_id or request_id  # the evacuation's action, whoever ends it
            actions.record_event(session, instance_id, event_request, EVENT, "Error", target, message)
    except _LostRace:
        return False
    LOG.warning("[%s] evacuation of %s failed: %s", request_id, instance_id, message)
    return True


def give_up(session: Session, instance: Instance) -> dict[str, Any]:
    """The sweeper gives up a ``rebuilding`` task that never reported: for an evacuation, the move fails as a
    failed spawn does (the values to write; the sweeper writes its own fault). A rebuild in place: nothing."""
    move = _move(session, instance.id)
    if move is None:
        return {}
    values = _undo(session, instance, move, "The evacuation timed out.", moves.Status.FAILED)
    del values["fault"]
    return values


# --- 4. the source comes back -----------------------------------------------------------------------------------


def source_reported(session: Session, host: str, guests: set[str]) -> int:
    """``host`` reported the guests it runs: every evacuation from it whose server's guest is no longer among them
    (or whose server lives here again, or is gone) is ``completed``. Returns how many."""
    done = session.execute(
        select(Migration, Instance.host, Instance.deleted)
        .join(Instance, Instance.id == Migration.instance_id)
        .where(
            Migration.source_compute == host,
            Migration.migration_type == moves.MigrationType.EVACUATION.value,
            Migration.status == moves.Status.DONE.value,
        )
    ).all()
    completed = 0
    for move, now_on, deleted in done:
        if move.instance_id not in guests or now_on == host or deleted:
            move.status = moves.Status.COMPLETED.value
            completed += 1
            LOG.info("evacuation of %s from %s completed: no copy left there", move.instance_id, host)
    return completed
