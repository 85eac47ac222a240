"""``/v3/endpoints``: the endpoints of Stratus's own services (built in, read-only) and those admins add.

An added endpoint may belong to a built-in service or an added one, in the built-in region, an added region or
none. As Keystone: an unknown ``service_id`` or ``region_id`` is a 400, while the legacy ``region`` attribute
creates its region when it does not exist yet; both ``region`` and ``region_id`` are shown. Listing filters on
``service_id``, ``interface`` and ``region_id`` (a region's sub-regions included, as Keystone's SQL driver does).
A URL may hold Keystone's substitutions, ``$(project_id)s`` and the like, filled in per token (``identity.catalog``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.identity.catalog_schemas import ENDPOINT_CREATE, ENDPOINT_UPDATE, INTERFACES
from api.identity.regions import create_region, descendants, region_exists
from api.identity.services import service_exists
from api.runtime import runtime
from api.urls import collection_links, self_link
from api.validation import validated_body
from common.db import begin_write
from common.exceptions import BadRequest, Conflict, Forbidden, NotFound, ValidationError
from identity.catalog import URL_SUBSTITUTIONS, url_substitutions
from identity.models import CatalogEndpoint

bp = Blueprint("identity_endpoints", __name__, url_prefix="/identity/v3/endpoints")

_KNOWN = ("id", "service_id", "interface", "url", "region_id", "region", "enabled", "links", "legacy_endpoint_id")


def endpoint_view(endpoint: CatalogEndpoint) -> dict[str, Any]:
    return {
        **(endpoint.extra or {}),
        "id": endpoint.id,
        "service_id": endpoint.service_id,
        "interface": endpoint.interface,
        "url": endpoint.url,
        "region_id": endpoint.region_id,
        "region": endpoint.region_id,
        "enabled": endpoint.enabled,
        "links": self_link(f"/endpoints/{endpoint.id}"),
    }


def _extra(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _KNOWN}


def _check_service(session: Session, service_id: str) -> None:
    if not service_exists(session, service_id):
        raise BadRequest(f"Expecting to find endpoint service_id in service table: there is no service {service_id}.")


def _region_of(session: Session, body: dict[str, Any]) -> str | None:
    """The region an endpoint body names: ``region_id`` must exist; the legacy ``region`` is made if missing."""
    if body.get("region_id") is not None:
        if not region_exists(session, body["region_id"]):
            raise BadRequest(
                f"Expecting to find endpoint region_id in region table: there is no region {body['region_id']}."
            )
        return body["region_id"]
    legacy = body.get("region")
    if legacy is not None and not region_exists(session, legacy):
        try:
            with session.begin_nested():
                create_region(session, legacy, {})
        except Conflict:
            pass  # a concurrent request made it meanwhile: this endpoint goes in it all the same
    return legacy


def _check_url(url: str) -> str:
    """Keystone's rule: a URL may substitute only what a token's catalog can fill in."""
    unknown = url_substitutions(url) - set(URL_SUBSTITUTIONS)
    if unknown:
        raise BadRequest(
            f"Cannot create an endpoint with an invalid URL: {url} (unknown substitution "
            f"{', '.join(sorted(unknown))}; known: {', '.join(f'$({n})s' for n in URL_SUBSTITUTIONS)})."
        )
    return url


def _get(session: Session, endpoint_id: str) -> CatalogEndpoint:
    endpoint = session.get(CatalogEndpoint, endpoint_id) if len(endpoint_id) <= 64 else None
    if endpoint is None:
        raise NotFound(kind="endpoint", id=endpoint_id)
    return endpoint


def _refuse_builtin(endpoint_id: str) -> None:
    if runtime().catalog.is_builtin_endpoint(endpoint_id):
        raise Forbidden(
            f"Endpoint {endpoint_id} is one of Stratus's own endpoints (it follows the 'public_url' setting): it "
            "cannot be changed or deleted through the API."
        )


@bp.get("")
def list_endpoints() -> Response:
    policy.enforce("identity:list_endpoints")
    interface = request.args.get("interface")
    if interface is not None and interface not in INTERFACES:
        raise ValidationError(field="interface", reason=f"{interface!r} is not one of {', '.join(INTERFACES)}")
    service_id = request.args.get("service_id")
    region_id = request.args.get("region_id")
    with runtime().db.session() as session:
        query = select(CatalogEndpoint).order_by(CatalogEndpoint.created_at, CatalogEndpoint.id)
        regions: set[str] | None = None
        if region_id is not None:
            regions = {region_id} | descendants(session, region_id)
            query = query.where(CatalogEndpoint.region_id.in_(regions))
        if service_id is not None:
            query = query.where(CatalogEndpoint.service_id == service_id)
        if interface is not None:
            query = query.where(CatalogEndpoint.interface == interface)
        added = [endpoint_view(e) for e in session.scalars(query)]
    builtin = [
        e
        for e in runtime().catalog.endpoints()
        if (regions is None or e["region_id"] in regions)
        and service_id in (None, e["service_id"])
        and interface in (None, e["interface"])
    ]
    return jsonify({"endpoints": builtin + added, "links": collection_links("/endpoints")})


@bp.get("/<endpoint_id>")
def get_endpoint(endpoint_id: str) -> Response:
    policy.enforce("identity:get_endpoint")
    for endpoint in runtime().catalog.endpoints():
        if endpoint["id"] == endpoint_id:
            return jsonify({"endpoint": endpoint})
    with runtime().db.session() as session:
        return jsonify({"endpoint": endpoint_view(_get(session, endpoint_id))})


@bp.post("")
def create_endpoint() -> tuple[Response, int]:
    policy.enforce("identity:create_endpoint")
    body = validated_body(ENDPOINT_CREATE)["endpoint"]
    with runtime().db.session() as session:
        begin_write(session)
        _check_service(session, body["service_id"])
        endpoint = CatalogEndpoint(
            service_id=body["service_id"],
            interface=body["interface"],
            url=_check_url(body["url"]),
            region_id=_region_of(session, body),
            enabled=body.get("enabled", True),
            extra=_extra(body),
        )
        session.add(endpoint)
        session.flush()
        view = endpoint_view(endpoint)
    return jsonify({"endpoint": view}), 201


@bp.patch("/<endpoint_id>")
def update_endpoint(endpoint_id: str) -> Response:
    policy.enforce("identity:update_endpoint")
    body = validated_body(ENDPOINT_UPDATE)["endpoint"]
    if body.get("id", endpoint_id) != endpoint_id:
        raise BadRequest("Cannot change ID")
    _refuse_builtin(endpoint_id)
    with runtime().db.session() as session:
        begin_write(session)
        endpoint = _get(session, endpoint_id)
        if "service_id" in body:
            _check_service(session, body["service_id"])
            endpoint.service_id = body["service_id"]
        if "region_id" in body or "region" in body:
            endpoint.region_id = _region_of(session, body)
        if "url" in body:
            endpoint.url = _check_url(body["url"])
        for field in ("interface", "enabled"):
            if field in body:
                setattr(endpoint, field, body[field])
        if extra := _extra(body):
            endpoint.extra = {**(endpoint.extra or {}), **extra}
        session.flush()
        view = endpoint_view(endpoint)
    return jsonify({"endpoint": view})


@bp.delete("/<endpoint_id>")
def delete_endpoint(endpoint_id: str) -> Response:
    policy.enforce("identity:delete_endpoint")
    _refuse_builtin(endpoint_id)
    with runtime().db.session() as session:
        session.delete(_get(session, endpoint_id))
    return Response(status=204)
