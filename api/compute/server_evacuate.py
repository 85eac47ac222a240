"""``POST /servers/{id}/action`` ``{"evacuate": {...}}``: rebuild a server of a failed host on another host (admin).

Nova's rules (api-ref "Evacuate Server", ``nova/api/openstack/compute/evacuate.py``): the body by microversion
(before 2.14 ``onSharedStorage`` is required and ``adminPass`` may not go with it; ``force`` from 2.29 to 2.67,
refused from 2.68), policy ``os_compute_api:os-evacuate`` (admins), 404 for an unknown target host, 400 when the
target is the server's own host or its host's compute service is still up ("Compute service of <host> is still in
use.": only a host that stopped heartbeating or that an operator forced down may be evacuated), 409 for a server
in a state that cannot be evacuated. The answer is 200, with ``adminPass`` before 2.14 (when the cloud tells
passwords); from 2.95 the server ends stopped on its new host, as Nova's. The evacuation itself is
``compute.evacuate.begin`` (claim, source fenced, move recorded) and ``compute.control.evacuation``.
"""

from __future__ import annotations

import copy
import secrets
from datetime import timedelta
from typing import Any

from flask import Response, jsonify

from api import policy
from api.broker import require_broker, send_after_commit
from api.compute import lookups
from api.compute.claims import conflict
from api.compute.microversions import at_least
from api.compute.resource_schemas import BOOLEAN, as_bool
from api.context import RequestContext
from api.runtime import runtime
from api.validation import validate
from common.exceptions import BadRequest, NotFound
from compute import client, evacuate, service
from compute.models import ComputeHost
from compute.states import Action, allowed

HOSTNAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9-._]*$"}
"""Nova's ``parameter_types.hostname``."""
EVACUATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "host": HOSTNAME,
        "onSharedStorage": BOOLEAN,
        "adminPass": {"type": "string", "maxLength": 255},
    },
    "required": ["onSharedStorage"],
    "additionalProperties": False,
}
EVACUATE_V214 = copy.deepcopy(EVACUATE)
del EVACUATE_V214["properties"]["onSharedStorage"], EVACUATE_V214["required"]
EVACUATE_V229 = copy.deepcopy(EVACUATE_V214)
EVACUATE_V229["properties"]["force"] = BOOLEAN


def _schema() -> dict[str, Any]:
    if not at_least("2.14"):
        return EVACUATE
    if at_least("2.29") and not at_least("2.68"):
        return EVACUATE_V229
    return EVACUATE_V214


def _evacuate(ctx: RequestContext, server_id: str, body: Any) -> Response | tuple[Response, int]:
    validate(body, _schema())
    shared = as_bool(body["onSharedStorage"]) if "onSharedStorage" in body else False
    if shared and "adminPass" in body:
        raise BadRequest("admin password can't be changed on existing disk")
    password = body.get("adminPass") or (None if shared else secrets.token_urlsafe(9))
    target, force = body.get("host"), as_bool(body.get("force", False))
    rt = runtime()
    with rt.db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:evacuate", {"project_id": instance.project_id})
        if target is not None and session.get(ComputeHost, target) is None:
            raise NotFound(f"Compute host {target} not found.")
        if target is not None and instance.host == target:
            raise BadRequest("The target host can't be the same one.")
        source = session.get(ComputeHost, instance.host) if instance.host else None
        if source is None or not allowed(Action.EVACUATE, instance.vm_state, instance.task_state):
            raise conflict(instance, "evacuate")
        if service.host_is_up(source, timedelta(seconds=rt.settings.compute_host_down_after)):
            raise BadRequest(f"Compute service of {source.name} is still in use.")
        require_broker("compute")  # last, before the commit: a refusal leaves the server untouched
        stopped = at_least("2.95")
        move = evacuate.begin(
            session, instance, source, ctx.request_id, ctx.user_id, ctx.project_id, target=target, stopped=stopped
        )
        if move is None:
            raise conflict(instance, "evacuate")
    send_after_commit(client.evacuate, rt.celery, server_id, ctx.request_id, force=bool(target and force))
    if not at_least("2.14") and rt.settings.enable_instance_password and password:
        return jsonify({"adminPass": password}), 200
    return Response(status=200)


HANDLERS = {"evacuate": _evacuate}
