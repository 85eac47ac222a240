"""How metadata definitions look on the wire, as Glance's api-ref samples show them.

Unset attributes are left out rather than sent as null (Glance's WSME types drop them), and a namespace shows its
objects, properties and tags only when it has some. ``self`` links carry names as they are, unescaped, as
Glance's do.
"""

from __future__ import annotations

from typing import Any

from api.image.views import glance_time
from image.models import (
    MetadefNamespace,
    MetadefObject,
    MetadefProperty,
    MetadefResourceType,
    MetadefResourceTypeAssociation,
    MetadefTag,
)

NAMESPACES = "/v2/metadefs/namespaces"


def _stamps(row: Any) -> dict[str, Any]:
    """Glance's ``updated_at`` equals ``created_at`` until the first change."""
    return {"created_at": glance_time(row.created_at), "updated_at": glance_time(row.updated_at or row.created_at)}


def _set(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def association_view(association: MetadefResourceTypeAssociation) -> dict[str, Any]:
    return _set(
        name=association.resource_type,
        prefix=association.prefix,
        properties_target=association.properties_target,
        **_stamps(association),
    )


def resource_type_view(resource_type: MetadefResourceType) -> dict[str, Any]:
    return {"name": resource_type.name, **_stamps(resource_type)}


def property_view(prop: MetadefProperty, name: str | None = None) -> dict[str, Any]:
    return {"name": name or prop.name, **(prop.definition or {})}


def tag_view(tag: MetadefTag) -> dict[str, Any]:
    return {"name": tag.name, **_stamps(tag)}


def object_view(namespace: str, obj: MetadefObject) -> dict[str, Any]:
    return _set(
        name=obj.name,
        description=obj.description,
        required=list(obj.required or []),
        properties=dict(obj.properties or {}),
        schema="/v2/schemas/metadefs/object",
        self=f"{NAMESPACES}/{namespace}/objects/{obj.name}",
        **_stamps(obj),
    )


def namespace_view(namespace: MetadefNamespace, associations: list[MetadefResourceTypeAssociation]) -> dict[str, Any]:
    """A namespace as the list shows it: its attributes and resource-type associations."""
    body = _set(
        namespace=namespace.namespace,
        display_name=namespace.display_name,
        description=namespace.description,
        visibility=namespace.visibility,
        protected=namespace.protected,
        owner=namespace.owner,
        schema="/v2/schemas/metadefs/namespace",
        self=f"{NAMESPACES}/{namespace.namespace}",
        **_stamps(namespace),
    )
    if associations:
        body["resource_type_associations"] = [association_view(a) for a in associations]
    return body


def namespace_detail(
    namespace: MetadefNamespace,
    associations: list[MetadefResourceTypeAssociation],
    contents: tuple[list[MetadefProperty], list[MetadefObject], list[MetadefTag]],
    prefix: str = "",
) -> dict[str, Any]:
    """A namespace with everything in it; ``prefix`` (a resource type's) is put before each property name."""
    properties, objects, tags = contents
    body = namespace_view(namespace, associations)
    if properties:
        body["properties"] = {prefix + p.name: dict(p.definition or {}) for p in properties}
    if objects:
        body["objects"] = [
            _set(name=o.name, description=o.description, required=list(o.required or []), properties=o.properties)
            for o in objects
        ]
    if tags:
        body["tags"] = [{"name": t.name} for t in tags]
    return body
