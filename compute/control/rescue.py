"""Rescuing a server: its host boots it from a rescue image, its own root disk as the second disk.

The API has claimed the task (``rescuing``) and read the rescue image (the server's own, or ``rescue_image_ref``);
this sends the host the server's complete spec with it (the host defines the rescue domain from both). Unrescue
needs no spec: the host puts back the definition it kept, so the API sends it straight to the host.
"""

from __future__ import annotations

from typing import Any

from compute import client
from compute.control import build
from compute.control.context import ComputeControl
from compute.models import Instance
from compute.states import Action, TaskState


def start(control: ComputeControl, instance_id: str, request_id: str, rescue_image: dict[str, Any]) -> str:
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted or instance.task_state != TaskState.RESCUING or not instance.host:
            return "superseded"
        spec, host = build.instance_spec(instance), instance.host
    client.agent_action(
        control.app, host, instance_id, Action.RESCUE.value, request_id, spec=spec, rescue_image=rescue_image
    )
    return f"rescuing on {host}"
