"""``/placement/resource_providers``: the compute hosts as resource providers, with their inventories, usages,
allocations and aggregates (``api.placement.providers`` says how each is read). Admin only, as Placement's
default policy is; read only (the write routes answer 405, Flask's answer for a method a route lacks).

The listing takes Placement 1.0's filters, ``name`` and ``uuid``; any other query parameter is its 400 "Invalid
query string parameters" (``member_of`` from 1.3, ``resources`` from 1.4 and the rest come with versions this API
does not serve). Links are paths below the service's root, as Placement builds them from ``SCRIPT_NAME``.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from flask import Blueprint, Response, jsonify, request

from api import policy
from api.placement import providers
from api.placement.microversions import PREFIX, at_least
from api.placement.providers import Provider
from api.runtime import runtime
from common.exceptions import BadRequest, NotFound

bp = Blueprint("placement_resource_providers", __name__)

LIST_FILTERS = ("name", "uuid")


class InvalidQuery(BadRequest):
    msg_fmt = "Invalid query string parameters: {reason}"


class ProviderNotFound(NotFound):
    msg_fmt = "No resource provider with uuid {uuid} found"


class InventoryNotFound(NotFound):
    msg_fmt = "No inventory of class {resource_class} for {uuid}"


def provider_url(uuid: str) -> str:
    return f"{PREFIX}/resource_providers/{uuid}"


def links(uuid: str) -> list[dict[str, str]]:
    base = provider_url(uuid)
    found = [
        {"rel": "self", "href": base},
        {"rel": "inventories", "href": f"{base}/inventories"},
        {"rel": "usages", "href": f"{base}/usages"},
    ]
    if at_least(1):
        found.append({"rel": "aggregates", "href": f"{base}/aggregates"})
    return found


def provider_view(found: Provider) -> dict[str, Any]:
    return {"generation": found.generation, "uuid": found.uuid, "name": found.name, "links": links(found.uuid)}


def _uuid(value: str) -> str:
    """``value`` as the dashed lower-case form hosts' ids are stored in; Placement's 400 when it is no uuid."""
    try:
        return str(uuidlib.UUID(value))
    except ValueError:
        raise InvalidQuery(reason=f"'{value[:64]}' is not a 'uuid'") from None


def _filters() -> dict[str, str]:
    unknown = sorted(set(request.args) - set(LIST_FILTERS))
    if unknown:
        named = ", ".join(f"'{name[:64]}'" for name in unknown)
        verb = "was" if len(unknown) == 1 else "were"
        raise InvalidQuery(reason=f"Additional properties are not allowed ({named} {verb} unexpected)")
    found = {name: request.args[name] for name in LIST_FILTERS if name in request.args}
    if "uuid" in found:
        found["uuid"] = _uuid(found["uuid"])
    return found


@bp.get(f"{PREFIX}/resource_providers")
def list_providers() -> Response:
    policy.enforce("placement:resource_providers:list")
    filters = _filters()
    with runtime().db.session() as session:
        found = providers.providers(session, **filters)
    return jsonify({"resource_providers": [provider_view(p) for p in found]})


def _found(session: Any, uuid: str) -> tuple[Provider, str]:
    found = providers.provider(session, uuid)
    if found is None:
        raise ProviderNotFound(uuid=uuid[:64])
    return found


@bp.get(f"{PREFIX}/resource_providers/<uuid>")
def show_provider(uuid: str) -> Response:
    policy.enforce("placement:resource_providers:show")
    with runtime().db.session() as session:
        found, _ = _found(session, uuid)
    return jsonify(provider_view(found))


@bp.get(f"{PREFIX}/resource_providers/<uuid>/inventories")
def list_inventories(uuid: str) -> Response:
    policy.enforce("placement:resource_providers:inventories:list")
    with runtime().db.session() as session:
        found, _ = _found(session, uuid)
    inventories = {rc: inventory.view() for rc, inventory in found.inventories.items()}
    return jsonify({"inventories": inventories, "resource_provider_generation": found.generation})


@bp.get(f"{PREFIX}/resource_providers/<uuid>/inventories/<resource_class>")
def show_inventory(uuid: str, resource_class: str) -> Response:
    policy.enforce("placement:resource_providers:inventories:show")
    with runtime().db.session() as session:
        found, _ = _found(session, uuid)
    inventory = found.inventories.get(resource_class)
    if inventory is None:
        raise InventoryNotFound(resource_class=resource_class[:64], uuid=found.uuid)
    return jsonify(inventory.view() | {"resource_provider_generation": found.generation})


@bp.get(f"{PREFIX}/resource_providers/<uuid>/usages")
def show_usages(uuid: str) -> Response:
    policy.enforce("placement:resource_providers:usages")
    with runtime().db.session() as session:
        found, host = _found(session, uuid)
        used = providers.usages(session, found, host)
    return jsonify({"resource_provider_generation": found.generation, "usages": used})


@bp.get(f"{PREFIX}/resource_providers/<uuid>/allocations")
def list_provider_allocations(uuid: str) -> Response:
    policy.enforce("placement:resource_providers:allocations:list")
    with runtime().db.session() as session:
        found, host = _found(session, uuid)
        held = providers.on_host(session, host)
    allocations = {h.consumer: {"resources": h.resources} for h in sorted(held, key=lambda h: h.consumer)}
    return jsonify({"allocations": allocations, "resource_provider_generation": found.generation})


@bp.get(f"{PREFIX}/resource_providers/<uuid>/aggregates")
def list_aggregates(uuid: str) -> Response:
    """From 1.1. This cloud has no host aggregates (``os-aggregates`` lists none): every provider is in none."""
    if not at_least(1):
        raise NotFound(f"The resource could not be found: {request.path}")
    policy.enforce("placement:resource_providers:aggregates:list")
    with runtime().db.session() as session:
        _found(session, uuid)
    return jsonify({"aggregates": []})
