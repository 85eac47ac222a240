"""``/network/v2.0/service-providers``: Neutron's ``service-type`` extension, the drivers behind each advanced
service. This cloud has one: its L3 routers, one namespace on one network host (Neutron's ``single_node``
provider of ``L3_ROUTER_NAT``: neither HA nor distributed). Filters match as in any Neutron listing."""

from __future__ import annotations

from flask import Blueprint, Response, request

from api.network.common import PREFIX, collection, enforce

bp = Blueprint("network_service_providers", __name__, url_prefix=PREFIX)

PROVIDERS = ({"service_type": "L3_ROUTER_NAT", "name": "single_node", "default": True},)


def _matches(row: dict[str, object]) -> bool:
    for name, values in request.args.lists():
        if name in row and str(row[name]).lower() not in {v.lower() for v in values}:
            return False
    return True


@bp.get("/service-providers")
def list_service_providers() -> Response:
    enforce("network:get_service_provider")
    return collection("service_providers", [dict(p) for p in PROVIDERS if _matches(p)], [])
