"""Cold migration and resize to another host (scheduler side), with the confirm and revert that end them.

A migrate (admin) or a resize claims ``resize_prep`` in the API (the resize writes the new flavor, keeping the old
in ``old_flavor``; a migrate keeps the flavor in both). Then, each step a compare-and-swap on the task state and
on the ``migrations`` row's status, so a redelivered message or a late report changes nothing:

1. ``start``: the scheduler picks a target other than the source (the source excluded, the filters and weighers
   of a build) and claims the new flavor there, as the allocation ``(instance, "migration")``, by the build's
   compare-and-swap claim, in the transaction that moves the task to ``resize_migrating`` and records the move
   (``pre-migrating``): concurrent moves never overcommit a target. No other host: a resize stays on its host
   (``compute.control.resize``) when ``allow_resize_to_same_host`` allows it; a migrate never does, and ends with
   the server as it was and the reason in its action.
2. The source powers the guest off and copies its disks to the target (``migrate_disk_and_power_off``,
   ``migrating``); the ports are bound to the target (``post-migrating``); the target defines the guest with the
   new flavor and starts it if it ran (``finish_migration``, task ``resize_finish``). The server is then
   VERIFY_RESIZE on the target (``finished``), holding both claims: the old flavor on the source, the new on the
   target.
3. Confirm (``confirming``): the source removes its copy (``confirm_migration``), its claim goes, the target's
   becomes the server's (``confirmed``).
4. Revert (``reverting``): the target removes its copy (``destroy_moved``) and its claim goes, the ports go back to
   the source, the source starts its kept copy if it ran (``finish_revert_migration``), the old flavor comes back
   (``reverted``).

A failure at any step of 2 (or the sweeper giving a stuck move up) runs 4 as a roll-back (``migration.error``
says why): the server ends on the source as it was, running or stopped, with the failed step in its action, the
target's claim released and whatever was copied there removed; the migration ends ``error``. Each report is
taken only from the host whose step it is (the source or the target), as ``common.queue`` proves who sent it.

Each host step is acknowledged by its host on receipt; one not acknowledged within ``compute_build_take_timeout``
is sent again, ``move_steps.MAX_SENDS`` times in all, and then counts as that step failing on its host
(``not_taken``): a disk copy or a finish rolls the move back, a confirm or a revert's clean-up leaves the server
VERIFY_RESIZE to be tried again, and a source that never takes its restart ends the move there at once, with the
fault (``compute.control.move_steps``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from compute import actions, client, moves, service, volumes
from compute.control import build, move_steps, records, resize, scheduler
from compute.control.context import ComputeControl
from compute.models import Allocation, ComputeHost, Instance, InstanceAction, Migration, ports_of
from compute.states import PowerState, TaskState, VmState
from network import client as network_client
from volume.models import VolumeAttachment

LOG = logging.getLogger(__name__)

TARGET_CLAIM = "migration"
"""The allocation purpose of the new flavor on the target while the move is under way (Nova's migration
allocation)."""
INSTANCE = "instance"
DISK_COPY = "migrate_disk_and_power_off"
FINISH = "finish_migration"
CONFIRM = "confirm_migration"
REVERT_SOURCE = "finish_revert_migration"
CLEAR_TARGET = "destroy_moved"
STEPS = frozenset({DISK_COPY, FINISH, CONFIRM, REVERT_SOURCE, CLEAR_TARGET})
"""The host steps of a cold move (the driver's calls of the same names); their reports come as ``action_done``."""
MOVING = frozenset({TaskState.RESIZE_MIGRATING, TaskState.RESIZE_FINISH})
"""Task states of a move that has not reached VERIFY_RESIZE: a failure here rolls it back to the source."""
_S = moves.Status
WAITS_IN = {
    DISK_COPY: (TaskState.RESIZE_MIGRATING, _S.MIGRATING, "source"),
    FINISH: (TaskState.RESIZE_FINISH, _S.POST_MIGRATING, "target"),
    CONFIRM: (TaskState.RESIZE_CONFIRMING, _S.CONFIRMING, "source"),
    CLEAR_TARGET: (TaskState.RESIZE_REVERTING, _S.REVERTING, "target"),
    REVERT_SOURCE: (TaskState.RESIZE_REVERTING, _S.REVERTING, "source"),
}
"""The server's task and the move's status while each step waits for its host's report, and which host runs it."""


class _Lost(Exception):
    """The claim or the instance changed under us: roll the transaction back."""


# --- start: pick and claim the target -----------------------------------------------------------------------


def start(
    control: ComputeControl, instance_id: str, request_id: str, migration_type: str, host: str | None = None
) -> str:
    """Begin a migrate or a resize the API claimed (``resize_prep``); ``host``: the admin's target (2.56)."""
    kind = moves.MigrationType(migration_type)
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted or instance.task_state != TaskState.RESIZE_PREP or not instance.host:
            return "superseded"
        if moves.in_flight(session, instance_id) is not None:
            return "already under way"
        # Nothing is in flight, so a target claim left by an older move is stale (the claim below reuses its key).
        session.execute(_target_claim(instance_id))
        source = instance.host
        request = build.placement_request(session, instance, control.settings.compute_host_down_after)
        # A move is placed afresh (Nova resets the forced host of the create); the source is never a candidate.
        request = dataclasses.replace(request, forced_host=host, excluded=frozenset({source}))
        group_id = instance.server_group_id
        requester = resize.requester(session, instance_id, request_id)
    target, reason = _claim_target(control, instance_id, source, request, group_id, kind, request_id, requester)
    if target is None and reason == "superseded":
        return reason
    if target is None:
        if kind is moves.MigrationType.RESIZE and host is None and control.settings.allow_resize_to_same_host:
            LOG.info("[%s] no other host for the resize of %s: resizing on %s", request_id, instance_id, source)
            return resize.start(control, instance_id, request_id)
        _no_target(control, instance_id, request_id, source, kind, requester, reason)
        return "no valid host"
    _send_disk_copy(control, instance_id, request_id)
    return f"moving from {source} to {target}"


def _claim_target(
    control: ComputeControl,
    instance_id: str,
    source: str,
    request: scheduler.Request,
    group_id: str | None,
    kind: moves.MigrationType,
    request_id: str,
    requester: tuple[str, str],
) -> tuple[str | None, str]:
    """Decide and claim as a build does (the cached picture first, a fresh one if it finds no host). Returns the
    target, or None and why not (``superseded`` when the server moved on)."""
    decision = None
    for attempt in range(2):
        with control.db.session() as session:
            states, cached = control.hosts.states(session, group_id)
        decision = scheduler.select_hosts(states, request, control.settings.scheduler_strategy)
        for candidate in decision.ranked():
            name = candidate.host.name
            outcome = _try_target(control, instance_id, source, name, request, kind, request_id, requester)
            if outcome == "claimed":
                control.hosts.claimed(name, request)
                return name, ""
            if outcome == "superseded":
                return None, outcome
            control.hosts.invalidate()  # another claim got there first: our picture is behind
        if not cached or attempt:
            break
        control.hosts.invalidate()
    explained = decision.explain() if decision is not None else ""
    return None, scheduler.NoValidHost(reason=f"A move needs a host other than {source}: {explained}").message


def _try_target(
    control: ComputeControl,
    instance_id: str,
    source: str,
    target: str,
    request: scheduler.Request,
    kind: moves.MigrationType,
    request_id: str,
    requester: tuple[str, str],
) -> str:
    try:
        with control.db.session() as session:
            if not scheduler.claim(session, target, request, purpose=TARGET_CLAIM):
                raise _Lost("host taken")
            expect = {"task_state": TaskState.RESIZE_PREP.value, "host": source}
            if not service.swap(session, instance_id, expect, task_state=TaskState.RESIZE_MIGRATING.value):
                raise _Lost("superseded")
            instance = session.get(Instance, instance_id)
            address = session.get(ComputeHost, target).host_ip  # type: ignore[union-attr]
            moves.start(
                session, instance, kind, _S.PRE_MIGRATING, request_id, *requester,  # type: ignore[arg-type]
                dest_compute=target, dest_host=address,
            )  # fmt: skip
            actions.record_event(session, instance_id, request_id, "compute_prep_resize", "Success", target)
    except _Lost as lost:
        return str(lost.args[0])
    return "claimed"


def _no_target(
    control: ComputeControl,
    instance_id: str,
    request_id: str,
    source: str,
    kind: moves.MigrationType,
    requester: tuple[str, str],
    reason: str,
) -> None:
    """No host to move to: the server as it was (its old flavor back), the reason in its action and in an
    ``error`` migration record (os-migrations shows it, as Nova's)."""
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None:
            return
        # Recorded first, with the flavors the move asked for (the swap gives the server its old one back).
        row = moves.start(session, instance, kind, _S.ERROR, request_id, *requester, error=reason)
        values = {"flavor": instance.old_flavor or instance.flavor, "old_flavor": None}
        expect = {"task_state": TaskState.RESIZE_PREP.value}
        if not service.swap(session, instance_id, expect, task_state=None, **values):
            session.delete(row)
            return
        actions.record_event(session, instance_id, request_id, "conductor_migrate_server", "Error", source, reason)
    LOG.warning("[%s] move of %s not started: %s", request_id, instance_id, reason)


def _send_disk_copy(control: ComputeControl, instance_id: str, request_id: str) -> None:
    with control.db.session() as session:
        migration = moves.in_flight(session, instance_id)
        if migration is None or migration.status != _S.PRE_MIGRATING:
            return
        migration.status = _S.MIGRATING.value
    _send_step(control, instance_id, DISK_COPY, request_id)


def _send_step(control: ComputeControl, instance_id: str, step: str, request_id: str, again: bool = False) -> bool:
    """Send ``step`` to its host while the move waits for it (``WAITS_IN``), recorded for ``move_steps``, with what
    the host needs: the target's address for the disk copy, the spec and power for the finish, the power for the
    source's restart. ``again``: only while the host has not acknowledged it. False: the move went on."""
    task, status, side = WAITS_IN[step]
    with control.db.session() as session:
        found = _move(session, instance_id, task, status)
        if found is None or (again and (found[1].step != step or found[1].step_sent_at is None)):
            return False
        instance, migration = found
        host = (migration.source_compute if side == "source" else migration.dest_compute) or ""
        params: dict[str, Any] = {}
        if step == DISK_COPY:
            params["target"] = {"host": migration.dest_compute, "address": migration.dest_host}
        elif step == FINISH:
            params = {"spec": build.instance_spec(instance), "power_on": instance.vm_state == VmState.ACTIVE}
        elif step == REVERT_SOURCE:
            # A roll-back restarts a server that ran before the move; a revert one that runs on the target now.
            rolling_back = migration.error is not None
            running = (
                instance.vm_state == VmState.ACTIVE if rolling_back else instance.power_state == PowerState.RUNNING
            )
            params["power_on"] = running
        moves.handed(migration, step, host)
        if again:  # the host reports with the request id it gets: the action the step belongs to, the newest
            request_id = _newest_request(session, instance_id) or request_id
    take = control.settings.compute_build_take_timeout
    client.agent_step(control.app, host, instance_id, step, request_id, take, **params)
    return True


def _newest_request(session: Session, instance_id: str) -> str | None:
    query = select(InstanceAction.request_id).where(InstanceAction.instance_id == instance_id)
    return session.scalars(query.order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc())).first()


# --- the hosts' reports --------------------------------------------------------------------------------------


def _attachments_to(session: Session, instance_id: str, host: str) -> None:
    """The server's volumes are plugged in on ``host`` now (their connection_info does not name a host)."""
    for mapping in volumes.mappings(session, instance_id):
        attachment = session.get(VolumeAttachment, mapping.attachment_id) if mapping.attachment_id else None
        if attachment is not None and not attachment.deleted:
            attachment.attached_host = host


def _target_claim(instance_id: str) -> Any:
    return delete(Allocation).where(Allocation.instance_id == instance_id, Allocation.purpose == TARGET_CLAIM)


def _stable_state(power_state: int) -> str:
    if power_state == PowerState.NOSTATE:
        return VmState.ERROR.value
    stopped = power_state in (PowerState.SHUTDOWN, PowerState.CRASHED)
    return (VmState.STOPPED if stopped else VmState.ACTIVE).value


def _move(
    session: Session, instance_id: str, task: TaskState, status: moves.Status
) -> tuple[Instance, Migration] | None:
    """The server and its move, if they are at ``task`` / ``status`` (else the report is late or redelivered)."""
    instance = session.get(Instance, instance_id)
    if instance is None or instance.deleted or instance.task_state != task:
        return None
    migration = moves.in_flight(session, instance_id)
    if migration is None or migration.status != status or migration.dest_compute == migration.source_compute:
        return None
    return instance, migration


def step_done(
    control: ComputeControl,
    instance_id: str,
    host: str,
    step: str,
    request_id: str,
    power_state: int,
    error: str | None = None,
) -> str:
    """A host's report of one step (``action_done`` with a step of ``STEPS``). ``power_state`` is the reporting
    host's: it is the server's only when that host now runs it."""
    handlers: dict[str, Callable[..., str]] = {
        DISK_COPY: _disk_copied,
        FINISH: _finished,
        CONFIRM: _confirmed,
        CLEAR_TARGET: _target_cleared,
        REVERT_SOURCE: _source_restored,
    }
    outcome = handlers[step](control, instance_id, host, request_id, power_state, error)
    if error:
        LOG.warning("[%s] %s of %s failed on %s: %s (%s)", request_id, step, instance_id, host, error, outcome)
    return outcome


def _disk_copied(
    control: ComputeControl, instance_id: str, host: str, request_id: str, power_state: int, error: str | None
) -> str:
    with control.db.session() as session:
        found = _move(session, instance_id, TaskState.RESIZE_MIGRATING, _S.MIGRATING)
        if found is None or found[1].source_compute != host:
            return "superseded"
        instance, migration = found
        if error is None:
            networked, project_id, target = bool(ports_of(instance)), instance.project_id, migration.dest_compute or ""
            migration.status = _S.POST_MIGRATING.value
            next_task = TaskState.RESIZE_MIGRATING if networked else TaskState.RESIZE_FINISH
            expect = {"task_state": TaskState.RESIZE_MIGRATING.value}
            service.swap(session, instance_id, expect, task_state=next_task.value, power_state=power_state)
            event_request = migration.request_id or request_id
            actions.record_event(session, instance_id, event_request, "compute_resize_instance", "Success", host)
    if error is not None:
        return roll_back(control, instance_id, request_id, f"The disk copy failed on {host}: {error}", host)
    return _bind_ports_or_send(
        control, instance_id, request_id, host=target, project_id=project_id, networked=networked,
        send_next=_send_finish,
    )  # fmt: skip


def _bind_ports_or_send(
    control: ComputeControl, instance_id: str, request_id: str, *, host: str, project_id: str, networked: bool,
    send_next: Callable[[ComputeControl, str, str], str],
) -> str:  # fmt: skip
    """The server is now ``host``'s: its ports (``networked``: it has some) are bound there first, and the network's
    "network ready" for that host sends ``send_next`` (``network_ready``); a server without ports goes on to
    ``send_next`` at once. The forward path binds them to the target before the finish, a revert or a roll-back
    back to the source before it starts its kept copy."""
    if networked:
        network_client.bind_instance(control.app, instance_id, project_id, host, request_id)
        return f"binding the ports to {host}"
    return send_next(control, instance_id, request_id)


def _send_finish(control: ComputeControl, instance_id: str, request_id: str) -> str:
    """The target defines the guest with the server's (new) flavor, started if the server ran."""
    return "finishing" if _send_step(control, instance_id, FINISH, request_id) else "superseded"


def _finished(
    control: ComputeControl, instance_id: str, host: str, request_id: str, power_state: int, error: str | None
) -> str:
    with control.db.session() as session:
        found = _move(session, instance_id, TaskState.RESIZE_FINISH, _S.POST_MIGRATING)
        if found is None or found[1].dest_compute != host:
            return "superseded"
        instance, migration = found
        if error is None:
            migration.status = _S.FINISHED.value
            zone = session.get(ComputeHost, host)
            service.swap(
                session,
                instance_id,
                {"task_state": TaskState.RESIZE_FINISH.value},
                task_state=None,
                vm_state=VmState.RESIZED.value,
                host=host,
                availability_zone=zone.availability_zone if zone is not None else instance.availability_zone,
                power_state=power_state,
            )
            _attachments_to(session, instance_id, host)
            event_request = migration.request_id or request_id
            actions.record_event(session, instance_id, event_request, "compute_finish_resize", "Success", host)
    if error is not None:
        return roll_back(
            control, instance_id, request_id, f"The target {host} could not start the guest: {error}", host
        )
    return "verify resize"


def _confirmed(
    control: ComputeControl, instance_id: str, host: str, request_id: str, power_state: int, error: str | None
) -> str:
    with control.db.session() as session:
        found = _move(session, instance_id, TaskState.RESIZE_CONFIRMING, _S.CONFIRMING)
        if found is None or found[1].source_compute != host:
            return "superseded"
        instance, migration = found
        expect = {"task_state": TaskState.RESIZE_CONFIRMING.value}
        if error is not None:  # still waiting for confirmation: the user may try again
            migration.status = _S.FINISHED.value
            service.swap(session, instance_id, expect, task_state=None)
            actions.record_event(session, instance_id, request_id, "compute_confirm_resize", "Error", host, error)
            return "error"
        session.execute(delete(Allocation).where(Allocation.instance_id == instance_id, Allocation.purpose == INSTANCE))
        session.execute(
            update(Allocation)
            .where(Allocation.instance_id == instance_id, Allocation.purpose == TARGET_CLAIM)
            .values(purpose=INSTANCE)
        )
        migration.status = _S.CONFIRMED.value
        # The source's report says nothing of the guest, which runs on the target: its last known state stands.
        service.swap(
            session, instance_id, expect, task_state=None, vm_state=_stable_state(instance.power_state), old_flavor=None
        )
        actions.record_event(session, instance_id, request_id, "compute_confirm_resize", "Success", host)
    return "confirmed"


# --- revert and roll-back -------------------------------------------------------------------------------------


def roll_back(control: ComputeControl, instance_id: str, request_id: str, reason: str, host: str | None) -> str:
    """A move that failed before VERIFY_RESIZE goes back to its source, by the revert's steps."""
    with control.db.session() as session:
        sends = _begin_roll_back(session, instance_id, reason, host)
    for send in sends:
        send(control, request_id)
    return "rolling back" if sends else "superseded"


def _begin_roll_back(
    session: Session, instance_id: str, reason: str, host: str | None
) -> list[Callable[[ComputeControl, str], None]]:
    instance = session.get(Instance, instance_id)
    migration = moves.in_flight(session, instance_id)
    if instance is None or instance.task_state not in MOVING or migration is None:
        return []
    if migration.status not in (_S.PRE_MIGRATING, _S.MIGRATING, _S.POST_MIGRATING):
        return []
    step = "compute_finish_resize" if instance.task_state == TaskState.RESIZE_FINISH else "compute_resize_instance"
    if not service.swap(
        session, instance_id, {"task_state": instance.task_state}, task_state=TaskState.RESIZE_REVERTING.value
    ):
        return []
    migration.status, migration.error = _S.REVERTING.value, reason
    actions.record_event(session, instance_id, migration.request_id, step, "Error", host, reason)

    def clear_target(control: ComputeControl, request_id: str) -> None:
        _send_step(control, instance_id, CLEAR_TARGET, request_id)

    return [clear_target]


def _target_cleared(
    control: ComputeControl, instance_id: str, host: str, request_id: str, power_state: int, error: str | None
) -> str:
    with control.db.session() as session:
        found = _move(session, instance_id, TaskState.RESIZE_REVERTING, _S.REVERTING)
        if found is None or found[1].dest_compute != host:
            return "cleaned up" if error is None else "superseded"
        instance, migration = found
        expect = {"task_state": TaskState.RESIZE_REVERTING.value}
        rolling_back = migration.error is not None
        if error is not None and not rolling_back:  # the guest may still run there: stay VERIFY_RESIZE, retry
            migration.status = _S.FINISHED.value
            service.swap(session, instance_id, expect, task_state=None)
            actions.record_event(session, instance_id, request_id, "compute_revert_resize", "Error", host, error)
            return "error"
        if error is not None:  # rolling back: the source copy is the server; the target's report drops what is left
            migration.error = f"{migration.error}; removing the copy on {host} failed too: {error}"
        session.execute(_target_claim(instance_id))
        source = migration.source_compute or ""
        zone = session.get(ComputeHost, source)
        service.swap(
            session, instance_id, expect, host=source,
            availability_zone=zone.availability_zone if zone is not None else instance.availability_zone,
        )  # fmt: skip
        if not rolling_back:
            actions.record_event(session, instance_id, request_id, "compute_revert_resize", "Success", host)
        networked, project_id = bool(ports_of(instance)), instance.project_id
    return _bind_ports_or_send(
        control, instance_id, request_id, host=source, project_id=project_id, networked=networked,
        send_next=_send_source_restore,
    )  # fmt: skip


def _send_source_restore(control: ComputeControl, instance_id: str, request_id: str) -> str:
    return "restoring the source" if _send_step(control, instance_id, REVERT_SOURCE, request_id) else "superseded"


def _source_restored(
    control: ComputeControl, instance_id: str, host: str, request_id: str, power_state: int, error: str | None
) -> str:
    with control.db.session() as session:
        found = _move(session, instance_id, TaskState.RESIZE_REVERTING, _S.REVERTING)
        if found is None or found[1].source_compute != host:
            return "superseded"
        instance, migration = found
        session.execute(_target_claim(instance_id))
        values: dict[str, Any] = {
            "task_state": None,
            "host": host,
            "flavor": instance.old_flavor or instance.flavor,
            "old_flavor": None,
            "power_state": power_state,
            "vm_state": _stable_state(power_state),
        }
        rolling_back = migration.error is not None
        _attachments_to(session, instance_id, host)
        if error is not None:
            migration.error = f"{migration.error}; " if rolling_back else ""
            migration.error += f"the source {host} could not restore the guest: {error}"
            values["fault"] = records.fault(500, migration.error)
        migration.status = (_S.ERROR if rolling_back or error else _S.REVERTED).value
        service.swap(session, instance_id, {"task_state": TaskState.RESIZE_REVERTING.value}, **values)
        event, event_request = "compute_finish_revert_resize", request_id
        if rolling_back:
            event, event_request = "compute_rollback_migration", migration.request_id or request_id
        result = "Error" if error else "Success"
        actions.record_event(session, instance_id, event_request, event, result, host, error)
    return "rolled back" if rolling_back else ("error" if error else "reverted")


# --- the ports --------------------------------------------------------------------------------------------------


def wiring_for_move(control: ComputeControl, instance_id: str, host: str) -> bool:
    """Whether a "network ready" or "network failed" for ``instance_id`` on ``host`` belongs to a cold move: the
    target wiring the ports before the finish, or the source wiring them again for a revert."""
    with control.db.session() as session:
        return _wiring(session, instance_id, host) is not None


def _wiring(session: Session, instance_id: str, host: str) -> str | None:
    found = _move(session, instance_id, TaskState.RESIZE_MIGRATING, _S.POST_MIGRATING)
    if found is not None and found[1].dest_compute == host:
        return "target"
    found = _move(session, instance_id, TaskState.RESIZE_REVERTING, _S.REVERTING)
    if found is not None and found[1].source_compute == host and found[0].host == host:
        return "source"
    return None


def network_ready(
    control: ComputeControl, instance_id: str, host: str, nics: list[dict[str, Any]], request_id: str
) -> str:
    with control.db.session() as session:
        side = _wiring(session, instance_id, host)
        instance = session.get(Instance, instance_id)
        if side is None or instance is None:
            return "superseded"
        instance.requested_networks = records.with_nics(instance.requested_networks, nics)
        if side == "target":
            expect = {"task_state": TaskState.RESIZE_MIGRATING.value}
            service.swap(session, instance_id, expect, task_state=TaskState.RESIZE_FINISH.value)
    if side == "target":
        return _send_finish(control, instance_id, request_id)
    return _send_source_restore(control, instance_id, request_id)


def network_failed(control: ComputeControl, instance_id: str, host: str, reason: str, request_id: str) -> str:
    """The target could not wire the ports: roll back. The source could not wire them again: start the kept copy
    all the same (its ports stay bound to it; the network agent retries)."""
    with control.db.session() as session:
        side = _wiring(session, instance_id, host)
    if side == "target":
        return roll_back(control, instance_id, request_id, f"The ports could not be wired on {host}: {reason}", host)
    if side == "source":
        return _send_source_restore(control, instance_id, request_id)
    return "superseded"


# --- the sweeper ------------------------------------------------------------------------------------------------


def give_up(
    session: Session, instance: Instance, reason: str | None = None
) -> list[Callable[[ComputeControl, str], None]] | None:
    """The sweeper's remedy for a cold move stuck past ``compute_task_timeout`` (``reason``: another, the fault
    says it), in its transaction; the messages to send after it commits. None: not a move between hosts (the
    generic give-up applies).

    Before VERIFY_RESIZE the move is rolled back (the target's copy removed, the source's started). A revert or a
    roll-back that never ended is ended on the source at once: its copy is the server, the target is told to
    remove its own (and a target host that comes back drops it: its server lives elsewhere)."""
    if instance.task_state in MOVING:
        return _begin_roll_back(session, instance.id, reason or f"{instance.task_state} timed out", None) or None
    if instance.task_state != TaskState.RESIZE_REVERTING:
        return None
    migration = moves.in_flight(session, instance.id)
    if migration is None or migration.status != _S.REVERTING or migration.dest_compute == migration.source_compute:
        return None
    session.execute(_target_claim(instance.id))
    source, target, instance_id = migration.source_compute or "", migration.dest_compute or "", instance.id
    was_running = instance.vm_state == VmState.ACTIVE or instance.power_state == PowerState.RUNNING
    migration.status = _S.ERROR.value
    migration.error = f"{migration.error or 'the revert'}; {reason or 'timed out'}"
    moves.settled(migration)
    service.swap(
        session, instance_id, {"task_state": TaskState.RESIZE_REVERTING.value}, task_state=None, host=source,
        flavor=instance.old_flavor or instance.flavor, old_flavor=None,
        vm_state=(VmState.ACTIVE if was_running else VmState.STOPPED).value,
        fault=records.fault(500, reason or f"{TaskState.RESIZE_REVERTING.value} timed out"),
    )  # fmt: skip

    def clear(control: ComputeControl, request_id: str) -> None:
        client.agent_action(control.app, target, instance_id, CLEAR_TARGET, request_id)

    def restore(control: ComputeControl, request_id: str) -> None:
        client.agent_action(control.app, source, instance_id, REVERT_SOURCE, request_id, power_on=was_running)

    return [clear, restore]


# --- a step its host does not acknowledge (compute.control.move_steps) ----------------------------------------


def not_taken(control: ComputeControl, instance_id: str, host: str, reason: str, request_id: str) -> str:
    """``host`` never acknowledged the step it was sent ``move_steps.MAX_SENDS`` times: that step failed there (its
    report's failure path: a roll-back, or VERIFY_RESIZE again), except the source's restart, whose failure would
    leave the server in ERROR: the move ends on the source at once, as the sweeper ends a stuck revert."""
    with control.db.session() as session:
        migration = moves.in_flight(session, instance_id)
        instance = session.get(Instance, instance_id)
        if migration is None or instance is None or migration.step not in STEPS or migration.step_host != host:
            return "moved on"
        step, request_id = migration.step, _newest_request(session, instance_id) or request_id
        sends = give_up(session, instance, reason) if step == REVERT_SOURCE else None
    if step != REVERT_SOURCE:
        return step_done(control, instance_id, host, step, request_id, int(PowerState.NOSTATE), error=reason)
    for send in sends or []:
        send(control, request_id)
    return "ended on the source"


STEP_HANDLER = move_steps.StepHandler(
    resend=lambda control, instance_id, host, request_id: _send_again(control, instance_id, host, request_id),
    give_up=not_taken,
    late=lambda control, instance_id, host, request_id: "superseded",  # later steps and reports clean up
)
"""How ``move_steps`` sends a cold move's step again and gives it up. A host that acknowledges a step late needs
no answer: its message had not expired, so the step runs and reports, and the move takes only the report it waits
for; what the host made of it is removed by the roll-back's steps or, for a server that lives elsewhere, by its
next report."""


def _send_again(control: ComputeControl, instance_id: str, host: str, request_id: str) -> bool:
    with control.db.session() as session:
        migration = moves.in_flight(session, instance_id)
        step = migration.step if migration is not None and migration.step_host == host else None
    return step in WAITS_IN and _send_step(control, instance_id, step or "", request_id, again=True)
