"""Starting an action on a server, in whichever process starts it: the claim and the user-visible record.

Why one module: every action (the delete included) claims its task the same way, by a compare-and-swap on the
state the table (``compute.states.TRANSITIONS``) allows it to start from, and records the same row for
``os-instance-actions``; the workflows that carry it out add events to that row and close it, in the API process
and in the scheduler alike. The API lists the rows (``api.compute.servers``).
"""

from __future__ import annotations

import logging
import traceback
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from compute.models import Instance, InstanceAction
from compute.service import now, swap
from compute.states import TRANSITIONS, Action

LOG = logging.getLogger(__name__)

__all__ = ["claim", "record_action", "record_event"]


def claim(session: Session, instance: Instance, action: Action | str, **values: object) -> bool:
    """Take ``action``'s task on the server if the table allows it from the state ``instance`` was read in,
    writing ``values`` in the same statement. False when the table refuses or the row changed since it was read
    (another request or a host's report got there first): the API answers 409, a workflow stands back.

    ``UPDATE ... WHERE id AND vm_state = :read AND task_state = :read``, never read-then-write (STYLE.md 9)."""
    transition = TRANSITIONS[Action(action)]
    if transition.task_state is None or not transition.allows(instance.vm_state, instance.task_state):
        return False
    expected = {"vm_state": instance.vm_state, "task_state": instance.task_state}
    return swap(session, instance.id, expected, task_state=transition.task_state.value, **values)


def record_action(
    session: Session,
    instance: Instance,
    action: str,
    request_id: str,
    user_id: str | None,
    project_id: str | None,
    started: datetime | None = None,
    finished: bool = False,
) -> InstanceAction:
    """Record that ``request_id`` started ``action`` (Nova's name: ``createImage``, ``confirmResize``...) on the
    server, by the caller's user and project. ``finished`` closes it at once (an action done in the request, such
    as lock); the others are closed by their first event (``record_event``)."""
    start = started or now()
    row = InstanceAction(
        instance_id=instance.id,
        action=action,
        request_id=request_id,
        user_id=user_id,
        project_id=project_id,
        start_time=start,
        finish_time=start if finished else None,
    )
    session.add(row)
    return row


def record_event(
    session: Session,
    instance_id: str,
    request_id: str,
    event: str,
    result: str,
    host: str | None = None,
    error: BaseException | str | None = None,
) -> None:
    """Add an event to the action the request started, and close the action. An action nobody recorded (a task
    the sweeper or a host sent on its own) gets no event."""
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


def reported_elsewhere(instance: Instance, host: str, report: str) -> bool:
    """True (and logged) when ``host`` reports about an instance that lives on another host: a host is heard
    only about its own servers, whatever its message says (``common.queue`` checks the host it names is the
    sender's own)."""
    if instance.host in (None, host):
        return False
    LOG.warning("host %s reported %s of instance %s, which is on %s: ignored", host, report, instance.id, instance.host)
    return True
