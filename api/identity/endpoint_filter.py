"""``/v3/OS-EP-FILTER``: endpoint groups and the endpoints and groups of endpoints associated with projects.

An endpoint group is a saved filter over the catalog's endpoints (``interface``, ``service_id``, ``region_id``),
so it follows endpoints as they come and go; its endpoints are computed on each request from the built-in and
API-made ones alike. Projects are associated with endpoint groups, or with single endpoints.

Stored only: tokens still carry the whole catalog, as Keystone's default (non-filtering) catalog driver does.
Admins write; admins and system readers read, as Keystone's defaults say.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.identity.endpoints import endpoint_view
from api.identity.views import project_view
from api.runtime import runtime
from api.urls import collection_links, self_link
from api.validation import validated_body
from common.exceptions import NotFound, ValidationError
from identity.lookups import get_or_404
from identity.models import (
    CatalogEndpoint,
    EndpointGroup,
    Project,
    ProjectEndpoint,
    ProjectEndpointGroup,
)

bp = Blueprint("identity_endpoint_filter", __name__, url_prefix="/identity/v3/OS-EP-FILTER")

FILTER_KEYS = ("interface", "service_id", "region_id")

_filters = {
    "type": "object",
    "properties": {key: {"type": "string", "minLength": 1, "maxLength": 255} for key in FILTER_KEYS},
}
_properties: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": {"type": ["string", "null"], "maxLength": 65535},
    "filters": _filters,
}


def _schema(required: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "object", "properties": _properties, "additionalProperties": False}
    if required:
        body["required"] = required
    return {"type": "object", "properties": {"endpoint_group": body}, "required": ["endpoint_group"]}


GROUP_CREATE = _schema(["name", "filters"])
GROUP_UPDATE = _schema([])


def _check_filters(filters: dict[str, Any]) -> None:
    """Keystone's rule: a filter names only endpoint attributes it can match on."""
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        raise ValidationError(
            f"Invalid endpoint group filters: {', '.join(unknown)}; valid ones are {', '.join(FILTER_KEYS)}."
        )


def group_view(group: EndpointGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "filters": dict(group.filters or {}),
        "links": self_link(f"/OS-EP-FILTER/endpoint_groups/{group.id}"),
    }


def _group(session: Session, group_id: str) -> EndpointGroup:
    found = session.get(EndpointGroup, group_id) if len(group_id) <= 64 else None
    if found is None:
        raise NotFound(kind="endpoint group", id=group_id)
    return found


def _all_endpoints(session: Session) -> list[dict[str, Any]]:
    """Every endpoint of the catalog, built in and API-made, as ``GET /v3/endpoints`` shows them."""
    added = [endpoint_view(e) for e in session.scalars(select(CatalogEndpoint).order_by(CatalogEndpoint.id))]
    return runtime().catalog.endpoints() + added


def _endpoint(session: Session, endpoint_id: str) -> dict[str, Any]:
    for endpoint in _all_endpoints(session):
        if endpoint["id"] == endpoint_id:
            return endpoint
    raise NotFound(kind="endpoint", id=endpoint_id)


def _matching(endpoints: list[dict[str, Any]], filters: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in endpoints if all(e.get(key) == value for key, value in filters.items())]


# Endpoint groups


@bp.get("/endpoint_groups")
def list_groups() -> Response:
    policy.enforce("identity:list_endpoint_groups")
    query = select(EndpointGroup).order_by(EndpointGroup.name, EndpointGroup.id)
    if "name" in request.args:  # Keystone's one filter here; ``openstack endpoint group`` finds groups by name with it
        query = query.where(EndpointGroup.name == request.args["name"])
    with runtime().db.session() as session:
        groups = [group_view(g) for g in session.scalars(query)]
    return jsonify({"endpoint_groups": groups, "links": collection_links("/OS-EP-FILTER/endpoint_groups")})


@bp.post("/endpoint_groups")
def create_group() -> tuple[Response, int]:
    policy.enforce("identity:create_endpoint_group")
    body = validated_body(GROUP_CREATE)["endpoint_group"]
    _check_filters(body["filters"])
    with runtime().db.session() as session:
        group = EndpointGroup(name=body["name"], description=body.get("description") or "", filters=body["filters"])
        session.add(group)
        session.flush()
        view = group_view(group)
    return jsonify({"endpoint_group": view}), 201


@bp.route("/endpoint_groups/<group_id>", methods=["GET", "HEAD"])
def get_group(group_id: str) -> Response:
    policy.enforce("identity:get_endpoint_group")
    with runtime().db.session() as session:
        return jsonify({"endpoint_group": group_view(_group(session, group_id))})


@bp.patch("/endpoint_groups/<group_id>")
def update_group(group_id: str) -> Response:
    policy.enforce("identity:update_endpoint_group")
    body = validated_body(GROUP_UPDATE)["endpoint_group"]
    if "filters" in body:
        _check_filters(body["filters"])
    with runtime().db.session() as session:
        group = _group(session, group_id)
        if "name" in body:
            group.name = body["name"]
        if "description" in body:
            group.description = body["description"] or ""
        if "filters" in body:
            group.filters = body["filters"]
        session.flush()
        view = group_view(group)
    return jsonify({"endpoint_group": view})


@bp.delete("/endpoint_groups/<group_id>")
def delete_group(group_id: str) -> Response:
    policy.enforce("identity:delete_endpoint_group")
    with runtime().db.session() as session:
        session.delete(_group(session, group_id))  # its project associations go with it (foreign key cascade)
    return Response(status=204)


@bp.get("/endpoint_groups/<group_id>/endpoints")
def list_group_endpoints(group_id: str) -> Response:
    policy.enforce("identity:list_endpoints_associated_with_endpoint_group")
    with runtime().db.session() as session:
        filters = dict(_group(session, group_id).filters or {})
        endpoints = _matching(_all_endpoints(session), filters)
    links = collection_links(f"/OS-EP-FILTER/endpoint_groups/{group_id}/endpoints")
    return jsonify({"endpoints": endpoints, "links": links})


# Projects and endpoint groups


@bp.get("/endpoint_groups/<group_id>/projects")
def list_group_projects(group_id: str) -> Response:
    policy.enforce("identity:list_projects_associated_with_endpoint_group")
    with runtime().db.session() as session:
        _group(session, group_id)
        query = (
            select(Project)
            .join(ProjectEndpointGroup, ProjectEndpointGroup.project_id == Project.id)
            .where(ProjectEndpointGroup.endpoint_group_id == group_id)
            .order_by(Project.name)
        )
        projects = [project_view(p) for p in session.scalars(query)]
    links = collection_links(f"/OS-EP-FILTER/endpoint_groups/{group_id}/projects")
    return jsonify({"projects": projects, "links": links})


@bp.put("/endpoint_groups/<group_id>/projects/<project_id>")
def add_group_project(group_id: str, project_id: str) -> Response:
    policy.enforce("identity:add_endpoint_group_to_project")
    with runtime().db.session() as session:
        _group(session, group_id)
        get_or_404(session, Project, project_id)
        if session.get(ProjectEndpointGroup, (group_id, project_id)) is None:
            session.add(ProjectEndpointGroup(endpoint_group_id=group_id, project_id=project_id))
    return Response(status=204)


@bp.route("/endpoint_groups/<group_id>/projects/<project_id>", methods=["GET", "HEAD"])
def get_group_project(group_id: str, project_id: str) -> Response:
    policy.enforce("identity:get_endpoint_group_in_project")
    with runtime().db.session() as session:
        _group(session, group_id)
        project = get_or_404(session, Project, project_id)
        if session.get(ProjectEndpointGroup, (group_id, project_id)) is None:
            raise NotFound(f"Endpoint group {group_id} is not associated with project {project_id}.")
        return jsonify({"project": project_view(project)})


@bp.delete("/endpoint_groups/<group_id>/projects/<project_id>")
def remove_group_project(group_id: str, project_id: str) -> Response:
    policy.enforce("identity:remove_endpoint_group_from_project")
    with runtime().db.session() as session:
        _group(session, group_id)
        get_or_404(session, Project, project_id)
        association = session.get(ProjectEndpointGroup, (group_id, project_id))
        if association is None:
            raise NotFound(f"Endpoint group {group_id} is not associated with project {project_id}.")
        session.delete(association)
    return Response(status=204)


@bp.get("/projects/<project_id>/endpoint_groups")
def list_project_groups(project_id: str) -> Response:
    policy.enforce("identity:list_endpoint_groups_for_project")
    with runtime().db.session() as session:
        get_or_404(session, Project, project_id)
        query = (
            select(EndpointGroup)
            .join(ProjectEndpointGroup, ProjectEndpointGroup.endpoint_group_id == EndpointGroup.id)
            .where(ProjectEndpointGroup.project_id == project_id)
            .order_by(EndpointGroup.name)
        )
        groups = [group_view(g) for g in session.scalars(query)]
    links = collection_links(f"/OS-EP-FILTER/projects/{project_id}/endpoint_groups")
    return jsonify({"endpoint_groups": groups, "links": links})


# Projects and single endpoints


@bp.get("/projects/<project_id>/endpoints")
def list_project_endpoints(project_id: str) -> Response:
    """The endpoints associated with the project directly and through its endpoint groups, each once."""
    policy.enforce("identity:list_endpoints_for_project")
    with runtime().db.session() as session:
        get_or_404(session, Project, project_id)
        direct = set(
            session.scalars(select(ProjectEndpoint.endpoint_id).where(ProjectEndpoint.project_id == project_id))
        )
        group_filters = [
            dict(g.filters or {})
            for g in session.scalars(
                select(EndpointGroup)
                .join(ProjectEndpointGroup, ProjectEndpointGroup.endpoint_group_id == EndpointGroup.id)
                .where(ProjectEndpointGroup.project_id == project_id)
            )
        ]
        endpoints = [
            e
            for e in _all_endpoints(session)
            if e["id"] in direct or any(_matching([e], filters) for filters in group_filters)
        ]
    links = collection_links(f"/OS-EP-FILTER/projects/{project_id}/endpoints")
    return jsonify({"endpoints": endpoints, "links": links})


@bp.put("/projects/<project_id>/endpoints/<endpoint_id>")
def add_project_endpoint(project_id: str, endpoint_id: str) -> Response:
    policy.enforce("identity:add_endpoint_to_project")
    with runtime().db.session() as session:
        get_or_404(session, Project, project_id)
        _endpoint(session, endpoint_id)
        if session.get(ProjectEndpoint, (endpoint_id, project_id)) is None:
            session.add(ProjectEndpoint(endpoint_id=endpoint_id, project_id=project_id))
    return Response(status=204)


@bp.route("/projects/<project_id>/endpoints/<endpoint_id>", methods=["GET", "HEAD"])
def check_project_endpoint(project_id: str, endpoint_id: str) -> Response:
    policy.enforce("identity:check_endpoint_in_project")
    with runtime().db.session() as session:
        get_or_404(session, Project, project_id)
        _endpoint(session, endpoint_id)
        if session.get(ProjectEndpoint, (endpoint_id, project_id)) is None:
            raise NotFound(f"Endpoint {endpoint_id} is not associated with project {project_id}.")
    return Response(status=204)


@bp.delete("/projects/<project_id>/endpoints/<endpoint_id>")
def remove_project_endpoint(project_id: str, endpoint_id: str) -> Response:
    policy.enforce("identity:remove_endpoint_from_project")
    with runtime().db.session() as session:
        association = session.get(ProjectEndpoint, (endpoint_id, project_id))
        if association is None:
            raise NotFound(f"Endpoint {endpoint_id} is not associated with project {project_id}.")
        session.delete(association)
    return Response(status=204)


@bp.get("/endpoints/<endpoint_id>/projects")
def list_endpoint_projects(endpoint_id: str) -> Response:
    policy.enforce("identity:list_projects_for_endpoint")
    with runtime().db.session() as session:
        _endpoint(session, endpoint_id)
        query = (
            select(Project)
            .join(ProjectEndpoint, ProjectEndpoint.project_id == Project.id)
            .where(ProjectEndpoint.endpoint_id == endpoint_id)
            .order_by(Project.name)
        )
        projects = [project_view(p) for p in session.scalars(query)]
    links = collection_links(f"/OS-EP-FILTER/endpoints/{endpoint_id}/projects")
    return jsonify({"projects": projects, "links": links})
