"""``/network/v2.0/networks``: list, show, create, update and delete networks.

Admins see every network; others their project's, shared and external ones (any other is a 404). Setting
``shared``, ``router:external`` or a ``provider:*`` attribute needs the admin role (403
``PolicyNotAuthorized``), and only admins see ``provider:*``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.network import listing, records, schemas
from api.network.common import (
    PREFIX,
    caller,
    collection,
    created,
    enforce,
    resource_bodies,
    resource_body,
    single,
)
from api.network.unit_of_work import unit_of_work
from api.network.views import network_view
from api.runtime import runtime
from network import networks, qos
from network.access import Caller, get_network, shared_with, visible_networks
from network.exceptions import NetworkNotFound
from network.models import Network, Subnet

bp = Blueprint("network_networks", __name__, url_prefix=PREFIX)

PROVIDER = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")
COLUMNS = {
    "id": Network.id,
    "name": Network.name,
    "tenant_id": Network.project_id,
    "project_id": Network.project_id,
    "admin_state_up": Network.admin_state_up,
    "status": Network.status,
    "shared": Network.shared,
    "mtu": Network.mtu,
    "router:external": Network.router_external,
    "port_security_enabled": Network.port_security_enabled,
    "description": Network.description,
    "revision_number": Network.revision_number,
    "qos_policy_id": Network.qos_policy_id,
}
PROVIDER_COLUMNS = {
    "provider:network_type": Network.network_type,
    "provider:physical_network": Network.physical_network,
    "provider:segmentation_id": Network.segmentation_id,
}
CONSTANTS: dict[str, Any] = {
    "availability_zones": [],
    "availability_zone_hints": [],
    "ipv4_address_scope": None,
    "ipv6_address_scope": None,
    "is_default": False,
    "l2_adjacency": True,
    "dns_domain": "",
}


def _shows_provider() -> bool:
    return policy.allowed("network:network:provider")


def _listing() -> listing.Listing:
    provider = _shows_provider()
    return listing.Listing(
        collection="networks",
        model=Network,
        columns={**COLUMNS, **(PROVIDER_COLUMNS if provider else {})},
        special={"subnets": lambda ids: Network.id.in_(select(Subnet.network_id).where(Subnet.id.in_(ids)))},
        constants=CONSTANTS,
        not_found=lambda marker: NetworkNotFound(net_id=marker),
    )


def _check_admin_fields(attrs: dict[str, Any], current: Network | None = None) -> None:
    """Neutron checks an attribute's policy when the request sets it to something other than what it is."""
    if attrs.get("shared", current.shared if current else False) != (current.shared if current else False):
        enforce("network:network:shared")
    external = current.router_external if current else False
    if attrs.get("router:external", external) != external:
        enforce("network:network:router:external")
    if any(attrs.get(field) is not None for field in PROVIDER):
        enforce("network:network:provider")


@bp.get("/networks")
def list_networks() -> Response:
    who = caller(enforce("network:get_network"))
    provider = _shows_provider()
    with runtime().db.session() as session:
        found = listing.page(session, _listing(), records.network_query().where(visible_networks(who)))
        views = [network_view(n, provider) for n in records.networks(session, found)]
        _mark_shared(session, who, views)
    return collection("networks", views, found.links)


def _mark_shared(session: Session, who: Caller, views: list[dict[str, Any]]) -> None:
    """``shared`` as the caller sees it: true too for a network an RBAC policy shares with its project."""
    for network_id in shared_with(session, who, [view["id"] for view in views]):
        next(view for view in views if view["id"] == network_id)["shared"] = True


@bp.get("/networks/<network_id>")
def show_network(network_id: str) -> tuple[Response, int]:
    who = caller(enforce("network:get_network"))
    with runtime().db.session() as session:
        view = network_view(get_network(session, who, network_id), _shows_provider())
        _mark_shared(session, who, [view])
        return single("network", view)


@bp.post("/networks")
def create_network() -> tuple[Response, int]:
    """One network, or Neutron's bulk form: all in one transaction, so one item's fault leaves none created."""
    with unit_of_work() as work:
        items, bulk = resource_bodies(
            "network", "networks", schemas.NETWORK_CREATE, schemas.NETWORK_BOOLS, schemas.NETWORK_INTS
        )
        views = []
        for attrs in items:
            work.project_for(attrs, "network:create_network")
            _check_admin_fields(attrs)
            network = networks.create_network(work.session, work.who, runtime().settings, attrs)
            # Neutron's qos-default: a network that names no policy gets its project's default one.
            wanted = attrs.get("qos_policy_id") or qos.default_policy_id(work.session, network.project_id)
            qos.attach(work.session, work.who, network, wanted)
            views.append(network_view(network, _shows_provider()))
        return created("network", "networks", views, bulk)


@bp.put("/networks/<network_id>")
def update_network(network_id: str) -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("network", schemas.NETWORK_UPDATE, schemas.NETWORK_BOOLS, schemas.NETWORK_INTS)
        network = work.fetch(get_network, network_id, "network:update_network")
        _check_admin_fields(attrs, network)
        network = networks.update_network(work.session, work.who, runtime().settings, network_id, attrs)
        if "qos_policy_id" in attrs:
            qos.attach(work.session, work.who, network, attrs["qos_policy_id"])
        work.notify(network_id)
        return single("network", network_view(network, _shows_provider()))


@bp.delete("/networks/<network_id>")
def delete_network(network_id: str) -> Response:
    with unit_of_work() as work:
        work.fetch(get_network, network_id, "network:delete_network")
        networks.delete_network(work.session, work.who, network_id)
        work.notify(network_id)
    return Response(status=204)
