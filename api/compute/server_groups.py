"""``/os-server-groups``: named placement policies that servers join at boot (``scheduler_hints.group``).

Up to 2.63 Nova's wire format carries the one policy as a one-item ``policies`` list and an always empty
``metadata``; from 2.64 it is a ``policy`` string with its ``rules`` (``max_server_per_host`` for anti-affinity,
which the scheduler honours). We store the single policy string and the rules. Other projects' groups are 404
unless the caller is an admin.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.compute.microversions import at_least
from api.compute.resource_schemas import SERVER_GROUP_CREATE, SERVER_GROUP_CREATE_V215, SERVER_GROUP_CREATE_V264
from api.compute.views import MAX_LIMIT
from api.context import RequestContext
from api.runtime import runtime
from api.validation import digits, query_bool, validated_body
from common.exceptions import BadRequest, NotFound, ValidationError
from compute.models import Instance, ServerGroup, ServerGroupMember
from quota import engine

bp = Blueprint("compute_server_groups", __name__, url_prefix="/compute/v2.1")
MAX_INT = 0x7FFFFFFF


def _members(session: Session, groups: list[ServerGroup]) -> dict[str, list[str]]:
    """Each group's members that still exist: a deleted server leaves its groups."""
    found: dict[str, list[str]] = {group.id: [] for group in groups}
    rows = session.execute(
        select(ServerGroupMember.group_id, ServerGroupMember.instance_id)
        .join(Instance, Instance.id == ServerGroupMember.instance_id)
        .where(ServerGroupMember.group_id.in_(list(found)), Instance.deleted.is_(False))
        .order_by(Instance.created_at, Instance.id)
    )
    for group_id, instance_id in rows:
        found[group_id].append(instance_id)
    return found


def group_view(group: ServerGroup, members: list[str]) -> dict[str, Any]:
    if at_least("2.64"):  # the policy as a string with its rules; no policies list, no metadata
        rules = {k: int(v) for k, v in (group.rules or {}).items()}
        return {
            "id": group.id,
            "name": group.name,
            "policy": group.policy,
            "rules": rules,
            "members": members,
            "project_id": group.project_id,
            "user_id": group.user_id,
        }
    body: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "policies": [group.policy],
        "members": members,
        "metadata": {},
    }
    if at_least("2.13"):
        body |= {"project_id": group.project_id, "user_id": group.user_id}
    return body


def _find(session: Session, ctx: RequestContext, group_id: str) -> ServerGroup:
    group = session.get(ServerGroup, group_id) if len(group_id) <= 36 else None
    if group is None or (group.project_id != ctx.project_id and not ctx.is_admin):
        raise NotFound(f"Instance group {group_id} could not be found.")
    return group


def _bounds() -> tuple[int, int]:
    """Nova's ``limit``/``offset`` paging of server groups."""
    values = {}
    for name, default in (("offset", 0), ("limit", MAX_LIMIT)):
        raw = request.args.get(name, str(default))
        value = digits(raw)
        if value is None:
            raise ValidationError(field=name, reason=f"{raw!r} is not a non-negative integer")
        values[name] = value
    return values["offset"], min(values["limit"] or MAX_LIMIT, MAX_LIMIT)


@bp.get("/os-server-groups")
def list_server_groups() -> Response:
    ctx = policy.enforce("compute:server_groups:read")
    offset, limit = _bounds()
    query = select(ServerGroup).order_by(ServerGroup.created_at, ServerGroup.id)
    if not (ctx.is_admin and query_bool("all_projects", False)):
        query = query.where(ServerGroup.project_id == ctx.project_id)
    with runtime().db.session() as session:
        groups = list(session.scalars(query.offset(offset).limit(limit)))
        members = _members(session, groups)
        return jsonify({"server_groups": [group_view(g, members[g.id]) for g in groups]})


@bp.post("/os-server-groups")
def create_server_group() -> Response:
    ctx = policy.enforce("compute:server_groups:write")
    if at_least("2.64"):
        body = validated_body(SERVER_GROUP_CREATE_V264)["server_group"]
        chosen, rules = body["policy"], _rules(body)
    else:
        body = validated_body(SERVER_GROUP_CREATE_V215 if at_least("2.15") else SERVER_GROUP_CREATE)["server_group"]
        chosen, rules = body["policies"][0], {}
    group = ServerGroup(name=body["name"], policy=chosen, project_id=ctx.project_id, user_id=ctx.user_id, rules=rules)
    rt = runtime()
    with rt.db.session() as session:
        engine.enforce(session, ctx.project_id, {"server_groups": 1}, settings=rt.settings)
        session.add(group)
        session.flush()
        return jsonify({"server_group": group_view(group, [])})


def _rules(body: dict[str, Any]) -> dict[str, int]:
    """2.64's rules: only ``max_server_per_host`` (at least 1), and only for anti-affinity, as in Nova."""
    rules = body.get("rules") or {}
    if rules and body["policy"] != "anti-affinity":
        raise BadRequest("Only anti-affinity policy supports rules.")
    found = {}
    if "max_server_per_host" in rules:
        value = int(rules["max_server_per_host"])  # the schema admits digits only
        if not 1 <= value <= MAX_INT:
            raise ValidationError(field="rules.max_server_per_host", reason=f"{value} is not between 1 and {MAX_INT}")
        found["max_server_per_host"] = value
    return found


@bp.get("/os-server-groups/<group_id>")
def show_server_group(group_id: str) -> Response:
    ctx = policy.enforce("compute:server_groups:read")
    with runtime().db.session() as session:
        group = _find(session, ctx, group_id)
        return jsonify({"server_group": group_view(group, _members(session, [group])[group.id])})


@bp.delete("/os-server-groups/<group_id>")
def delete_server_group(group_id: str) -> Response:
    ctx = policy.enforce("compute:server_groups:write")
    with runtime().db.session() as session:
        session.delete(_find(session, ctx, group_id))
    return Response(status=204)
