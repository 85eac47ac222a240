"""Request bodies of the metadefs API: their schemas, and the checks a schema cannot say about a property definition.

The shapes are Glance's (``/v2/schemas/metadefs/*``, see :mod:`api.image.metadef_schemas`), tightened where
Glance leaves a door open: names are not empty and hold no ``/`` (they are path segments) nor control
characters, texts and lists have bounds, and a property definition must be coherent (a ``default`` of its type and
within its ``enum`` and bounds, ``minimum`` not above ``maximum``, a ``pattern`` that compiles, ``enum`` values of
its type), so the catalogue never describes a value no resource could carry.
"""

from __future__ import annotations

import re
from typing import Any

from flask import request

from api.validation import digits, json_body, validate
from common.exceptions import BadRequest, Forbidden

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
SORT_KEYS = ("created_at", "updated_at", "namespace", "display_name")
TAG_SORT_KEYS = ("created_at", "updated_at", "name")
PROPERTY_TYPES = ["array", "boolean", "integer", "number", "object", "string"]
READ_ONLY = ("created_at", "updated_at", "schema", "self")
"""Attributes Glance computes: a body that sets one is refused (403), as Glance does."""

_NAME_PATTERN = r"^[^/\x00-\x1f\x7f]+$"


def _name(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": _NAME_PATTERN}


def _text(max_length: int) -> dict[str, Any]:
    return {"type": ["string", "null"], "maxLength": max_length}


_COUNT = {"type": "integer", "minimum": 0}
_STRINGS = {"type": "array", "items": {"type": "string", "maxLength": 255}, "uniqueItems": True, "maxItems": 256}
_DEFINITION_FIELDS: dict[str, Any] = {
    "title": {"type": "string", "maxLength": 255},
    "description": {"type": "string", "maxLength": 8192},
    "operators": {"type": "array", "items": {"type": "string", "maxLength": 255}, "maxItems": 64},
    "type": {"type": "string", "enum": PROPERTY_TYPES},
    "required": _STRINGS,
    "minimum": {"type": "number"},
    "maximum": {"type": "number"},
    "maxLength": _COUNT,
    "minLength": _COUNT,
    "pattern": {"type": "string", "maxLength": 1024},
    "enum": {"type": "array", "maxItems": 1024},
    "readonly": {"type": "boolean"},
    "default": {},
    "items": {
        "type": "object",
        "properties": {"type": {"type": "string", "enum": PROPERTY_TYPES}, "enum": {"type": "array", "maxItems": 1024}},
        "additionalProperties": False,
    },
    "maxItems": _COUNT,
    "minItems": _COUNT,
    "uniqueItems": {"type": "boolean"},
    "additionalItems": {"type": "boolean"},
}
DEFINITION: dict[str, Any] = {
    "type": "object",
    "properties": {"name": _name(255), **_DEFINITION_FIELDS},
    "required": ["title", "type"],
    "additionalProperties": False,
}
"""A property definition inside an object or a namespace body (its name is the key)."""
_DEFINITIONS = {
    "type": "object",
    "maxProperties": 1024,
    "propertyNames": _name(255),
    "additionalProperties": DEFINITION,
}

PROPERTY = {
    "type": "object",
    "properties": {"name": _name(255), **_DEFINITION_FIELDS},
    "required": ["name", "title", "type"],
    "additionalProperties": False,
}
PROPERTY_UPDATE = {**PROPERTY, "required": ["title", "type"]}
"""An update may leave ``name`` out: the property keeps the name in the path."""

OBJECT = {
    "type": "object",
    "properties": {
        "name": _name(255),
        "description": _text(8192),
        "required": _STRINGS,
        "properties": _DEFINITIONS,
    },
    "required": ["name"],
    "additionalProperties": False,
}
OBJECT_UPDATE = {**OBJECT, "required": []}

ASSOCIATION = {
    "type": "object",
    "properties": {"name": _name(80), "prefix": _text(80), "properties_target": _text(80)},
    "required": ["name"],
    "additionalProperties": False,
}
TAG = {"type": "object", "properties": {"name": _name(255)}, "required": ["name"], "additionalProperties": False}
TAGS = {
    "type": "object",
    "properties": {"tags": {"type": "array", "items": TAG, "maxItems": 1024}},
    "required": ["tags"],
    "additionalProperties": False,
}

_NAMESPACE_FIELDS: dict[str, Any] = {
    "namespace": _name(80),
    "display_name": _text(80),
    "description": _text(500),
    "visibility": {"type": "string", "enum": ["public", "private"]},
    "protected": {"type": "boolean"},
    "owner": {"type": "string", "minLength": 1, "maxLength": 255},
    "resource_type_associations": {"type": "array", "items": ASSOCIATION, "maxItems": 64},
    "properties": _DEFINITIONS,
    "objects": {"type": "array", "items": OBJECT, "maxItems": 1024},
    "tags": {"type": "array", "items": TAG, "maxItems": 1024},
}
NAMESPACE = {
    "type": "object",
    "properties": _NAMESPACE_FIELDS,
    "required": ["namespace"],
    "additionalProperties": False,
}
"""A namespace create, and an update (whose contents, as in Glance, leave objects, properties and tags alone)."""

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def read(schema: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON object, checked against ``schema``; read-only attributes in it are a 403."""
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    refuse_read_only(body)
    return validate(body, schema)


def page_request(sort_keys: tuple[str, ...] = SORT_KEYS) -> tuple[int, str | None, str, bool]:
    """``limit`` (capped), ``marker``, ``sort_key`` and whether ``sort_dir`` is descending, Glance's defaults."""
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    limit = digits(raw_limit)
    if limit is None:
        raise BadRequest(f"Invalid limit value {raw_limit!r}: it must be a non-negative integer.")
    sort_key = request.args.get("sort_key", "created_at")
    if sort_key not in sort_keys:
        raise BadRequest(f"Invalid sort key: {sort_key}. It must be one of: {', '.join(sort_keys)}.")
    sort_dir = request.args.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort direction: {sort_dir}. It must be asc or desc.")
    return min(limit, MAX_LIMIT), request.args.get("marker"), sort_key, sort_dir == "desc"


def refuse_read_only(body: dict[str, Any]) -> None:
    for key in READ_ONLY:
        if key in body:
            raise Forbidden(f"Attribute '{key}' is read-only.")


def _of_type(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind not in ("boolean",):
        return False
    return isinstance(value, _PYTHON_TYPES[kind])


def _check_value(value: Any, definition: dict[str, Any], where: str) -> None:
    """A ``default`` must be a value the definition itself accepts."""
    kind = definition["type"]
    if not _of_type(value, kind):
        raise BadRequest(f"Invalid property definition {where}: default {value!r} is not of type {kind}.")
    if "enum" in definition and value not in definition["enum"]:
        raise BadRequest(f"Invalid property definition {where}: default {value!r} is not one of its enum values.")
    if kind in ("integer", "number"):
        if "minimum" in definition and value < definition["minimum"]:
            raise BadRequest(f"Invalid property definition {where}: default {value!r} is below its minimum.")
        if "maximum" in definition and value > definition["maximum"]:
            raise BadRequest(f"Invalid property definition {where}: default {value!r} is above its maximum.")
    if kind == "string":
        if not definition.get("minLength", 0) <= len(value) <= definition.get("maxLength", len(value)):
            raise BadRequest(f"Invalid property definition {where}: default {value!r} has a length out of bounds.")
        if "pattern" in definition and re.search(definition["pattern"], value) is None:
            raise BadRequest(f"Invalid property definition {where}: default {value!r} does not match its pattern.")


def check_definition(definition: dict[str, Any], where: str) -> None:
    """Refuse a schema-valid definition that no value could satisfy or that contradicts itself (400)."""
    kind = definition["type"]
    for low, high in (("minimum", "maximum"), ("minLength", "maxLength"), ("minItems", "maxItems")):
        if low in definition and high in definition and definition[low] > definition[high]:
            raise BadRequest(f"Invalid property definition {where}: {low} is greater than {high}.")
    if "pattern" in definition:
        try:
            re.compile(definition["pattern"])
        except re.error as exc:
            raise BadRequest(
                f"Invalid property definition {where}: pattern is not a regular expression: {exc}."
            ) from None
    for value in definition.get("enum", []):
        if not _of_type(value, kind):
            raise BadRequest(f"Invalid property definition {where}: enum value {value!r} is not of type {kind}.")
    items = definition.get("items") or {}
    item_type = items.get("type")
    for value in items.get("enum", []):
        if item_type is not None and not _of_type(value, item_type):
            raise BadRequest(f"Invalid property definition {where}: items enum value {value!r} is not {item_type}.")
    if "default" in definition:
        _check_value(definition["default"], definition, where)


def check_object(body: dict[str, Any]) -> None:
    """Each property of an object is a coherent definition, and what it requires is among its properties."""
    properties = body.get("properties") or {}
    for name, definition in properties.items():
        check_definition(definition, f"'{name}'")
    missing = [name for name in body.get("required") or [] if name not in properties]
    if missing:
        raise BadRequest(f"Invalid object: required names properties it does not define: {', '.join(missing)}.")


def append_header() -> bool:
    """``X-Openstack-Append``: add the tags to those of the namespace instead of replacing them (Glance's header)."""
    raw = request.headers.get("X-Openstack-Append", "false").strip().lower()
    if raw not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise BadRequest(f"Invalid value for X-Openstack-Append: {raw!r} (expected true or false).")
    return raw in ("true", "1", "yes", "on")
