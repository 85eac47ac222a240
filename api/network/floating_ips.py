"""``/network/v2.0/floatingips``: allocate, associate, disassociate and release floating IPs.

Floating IPs are their project's (others get 404). As in Neutron's policy, choosing the address
(``floating_ip_address``) is for admins; anyone may allocate one from an external network and associate it
with their own port. Each change tells the network service which routers changed (the old and the new one
when a floating IP moves) and the external network whose ports changed, after the commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.network import listing, schemas
from api.network.common import PREFIX, caller, collection, enforce, resource_body, single
from api.network.unit_of_work import unit_of_work
from api.network.views import floating_ip_view
from api.runtime import runtime
from network import floating_ips
from network.access import get_floating_ip, own
from network.exceptions import FloatingIPNotFound
from network.models import FloatingIP, Port

bp = Blueprint("network_floating_ips", __name__, url_prefix=PREFIX)

LISTING = listing.Listing(
    collection="floatingips",
    model=FloatingIP,
    columns={
        "id": FloatingIP.id,
        "tenant_id": FloatingIP.project_id,
        "project_id": FloatingIP.project_id,
        "floating_network_id": FloatingIP.floating_network_id,
        "floating_ip_address": FloatingIP.floating_ip_address,
        "fixed_ip_address": FloatingIP.fixed_ip_address,
        "port_id": FloatingIP.port_id,
        "router_id": FloatingIP.router_id,
        "status": FloatingIP.status,
        "description": FloatingIP.description,
        "revision_number": FloatingIP.revision_number,
    },
    not_found=lambda marker: FloatingIPNotFound(floatingip_id=marker),
)


def _ports(session: Session, found: Iterable[FloatingIP]) -> dict[str, Port]:
    port_ids = [f.port_id for f in found if f.port_id]
    if not port_ids:
        return {}
    return {p.id: p for p in session.scalars(select(Port).where(Port.id.in_(port_ids)))}


def _view(session: Session, floating_ip: FloatingIP) -> dict[str, Any]:
    return floating_ip_view(floating_ip, _ports(session, [floating_ip]).get(floating_ip.port_id or ""))


@bp.get("/floatingips")
def list_floating_ips() -> Response:
    who = caller(enforce("network:get_floatingip"))
    with runtime().db.session() as session:
        found = listing.page(session, LISTING, select(FloatingIP).where(own(who, FloatingIP.project_id)))
        found_ports = _ports(session, found.rows)
        views = [floating_ip_view(f, found_ports.get(f.port_id or "")) for f in found.rows]
    return collection("floatingips", views, found.links)


@bp.get("/floatingips/<floatingip_id>")
def show_floating_ip(floatingip_id: str) -> tuple[Response, int]:
    who = caller(enforce("network:get_floatingip"))
    with runtime().db.session() as session:
        return single("floatingip", _view(session, get_floating_ip(session, who, floatingip_id)))


@bp.post("/floatingips")
def create_floating_ip() -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("floatingip", schemas.FLOATING_IP_CREATE)
        work.project_for(attrs, "network:create_floatingip")
        if attrs.get("floating_ip_address"):
            enforce("network:floatingip:floating_ip_address")
        created = floating_ips.create_floating_ip(work.session, work.who, attrs)
        work.notify(created.floating_network_id)
        work.notify_router(created.router_id)
        return single("floatingip", _view(work.session, created), 201)


@bp.put("/floatingips/<floatingip_id>")
def update_floating_ip(floatingip_id: str) -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("floatingip", schemas.FLOATING_IP_UPDATE)
        work.fetch(get_floating_ip, floatingip_id, "network:update_floatingip")
        updated, before = floating_ips.update_floating_ip(work.session, work.who, floatingip_id, attrs)
        work.notify_router(before, updated.router_id)
        return single("floatingip", _view(work.session, updated))


@bp.delete("/floatingips/<floatingip_id>")
def delete_floating_ip(floatingip_id: str) -> Response:
    with unit_of_work() as work:
        work.fetch(get_floating_ip, floatingip_id, "network:delete_floatingip")
        deleted = floating_ips.delete_floating_ip(work.session, work.who, floatingip_id)
        work.notify(deleted.floating_network_id)
        work.notify_router(deleted.router_id)
    return Response(status=204)
