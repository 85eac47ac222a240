"""Rebuilding a server: the same host, uuid and NICs, a new root disk and config drive from an image.

The API has claimed the task (``rebuilding``) and written the new image, name and metadata in the same
transaction; this sends the host the complete spec. As in Nova, a stopped server stays stopped after a rebuild,
and a rebuild that fails leaves the server in ERROR (its old disk is gone by then).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from compute import client, service
from compute.control import build, records
from compute.control.context import ComputeControl
from compute.models import Instance
from compute.states import TRANSITIONS, Action, PowerState, TaskState, VmState


def start(control: ComputeControl, instance_id: str, request_id: str) -> str:
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted or instance.task_state != TaskState.REBUILDING or not instance.host:
            return "superseded"
        spec = build.instance_spec(instance)
        host, power_on = instance.host, instance.vm_state != VmState.STOPPED
    client.agent_action(control.app, host, instance_id, "rebuild", request_id, spec=spec, power_on=power_on)
    return f"rebuilding on {host}"


def finish(session: Session, instance: Instance, power_state: int, error: str | None) -> dict[str, Any]:
    """The columns the host's report changes, besides clearing the task."""
    if error is not None:  # the old disk is gone by now: nothing to go back to
        failed = TRANSITIONS[Action.REBUILD].on_failure or VmState.ERROR
        return {"vm_state": failed.value, "fault": records.fault(500, f"Rebuild failed: {error}")}
    stopped = power_state in (PowerState.SHUTDOWN, PowerState.CRASHED)
    return {"vm_state": (VmState.STOPPED if stopped else VmState.ACTIVE).value, "launched_at": service.now()}
