"""Remote consoles: ``POST /servers/{id}/remote-consoles`` (microversion 2.6 on) and the older actions
``os-getVNCConsole`` and ``os-getSerialConsole`` (2.1 to 2.5, as in Nova).

A console URL carries a single-use token (``compute.consoles``) for the console proxy (``stratus-console-proxy``).
Where the console listens is asked of the server's host at that moment (a request-reply task, as console output
is): nothing about it is stored, so a guest that was restarted, resized or moved is never reached at a stale port.
The API itself never connects to a host.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from flask import Blueprint, Response, jsonify

from api import policy
from api.compute import lookups, microversions
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import json_body, validate
from common.exceptions import BadRequest, Conflict, NotFound
from compute import client, consoles, service
from compute.models import ComputeHost
from compute.states import VmState

bp = Blueprint("compute_remote_consoles", __name__, url_prefix="/compute/v2.1")

ENDPOINT_WAIT_SECONDS = 3.0
"""Longest an API thread waits for the host to say where the console listens (as for console output)."""

SUPPORTED = {"vnc": "novnc", "serial": "serial"}
"""Protocol → the one console type we serve for it; the other types Nova knows are refused as unavailable."""
_PROTOCOLS = ["vnc", "spice", "rdp", "serial"]
_TYPES = ["novnc", "xvpvnc", "rdp-html5", "spice-html5", "serial"]


def _schema(protocols: list[str], types: list[str]) -> dict[str, Any]:
    console = {
        "type": "object",
        "properties": {"protocol": {"enum": protocols}, "type": {"enum": types}},
        "required": ["protocol", "type"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"remote_console": console},
        "required": ["remote_console"],
        "additionalProperties": False,
    }


CREATE_2_6 = _schema(_PROTOCOLS, _TYPES)
CREATE_2_8 = _schema([*_PROTOCOLS, "mks"], [*_TYPES, "webmks"])
CREATE_2_99 = _schema([*_PROTOCOLS, "mks"], [*_TYPES, "webmks", "spice-direct"])  # refused below unless served
GET_VNC = {
    "type": "object",
    "properties": {"type": {"enum": ["novnc", "xvpvnc"]}},
    "required": ["type"],
    "additionalProperties": False,
}
GET_SERIAL = {
    "type": "object",
    "properties": {"type": {"enum": ["serial"]}},
    "required": ["type"],
    "additionalProperties": False,
}


def mint_console(ctx: RequestContext, server_id: str, protocol: str, console_type: str, action: str) -> str:
    """The URL of a fresh console of the server, or the fault the user sees: 400 for a console type we do not
    serve, 404 for a server the caller cannot see, 409 when the server is not ACTIVE or its host cannot say."""
    if SUPPORTED.get(protocol) != console_type:
        if protocol in SUPPORTED and console_type in SUPPORTED.values():
            raise BadRequest(f"Invalid console type {console_type} for protocol {protocol}.")
        raise BadRequest(f"Unavailable console type {console_type}.")
    rt = runtime()
    with rt.db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:remote_consoles", {"project_id": instance.project_id})
        if instance.vm_state != VmState.ACTIVE or instance.task_state is not None or not instance.host:
            raise Conflict(f"Cannot '{action}' instance {server_id}: it is not ready (it must be ACTIVE).")
        host, project_id = instance.host, instance.project_id
        down_after = timedelta(seconds=rt.settings.compute_host_down_after)
        if not service.host_is_up(session.get(ComputeHost, host), down_after):
            raise Conflict(f"The console of instance {server_id} is not available: its host is down.")
    try:
        answer = client.console_endpoint(rt.celery, host, server_id, protocol, ENDPOINT_WAIT_SECONDS)
    except CeleryTimeout:
        raise Conflict(
            f"The console of instance {server_id} is not available right now: its host did not answer within "
            f"{ENDPOINT_WAIT_SECONDS:g} s. Try again in a moment."
        ) from None
    except Exception as exc:  # the broker or the host failed: a clear 409 rather than a 500
        raise Conflict(f"The console of instance {server_id} is not available right now: {exc}") from None
    if not isinstance(answer, dict) or "error" in answer:
        reason = answer.get("error") if isinstance(answer, dict) else "the host gave no answer"
        raise Conflict(f"The console of instance {server_id} is not available: {reason}")
    try:
        target = consoles.ConsoleTarget(server_id, project_id, host, answer.get("host"), answer.get("port"), protocol)
    except consoles.InvalidConsoleTarget as exc:
        raise Conflict(f"The console of instance {server_id} is not available: its host answered {exc}") from None
    token = consoles.mint(consoles.token_store(rt.settings), target, rt.settings.console_token_ttl)
    return consoles.console_url(rt.settings, protocol, token)


@bp.post("/servers/<server_id>/remote-consoles")
def create_remote_console(server_id: str) -> tuple[Response, int]:
    if not microversions.at_least("2.6"):
        raise NotFound("The resource could not be found.")  # Nova: the API is not there before 2.6
    body = json_body()
    if microversions.at_least("2.99"):
        validate(body, CREATE_2_99)
    else:
        validate(body, CREATE_2_8 if microversions.at_least("2.8") else CREATE_2_6)
    protocol, console_type = body["remote_console"]["protocol"], body["remote_console"]["type"]
    url = mint_console(current(), server_id, protocol, console_type, "remote-consoles")
    return jsonify({"remote_console": {"protocol": protocol, "type": console_type, "url": url}}), 200


def _legacy(protocol: str, schema: dict[str, Any], action: str) -> Callable[[RequestContext, str, Any], Response]:
    def handler(ctx: RequestContext, server_id: str, body: Any) -> Response:
        if microversions.at_least("2.6"):
            raise NotFound(f"The action {action} is not available from microversion 2.6 on: use remote-consoles.")
        validate(body, schema)
        url = mint_console(ctx, server_id, protocol, body["type"], action)
        return jsonify({"console": {"type": body["type"], "url": url}})

    return handler


HANDLERS: dict[str, Callable[[RequestContext, str, Any], Response]] = {
    "os-getVNCConsole": _legacy("vnc", GET_VNC, "os-getVNCConsole"),
    "os-getSerialConsole": _legacy("serial", GET_SERIAL, "os-getSerialConsole"),
}
"""The older actions, merged into ``POST /servers/{id}/action`` by ``api.compute.server_actions``."""
