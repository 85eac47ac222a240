"""Small state changes shared by the workflows: compare-and-swap updates, faults, action events, teardown."""

from __future__ import annotations

import traceback
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from compute.models import Allocation, Instance, InstanceAction, ServerGroupMember
from compute.service import now as now  # re-exported: the workflows call records.now and records.swap
from compute.service import swap as swap
from compute.states import TaskState, VmState
from network import vif


def fault(code: int, message: str, details: str = "") -> dict[str, Any]:
    return {"code": code, "message": message[:1024], "details": details, "created": now().isoformat()}


def release_resources(session: Session, instance_id: str, host: str | None = None) -> None:
    query = delete(Allocation).where(Allocation.instance_id == instance_id)
    if host is not None:
        query = query.where(Allocation.host == host)
    session.execute(query)


def ports_of(instance: Instance | None) -> list[dict[str, Any]]:
    """The server's ports as the API recorded them (``requested_networks`` is "none"/"auto" when it has none):
    ``{"network_id", "port_id", "preserve"}``, and once wired ``mac``, ``mtu``, ``tap`` and ``bridge``."""
    requested = instance.requested_networks if instance is not None else None
    return [entry for entry in requested if entry.get("port_id")] if isinstance(requested, list) else []


def release_ports(session: Session, instance_id: str) -> list[str]:
    """Delete the ports the server's create made, detach the ones the user brought; returns the networks whose
    hosts must be told (send ``network.client.ports_changed`` for each after commit)."""
    instance = session.get(Instance, instance_id)
    if instance is None:
        return []
    preserved = [e["port_id"] for e in ports_of(instance) if e.get("preserve")]
    return vif.release_ports(session, instance_id, instance.project_id, preserved)


def finish_delete(session: Session, instance_id: str) -> list[str]:
    """The instance is gone from its host (or never reached one): free everything and mark it deleted. Returns
    the networks its ports were on (to be synced after commit)."""
    networks = release_ports(session, instance_id)
    swap(
        session,
        instance_id,
        {},
        vm_state=VmState.DELETED.value,
        task_state=None,
        power_state=0,
        deleted=True,
        deleted_at=now(),
        terminated_at=now(),
    )
    release_resources(session, instance_id)
    session.execute(delete(ServerGroupMember).where(ServerGroupMember.instance_id == instance_id))
    return networks


def record_event(
    session: Session,
    instance_id: str,
    request_id: str,
    event: str,
    result: str,
    host: str | None = None,
    error: BaseException | str | None = None,
) -> None:
    """Add an event to the action the request started (``os-instance-actions``), and close the action."""
    action = session.scalars(
        select(InstanceAction).where(InstanceAction.instance_id == instance_id, InstanceAction.request_id == request_id)
    ).first()
    if action is None:
        return
    entry = {
        "event": event,
        "start_time": action.start_time.isoformat(),
        "finish_time": now().isoformat(),
        "result": result,
        "host": host,
        "traceback": None,
    }
    if isinstance(error, BaseException):
        entry["traceback"] = "".join(traceback.format_exception_only(type(error), error)).strip()
    elif error:
        entry["traceback"] = error
    action.events = [*action.events, entry]
    action.finish_time = now()
    if result == "Error":
        action.message = "Error"


def deleting(instance: Instance) -> bool:
    return instance.task_state == TaskState.DELETING
