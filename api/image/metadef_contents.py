"""``/image/v2/metadefs/namespaces/{namespace}/{objects,properties,tags}``: what a metadefs namespace defines.

Each is found through its namespace, which the caller must see (else 404); writes are admin-only by policy, as in
Glance; deleting anything inside a protected namespace is a 403. Names are unique in their namespace (409).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import asc, delete, desc, select
from sqlalchemy.orm import Session

from api import policy
from api.context import current
from api.image import metadef_access, metadef_bodies, metadef_catalog
from api.image.metadef_views import object_view, property_view, tag_view
from api.runtime import runtime
from api.validation import validate
from common.exceptions import NotFound
from image.models import MetadefNamespace, MetadefObject, MetadefProperty, MetadefResourceTypeAssociation, MetadefTag

bp = Blueprint("image_metadef_contents", __name__, url_prefix="/image/v2/metadefs/namespaces/<namespace>")


def _read(session: Session, namespace: str, action: str) -> MetadefNamespace:
    return metadef_access.namespace(session, policy.enforce(action), namespace, action)


def _one(session: Session, model: Any, namespace: MetadefNamespace, name: str, kind: str) -> Any:
    found = session.scalars(select(model).where(model.namespace_id == namespace.id, model.name == name)).one_or_none()
    if found is None:
        raise NotFound(f"Metadata definition {kind}={name} was not found in namespace={namespace.namespace}.")
    return found


def _delete_all(namespace: str, model: Any, action: str) -> Response:
    with runtime().db.session() as session:
        found = metadef_access.for_deletion(session, current(), namespace, action)
        session.execute(delete(model).where(model.namespace_id == found.id))
    return Response(status=204)


# Objects


@bp.get("/objects")
def list_objects(namespace: str) -> Response:
    with runtime().db.session() as session:
        found = _read(session, namespace, "image:get_metadef_objects")
        query = select(MetadefObject).where(MetadefObject.namespace_id == found.id)
        objects = session.scalars(query.order_by(MetadefObject.created_at.desc(), MetadefObject.name))
        return jsonify(
            {"objects": [object_view(namespace, o) for o in objects], "schema": "v2/schemas/metadefs/objects"}
        )


@bp.post("/objects")
def create_object(namespace: str) -> tuple[Response, int]:
    body = metadef_bodies.read(metadef_bodies.OBJECT)
    with runtime().db.session() as session:
        found = metadef_access.namespace(session, current(), namespace, "image:add_metadef_object")
        return jsonify(object_view(namespace, metadef_catalog.add_object(session, found, body))), 201


@bp.get("/objects/<name>")
def get_object(namespace: str, name: str) -> Response:
    with runtime().db.session() as session:
        found = _read(session, namespace, "image:get_metadef_object")
        return jsonify(object_view(namespace, _one(session, MetadefObject, found, name, "object")))


@bp.put("/objects/<name>")
def update_object(namespace: str, name: str) -> Response:
    body = metadef_bodies.read(metadef_bodies.OBJECT_UPDATE)
    with runtime().db.session() as session:
        found = metadef_access.namespace(session, current(), namespace, "image:modify_metadef_object")
        obj = _one(session, MetadefObject, found, name, "object")
        fields = metadef_catalog.object_fields({"name": name, **body})
        for key, value in fields.items():
            setattr(obj, key, value)
        metadef_access.flush_unique(session, metadef_catalog.object_exists(found, fields["name"]))
        return jsonify(object_view(namespace, obj))


@bp.delete("/objects/<name>")
def delete_object(namespace: str, name: str) -> Response:
    with runtime().db.session() as session:
        found = metadef_access.for_deletion(session, current(), namespace, "image:delete_metadef_object")
        session.delete(_one(session, MetadefObject, found, name, "object"))
    return Response(status=204)


@bp.delete("/objects")
def delete_objects(namespace: str) -> Response:
    return _delete_all(namespace, MetadefObject, "image:delete_metadef_namespace")


# Properties


@bp.get("/properties")
def list_properties(namespace: str) -> Response:
    with runtime().db.session() as session:
        found = _read(session, namespace, "image:get_metadef_properties")
        query = select(MetadefProperty).where(MetadefProperty.namespace_id == found.id).order_by(MetadefProperty.name)
        return jsonify({"properties": {p.name: dict(p.definition or {}) for p in session.scalars(query)}})


@bp.post("/properties")
def create_property(namespace: str) -> tuple[Response, int]:
    body = metadef_bodies.read(metadef_bodies.PROPERTY)
    with runtime().db.session() as session:
        found = metadef_access.namespace(session, current(), namespace, "image:add_metadef_property")
        definition = {k: v for k, v in body.items() if k != "name"}
        return jsonify(property_view(metadef_catalog.add_property(session, found, body["name"], definition))), 201


@bp.get("/properties/<name>")
def get_property(namespace: str, name: str) -> Response:
    """With ``?resource_type=``, ``name`` carries that type's prefix (``hw_``), which is taken off to find it."""
    with runtime().db.session() as session:
        found = _read(session, namespace, "image:get_metadef_property")
        stored = name
        resource_type = request.args.get("resource_type")
        if resource_type:
            association = session.get(MetadefResourceTypeAssociation, (found.id, resource_type))
            prefix = (association.prefix or "") if association is not None else ""
            if not name.startswith(prefix):
                raise NotFound(f"Property {name} does not start with the prefix {prefix} of {resource_type}.")
            stored = name[len(prefix) :]
        return jsonify(property_view(_one(session, MetadefProperty, found, stored, "property"), name))


@bp.put("/properties/<name>")
def update_property(namespace: str, name: str) -> Response:
    body = metadef_bodies.read(metadef_bodies.PROPERTY_UPDATE)
    new_name = body.get("name", name)
    definition = {k: v for k, v in body.items() if k != "name"}
    metadef_bodies.check_definition(definition, f"'{new_name}'")
    with runtime().db.session() as session:
        found = metadef_access.namespace(session, current(), namespace, "image:modify_metadef_property")
        prop = _one(session, MetadefProperty, found, name, "property")
        prop.name, prop.definition = new_name, definition
        metadef_access.flush_unique(session, metadef_catalog.property_exists(found, new_name))
        return jsonify(property_view(prop))


@bp.delete("/properties/<name>")
def delete_property(namespace: str, name: str) -> Response:
    with runtime().db.session() as session:
        found = metadef_access.for_deletion(session, current(), namespace, "image:remove_metadef_property")
        session.delete(_one(session, MetadefProperty, found, name, "property"))
    return Response(status=204)


@bp.delete("/properties")
def delete_properties(namespace: str) -> Response:
    return _delete_all(namespace, MetadefProperty, "image:delete_metadef_namespace")


# Tags


@bp.get("/tags")
def list_tags(namespace: str) -> Response:
    limit, marker, sort_key, descending = metadef_bodies.page_request(metadef_bodies.TAG_SORT_KEYS)
    column = getattr(MetadefTag, sort_key)
    order = desc if descending else asc
    with runtime().db.session() as session:
        found = _read(session, namespace, "image:get_metadef_tags")
        query = select(MetadefTag).where(MetadefTag.namespace_id == found.id)
        tags = list(session.scalars(query.order_by(order(column), order(MetadefTag.name))))
        start = 0
        if marker is not None:
            names = [t.name for t in tags]
            if marker not in names:
                raise NotFound(f"Metadata tag={marker} was not found in namespace={namespace}.")
            start = names.index(marker) + 1
        return jsonify({"tags": [tag_view(t) for t in tags[start : start + limit]]})


@bp.post("/tags")
def create_tags(namespace: str) -> tuple[Response, int]:
    """Replace the namespace's tags with those given, or add them with ``X-Openstack-Append: true``."""
    body = metadef_bodies.read(metadef_bodies.TAGS)
    append = metadef_bodies.append_header()
    names = [tag["name"] for tag in body["tags"]]
    with runtime().db.session() as session:
        found = metadef_access.namespace(session, current(), namespace, "image:add_metadef_tags")
        if not append:
            session.execute(delete(MetadefTag).where(MetadefTag.namespace_id == found.id))
        metadef_catalog.add_tags(session, found, names)
    return jsonify({"tags": [{"name": n} for n in names]}), 201


@bp.delete("/tags")
def delete_tags(namespace: str) -> Response:
    return _delete_all(namespace, MetadefTag, "image:delete_metadef_tags")


@bp.post("/tags/<name>")
def create_tag(namespace: str, name: str) -> tuple[Response, int]:
    validate({"name": name}, metadef_bodies.TAG)
    with runtime().db.session() as session:
        found = metadef_access.namespace(session, current(), namespace, "image:add_metadef_tag")
        return jsonify(tag_view(metadef_catalog.add_tags(session, found, [name])[0])), 201


@bp.get("/tags/<name>")
def get_tag(namespace: str, name: str) -> Response:
    with runtime().db.session() as session:
        found = _read(session, namespace, "image:get_metadef_tag")
        return jsonify(tag_view(_one(session, MetadefTag, found, name, "tag")))


@bp.put("/tags/<name>")
def update_tag(namespace: str, name: str) -> Response:
    body = metadef_bodies.read(metadef_bodies.TAG)
    with runtime().db.session() as session:
        found = metadef_access.namespace(session, current(), namespace, "image:modify_metadef_tag")
        tag = _one(session, MetadefTag, found, name, "tag")
        tag.name = body["name"]
        metadef_access.flush_unique(session, metadef_catalog.tag_exists(found, body["name"]))
        return jsonify(tag_view(tag))


@bp.delete("/tags/<name>")
def delete_tag(namespace: str, name: str) -> Response:
    with runtime().db.session() as session:
        found = metadef_access.for_deletion(session, current(), namespace, "image:delete_metadef_tag")
        session.delete(_one(session, MetadefTag, found, name, "tag"))
    return Response(status=204)
