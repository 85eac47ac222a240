"""Server listing query parameters that later microversions add or check (``api.compute.servers`` does the rest).

- 2.66: ``changes-before``, the servers changed at or before a time (deleted ones too, as ``changes-since``).
- 2.73: ``locked`` sorts by whether the server is locked (the filter is ``api.compute.servers``').
- 2.75: a parameter Nova does not know is a 400 (before, it was ignored).
- 2.83: non-admins may filter by ``user_id``, ``availability_zone``, ``config_drive``, ``key_name``,
  ``created_at``, ``launched_at``, ``terminated_at``, ``power_state``, ``task_state``, ``vm_state`` and
  ``progress``; before 2.83 Nova drops these for them (admins may use them at every microversion).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request

from api.compute.microversions import at_least
from api.context import RequestContext
from api.validation import query_bool
from common.exceptions import BadRequest
from compute import service
from compute.models import Instance

KNOWN = frozenset(
    (
        "user_id", "project_id", "tenant_id", "launch_index", "image_ref", "image", "kernel_id", "ramdisk_id",
        "hostname", "key_name", "power_state", "vm_state", "task_state", "host", "node", "flavor",
        "reservation_id", "launched_at", "terminated_at", "availability_zone", "name", "display_name",
        "description", "display_description", "locked_by", "uuid", "root_device_name", "config_drive",
        "access_ip_v4", "access_ip_v6", "auto_disk_config", "progress", "sort_key", "sort_dir", "all_tenants",
        "soft_deleted", "deleted", "status", "changes-since", "ip", "ip6", "created_at", "block_device_mapping",
        "services", "metadata", "system_metadata", "info_cache", "security_groups", "pci_devices", "limit",
        "marker", "tags", "tags-any", "not-tags", "not-tags-any", "changes-before", "locked",
    )
)  # fmt: skip
"""Nova's server list query schema (``query_params_v273``), strict from 2.75."""

# Filters on a column, equal to the value: always for admins, for everyone from 2.83.
_EQUAL = {
    "user_id": Instance.user_id,
    "vm_state": Instance.vm_state,
    "task_state": Instance.task_state,
}
_INTEGER = {"power_state": Instance.power_state, "progress": Instance.progress}
_TIMES = {
    "created_at": Instance.created_at,
    "launched_at": Instance.launched_at,
    "terminated_at": Instance.terminated_at,
}


def moment(name: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid input for query parameter '{name}': {raw!r} is not a date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=service.now().tzinfo)


def check_known() -> None:
    """2.75: every parameter must be one Nova knows."""
    if not at_least("2.75"):
        return
    unknown = sorted(set(request.args) - KNOWN)
    if unknown:
        raise BadRequest(
            f"Invalid input for query parameters {unknown[0]}. Additional properties are not allowed "
            f"('{unknown[0]}' was unexpected)"
        )


def includes_deleted() -> bool:
    """``changes-before`` (2.66), as ``changes-since``, lists deleted servers too."""
    return at_least("2.66") and "changes-before" in request.args


def apply(query: Any, ctx: RequestContext) -> Any:
    """``query`` narrowed by the later microversions' filters."""
    check_known()
    args = request.args
    if at_least("2.66") and "changes-before" in args:
        before = moment("changes-before", args["changes-before"])
        if "changes-since" in args and moment("changes-since", args["changes-since"]) > before:
            raise BadRequest("The value of changes-since must be less than or equal to changes-before.")
        query = query.where(Instance.updated_at <= before)
    if not (ctx.is_admin or at_least("2.83")):
        return query
    for name, column in _EQUAL.items():
        if name in args:
            query = query.where(column == args[name])
    for name, column in _INTEGER.items():
        if name in args:
            if not args[name].lstrip("-").isdigit():
                raise BadRequest(f"Invalid input for query parameter '{name}': {args[name]!r} is not an integer")
            query = query.where(column == int(args[name]))
    for name, column in _TIMES.items():
        if name in args:
            query = query.where(column == moment(name, args[name]))
    if "config_drive" in args:
        query = query.where(Instance.config_drive.is_(bool(query_bool("config_drive"))))
    return query


def check_sort_key(key: str) -> None:
    """``locked`` sorts only from 2.73."""
    if key == "locked" and not at_least("2.73"):
        raise BadRequest(f"Invalid sort key or direction: {key}")
