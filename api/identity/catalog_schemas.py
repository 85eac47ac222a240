"""JSON schemas of the catalog's request bodies (regions, services, endpoints), as Keystone's api-ref gives them.

As in Keystone, bodies may carry attributes beyond the known ones: they are kept and shown back (the
``openstack region create`` command sends ``enabled``, for one). The known ones are checked more tightly than
Keystone does where a bad value would only fail later: ids that go into URL paths have no ``/`` and no
control characters, and endpoint URLs are absolute ``http``/``https`` URLs without spaces or control
characters (Keystone's 225-character limit included).
"""

from __future__ import annotations

from typing import Any

INTERFACES = ["admin", "internal", "public"]

_text = r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$"
_region_id = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[^/\x00-\x1f\x7f]+$"}
_nullable_region_id = _region_id | {"type": ["string", "null"]}
_description = {"type": ["string", "null"], "maxLength": 255}
_enabled = {"type": "boolean"}
_name = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": _text}
URL = {"type": "string", "minLength": 1, "maxLength": 225, "pattern": r"^[hH][tT][tT][pP][sS]?://[^\s\x00-\x1f\x7f]+$"}


def _entity(
    key: str, properties: dict[str, Any], required: tuple[str, ...] = (), update: bool = False
) -> dict[str, Any]:
    """``{key: {...}}``; an update must change something (Keystone's ``minProperties``)."""
    body: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": True}
    if required:
        body["required"] = list(required)
    if update:
        body["minProperties"] = 1
    return {"type": "object", "properties": {key: body}, "required": [key]}


_region = {"id": _region_id, "description": _description, "parent_region_id": _nullable_region_id}
REGION_CREATE = _entity("region", _region)
REGION_UPDATE = _entity("region", _region, update=True)

_service = {
    "type": _name,
    "name": _name,
    "description": _description | {"maxLength": 65535},
    "enabled": _enabled,
}
SERVICE_CREATE = _entity("service", _service, required=("type",))
SERVICE_UPDATE = _entity("service", _service, update=True)

_endpoint = {
    "service_id": {"type": "string", "minLength": 1, "maxLength": 64},
    "interface": {"type": "string", "enum": INTERFACES},
    "url": URL,
    "region_id": _nullable_region_id,
    "region": _nullable_region_id,
    "enabled": _enabled,
    "name": {"type": "string", "maxLength": 255},
    "description": {"type": ["string", "null"], "maxLength": 65535},
}
ENDPOINT_CREATE = _entity("endpoint", _endpoint, required=("service_id", "interface", "url"))
ENDPOINT_UPDATE = _entity("endpoint", _endpoint, update=True)
