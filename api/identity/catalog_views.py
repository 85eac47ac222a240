"""``/v3/services``, ``/v3/endpoints`` and ``/v3/regions``: the catalog, read-only (it follows the settings)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from api import policy
from api.runtime import runtime
from api.urls import collection_links
from common.exceptions import NotFound

bp = Blueprint("identity_catalog", __name__, url_prefix="/identity/v3")


def _one(items: list[dict[str, Any]], item_id: str, kind: str) -> dict[str, Any]:
    for item in items:
        if item["id"] == item_id:
            return item
    raise NotFound(kind=kind, id=item_id)


def _filtered(items: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    for field in fields:
        if field in request.args:
            items = [i for i in items if i.get(field) == request.args[field]]
    return items


@bp.get("/services")
def list_services() -> Response:
    policy.enforce("identity:list_services")
    services = _filtered(runtime().catalog.services(), ("type", "name"))
    return jsonify({"services": services, "links": collection_links("/services")})


@bp.get("/services/<service_id>")
def get_service(service_id: str) -> Response:
    policy.enforce("identity:get_service")
    return jsonify({"service": _one(runtime().catalog.services(), service_id, "service")})


@bp.get("/endpoints")
def list_endpoints() -> Response:
    policy.enforce("identity:list_endpoints")
    endpoints = _filtered(runtime().catalog.endpoints(), ("service_id", "interface", "region_id"))
    return jsonify({"endpoints": endpoints, "links": collection_links("/endpoints")})


@bp.get("/endpoints/<endpoint_id>")
def get_endpoint(endpoint_id: str) -> Response:
    policy.enforce("identity:get_endpoint")
    return jsonify({"endpoint": _one(runtime().catalog.endpoints(), endpoint_id, "endpoint")})


@bp.get("/regions")
def list_regions() -> Response:
    policy.enforce("identity:list_regions")
    return jsonify({"regions": runtime().catalog.regions(), "links": collection_links("/regions")})


@bp.get("/regions/<region_id>")
def get_region(region_id: str) -> Response:
    policy.enforce("identity:get_region")
    return jsonify({"region": _one(runtime().catalog.regions(), region_id, "region")})
