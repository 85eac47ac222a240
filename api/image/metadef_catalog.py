"""Reading and writing what a metadefs namespace holds: resource-type associations, properties, objects, tags.

Shared by the namespace views (a namespace may be created with its contents, and is shown with them) and the
views of each kind of content. Every write flushes at once, so a duplicate name is a 409 naming it, and the
request's transaction leaves nothing half made when a later item fails.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.image import metadef_bodies
from api.image.metadef_access import flush_unique
from common.exceptions import BadRequest, Conflict
from image.models import (
    MetadefNamespace,
    MetadefObject,
    MetadefProperty,
    MetadefResourceType,
    MetadefResourceTypeAssociation,
    MetadefTag,
)


def associations(session: Session, namespace_ids: Iterable[str]) -> dict[str, list[MetadefResourceTypeAssociation]]:
    """The resource-type associations of each namespace, by namespace id, in name order."""
    found: dict[str, list[MetadefResourceTypeAssociation]] = defaultdict(list)
    ids = list(namespace_ids)
    if ids:
        query = select(MetadefResourceTypeAssociation).where(MetadefResourceTypeAssociation.namespace_id.in_(ids))
        for row in session.scalars(query.order_by(MetadefResourceTypeAssociation.resource_type)):
            found[row.namespace_id].append(row)
    return found


def contents(
    session: Session, namespace: MetadefNamespace
) -> tuple[list[MetadefProperty], list[MetadefObject], list[MetadefTag]]:
    def of(model: Any) -> list[Any]:
        return list(session.scalars(select(model).where(model.namespace_id == namespace.id).order_by(model.name)))

    return of(MetadefProperty), of(MetadefObject), of(MetadefTag)


def add_association(
    session: Session, namespace: MetadefNamespace, body: dict[str, Any]
) -> MetadefResourceTypeAssociation:
    """Associate a resource type, making the type first if it is new (Glance does too)."""
    name = body["name"]
    if session.get(MetadefResourceType, name) is None:
        session.add(MetadefResourceType(name=name))
        flush_unique(session, f"Resource type {name} was created by another request at the same time; try again.")
    association = MetadefResourceTypeAssociation(
        namespace_id=namespace.id,
        resource_type=name,
        prefix=body.get("prefix"),
        properties_target=body.get("properties_target"),
    )
    if session.get(MetadefResourceTypeAssociation, (namespace.id, name)) is not None:
        raise _association_exists(namespace, name)
    session.add(association)
    try:
        flush_unique(session, "")
    except Conflict:
        raise _association_exists(namespace, name) from None
    return association


def _association_exists(namespace: MetadefNamespace, name: str) -> Conflict:
    return Conflict(
        f"The metadata definition resource-type association of resource-type={name} to "
        f"namespace={namespace.namespace}, already exists."
    )


def add_property(
    session: Session, namespace: MetadefNamespace, name: str, definition: dict[str, Any]
) -> MetadefProperty:
    metadef_bodies.check_definition(definition, f"'{name}'")
    prop = MetadefProperty(namespace_id=namespace.id, name=name, definition=_definition(definition))
    session.add(prop)
    flush_unique(session, property_exists(namespace, name))
    return prop


def property_exists(namespace: MetadefNamespace, name: str) -> str:
    return f"A metadata definition property with name={name} already exists in namespace={namespace.namespace}."


def _definition(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "name"}


def object_fields(body: dict[str, Any]) -> dict[str, Any]:
    """An object's stored fields from a checked body: each property definition without its redundant name."""
    metadef_bodies.check_object(body)
    return {
        "name": body["name"],
        "description": body.get("description"),
        "required": list(body.get("required") or []),
        "properties": {k: _definition(v) for k, v in (body.get("properties") or {}).items()},
    }


def add_object(session: Session, namespace: MetadefNamespace, body: dict[str, Any]) -> MetadefObject:
    obj = MetadefObject(namespace_id=namespace.id, **object_fields(body))
    session.add(obj)
    flush_unique(session, object_exists(namespace, body["name"]))
    return obj


def object_exists(namespace: MetadefNamespace, name: str) -> str:
    return f"A metadata definition object with name={name} already exists in namespace={namespace.namespace}."


def add_tags(session: Session, namespace: MetadefNamespace, names: list[str]) -> list[MetadefTag]:
    """Create tags; a name given twice, or already in the namespace, is a 409 and nothing is added."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise Conflict(f"Duplicate tag name {name} in the request.")
        seen.add(name)
    if names:
        query = select(MetadefTag.name).where(MetadefTag.namespace_id == namespace.id, MetadefTag.name.in_(names))
        taken = session.scalars(query).first()
        if taken is not None:
            raise Conflict(tag_exists(namespace, taken))
    tags = [MetadefTag(namespace_id=namespace.id, name=name) for name in names]
    session.add_all(tags)
    if tags:
        flush_unique(session, f"A tag of the request was added to namespace={namespace.namespace} meanwhile.")
    return tags


def tag_exists(namespace: MetadefNamespace, name: str) -> str:
    return f"A metadata tag with name={name} already exists in namespace={namespace.namespace}."


def fill(session: Session, namespace: MetadefNamespace, body: dict[str, Any]) -> None:
    """The contents given with a new namespace (Glance accepts them in the create request)."""
    for association in body.get("resource_type_associations") or []:
        add_association(session, namespace, association)
    for name, definition in (body.get("properties") or {}).items():
        if definition.get("name", name) != name:
            raise BadRequest(f"Property '{name}' names itself '{definition['name']}'.")
        add_property(session, namespace, name, definition)
    for obj in body.get("objects") or []:
        add_object(session, namespace, obj)
    add_tags(session, namespace, [tag["name"] for tag in body.get("tags") or []])
