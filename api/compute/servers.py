"""``/servers``: list, show, update and delete servers, their metadata and their action history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from api import policy
from api.broker import require_broker, send_after_commit
from api.compute import (
    addresses,
    lookups,
    name_filter,
    pinned_zone,
    server_lifecycle,
    server_quota,
    server_tags,
    volume_attachments,
)
from api.compute.access_ips import check_access_ips
from api.compute.action_versions import action_fields as later_action_fields
from api.compute.action_versions import page as page_actions
from api.compute.microversions import at_least
from api.compute.schemas import META_ITEM, METADATA, SERVER_UPDATE
from api.compute.server_extras import bp as server_extras_bp
from api.compute.server_filters import apply as later_filters
from api.compute.server_filters import check_sort_key, includes_deleted
from api.compute.version_rules import update_fields, with_fields
from api.compute.views import changed_view, nova_time, server_summary, server_view
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import digits, query_bool, validated_body
from common.exceptions import BadRequest, Conflict, Forbidden, NotFound
from compute import actions, client, delete, service, volumes
from compute.models import ComputeHost, Instance, InstanceAction
from compute.states import TaskState, VmState
from network import client as network_client

bp = Blueprint("compute_servers", __name__, url_prefix="/compute/v2.1")
bp.register_blueprint(volume_attachments.bp)  # /servers/<id>/os-volume_attachments, under the same prefix
bp.register_blueprint(server_extras_bp)  # /servers/<id>/topology and /shares (2.78, 2.97)

MAX_LIMIT = 1000
STATUS_FILTERS = {
    "ACTIVE": (VmState.ACTIVE, None),
    "SHUTOFF": (VmState.STOPPED, None),
    "PAUSED": (VmState.PAUSED, None),
    "SUSPENDED": (VmState.SUSPENDED, None),
    "ERROR": (VmState.ERROR, None),
    "BUILD": (VmState.BUILDING, None),
    "DELETED": (VmState.DELETED, None),
    "VERIFY_RESIZE": (VmState.RESIZED, None),
    "REBOOT": (None, TaskState.REBOOTING),
    "HARD_REBOOT": (None, TaskState.REBOOTING_HARD),
    "REBUILD": (None, TaskState.REBUILDING),
    "RESIZE": (None, TaskState.RESIZE_PREP),
    "REVERT_RESIZE": (None, TaskState.RESIZE_REVERTING),
    "SHELVED": (VmState.SHELVED, None),
    "SHELVED_OFFLOADED": (VmState.SHELVED_OFFLOADED, None),
    "SOFT_DELETED": (VmState.SOFT_DELETED, None),
    "RESCUE": (VmState.RESCUED, None),
}
ADMIN_SORT_KEYS = ("host",)
SORT_KEYS = (
    "created_at",
    "updated_at",
    "display_name",
    "name",
    "uuid",
    "vm_state",
    "task_state",
    "launched_at",
    "host",
    "availability_zone",
    "key_name",
    "project_id",
    "user_id",
    "power_state",
    "locked",  # 2.73
)


def _since(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid input for query parameter 'changes-since': {raw!r} is not a date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=service.now().tzinfo)


def _query(ctx: Any) -> Any:
    args = request.args
    query = select(Instance)
    if query_bool("all_tenants", False):
        policy.enforce("compute:servers:index:all_tenants")
        project = args.get("project_id") or args.get("tenant_id")
        if project:
            query = query.where(Instance.project_id == project)
    else:
        query = query.where(Instance.project_id == ctx.project_id)
    if "changes-since" in args:
        query = query.where(Instance.updated_at >= _since(args["changes-since"]))
    elif not (ctx.is_admin and query_bool("deleted", False)) and not includes_deleted():
        query = query.where(Instance.deleted.is_(False))
    if "status" in args:
        wanted = STATUS_FILTERS.get(args["status"].upper())
        if wanted is None:
            raise BadRequest(f"Invalid status value: {args['status']}")
        vm_state, task_state = wanted
        query = (
            query.where(Instance.vm_state == vm_state) if vm_state else query.where(Instance.task_state == task_state)
        )
    if args.get("status", "").upper() != "SOFT_DELETED":  # Nova lists soft-deleted servers only when asked
        query = query.where(Instance.vm_state != VmState.SOFT_DELETED.value)
    if "locked" in args and at_least("2.73"):
        query = query.where(Instance.locked.is_(bool(query_bool("locked"))))
    for param, column in (
        ("image", Instance.image_ref),
        ("flavor", None),
        ("host", Instance.host if ctx.is_admin else None),  # Nova drops admin-only filters of other callers
        ("availability_zone", Instance.availability_zone),
        ("key_name", Instance.key_name),
    ):
        if param in args and column is not None:
            query = query.where(column == args[param])
    return later_filters(query, ctx)


def _ordered_page(session: Any, ctx: Any) -> tuple[list[Instance], str | None]:
    args = request.args
    keys = args.getlist("sort_key") or ["created_at"]
    dirs = args.getlist("sort_dir") or ["desc"] * len(keys)
    order = []
    for key, direction in zip(keys, dirs + ["desc"] * (len(keys) - len(dirs)), strict=False):
        if key not in SORT_KEYS or direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort key or direction: {key} {direction}")
        check_sort_key(key)
        if key in ADMIN_SORT_KEYS and not ctx.is_admin:  # the order would tell which servers share a host
            raise Forbidden(f"Only administrators can sort servers by {key}")
        column = {"display_name": "name", "uuid": "id"}.get(key, key)
        attribute = getattr(Instance, column)
        order.append(attribute.asc() if direction == "asc" else attribute.desc())
    raw_limit = args.get("limit", str(MAX_LIMIT))
    if digits(raw_limit) is None:
        raise BadRequest("Invalid input for query parameter 'limit': not a non-negative integer")
    limit = min(int(raw_limit), MAX_LIMIT)
    ordered = _query(ctx).order_by(*order, Instance.id.desc())
    if not {"marker", "name", "flavor"} & args.keys() and not server_tags.filters_asked(args):
        # Every filter is in SQL: the page is one query's first rows (and one more, which says a next exists).
        rows = list(session.scalars(ordered.limit(limit + 1)))
        return rows[:limit], rows[limit - 1].id if limit and len(rows) > limit else None
    # Ordered and filtered on the few columns the Python filters read (every server's tags only when asked: they
    # took a fifth of an all_tenants listing), then only the page is loaded whole: 10,000 servers, all loaded as
    # records to show 1,000 of them, took seconds (bench/scale.py).
    columns = [
        Instance.id,
        Instance.name,
        *([Instance.tags] if server_tags.filters_asked(args) else []),
        *([Instance.flavor] if "flavor" in args else []),
    ]
    instances = session.execute(ordered.with_only_columns(*columns)).all()
    if "name" in args:
        matches = name_filter.matcher(args["name"])
        instances = [i for i in instances if matches(i.name)]
    if "flavor" in args:
        instances = [i for i in instances if i.flavor.get("id") == args["flavor"]]
    instances = server_tags.filter_listing(instances, args)
    start = 0
    if "marker" in args:
        ids = [i.id for i in instances]
        if args["marker"] not in ids:
            raise BadRequest(f"marker [{args['marker']}] not found")
        start = ids.index(args["marker"]) + 1
    page_ids = [i.id for i in instances[start : start + limit]]
    loaded = {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(page_ids)))} if page_ids else {}
    page = [loaded[i] for i in page_ids if i in loaded]  # a row purged in between is left out
    next_marker = page_ids[-1] if page_ids and start + limit < len(instances) else None
    return page, next_marker


def _page_hosts(session: Any, page: list[Instance]) -> list[ComputeHost]:
    """The hosts of the page's servers in one read, held so that ``views.host_status`` finds each in the session:
    it read them one by one, a read per host, a thousand on a page of servers spread over a thousand hosts."""
    names = {i.host for i in page if i.host}
    return list(session.scalars(select(ComputeHost).where(ComputeHost.name.in_(names)))) if names else []


def _listing(detail: bool) -> Response:
    ctx = policy.enforce("compute:servers:index")
    with runtime().db.session() as session:
        page, next_marker = _ordered_page(session, ctx)
        _held = _page_hosts(session, page) if detail and ctx.is_admin and at_least("2.16") else []
        found = addresses.of_servers(session, page) if detail else {}
        disks = volumes.of_servers(session, [i.id for i in page]) if detail else {}
        servers = [
            server_view(i, ctx, found.get(i.id, {}), disks.get(i.id, [])) if detail else server_summary(i) for i in page
        ]
    body: dict[str, Any] = {"servers": servers}
    if next_marker:
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "marker"] + [("marker", next_marker)]
        path = "servers/detail" if detail else "servers"
        body["servers_links"] = [{"rel": "next", "href": f"{request.host_url}compute/v2.1/{path}?{urlencode(args)}"}]
    return jsonify(body)


@bp.get("/servers")
def list_servers() -> Response:
    return _listing(detail=False)


@bp.get("/servers/detail")
def list_servers_detail() -> Response:
    return _listing(detail=True)


@bp.get("/servers/<server_id>")
def show_server(server_id: str) -> Response:
    ctx = policy.enforce("compute:servers:show")
    with runtime().db.session() as session:
        return jsonify({"server": server_view(lookups.server(session, ctx, server_id), ctx)})


@bp.put("/servers/<server_id>")
def update_server(server_id: str) -> Response:
    ctx = current()
    body = validated_body(with_fields(SERVER_UPDATE, update_fields(), "server"))["server"]
    check_access_ips(body)
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:update", {"project_id": instance.project_id})
        for field, column in (
            ("name", "name"),
            ("accessIPv4", "access_ip_v4"),
            ("accessIPv6", "access_ip_v6"),
            ("description", "description"),
            ("hostname", "hostname"),  # 2.90
        ):
            if field in body:
                setattr(instance, column, body[field])
        if "pinned_availability_zone" in body:  # 2.104
            pinned_zone.repin(session, instance, body["pinned_availability_zone"])
        session.flush()
        return jsonify({"server": changed_view(instance, ctx)})


@bp.delete("/servers/<server_id>")
def delete_server(server_id: str) -> Response:
    """Always succeeds for the user: a server whose host is down or that never reached one is gone at once, and
    a delete racing another is answered as the first (``compute.delete`` holds the workflow)."""
    ctx = current()
    if server_lifecycle.soft_delete(ctx, server_id):  # reclaim_instance_interval > 0: SOFT_DELETED, restorable
        return Response(status=204)
    return hard_delete(ctx, server_id)


def hard_delete(ctx: RequestContext, server_id: str) -> Response:
    """The delete itself (also ``forceDelete``)."""
    rt = runtime()
    with rt.db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:delete", {"project_id": instance.project_id})
        if instance.locked and not ctx.is_admin:
            raise Conflict(f"Instance {server_id} is locked; it cannot be deleted.")
        down_after = timedelta(seconds=rt.settings.compute_host_down_after)
        accepted = delete.request(
            session, instance, lambda host: service.host_is_up(session.get(ComputeHost, host), down_after), rt.celery
        )
        if accepted is None:
            raise Conflict(f"Instance {server_id} changed while it was being deleted; try again.")
        if accepted.destroy_on:
            require_broker("compute")  # the host must be told; refused now, the server is left as it was
        actions.record_action(session, instance, "delete", ctx.request_id, ctx.user_id, ctx.project_id)
    if accepted.destroy_on:
        send_after_commit(client.agent_destroy, rt.celery, accepted.destroy_on, server_id, ctx.request_id)
    send_after_commit(network_client.networks_changed, rt.celery, accepted.networks, ctx.request_id)
    return Response(status=204)


# --- metadata ---------------------------------------------------------------------------------------------


def _metadata_response(instance: Instance) -> Response:
    return jsonify({"metadata": dict(instance.metadata_items or {})})


@bp.get("/servers/<server_id>/metadata")
def show_metadata(server_id: str) -> Response:
    ctx = policy.enforce("compute:servers:metadata:read")
    with runtime().db.session() as session:
        return _metadata_response(lookups.server(session, ctx, server_id))


def _write_metadata(server_id: str, replace: bool) -> Response:
    ctx = current()
    items = validated_body(METADATA)["metadata"]
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:metadata:write", {"project_id": instance.project_id})
        merged = dict(items) if replace else {**(instance.metadata_items or {}), **items}
        server_quota.check_metadata(session, instance, merged)
        instance.metadata_items = merged
        return _metadata_response(instance)


@bp.post("/servers/<server_id>/metadata")
def update_metadata(server_id: str) -> Response:
    return _write_metadata(server_id, replace=False)


@bp.put("/servers/<server_id>/metadata")
def replace_metadata(server_id: str) -> Response:
    return _write_metadata(server_id, replace=True)


@bp.get("/servers/<server_id>/metadata/<key>")
def show_metadata_item(server_id: str, key: str) -> Response:
    ctx = policy.enforce("compute:servers:metadata:read")
    with runtime().db.session() as session:
        items = lookups.server(session, ctx, server_id).metadata_items or {}
        if key not in items:
            raise NotFound(f"Metadata item was not found: {key}")
        return jsonify({"meta": {key: items[key]}})


@bp.put("/servers/<server_id>/metadata/<key>")
def set_metadata_item(server_id: str, key: str) -> Response:
    ctx = current()
    item = validated_body(META_ITEM)["meta"]
    if list(item) != [key]:
        raise BadRequest("Request body and URI mismatch: the body must hold exactly the key in the URL.")
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:metadata:write", {"project_id": instance.project_id})
        merged = {**(instance.metadata_items or {}), **item}
        server_quota.check_metadata(session, instance, merged)
        instance.metadata_items = merged
    return jsonify({"meta": item})


@bp.delete("/servers/<server_id>/metadata/<key>")
def delete_metadata_item(server_id: str, key: str) -> Response:
    ctx = current()
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:metadata:write", {"project_id": instance.project_id})
        items = dict(instance.metadata_items or {})
        if key not in items:
            raise NotFound(f"Metadata item was not found: {key}")
        del items[key]
        instance.metadata_items = items
    return Response(status=204)


# --- os-instance-actions ----------------------------------------------------------------------------------


EVENT_KEYS = ("event", "start_time", "finish_time", "result")


def _event_view(event: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """An action event; its ``traceback`` (the error as the host raised it: paths, commands, host names) is for
    admins only. Nova hides events from non-admins before 2.51 and their traceback after; Stratus shows owners
    the events at every microversion, never the traceback (the key is absent, as in Nova)."""
    view = {k: event.get(k) for k in EVENT_KEYS}
    if policy.allowed("compute:instance_actions:events:traceback", ctx=ctx):
        view["traceback"] = event.get("traceback")
    return view


def _action_view(action: InstanceAction, events_for: RequestContext | None = None) -> dict[str, Any]:
    """An action, with its events as ``events_for`` may see them when given (show; a listing has none)."""
    view = {
        "action": action.action,
        "instance_uuid": action.instance_id,
        "request_id": action.request_id,
        "user_id": action.user_id,
        "project_id": action.project_id,
        "start_time": nova_time(action.start_time),
        "message": action.message,
    }
    if events_for is not None:
        view["events"] = [_event_view(e, events_for) for e in action.events or []]
    return later_action_fields(view, action, events_for)


@bp.get("/servers/<server_id>/os-instance-actions")
def list_instance_actions(server_id: str) -> Response:
    ctx = policy.enforce("compute:instance_actions")
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        actions = session.scalars(
            select(InstanceAction)
            .where(InstanceAction.instance_id == instance.id)
            .order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc())
        )
        found, next_links = page_actions(list(actions), instance.id)
        body: dict[str, Any] = {"instanceActions": [_action_view(a) for a in found]}
        return jsonify(body | ({"links": next_links} if next_links else {}))


@bp.get("/servers/<server_id>/os-instance-actions/<request_id>")
def show_instance_action(server_id: str, request_id: str) -> Response:
    ctx = policy.enforce("compute:instance_actions")
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        action = session.scalars(
            select(InstanceAction).where(
                InstanceAction.instance_id == instance.id, InstanceAction.request_id == request_id
            )
        ).first()
        if action is None:
            raise NotFound(f"Action for request_id {request_id} on instance {server_id} not found")
        return jsonify({"instanceAction": _action_view(action, events_for=ctx)})
