"""``/os-simple-tenant-usage``: what each project's servers used over a period, in hours of their flavor.

Computed from the servers' records, deleted ones included (Stratus keeps a deleted server's row with its
``launched_at`` and ``terminated_at``): a server counts from its launch (or the period's start) to its termination
(or the period's end). A server that never launched used nothing and is not listed. As in Nova, the period's end
is clamped to now, and from 2.40 ``limit``/``marker`` page through the servers (not the projects).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api import policy
from api.compute.microversions import at_least
from api.runtime import runtime
from api.urls import public_url
from api.validation import digits
from common.exceptions import BadRequest, NotFound
from compute import service
from compute.models import Instance

bp = Blueprint("compute_tenant_usage", __name__, url_prefix="/compute/v2.1")

MAX_LIMIT = 1000
_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def _moment(name: str) -> datetime:
    """A period bound: Nova's three formats (naive, taken as UTC), an ISO 8601 time with a zone, or now."""
    raw = request.args.get(name)
    if raw is None:
        return service.now()
    for fmt in _FORMATS:
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid input for query parameter {name!r}: {raw!r} is not a date-time") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _period() -> tuple[datetime, datetime]:
    start, stop = _moment("start"), _moment("end")
    if not start < stop:
        raise BadRequest("Invalid start time. The start time cannot occur after the end time.")
    return start, min(stop, service.now())


def _wire_time(moment: datetime | None) -> str | None:
    """Nova's usage times: ISO 8601 with microseconds and no zone (UTC)."""
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def _hours(instance: Instance, start: datetime, stop: datetime) -> float:
    launched, ended = instance.launched_at, instance.terminated_at
    if launched is None or launched > stop or (ended is not None and ended < start):
        return 0.0
    used = min(stop, ended) if ended is not None else stop
    return max((used - max(launched, start)).total_seconds(), 0.0) / 3600.0


def _server_usage(instance: Instance, start: datetime, stop: datetime, now: datetime) -> dict[str, Any]:
    flavor = instance.flavor or {}
    ended = instance.terminated_at
    launched = instance.launched_at or now
    return {
        "instance_id": instance.id,
        "name": instance.name,
        "tenant_id": instance.project_id,
        "flavor": flavor.get("name", ""),
        "hours": _hours(instance, start, stop),
        "vcpus": int(flavor.get("vcpus", 0)),
        "memory_mb": int(flavor.get("ram", 0)),
        "local_gb": int(flavor.get("disk", 0)) + int(flavor.get("ephemeral", 0) or 0),
        "started_at": _wire_time(instance.launched_at),
        "ended_at": _wire_time(ended),
        "state": "terminated" if ended is not None else instance.vm_state,
        "uptime": int(((ended or now) - launched).total_seconds()),
    }


def _instances(session: Session, project_id: str | None, start: datetime, stop: datetime) -> list[Instance]:
    """The servers that ran during the period, oldest launch first (the order pages follow)."""
    query = select(Instance).where(
        Instance.launched_at.is_not(None),
        Instance.launched_at < stop,
        or_(Instance.terminated_at.is_(None), Instance.terminated_at > start),
    )
    if project_id is not None:
        query = query.where(Instance.project_id == project_id)
    return list(session.scalars(query.order_by(Instance.launched_at, Instance.id)))


def _page(instances: list[Instance]) -> tuple[list[Instance], int | None]:
    """2.40's paging: the servers after ``marker`` (a server id), at most ``limit``; the limit when asked."""
    if not at_least("2.40"):
        return instances, None
    args = request.args
    begin = 0
    if "marker" in args:
        ids = [i.id for i in instances]
        if args["marker"] not in ids:
            raise BadRequest(f"marker [{args['marker']}] not found")
        begin = ids.index(args["marker"]) + 1
    raw = args.get("limit")
    if raw is not None and (digits(raw) is None or int(raw) == 0):
        raise BadRequest(f"Invalid input for query parameter 'limit': {raw!r} is not a positive integer")
    limit = min(int(raw), MAX_LIMIT) if raw is not None else MAX_LIMIT
    return instances[begin : begin + limit], (limit if raw is not None else None)


def _summaries(usages: list[dict[str, Any]], start: datetime, stop: datetime, detailed: bool) -> dict[str, Any]:
    summaries: dict[str, dict[str, Any]] = {}
    for usage in usages:
        summary = summaries.setdefault(
            usage["tenant_id"],
            {
                "tenant_id": usage["tenant_id"],
                "start": _wire_time(start),
                "stop": _wire_time(stop),
                "total_hours": 0.0,
                "total_vcpus_usage": 0.0,
                "total_memory_mb_usage": 0.0,
                "total_local_gb_usage": 0.0,
                **({"server_usages": []} if detailed else {}),
            },
        )
        summary["total_hours"] += usage["hours"]
        summary["total_vcpus_usage"] += usage["vcpus"] * usage["hours"]
        summary["total_memory_mb_usage"] += usage["memory_mb"] * usage["hours"]
        summary["total_local_gb_usage"] += usage["local_gb"] * usage["hours"]
        if detailed:
            summary["server_usages"].append(usage)
    return summaries


def _next_link(path: str, page: list[Instance], limit: int | None) -> list[dict[str, str]]:
    if limit is None or len(page) < limit or not page:
        return []
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "marker"] + [("marker", page[-1].id)]
    return [{"href": f"{public_url()}/compute/v2.1/{path}?{urlencode(query)}", "rel": "next"}]


@bp.get("/os-simple-tenant-usage")
def list_usage() -> Response:
    """Every project's usage (admins): totals, and each server's usage with ``detailed=1``."""
    if request.path.endswith("/"):  # ``/os-simple-tenant-usage/``: a project id left empty, not the listing
        raise NotFound("The resource could not be found.")
    policy.enforce("compute:usage:list")
    start, stop = _period()
    detailed = request.args.get("detailed", "0") == "1"
    now = service.now()
    with runtime().db.session() as session:
        page, limit = _page(_instances(session, None, start, stop))
        usages = [_server_usage(i, start, stop, now) for i in page]
    body: dict[str, Any] = {"tenant_usages": list(_summaries(usages, start, stop, detailed).values())}
    links = _next_link("os-simple-tenant-usage", page, limit)
    if links:
        body["tenant_usages_links"] = links
    return jsonify(body)


@bp.get("/os-simple-tenant-usage/<tenant_id>")
def show_usage(tenant_id: str) -> Response:
    """One project's usage with each server's (its own readers, or admins); ``{}`` when it used nothing."""
    policy.enforce("compute:usage:show", {"project_id": tenant_id})
    start, stop = _period()
    now = service.now()
    with runtime().db.session() as session:
        page, limit = _page(_instances(session, tenant_id, start, stop))
        usages = [_server_usage(i, start, stop, now) for i in page]
    body: dict[str, Any] = {"tenant_usage": _summaries(usages, start, stop, True).get(tenant_id, {})}
    links = _next_link(f"os-simple-tenant-usage/{tenant_id}", page, limit)
    if links:
        body["tenant_usage_links"] = links
    return jsonify(body)
