"""``/network/v2.0/routers``: routers (``router``, ``ext-gw-mode``), their interfaces and their extra routes
(``extraroute``, ``extraroute-atomic``).

Routers are their project's (others get 404). As in Neutron's policy, anyone may put their router's gateway on
an external network, but choosing its addresses (``external_fixed_ips``) or turning SNAT off
(``enable_snat``) is for admins. Every change tells the network service the router changed (and the networks
whose ports it made or deleted) after the commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.network import listing, schemas
from api.network.common import PREFIX, caller, collection, enforce, resource_body, single
from api.network.unit_of_work import unit_of_work
from api.network.views import router_view
from api.runtime import runtime
from api.validation import validated_body
from network import ports, router_interfaces, routers
from network.access import get_router, own
from network.exceptions import RouterNotFound
from network.models import IPAllocation, Router

bp = Blueprint("network_routers", __name__, url_prefix=PREFIX)

LISTING = listing.Listing(
    collection="routers",
    model=Router,
    columns={
        "id": Router.id,
        "name": Router.name,
        "tenant_id": Router.project_id,
        "project_id": Router.project_id,
        "admin_state_up": Router.admin_state_up,
        "status": Router.status,
        "description": Router.description,
        "revision_number": Router.revision_number,
    },
    not_found=lambda marker: RouterNotFound(router_id=marker),
)


def _gateway_ips(session: Session, found: Iterable[Router]) -> dict[str, list[IPAllocation]]:
    port_ids = [r.gateway_port_id for r in found if r.gateway_port_id]
    return ports.addresses_of(session, port_ids) if port_ids else {}


def _view(session: Session, router: Router) -> dict[str, Any]:
    addresses = _gateway_ips(session, [router])
    return router_view(router, addresses.get(router.gateway_port_id or "", []))


def _check_gateway_fields(attrs: dict[str, Any], current: Router | None = None) -> None:
    """Neutron's ``external_gateway_info:enable_snat`` and ``:external_fixed_ips`` rules (admin only), checked
    when the request sets them to something other than what they are."""
    info = attrs.get("external_gateway_info") or {}
    snat = current.enable_snat if current is not None and current.gateway_network_id else True
    if info.get("enable_snat") is not None and info["enable_snat"] != snat:
        enforce("network:router:external_gateway_info:enable_snat")
    if info.get("external_fixed_ips"):
        enforce("network:router:external_gateway_info:external_fixed_ips")


@bp.get("/routers")
def list_routers() -> Response:
    who = caller(enforce("network:get_router"))
    with runtime().db.session() as session:
        found = listing.page(session, LISTING, select(Router).where(own(who, Router.project_id)))
        addresses = _gateway_ips(session, found.rows)
        views = [router_view(r, addresses.get(r.gateway_port_id or "", [])) for r in found.rows]
    return collection("routers", views, found.links)


@bp.get("/routers/<router_id>")
def show_router(router_id: str) -> tuple[Response, int]:
    who = caller(enforce("network:get_router"))
    with runtime().db.session() as session:
        return single("router", _view(session, get_router(session, who, router_id)))


@bp.post("/routers")
def create_router() -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("router", schemas.ROUTER_CREATE, schemas.ROUTER_BOOLS)
        work.project_for(attrs, "network:create_router")
        _check_gateway_fields(attrs)
        router = routers.create_router(work.session, work.who, attrs)
        work.notify_router(router.id)
        if router.gateway_network_id:
            work.notify(router.gateway_network_id)
        return single("router", _view(work.session, router), 201)


@bp.put("/routers/<router_id>")
def update_router(router_id: str) -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("router", schemas.ROUTER_UPDATE, schemas.ROUTER_BOOLS)
        current = work.fetch(get_router, router_id, "network:update_router")
        _check_gateway_fields(attrs, current)
        before = current.gateway_network_id
        router = routers.update_router(work.session, work.who, router_id, attrs)
        work.notify_router(router.id)
        work.notify(*(n for n in (before, router.gateway_network_id) if n))
        return single("router", _view(work.session, router))


@bp.delete("/routers/<router_id>")
def delete_router(router_id: str) -> Response:
    with unit_of_work() as work:
        work.fetch(get_router, router_id, "network:delete_router")
        gateway_network = routers.delete_router(work.session, work.who, router_id)
        work.notify_router(router_id)
        if gateway_network:
            work.notify(gateway_network)
    return Response(status=204)


def _interface_body() -> dict[str, Any]:
    return validated_body(schemas.ROUTER_INTERFACE)


@bp.put("/routers/<router_id>/add_router_interface")
def add_router_interface(router_id: str) -> Response:
    with unit_of_work() as work:
        body = _interface_body()
        work.fetch(get_router, router_id, "network:add_router_interface")
        added = router_interfaces.add_interface(
            work.session, work.who, router_id, body.get("subnet_id"), body.get("port_id")
        )
        work.notify_router(router_id)
        work.notify(added.network_id)
        return jsonify(added.view())


@bp.put("/routers/<router_id>/remove_router_interface")
def remove_router_interface(router_id: str) -> Response:
    with unit_of_work() as work:
        body = _interface_body()
        work.fetch(get_router, router_id, "network:remove_router_interface")
        removed = router_interfaces.remove_interface(
            work.session, work.who, router_id, body.get("subnet_id"), body.get("port_id")
        )
        work.notify_router(router_id)
        work.notify(removed.network_id)
        return jsonify(removed.view())


def _change_routes(router_id: str, add: bool) -> tuple[Response, int]:
    with unit_of_work() as work:
        routes = resource_body("router", schemas.ROUTER_ROUTES)["routes"]
        work.fetch(get_router, router_id, "network:update_router")
        router = routers.change_routes(work.session, work.who, router_id, routes, add)
        work.notify_router(router.id)
        return single("router", _view(work.session, router))


@bp.put("/routers/<router_id>/add_extraroutes")
def add_extraroutes(router_id: str) -> tuple[Response, int]:
    return _change_routes(router_id, add=True)


@bp.put("/routers/<router_id>/remove_extraroutes")
def remove_extraroutes(router_id: str) -> tuple[Response, int]:
    return _change_routes(router_id, add=False)
