"""``/network/v2.0/<collection>/<id>/tags``: Neutron's tag API (``standard-attr-tag``) for networks, subnets,
ports, security groups, routers, floating IPs, subnet pools and QoS policies. Reading tags needs read access to the
resource, changing them its update right."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy.orm import Session

from api.network import schemas
from api.network.common import PREFIX
from api.network.unit_of_work import UnitOfWork, unit_of_work
from api.validation import validated_body
from network import access, qos
from network.access import Caller
from network.exceptions import InvalidAttribute, NeutronNotFound

bp = Blueprint("network_tags", __name__, url_prefix=PREFIX)

Lookup = Callable[[Session, Caller, str], Any]
RESOURCES: dict[str, tuple[Lookup, str]] = {
    "networks": (access.get_network, "network"),
    "subnets": (access.get_subnet, "subnet"),
    "ports": (access.get_port, "port"),
    "security-groups": (access.get_security_group, "security_group"),
    "routers": (access.get_router, "router"),
    "floatingips": (access.get_floating_ip, "floatingip"),
    "subnetpools": (access.get_subnetpool, "subnetpool"),
    # QoS policies' tags are at /v2.0/policies/<id>/tags (Neutron's tag extension names collections, not paths;
    # openstacksdk's QoSPolicy.set_tags sends exactly that).
    "policies": (qos.get_policy, "policy"),
}
MAX_TAG = 255


class TagNotFound(NeutronNotFound):
    msg_fmt = "Tag {tag} could not be found for {resource} {resource_id}."
    fault_type = "TagNotFound"


def _lookup(collection: str) -> tuple[Lookup, str]:
    if collection not in RESOURCES:
        raise NeutronNotFound(f"The resource could not be found: {collection}")
    return RESOURCES[collection]


def _record(work: UnitOfWork, collection: str, resource_id: str, write: bool) -> Any:
    lookup, kind = _lookup(collection)
    return work.fetch(lookup, resource_id, f"network:update_{kind}" if write else f"network:get_{kind}")


def _check(tag: str) -> str:
    if not tag or len(tag) > MAX_TAG or "," in tag:
        raise InvalidAttribute(attribute="tags", reason=f"'{tag}' is not a valid tag")
    return tag


def _bump(record: Any, tags: list[str]) -> None:
    record.tags = list(dict.fromkeys(tags))
    record.revision_number += 1


@bp.get("/<collection>/<resource_id>/tags")
def list_tags(collection: str, resource_id: str) -> Response:
    with unit_of_work() as work:
        return jsonify({"tags": list(_record(work, collection, resource_id, False).tags or [])})


@bp.put("/<collection>/<resource_id>/tags")
def replace_tags(collection: str, resource_id: str) -> Response:
    with unit_of_work() as work:
        tags = [_check(tag) for tag in validated_body(schemas.TAGS_REPLACE)["tags"]]
        record = _record(work, collection, resource_id, True)
        _bump(record, tags)
        return jsonify({"tags": list(record.tags)})


@bp.delete("/<collection>/<resource_id>/tags")
def remove_all_tags(collection: str, resource_id: str) -> Response:
    with unit_of_work() as work:
        _bump(_record(work, collection, resource_id, True), [])
    return Response(status=204)


@bp.get("/<collection>/<resource_id>/tags/<tag>")
def check_tag(collection: str, resource_id: str, tag: str) -> Response:
    with unit_of_work() as work:
        if tag not in (_record(work, collection, resource_id, False).tags or []):
            raise TagNotFound(tag=tag, resource=collection, resource_id=resource_id)
    return Response(status=204)


@bp.put("/<collection>/<resource_id>/tags/<tag>")
def add_tag(collection: str, resource_id: str, tag: str) -> Response:
    with unit_of_work() as work:
        record = _record(work, collection, resource_id, True)
        if tag not in (record.tags or []):
            _bump(record, [*(record.tags or []), _check(tag)])
    return Response(status=201)


@bp.delete("/<collection>/<resource_id>/tags/<tag>")
def remove_tag(collection: str, resource_id: str, tag: str) -> Response:
    with unit_of_work() as work:
        record = _record(work, collection, resource_id, True)
        if tag not in (record.tags or []):
            raise TagNotFound(tag=tag, resource=collection, resource_id=resource_id)
        _bump(record, [t for t in record.tags if t != tag])
    return Response(status=204)
