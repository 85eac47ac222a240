"""``/network/v2.0/availability_zones``: Neutron's ``availability_zone`` extension. Neutron lists the zones its
DHCP and L3 agents report; this cloud's network agents belong to no zone (the agents API shows
``availability_zone`` null), so no network or router zone exists and the list is empty, as networks' and
routers' ``availability_zones`` are. Zone hints are refused at create (``api.network.schemas``)."""

from __future__ import annotations

from flask import Blueprint, Response

from api.network.common import PREFIX, collection, enforce

bp = Blueprint("network_availability_zones", __name__, url_prefix=PREFIX)


@bp.get("/availability_zones")
def list_availability_zones() -> Response:
    enforce("network:get_availability_zone")
    return collection("availability_zones", [], [])
