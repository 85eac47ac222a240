"""``/image/v2/metadefs/namespaces`` and ``/image/v2/metadefs/resource_types``: Glance's metadefs namespaces,
resource types and their associations.

A ``PUT`` replaces the namespace's own attributes, as Glance's does: ``display_name`` and ``description`` left out
become unset, ``visibility`` private and ``protected`` false (clients send what they keep). Unlike Glance, an
update without ``owner`` keeps the owner rather than handing the namespace to the caller's project.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import Select, asc, delete, desc, select
from sqlalchemy.orm import Session

from api import policy
from api.context import RequestContext, current
from api.image import metadef_access, metadef_bodies, metadef_catalog
from api.image.metadef_views import NAMESPACES, association_view, namespace_detail, namespace_view, resource_type_view
from api.runtime import runtime
from common.exceptions import BadRequest, NotFound
from image.models import MetadefNamespace, MetadefResourceType, MetadefResourceTypeAssociation

bp = Blueprint("image_metadef_namespaces", __name__, url_prefix="/image/v2/metadefs")


def _exists(name: str) -> str:
    return f"Namespace name={name} already exists."


@bp.post("/namespaces")
def create_namespace() -> tuple[Response, int]:
    ctx = current()
    body = metadef_bodies.read(metadef_bodies.NAMESPACE)
    owner = body.get("owner") or ctx.project_id
    policy.enforce("image:add_metadef_namespace", {"project_id": owner, "visibility": body.get("visibility")})
    if owner is None:
        raise BadRequest("A namespace is owned by a project: use a project-scoped token or give an owner.")
    rt = runtime()
    with rt.db.session() as session:
        namespace = MetadefNamespace(
            namespace=body["namespace"],
            display_name=body.get("display_name"),
            description=body.get("description"),
            visibility=body.get("visibility", "private"),
            protected=body.get("protected", False),
            owner=owner,
        )
        session.add(namespace)
        metadef_access.flush_unique(session, _exists(body["namespace"]))
        metadef_catalog.fill(session, namespace, body)
        view = _detail(session, namespace)
    response = jsonify(view)
    location = quote(body["namespace"], safe=":")
    response.headers["Location"] = f"{rt.settings.effective_public_url}/image{NAMESPACES}/{location}"
    return response, 201


def _detail(session: Session, namespace: MetadefNamespace, prefix: str = "") -> dict[str, Any]:
    associations = metadef_catalog.associations(session, [namespace.id])[namespace.id]
    return namespace_detail(namespace, associations, metadef_catalog.contents(session, namespace), prefix)


def _filtered(ctx: RequestContext) -> Select[tuple[MetadefNamespace]]:
    query = select(MetadefNamespace).where(metadef_access.visible(ctx))
    visibility = request.args.get("visibility")
    if visibility is not None:
        if visibility not in ("public", "private"):
            raise BadRequest(f"Invalid visibility value: {visibility}")
        query = query.where(MetadefNamespace.visibility == visibility)
    resource_types = [n.strip() for n in request.args.get("resource_types", "").split(",") if n.strip()]
    if resource_types:
        associated = select(MetadefResourceTypeAssociation.namespace_id).where(
            MetadefResourceTypeAssociation.resource_type.in_(resource_types)
        )
        query = query.where(MetadefNamespace.id.in_(associated))
    return query


@bp.get("/namespaces")
def list_namespaces() -> Response:
    ctx = policy.enforce("image:get_metadef_namespaces")
    limit, marker, sort_key, descending = metadef_bodies.page_request()
    order = desc if descending else asc
    query = _filtered(ctx).order_by(order(getattr(MetadefNamespace, sort_key)), order(MetadefNamespace.namespace))
    with runtime().db.session() as session:
        ordered = list(session.scalars(query))
        start = 0
        if marker is not None:
            names = [n.namespace for n in ordered]
            if marker not in names:
                raise NotFound(f"Metadata definition namespace={marker} was not found.")
            start = names.index(marker) + 1
        page = ordered[start : start + limit]
        found = metadef_catalog.associations(session, [n.id for n in page])
        body: dict[str, Any] = {"namespaces": [namespace_view(n, found[n.id]) for n in page]}
    body["first"] = NAMESPACES
    body["schema"] = "/v2/schemas/metadefs/namespaces"
    if page and start + limit < len(ordered):
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "marker"]
        body["next"] = f"{NAMESPACES}?" + urlencode([*args, ("marker", page[-1].namespace)])
    return jsonify(body)


@bp.get("/namespaces/<name>")
def get_namespace(name: str) -> Response:
    ctx = policy.enforce("image:get_metadef_namespace")
    with runtime().db.session() as session:
        namespace = metadef_access.namespace(session, ctx, name, "image:get_metadef_namespace")
        prefix = ""
        resource_type = request.args.get("resource_type")
        if resource_type:
            association = session.get(MetadefResourceTypeAssociation, (namespace.id, resource_type))
            prefix = (association.prefix or "") if association is not None else ""
        return jsonify(_detail(session, namespace, prefix))


@bp.put("/namespaces/<name>")
def update_namespace(name: str) -> Response:
    ctx = current()
    body = metadef_bodies.read(metadef_bodies.NAMESPACE)
    with runtime().db.session() as session:
        namespace = metadef_access.namespace(session, ctx, name, "image:modify_metadef_namespace")
        owner = body.get("owner") or namespace.owner
        if owner != namespace.owner:
            policy.enforce("image:modify_metadef_namespace", {"project_id": owner, "visibility": namespace.visibility})
        namespace.namespace = body["namespace"]
        namespace.display_name = body.get("display_name")
        namespace.description = body.get("description")
        namespace.visibility = body.get("visibility") or "private"
        namespace.protected = bool(body.get("protected", False))
        namespace.owner = owner
        metadef_access.flush_unique(session, _exists(body["namespace"]))
        found = metadef_catalog.associations(session, [namespace.id])
        return jsonify(namespace_view(namespace, found[namespace.id]))


@bp.delete("/namespaces/<name>")
def delete_namespace(name: str) -> Response:
    with runtime().db.session() as session:
        namespace = metadef_access.for_deletion(session, current(), name, "image:delete_metadef_namespace")
        session.execute(delete(MetadefNamespace).where(MetadefNamespace.id == namespace.id))
    return Response(status=204)


@bp.get("/resource_types")
def list_resource_types() -> Response:
    policy.enforce("image:list_metadef_resource_types")
    with runtime().db.session() as session:
        found = session.scalars(select(MetadefResourceType).order_by(MetadefResourceType.name))
        return jsonify({"resource_types": [resource_type_view(r) for r in found]})


@bp.get("/namespaces/<name>/resource_types")
def list_associations(name: str) -> Response:
    ctx = policy.enforce("image:get_metadef_resource_type")
    with runtime().db.session() as session:
        namespace = metadef_access.namespace(session, ctx, name, "image:get_metadef_resource_type")
        found = metadef_catalog.associations(session, [namespace.id])[namespace.id]
        return jsonify({"resource_type_associations": [association_view(a) for a in found]})


@bp.post("/namespaces/<name>/resource_types")
def create_association(name: str) -> tuple[Response, int]:
    ctx = current()
    body = metadef_bodies.read(metadef_bodies.ASSOCIATION)
    with runtime().db.session() as session:
        namespace = metadef_access.namespace(session, ctx, name, "image:add_metadef_resource_type_association")
        association = metadef_catalog.add_association(session, namespace, body)
        return jsonify(association_view(association)), 201


@bp.delete("/namespaces/<name>/resource_types/<resource_type>")
def delete_association(name: str, resource_type: str) -> Response:
    ctx = current()
    with runtime().db.session() as session:
        namespace = metadef_access.for_deletion(session, ctx, name, "image:remove_metadef_resource_type_association")
        association = session.get(MetadefResourceTypeAssociation, (namespace.id, resource_type))
        if association is None:
            raise NotFound(
                f"The metadata definition resource-type association of resource-type={resource_type} "
                f"to namespace={name}, was not found."
            )
        session.delete(association)
    return Response(status=204)
