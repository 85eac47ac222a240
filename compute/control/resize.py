"""Resizing a server to another flavor, then confirming or reverting, on the host it runs on.

A resize goes to another host when one has room (``compute.control.cold_migration``); this is the path it takes
when none has and ``allow_resize_to_same_host`` allows it (Nova's option), so a one-machine cloud still resizes.
While the resize waits for confirmation the instance holds two allocations on its host, ``instance`` (the old
flavor) and ``resize`` (the new one), as Nova holds the migration's: confirm keeps the new one, revert the old.
No room on the host for the new flavor ends the task with the server as it was and the reason in its action.

The API claims the task (``resize_prep``), keeps the old flavor in ``old_flavor`` and writes the new one to
``flavor`` in one transaction; ``start`` claims the resources and sends the host the new spec.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from compute import actions, client, moves, service
from compute.control import build, records, scheduler
from compute.control.context import ComputeControl
from compute.models import Allocation, Instance, InstanceAction
from compute.states import PowerState, TaskState, VmState

RESIZE = "resize"
INSTANCE = "instance"


def _request(instance: Instance) -> scheduler.Request:
    flavor = instance.flavor
    disk = int(flavor["disk"]) + int(flavor.get("ephemeral", 0))
    return scheduler.Request(instance.id, int(flavor["vcpus"]), int(flavor["ram"]), disk)


def start(control: ComputeControl, instance_id: str, request_id: str) -> str:
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted or instance.task_state != TaskState.RESIZE_PREP or not instance.host:
            return "superseded"
        host, flavor = instance.host, instance.flavor
        held = session.get(Allocation, (instance_id, RESIZE)) is not None  # a redelivered task claimed already
        claimed = held or scheduler.claim(session, host, _request(instance), purpose=RESIZE, require_enabled=False)
        spec = build.instance_spec(instance) if claimed else None
        # Nova records a resize in place as a migration too (os-migrations lists it), its source its target.
        status = moves.Status.MIGRATING if claimed else moves.Status.ERROR
        if moves.in_flight(session, instance_id) is None:
            moves.start(session, instance, moves.MigrationType.RESIZE, status, request_id,
                        *requester(session, instance_id, request_id), dest_compute=host)  # fmt: skip
    if spec is None:
        message = (
            f"No valid host was found. No other host fits, and the server's host {host} has no room for flavor "
            f"{flavor['name']} ({flavor['vcpus']} vCPUs, {flavor['ram']} MiB RAM, {flavor['disk']} GB disk)."
        )
        with control.db.session() as session:
            instance = session.get(Instance, instance_id)
            values = undo(session, instance)
            service.swap(session, instance_id, {"task_state": TaskState.RESIZE_PREP.value}, task_state=None, **values)
            actions.record_event(session, instance_id, request_id, "compute_prep_resize", "Error", host, message)
        return "no room"
    client.agent_action(control.app, host, instance_id, "resize", request_id, spec=spec)
    return f"resizing on {host}"


def requester(session: Session, instance_id: str, request_id: str) -> tuple[str, str]:
    """Who asked (the user and project of the action the API recorded), for the migration record."""
    action = session.scalars(
        select(InstanceAction).where(InstanceAction.instance_id == instance_id, InstanceAction.request_id == request_id)
    ).first()
    return (action.user_id, action.project_id) if action is not None else ("", "")


def _in_place(session: Session, instance_id: str, status: moves.Status) -> None:
    """The resize in place's migration record moves on to ``status``."""
    migration = moves.in_flight(session, instance_id)
    if migration is not None and migration.dest_compute == migration.source_compute:
        migration.status = status.value


def undo(session: Session, instance: Instance) -> dict[str, Any]:
    """Release the new flavor's claim; the columns that give the server its old flavor back."""
    session.execute(delete(Allocation).where(Allocation.instance_id == instance.id, Allocation.purpose == RESIZE))
    _in_place(session, instance.id, moves.Status.ERROR)
    return {"flavor": instance.old_flavor or instance.flavor, "old_flavor": None}


def _stable_state(power_state: int) -> str:
    if power_state == PowerState.NOSTATE:
        return VmState.ERROR.value
    stopped = power_state in (PowerState.SHUTDOWN, PowerState.CRASHED)
    return (VmState.STOPPED if stopped else VmState.ACTIVE).value


def finish_resize(session: Session, instance: Instance, power_state: int, error: str | None) -> dict[str, Any]:
    if error is None:
        _in_place(session, instance.id, moves.Status.FINISHED)
        return {"vm_state": VmState.RESIZED.value}
    values = undo(session, instance) | {"vm_state": _stable_state(power_state)}
    if values["vm_state"] == VmState.ERROR:
        values["fault"] = records.fault(500, f"Resize failed: {error}")
    return values


def finish_confirm(session: Session, instance: Instance, power_state: int, error: str | None) -> dict[str, Any]:
    if error is not None:
        return {}  # still waiting for confirmation: the user may try again
    session.execute(delete(Allocation).where(Allocation.instance_id == instance.id, Allocation.purpose == INSTANCE))
    session.execute(
        update(Allocation)
        .where(Allocation.instance_id == instance.id, Allocation.purpose == RESIZE)
        .values(purpose=INSTANCE)
    )
    _in_place(session, instance.id, moves.Status.CONFIRMED)
    return {"vm_state": _stable_state(power_state), "old_flavor": None}


def finish_revert(session: Session, instance: Instance, power_state: int, error: str | None) -> dict[str, Any]:
    if error is not None:
        return {}
    _in_place(session, instance.id, moves.Status.REVERTED)  # before undo, which would call it an error
    return undo(session, instance) | {"vm_state": _stable_state(power_state)}
