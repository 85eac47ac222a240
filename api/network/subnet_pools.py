"""``/network/v2.0/subnetpools``: list, show, create, update and delete subnet pools (``subnet_allocation``).

Visible to their project and, when ``shared``, to every project; sharing a pool and marking it the default of its
IP version (``default-subnetpools``) are admin acts, as Neutron's policy has them. Subnets take CIDRs from a pool
through ``POST /subnets`` (``network.subnets``).
"""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import select

from api.network import listing, schemas
from api.network.common import PREFIX, caller, collection, enforce, resource_body, single
from api.network.unit_of_work import unit_of_work
from api.network.views import subnetpool_view
from api.runtime import runtime
from network import subnet_pools
from network.access import get_subnetpool, visible_subnetpools
from network.exceptions import SubnetPoolNotFound
from network.models import SubnetPool

bp = Blueprint("network_subnet_pools", __name__, url_prefix=PREFIX)

LISTING = listing.Listing(
    collection="subnetpools",
    model=SubnetPool,
    columns={
        "id": SubnetPool.id,
        "name": SubnetPool.name,
        "tenant_id": SubnetPool.project_id,
        "project_id": SubnetPool.project_id,
        "ip_version": SubnetPool.ip_version,
        "default_prefixlen": SubnetPool.default_prefixlen,
        "min_prefixlen": SubnetPool.min_prefixlen,
        "max_prefixlen": SubnetPool.max_prefixlen,
        "shared": SubnetPool.shared,
        "is_default": SubnetPool.is_default,
        "description": SubnetPool.description,
        "revision_number": SubnetPool.revision_number,
    },
    constants={"address_scope_id": None, "default_quota": None},
    not_found=lambda marker: SubnetPoolNotFound(subnetpool_id=marker),
)
ADMIN_FIELDS = ("shared", "is_default")


def _enforce_fields(attrs: dict[str, object], project_id: str | None) -> None:
    """Neutron's ``create_subnetpool:shared`` and ``:is_default`` (and ``update_subnetpool:is_default``)."""
    for field in ADMIN_FIELDS:
        if attrs.get(field):
            enforce(f"network:subnetpool:{field}", {"project_id": project_id})


@bp.get("/subnetpools")
def list_subnetpools() -> Response:
    who = caller(enforce("network:get_subnetpool"))
    with runtime().db.session() as session:
        found = listing.page(session, LISTING, select(SubnetPool).where(visible_subnetpools(who)))
        return collection("subnetpools", [subnetpool_view(pool) for pool in found.rows], found.links)


@bp.get("/subnetpools/<subnetpool_id>")
def show_subnetpool(subnetpool_id: str) -> tuple[Response, int]:
    who = caller(enforce("network:get_subnetpool"))
    with runtime().db.session() as session:
        return single("subnetpool", subnetpool_view(get_subnetpool(session, who, subnetpool_id)))


@bp.post("/subnetpools")
def create_subnetpool() -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body(
            "subnetpool", schemas.SUBNETPOOL_CREATE, schemas.SUBNETPOOL_BOOLS, schemas.SUBNETPOOL_INTS
        )
        project_id = work.project_for(attrs, "network:create_subnetpool")
        _enforce_fields(attrs, project_id)
        pool = subnet_pools.create_subnetpool(work.session, work.who, attrs)
        return single("subnetpool", subnetpool_view(pool), 201)


@bp.put("/subnetpools/<subnetpool_id>")
def update_subnetpool(subnetpool_id: str) -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body(
            "subnetpool", schemas.SUBNETPOOL_UPDATE, schemas.SUBNETPOOL_BOOLS, schemas.SUBNETPOOL_INTS
        )
        pool = work.fetch(get_subnetpool, subnetpool_id, "network:update_subnetpool")
        if "is_default" in attrs:
            enforce("network:subnetpool:is_default", {"project_id": pool.project_id})
        pool = subnet_pools.update_subnetpool(work.session, work.who, subnetpool_id, attrs)
        return single("subnetpool", subnetpool_view(pool))


@bp.delete("/subnetpools/<subnetpool_id>")
def delete_subnetpool(subnetpool_id: str) -> Response:
    with unit_of_work() as work:
        work.fetch(get_subnetpool, subnetpool_id, "network:delete_subnetpool")
        subnet_pools.delete_subnetpool(work.session, work.who, subnetpool_id)
    return Response(status=204)
