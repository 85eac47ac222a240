"""``/placement/allocations/{consumer_uuid}`` (what a server, or a move under way, holds on each provider),
``/placement/usages`` (1.9: what a project's, or a user's, consumers hold) and ``/placement/resource_classes``
(1.2: the classes this cloud's providers have inventory of). Admin only, read only.

An unknown consumer holds nothing: Placement answers ``{"allocations": {}}``, not 404, and so does this.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from api import policy
from api.placement import providers, queries
from api.placement.microversions import PREFIX, since
from api.runtime import runtime
from common.exceptions import NotFound

bp = Blueprint("placement_allocations", __name__)


class ResourceClassNotFound(NotFound):
    msg_fmt = "No such resource class {name}."


@bp.get(f"{PREFIX}/allocations/<consumer_uuid>")
def show_allocations(consumer_uuid: str) -> Response:
    policy.enforce("placement:allocations:list")
    with runtime().db.session() as session:
        held = providers.of_consumer(session, consumer_uuid)
        by_name = providers.hosts_by_name(session, (h.host for h in held))
    allocations = {
        by_name[h.host].uuid: {"generation": by_name[h.host].generation, "resources": h.resources}
        for h in held
        if h.host in by_name
    }
    return jsonify({"allocations": allocations})


@bp.get(f"{PREFIX}/usages")
def show_project_usages() -> Response:
    """From 1.9: ``project_id`` (required) and ``user_id``."""
    since(9)
    policy.enforce("placement:usages")
    queries.refuse_unknown(("project_id", "user_id"))
    project_id = queries.require("project_id")
    with runtime().db.session() as session:
        used = providers.project_usages(session, project_id, request.args.get("user_id"))
    return jsonify({"usages": used})


def _class_view(name: str) -> dict[str, object]:
    return {"name": name, "links": [{"rel": "self", "href": f"{PREFIX}/resource_classes/{name}"}]}


@bp.get(f"{PREFIX}/resource_classes")
def list_resource_classes() -> Response:
    since(2)
    policy.enforce("placement:resource_classes:list")
    return jsonify({"resource_classes": [_class_view(name) for name in providers.RESOURCE_CLASSES]})


@bp.get(f"{PREFIX}/resource_classes/<name>")
def show_resource_class(name: str) -> Response:
    since(2)
    policy.enforce("placement:resource_classes:show")
    if name not in providers.RESOURCE_CLASSES:
        raise ResourceClassNotFound(name=name[:64])
    return jsonify(_class_view(name))
