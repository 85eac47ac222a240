"""Small state changes shared by the workflows: compare-and-swap updates, faults, action events, teardown."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from compute.models import Allocation, Instance, InstanceAction, ServerGroupMember
from compute.states import TaskState, VmState


def now() -> datetime:
    return datetime.now(UTC)


def swap(session: Session, instance_id: str, expect: dict[str, Any], **values: Any) -> bool:
    """``UPDATE instances SET values WHERE id AND every expected column matches``; True if it won."""
    query = update(Instance).where(Instance.id == instance_id, Instance.deleted.is_(False))
    for column, expected in expect.items():
        attribute = getattr(Instance, column)
        query = query.where(attribute.is_(None) if expected is None else attribute == expected)
    return session.execute(query.values(updated_at=now(), **values)).rowcount == 1


def fault(code: int, message: str, details: str = "") -> dict[str, Any]:
    return {"code": code, "message": message[:1024], "details": details, "created": now().isoformat()}


def release_resources(session: Session, instance_id: str, host: str | None = None) -> None:
    query = delete(Allocation).where(Allocation.instance_id == instance_id)
    if host is not None:
        query = query.where(Allocation.host == host)
    session.execute(query)


def finish_delete(session: Session, instance_id: str) -> bool:
    """The instance is gone from its host (or never reached one): free everything and mark it deleted."""
    done = swap(
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
    return done


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
