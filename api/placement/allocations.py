"""``/placement/allocations/{consumer_uuid}`` (what a server, or a move under way, holds on each provider) and
``/placement/resource_classes`` (1.2: the classes this cloud's providers have inventory of). Admin only, read only.

An unknown consumer holds nothing: Placement answers ``{"allocations": {}}``, not 404, and so does this.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from api import policy
from api.placement import providers
from api.placement.microversions import PREFIX, at_least
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


def _class_view(name: str) -> dict[str, object]:
    return {"name": name, "links": [{"rel": "self", "href": f"{PREFIX}/resource_classes/{name}"}]}


def _since_1_2() -> None:
    if not at_least(2):
        raise NotFound(f"The resource could not be found: {request.path}")


@bp.get(f"{PREFIX}/resource_classes")
def list_resource_classes() -> Response:
    _since_1_2()
    policy.enforce("placement:resource_classes:list")
    return jsonify({"resource_classes": [_class_view(name) for name in providers.RESOURCE_CLASSES]})


@bp.get(f"{PREFIX}/resource_classes/<name>")
def show_resource_class(name: str) -> Response:
    _since_1_2()
    policy.enforce("placement:resource_classes:show")
    if name not in providers.RESOURCE_CLASSES:
        raise ResourceClassNotFound(name=name[:64])
    return jsonify(_class_view(name))
