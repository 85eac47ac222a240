"""The metadata-definition (metadefs) schemas Glance publishes at ``/v2/schemas/metadefs/*``.

Clients read them to learn the shape of namespaces, resource-type associations, objects, properties and tags;
each list schema wraps its item schema with Glance's paging fields (``first``, ``next``, ``schema``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_STAMPS = {
    "created_at": {"type": "string", "format": "date-time", "readOnly": True, "description": "Creation time"},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True, "description": "Last change time"},
}
_PROPERTY_TYPES = ["array", "boolean", "integer", "number", "object", "string", None]
_DEFINITIONS = {
    "positiveInteger": {"type": "integer", "minimum": 0},
    "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]},
    "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
}


def _property_fields() -> dict[str, Any]:
    """What a metadef property may say about the value it describes (a JSON-schema subset, as in Glance)."""
    return {
        "name": {"type": "string", "maxLength": 255},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": _PROPERTY_TYPES},
        "required": {"$ref": "#/definitions/stringArray"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "maxLength": {"$ref": "#/definitions/positiveInteger"},
        "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"},
        "readonly": {"type": "boolean"},
        "default": {},
        "items": {
            "type": "object",
            "properties": {"type": {"type": "string", "enum": _PROPERTY_TYPES}, "enum": {"type": "array"}},
        },
        "maxItems": {"$ref": "#/definitions/positiveInteger"},
        "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "uniqueItems": {"type": "boolean", "default": False},
        "additionalItems": {"type": "boolean"},
    }


def _properties_map() -> dict[str, Any]:
    """Where a namespace or an object holds its property definitions: ``#/definitions/property`` is the map from
    a property's name to its definition, as in Glance (an object's ``properties`` and a namespace's point to it)."""
    return {"$ref": "#/definitions/property"}


def _definitions() -> dict[str, Any]:
    definition = {"type": "object", "required": ["title", "type"], "properties": _property_fields()}
    return {**_DEFINITIONS, "property": {"type": "object", "additionalProperties": definition}}


def resource_type() -> dict[str, Any]:
    return {
        "name": "resource_type_association",
        "properties": {
            "name": {"type": "string", "maxLength": 80, "description": "Resource type name, e.g. OS::Glance::Image"},
            "prefix": {"type": "string", "maxLength": 80, "description": "Prefix for properties of this type"},
            "properties_target": {"type": "string", "maxLength": 80, "description": "Sub-resource the keys go on"},
            **_STAMPS,
        },
        "required": ["name"],
        "additionalProperties": False,
    }


def tag() -> dict[str, Any]:
    return {
        "name": "tag",
        "properties": {"name": {"type": "string", "maxLength": 255}, **_STAMPS},
        "required": ["name"],
        "additionalProperties": False,
    }


def property_() -> dict[str, Any]:
    return {
        "name": "property",
        "properties": _property_fields(),
        "required": ["name", "title", "type"],
        "additionalProperties": False,
        "definitions": _DEFINITIONS,
    }


def object_() -> dict[str, Any]:
    return {
        "name": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 255},
            "description": {"type": "string"},
            "required": {"$ref": "#/definitions/stringArray"},
            "properties": _properties_map(),
            "schema": {"type": "string", "readOnly": True},
            "self": {"type": "string", "readOnly": True},
            **_STAMPS,
        },
        "required": ["name"],
        "additionalProperties": False,
        "definitions": _definitions(),
    }


def namespace() -> dict[str, Any]:
    return {
        "name": "namespace",
        "properties": {
            "namespace": {"type": "string", "maxLength": 80, "description": "The unique namespace text"},
            "display_name": {"type": "string", "maxLength": 80, "description": "User-friendly name"},
            "description": {"type": "string", "maxLength": 500, "description": "What the namespace is for"},
            "visibility": {"type": "string", "enum": ["public", "private"], "description": "Who sees it"},
            "protected": {"type": "boolean", "description": "If true, namespace will not be deletable."},
            "owner": {"type": "string", "maxLength": 255, "description": "Owner of the namespace"},
            "self": {"type": "string"},
            "schema": {"type": "string"},
            "resource_type_associations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {k: {"type": "string"} for k in ("name", "prefix", "properties_target")},
                },
            },
            "properties": _properties_map(),
            "objects": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "required": {"$ref": "#/definitions/stringArray"},
                        "properties": _properties_map(),
                    },
                },
            },
            "tags": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            **_STAMPS,
        },
        "required": ["namespace"],
        "additionalProperties": False,
        "definitions": _definitions(),
    }


def _listing(name: str, items: dict[str, Any], keyed: bool = False) -> dict[str, Any]:
    item = {k: v for k, v in items.items() if k not in ("definitions", "name")}
    collection = {"type": "object", "additionalProperties": item} if keyed else {"type": "array", "items": item}
    schema = {
        "name": name,
        "properties": {
            name: collection,
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
    if "definitions" in items:
        schema["definitions"] = items["definitions"]
    return schema


PUBLISHED: dict[str, Callable[[], dict[str, Any]]] = {
    "namespace": namespace,
    "namespaces": lambda: _listing("namespaces", namespace()),
    "resource_type": resource_type,
    "resource_types": lambda: _listing("resource_type_associations", resource_type()),
    "object": object_,
    "objects": lambda: _listing("objects", object_()),
    "property": property_,
    "properties": lambda: _listing("properties", property_(), keyed=True),
    "tag": tag,
    "tags": lambda: _listing("tags", tag()),
}
"""Schema name (the last path segment) to the function building it."""
