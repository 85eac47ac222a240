"""Glance's tasks API (``/image/v2/tasks``): create an ``import`` task, list and show tasks; their schemas.

As in Glance, the API is admin-only by default (``image:tasks_api_access``) and a task is never deleted by a
request (405): it goes once it has expired. Creating one records it ``pending`` and, after the commit, asks the
image service to run it (``image.web_import``). The input is checked here as far as it can be without fetching
anything (a task whose input cannot work is refused with 400, as newer Glance refuses an invalid ``import_from``);
whether its web source is one this cloud imports from is checked by the image service, which ends the task in
``failure`` with the reason when it is not.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import asc, desc, select

from api import policy
from api.broker import require_broker, send_after_commit
from api.context import RequestContext
from api.faults import fault_response
from api.image import task_schemas
from api.image.schemas import CREATE, READ_ONLY, RESERVED
from api.image.views import glance_time
from api.runtime import runtime
from api.validation import digits, json_body, validate
from common.exceptions import BadRequest, Forbidden, NotFound
from image import client, service, sources
from image.models import ImageTask
from image.states import TaskStatus, Visibility

bp = Blueprint("image_tasks", __name__, url_prefix="/image/v2")

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
SORT_KEYS = ("id", "type", "status", "owner", "created_at", "updated_at", "expires_at")
FILTERS = ("status", "type", "owner")
TASK_TYPES = ("import",)
IMPORT_KEYS = ("import_from", "import_from_format", "image_properties")


def _access() -> RequestContext:
    return policy.enforce("image:tasks_api_access")


def _location(task: ImageTask) -> str:
    return f"/v2/tasks/{task.id}"


def _stub(task: ImageTask) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": task.id,
        "type": task.type,
        "status": task.status,
        "owner": task.owner,
        "created_at": glance_time(task.created_at),
        "updated_at": glance_time(task.updated_at or task.created_at),
        "self": _location(task),
        "schema": "/v2/schemas/task",
    }
    if task.expires_at:
        view["expires_at"] = glance_time(task.expires_at)
    return view


def task_view(task: ImageTask) -> dict[str, Any]:
    """Glance's task: the stub with its input, result and message, and the ids it carries when it has them."""
    view = _stub(task) | {"input": task.input, "result": task.result, "message": task.message or ""}
    for key in ("image_id", "request_id", "user_id"):
        if getattr(task, key):
            view[key] = getattr(task, key)
    return view


def _check_image_properties(ctx: RequestContext, properties: Any) -> None:
    if not isinstance(properties, dict):
        raise BadRequest("Task input 'image_properties' must be an object of image attributes.")
    for key in properties:
        if key in READ_ONLY or key in RESERVED or key in ("id", "owner") or key.startswith("os_glance"):
            raise BadRequest(f"Task input 'image_properties' may not set '{key}': the import sets it.")
    validate(properties, CREATE)
    visibility = properties.get("visibility")
    target = {"project_id": ctx.project_id}
    if visibility == Visibility.PUBLIC:
        policy.enforce("image:publicize_image", target)
    elif visibility == Visibility.COMMUNITY:
        policy.enforce("image:communitize_image", target)


def _check_import_input(ctx: RequestContext, task_input: dict[str, Any]) -> None:
    for key in IMPORT_KEYS:
        if key not in task_input:
            raise BadRequest(f"Input does not contain '{key}' field")
    if not isinstance(task_input["import_from"], str):
        raise BadRequest("Task input 'import_from' must be a URL.")
    sources.check_shape(task_input["import_from"])
    fmt = task_input["import_from_format"]
    if fmt not in task_schemas.DISK_FORMATS:
        known = ", ".join(task_schemas.DISK_FORMATS)
        raise BadRequest(f"Task input 'import_from_format' {fmt!r} is not one of {known}.")
    properties = task_input["image_properties"]
    _check_image_properties(ctx, properties)
    if properties.get("disk_format") not in (None, fmt):
        raise BadRequest(
            f"Task input 'import_from_format' ({fmt}) and image_properties 'disk_format' ({properties['disk_format']}) "
            "differ: the data is stored in the format it is fetched in."
        )


@bp.post("/tasks")
def create_task() -> tuple[Response, int]:
    ctx = _access()
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object with the task's 'type' and 'input'.")
    for key in ("type", "input"):
        if key not in body:
            raise BadRequest(f"Task '{key}' is required")
    validate(body, task_schemas.CREATE)
    if body["type"] not in TASK_TYPES:
        raise BadRequest(f"Task type {body['type']!r} is not supported: this cloud runs 'import' tasks.")
    if ctx.project_id is None:
        raise Forbidden("Tasks are owned by projects: use a project-scoped token.")
    _check_import_input(ctx, body["input"])
    rt = runtime()
    require_broker("image")
    with rt.db.session() as session:
        task = service.create_task(session, ctx.project_id, body["type"], body["input"], ctx.user_id, ctx.request_id)
        view = task_view(task)
    send_after_commit(client.run_task, rt.celery, view["id"], request_id=ctx.request_id)
    response = jsonify(view)
    response.headers["Location"] = view["self"]
    return response, 201


def _limit() -> int:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    value = digits(raw)
    if value is None:
        negative = raw.startswith("-") and digits(raw[1:]) is not None
        raise BadRequest("limit param must be positive" if negative else "limit param must be an integer")
    return min(value, MAX_LIMIT)


def _ordering() -> tuple[str, str]:
    key, direction = request.args.get("sort_key", "created_at"), request.args.get("sort_dir", "desc")
    if direction not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort direction: {direction}")
    if key not in SORT_KEYS:
        raise BadRequest(f"Invalid sort key: {key}. It should be one of: {', '.join(SORT_KEYS)}")
    return key, direction


def _filters() -> dict[str, str]:
    status, kind = request.args.get("status"), request.args.get("type")
    if status and status not in {s.value for s in TaskStatus}:
        raise BadRequest(f"Invalid status value: {status}")
    if kind and kind not in TASK_TYPES:
        raise BadRequest(f"Invalid type value: {kind}")
    return {name: request.args[name] for name in FILTERS if request.args.get(name)}


@bp.get("/tasks")
def list_tasks() -> Response:
    """Glance's listing: filters on status, type and owner, one sort key, marker paging; a full page links the
    next one. Only an admin sees other projects' tasks (when the policy lets others in at all)."""
    ctx = _access()
    limit, (key, direction), filters = _limit(), _ordering(), _filters()
    marker = request.args.get("marker")
    if marker is not None and not task_schemas.is_uuid(marker):
        raise BadRequest("Invalid marker format")
    order = asc if direction == "asc" else desc
    query = select(ImageTask.id).order_by(order(getattr(ImageTask, key)), order(ImageTask.id))
    if not ctx.is_admin:
        query = query.where(ImageTask.owner == ctx.project_id)
    for name, value in filters.items():
        query = query.where(getattr(ImageTask, name) == value)
    with runtime().db.session() as session:
        ids = list(session.scalars(query))
        start = 0
        if marker is not None:
            if marker not in ids:
                raise BadRequest(f"Task with identifier {marker} not found")
            start = ids.index(marker) + 1
        chosen = ids[start : start + limit]
        found = {t.id: t for t in session.scalars(select(ImageTask).where(ImageTask.id.in_(chosen)))}
        tasks = [_stub(found[i]) for i in chosen]
    params = [(k, v) for k, v in request.args.items(multi=True) if k != "marker"]
    body: dict[str, Any] = {
        "tasks": tasks,
        "first": "/v2/tasks" + (f"?{urlencode(params)}" if params else ""),
        "schema": "/v2/schemas/tasks",
    }
    if chosen and len(chosen) == limit:
        body["next"] = "/v2/tasks?" + urlencode([*params, ("marker", chosen[-1])])
    return jsonify(body)


@bp.get("/tasks/<task_id>")
def show_task(task_id: str) -> Response:
    ctx = _access()
    with runtime().db.session() as session:
        task = session.get(ImageTask, task_id) if len(task_id) <= 36 else None
        if task is None or not (ctx.is_admin or task.owner == ctx.project_id):
            raise NotFound(f"Task with identifier {task_id} not found")
        return jsonify(task_view(task))


@bp.delete("/tasks/<task_id>")
def delete_task(task_id: str) -> Response:
    _access()
    response = fault_response(
        405,
        "Method Not Allowed",
        "This operation is currently not permitted on Glance Tasks. They are auto deleted after reaching the time "
        "based on their expires_at property.",
    )
    response.headers["Allow"] = "GET"
    return response


@bp.get("/schemas/task")
def task_schema() -> Response:
    policy.enforce("image:get_schemas")
    return jsonify(task_schemas.published_task_schema())


@bp.get("/schemas/tasks")
def tasks_schema() -> Response:
    policy.enforce("image:get_schemas")
    return jsonify(task_schemas.published_tasks_schema())
