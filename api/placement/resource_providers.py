"""``/placement/resource_providers``: the compute hosts as resource providers, with their inventories, usages,
allocations, aggregates and traits (``api.placement.providers`` says how each is read). Admin only, as
Placement's default policy is; read only (the write routes answer 405, Flask's answer for a method a route lacks).

The listing takes Placement's filters of the versions served (``api.placement.queries``): ``name`` and ``uuid``,
``member_of`` (1.3; this cloud has no host aggregates, so a provider is a member of none and the filter leaves
none) and ``resources`` (1.4: the providers with room for one allocation of those amounts). Links are paths below
the service's root, as Placement builds them from ``SCRIPT_NAME``; ``aggregates`` joins them at 1.1, ``traits``
at 1.6.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from api import policy
from api.placement import providers, queries
from api.placement.microversions import PREFIX, at_least, since
from api.placement.providers import Provider
from api.runtime import runtime
from common.exceptions import NotFound

bp = Blueprint("placement_resource_providers", __name__)


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
    if at_least(6):
        found.append({"rel": "traits", "href": f"{base}/traits"})
    return found


def provider_view(found: Provider) -> dict[str, Any]:
    return {"generation": found.generation, "uuid": found.uuid, "name": found.name, "links": links(found.uuid)}


def _filters() -> queries.ProviderFilters:
    allowed = ["name", "uuid"] + ["member_of"] * at_least(3) + ["resources"] * at_least(4)
    queries.refuse_unknown(allowed)
    uuid = request.args.get("uuid")
    wanted = queries.resources(request.args["resources"]) if "resources" in request.args else {}
    return queries.ProviderFilters(
        name=request.args.get("name"),
        uuid=queries.uuid_value(uuid) if uuid is not None else None,
        member_of=tuple(frozenset(s) for s in queries.member_of(request.args.getlist("member_of"))),
        resources=tuple(wanted.items()),
    )


@bp.get(f"{PREFIX}/resource_providers")
def list_providers() -> Response:
    policy.enforce("placement:resource_providers:list")
    filters = _filters()
    if filters.member_of:  # no host aggregates: no provider is a member of any
        return jsonify({"resource_providers": []})
    with runtime().db.session() as session:
        found = providers.providers(session, name=filters.name, uuid=filters.uuid)
        if filters.resources:
            used = providers.usages_by_host(session)
            wanted = dict(filters.resources)
            found = [p for p in found if providers.has_room(p, used.get(p.name, {}), wanted)]
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
    since(1)
    policy.enforce("placement:resource_providers:aggregates:list")
    with runtime().db.session() as session:
        _found(session, uuid)
    return jsonify({"aggregates": []})


@bp.get(f"{PREFIX}/resource_providers/<uuid>/traits")
def list_provider_traits(uuid: str) -> Response:
    """From 1.6. No provider has a trait (``api.placement.traits``)."""
    since(6)
    policy.enforce("placement:resource_providers:traits:list")
    with runtime().db.session() as session:
        found, _ = _found(session, uuid)
    return jsonify({"traits": [], "resource_provider_generation": found.generation})
