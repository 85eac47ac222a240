"""What ``os-instance-actions`` gains after 2.51 (``api.compute.servers`` serves the resource).

- 2.58: each action has ``updated_at`` (its last change: its last event, else its start), and the listing pages
  (``limit``, ``marker`` = a request id; a ``links`` next link on a full page) and filters on ``changes-since``.
- 2.62: each event says ``hostId`` (the project's hash of the host) and, for admins, the ``host``.
- 2.66: ``changes-before`` filters the listing too.
- 2.84: each event has ``details``: for a failed event the kind of error (its class name, never the host's
  message, which may name paths and hosts), else null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import request

from api import policy
from api.compute.microversions import at_least
from api.compute.server_filters import moment
from api.compute.views import MAX_LIMIT, host_id, nova_time
from api.context import RequestContext
from api.urls import public_url
from api.validation import digits
from common.exceptions import BadRequest
from compute.models import InstanceAction


def updated_at(action: InstanceAction) -> datetime:
    """The last time the action changed: when its last event finished, else when it started."""
    return action.finish_time or action.start_time


def action_fields(view: dict[str, Any], action: InstanceAction, events_for: RequestContext | None) -> dict[str, Any]:
    if at_least("2.58"):
        view["updated_at"] = nova_time(updated_at(action))
    if events_for is None or "events" not in view:
        return view
    for shown, event in zip(view["events"], action.events or [], strict=False):
        host = event.get("host")
        if at_least("2.62"):
            shown["hostId"] = host_id(action.project_id, host)
            if policy.allowed("compute:instance_actions:events:traceback", ctx=events_for):
                shown["host"] = host or ""
        if at_least("2.84"):
            failed = event.get("result") == "Error"
            shown["details"] = str(event.get("traceback") or "Error").split(":", 1)[0].strip() if failed else None
    return view


def page(actions: list[InstanceAction], server_id: str) -> tuple[list[InstanceAction], list[dict[str, str]]]:
    """2.58's paging and time filters of a server's actions (newest first); unchanged before 2.58."""
    if not at_least("2.58"):
        return actions, []
    args = request.args
    if "changes-since" in args:
        since = moment("changes-since", args["changes-since"])
        actions = [a for a in actions if updated_at(a) >= since]
    if at_least("2.66") and "changes-before" in args:
        before = moment("changes-before", args["changes-before"])
        if "changes-since" in args and moment("changes-since", args["changes-since"]) > before:
            raise BadRequest("The value of changes-since must be less than or equal to changes-before.")
        actions = [a for a in actions if updated_at(a) <= before]
    start = 0
    if "marker" in args:
        ids = [a.request_id for a in actions]
        if args["marker"] not in ids:
            raise BadRequest(f"Marker {args['marker']} could not be found.")
        start = ids.index(args["marker"]) + 1
    raw = args.get("limit")
    if raw is not None and digits(raw) is None:
        raise BadRequest(f"Invalid input for query parameters limit. Value: {raw}. Not a non-negative integer.")
    limit = min(int(raw), MAX_LIMIT) if raw is not None else MAX_LIMIT
    found = actions[start : start + limit]
    if raw is None or not found or len(found) < limit:
        return found, []
    query = [(k, v) for k, v in args.items(multi=True) if k != "marker"] + [("marker", found[-1].request_id)]
    href = f"{public_url()}/compute/v2.1/servers/{server_id}/os-instance-actions?{urlencode(query)}"
    return found, [{"href": href, "rel": "next"}]
