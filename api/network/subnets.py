"""``/network/v2.0/subnets``: list, show, create, update and delete subnets.

A subnet is visible with its network. Creating one needs the network's project (or the admin role): a
shared network's users see its subnets but get 403 when adding one, as in Neutron.
"""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.network import listing, schemas
from api.network.common import (
    PREFIX,
    caller,
    collection,
    created,
    enforce,
    resource_bodies,
    resource_body,
    single,
    to_bool,
)
from api.network.unit_of_work import unit_of_work
from api.network.views import subnet_view
from api.runtime import runtime
from network import subnets
from network.access import get_subnet, usable_network, visible_subnets
from network.exceptions import SubnetNotFound
from network.models import Network, Subnet

bp = Blueprint("network_subnets", __name__, url_prefix=PREFIX)

LISTING = listing.Listing(
    collection="subnets",
    model=Subnet,
    columns={
        "id": Subnet.id,
        "name": Subnet.name,
        "tenant_id": Subnet.project_id,
        "project_id": Subnet.project_id,
        "network_id": Subnet.network_id,
        "ip_version": Subnet.ip_version,
        "cidr": Subnet.cidr,
        "gateway_ip": Subnet.gateway_ip,
        "enable_dhcp": Subnet.enable_dhcp,
        "ipv6_ra_mode": Subnet.ipv6_ra_mode,
        "ipv6_address_mode": Subnet.ipv6_address_mode,
        "description": Subnet.description,
        "revision_number": Subnet.revision_number,
        "subnetpool_id": Subnet.subnetpool_id,
    },
    special={
        # subnet-external-network: a subnet is external with its network (read-only, filterable)
        "router:external": lambda values: Subnet.network_id.in_(
            select(Network.id).where(Network.router_external.in_([to_bool(v, "router:external") for v in values]))
        ),
    },
    constants={"segment_id": None},
    not_found=lambda marker: SubnetNotFound(subnet_id=marker),
)


def _external(session: Session, network_ids: set[str]) -> set[str]:
    """Which of these networks are external (the subnets' ``router:external``)."""
    if not network_ids:
        return set()
    query = select(Network.id).where(Network.id.in_(network_ids), Network.router_external.is_(True))
    return set(session.scalars(query))


@bp.get("/subnets")
def list_subnets() -> Response:
    who = caller(enforce("network:get_subnet"))
    with runtime().db.session() as session:
        found = listing.page(session, LISTING, select(Subnet).where(visible_subnets(who)))
        external = _external(session, {s.network_id for s in found.rows})
        views = [subnet_view(s, s.network_id in external) for s in found.rows]
    return collection("subnets", views, found.links)


@bp.get("/subnets/<subnet_id>")
def show_subnet(subnet_id: str) -> tuple[Response, int]:
    who = caller(enforce("network:get_subnet"))
    with runtime().db.session() as session:
        subnet = get_subnet(session, who, subnet_id)
        return single("subnet", subnet_view(subnet, bool(_external(session, {subnet.network_id}))))


@bp.post("/subnets")
def create_subnet() -> tuple[Response, int]:
    """One subnet, or Neutron's bulk form: all in one transaction, so one item's fault leaves none created."""
    with unit_of_work() as work:
        items, bulk = resource_bodies(
            "subnet", "subnets", schemas.SUBNET_CREATE, schemas.SUBNET_BOOLS, schemas.SUBNET_INTS
        )
        views = []
        for attrs in items:
            work.project_for(attrs, "network:create_subnet")
            # Adding a subnet is the network's project's right too: a shared network's users get 403.
            network = work.fetch(usable_network, attrs["network_id"], "network:create_subnet")
            subnet = subnets.create_subnet(work.session, work.who, attrs)
            views.append(subnet_view(subnet, network.router_external))
            work.notify(attrs["network_id"])
        return created("subnet", "subnets", views, bulk)


@bp.put("/subnets/<subnet_id>")
def update_subnet(subnet_id: str) -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("subnet", schemas.SUBNET_UPDATE, schemas.SUBNET_BOOLS)
        work.fetch(get_subnet, subnet_id, "network:update_subnet")
        subnet = subnets.update_subnet(work.session, work.who, subnet_id, attrs)
        work.notify(subnet.network_id)
        return single("subnet", subnet_view(subnet, bool(_external(work.session, {subnet.network_id}))))


@bp.delete("/subnets/<subnet_id>")
def delete_subnet(subnet_id: str) -> Response:
    with unit_of_work() as work:
        work.fetch(get_subnet, subnet_id, "network:delete_subnet")
        work.notify(subnets.delete_subnet(work.session, work.who, subnet_id))
    return Response(status=204)
