"""Server sub-resources later microversions add for features Stratus has no backing for, answered as Nova answers
when they are not there:

- ``GET /servers/{id}/topology`` (2.78): a server without a NUMA topology (every Stratus server) has no nodes.
- ``/servers/{id}/shares`` (2.97, Manila file shares): no share is ever attached, so the list is empty, one share
  is 404, and attaching needs a stopped server (409) and then a share the cloud does not have (404: there is no
  shared file system service here).

Before their microversion the routes do not exist (404).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from api import policy
from api.compute import lookups
from api.compute.microversions import at_least
from api.runtime import runtime
from api.validation import validated_body
from common.exceptions import Conflict, NotFound
from compute.states import VmState

bp = Blueprint("compute_server_extras", __name__)  # registered under ``api.compute.servers``' prefix

_UUID = {"type": "string", "pattern": "^[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}$"}
SHARE_ATTACH: dict[str, Any] = {
    "type": "object",
    "properties": {
        "share": {
            "type": "object",
            "properties": {
                "share_id": _UUID,
                "tag": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9_-]+$"},
            },
            "required": ["share_id"],
            "additionalProperties": False,
        }
    },
    "required": ["share"],
    "additionalProperties": False,
}


def _require(version: str) -> None:
    if not at_least(version):
        raise NotFound("The resource could not be found.")


@bp.get("/servers/<server_id>/topology")
def show_topology(server_id: str) -> Response:
    _require("2.78")
    ctx = policy.enforce("compute:servers:show")
    with runtime().db.session() as session:
        lookups.server(session, ctx, server_id)
    return jsonify({"nodes": [], "pagesize_kb": None})


@bp.get("/servers/<server_id>/shares")
def list_shares(server_id: str) -> Response:
    _require("2.97")
    ctx = policy.enforce("compute:servers:show")
    with runtime().db.session() as session:
        lookups.server(session, ctx, server_id)
    return jsonify({"shares": []})


@bp.get("/servers/<server_id>/shares/<share_id>")
def show_share(server_id: str, share_id: str) -> Response:
    _require("2.97")
    ctx = policy.enforce("compute:servers:show")
    with runtime().db.session() as session:
        lookups.server(session, ctx, server_id)
    raise NotFound(f"Share {share_id} is not attached to instance {server_id}.")


@bp.post("/servers/<server_id>/shares")
def attach_share(server_id: str) -> Response:
    _require("2.97")
    ctx = policy.enforce("compute:servers:show")
    share_id = validated_body(SHARE_ATTACH)["share"]["share_id"]
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:action", {"project_id": instance.project_id})
        if instance.vm_state != VmState.STOPPED.value or instance.task_state is not None:
            raise Conflict(
                f"Cannot 'attach share' instance {server_id} while it is in vm_state {instance.vm_state}: "
                "it must be stopped."
            )
    raise NotFound(f"Share {share_id} could not be found.")


@bp.delete("/servers/<server_id>/shares/<share_id>")
def detach_share(server_id: str, share_id: str) -> Response:
    _require("2.97")
    ctx = policy.enforce("compute:servers:show")
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:action", {"project_id": instance.project_id})
    raise NotFound(f"Share {share_id} is not attached to instance {server_id}.")
