"""``/v3/services``: Stratus's own services (built in, read-only) and the services admins add.

An added service keeps whatever attributes it was given beyond the known ones, as Keystone's do. Deleting one
deletes its endpoints (Keystone does the same). A built-in service cannot be changed or deleted (403): it
follows the settings, and clients find Stratus's APIs through it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api import policy
from api.identity.catalog_schemas import SERVICE_CREATE, SERVICE_UPDATE
from api.runtime import runtime
from api.urls import collection_links, self_link
from api.validation import validated_body
from common.db import begin_write
from common.exceptions import BadRequest, Forbidden, NotFound
from identity.models import CatalogEndpoint, CatalogService

bp = Blueprint("identity_services", __name__, url_prefix="/identity/v3/services")

_KNOWN = ("id", "type", "name", "description", "enabled", "links")
_FILTERS = ("type", "name")


def service_view(service: CatalogService) -> dict[str, Any]:
    body = {
        **(service.extra or {}),
        "id": service.id,
        "type": service.type,
        "name": service.name,
        "enabled": service.enabled,
        "links": self_link(f"/services/{service.id}"),
    }
    if service.description is not None:
        body["description"] = service.description
    return body


def service_exists(session: Session, service_id: str) -> bool:
    """True for a built-in service and for a stored one (held against deletion by this transaction on PostgreSQL)."""
    if runtime().catalog.is_builtin_service(service_id):
        return True
    if len(service_id) > 64:
        return False
    found = select(CatalogService.id).where(CatalogService.id == service_id).with_for_update()
    return session.execute(found).first() is not None


def _refuse_builtin(service_id: str) -> None:
    if runtime().catalog.is_builtin_service(service_id):
        raise Forbidden(
            f"Service {service_id} is one of Stratus's own services: it cannot be changed or deleted through the "
            "API (endpoints may still be added to it)."
        )


def _get(session: Session, service_id: str, lock: bool = False) -> CatalogService:
    service = session.get(CatalogService, service_id, with_for_update=lock) if len(service_id) <= 64 else None
    if service is None:
        raise NotFound(kind="service", id=service_id)
    return service


def _extra(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _KNOWN}


@bp.get("")
def list_services() -> Response:
    policy.enforce("identity:list_services")
    wanted = {f: request.args[f] for f in _FILTERS if f in request.args}
    builtin = [s for s in runtime().catalog.services() if all(s[f] == v for f, v in wanted.items())]
    with runtime().db.session() as session:
        query = select(CatalogService).filter_by(**wanted).order_by(CatalogService.created_at, CatalogService.id)
        added = [service_view(s) for s in session.scalars(query)]
    return jsonify({"services": builtin + added, "links": collection_links("/services")})


@bp.get("/<service_id>")
def get_service(service_id: str) -> Response:
    policy.enforce("identity:get_service")
    for service in runtime().catalog.services():
        if service["id"] == service_id:
            return jsonify({"service": service})
    with runtime().db.session() as session:
        return jsonify({"service": service_view(_get(session, service_id))})


@bp.post("")
def create_service() -> tuple[Response, int]:
    policy.enforce("identity:create_service")
    body = validated_body(SERVICE_CREATE)["service"]
    with runtime().db.session() as session:
        service = CatalogService(
            type=body["type"],
            name=body.get("name", ""),
            description=body.get("description"),
            enabled=body.get("enabled", True),
            extra=_extra(body),
        )
        session.add(service)
        session.flush()
        view = service_view(service)
    return jsonify({"service": view}), 201


@bp.patch("/<service_id>")
def update_service(service_id: str) -> Response:
    policy.enforce("identity:update_service")
    body = validated_body(SERVICE_UPDATE)["service"]
    _refuse_builtin(service_id)
    with runtime().db.session() as session:
        service = _get(session, service_id)
        if body.get("id", service_id) != service_id:
            raise BadRequest("Cannot change ID")
        for field in ("type", "name", "enabled"):
            if field in body:
                setattr(service, field, body[field])
        if "description" in body:
            service.description = body["description"]
        if extra := _extra(body):
            service.extra = {**(service.extra or {}), **extra}
        session.flush()
        view = service_view(service)
    return jsonify({"service": view})


@bp.delete("/<service_id>")
def delete_service(service_id: str) -> Response:
    policy.enforce("identity:delete_service")
    _refuse_builtin(service_id)
    with runtime().db.session() as session:
        begin_write(session)
        # Locked first: an endpoint being added to it (which reads the row FOR UPDATE) either comes before and is
        # deleted with the others, or waits and then finds no service.
        service = _get(session, service_id, lock=True)
        session.execute(delete(CatalogEndpoint).where(CatalogEndpoint.service_id == service.id))
        session.delete(service)
    return Response(status=204)
