"""Request fields of server create and rebuild that only some microversions accept, as Nova's schemas have them.

One place that says, per field, from (and until) which microversion Nova's request schema lets it through, so the
handlers validate one body shape and ask here what the negotiated version allows. A field outside its range is
Nova's schema error: 400 ``Additional properties are not allowed``.
"""

from __future__ import annotations

from typing import Any

from api.compute.microversions import at_least
from common.exceptions import BadRequest


def _refuse(where: str, field: str) -> BadRequest:
    return BadRequest(
        f"Invalid input for field/attribute {where}. Additional properties are not allowed ('{field}' was unexpected)"
    )


def _tagged(entries: Any) -> bool:
    return isinstance(entries, list) and any(isinstance(entry, dict) and "tag" in entry for entry in entries)


def network_tag_allowed() -> bool:
    """Device tags on ``networks``: 2.32 to 2.36, then (after the 2.37 bug) from 2.42 on."""
    return (at_least("2.32") and not at_least("2.37")) or at_least("2.42")


def bdm_tag_allowed() -> bool:
    """Device tags on ``block_device_mapping_v2``: 2.32 only, then (after the 2.33 bug) from 2.42 on."""
    return (at_least("2.32") and not at_least("2.33")) or at_least("2.42")


def check_create(body: dict[str, Any]) -> None:
    """The server create fields the negotiated microversion does not accept: 400, before anything is read."""
    if _tagged(body.get("networks")) and not network_tag_allowed():
        raise _refuse("server/networks", "tag")
    if _tagged(body.get("block_device_mapping_v2")) and not bdm_tag_allowed():
        raise _refuse("server/block_device_mapping_v2", "tag")
    mappings = body.get("block_device_mapping_v2") or []
    if not at_least("2.67") and any(isinstance(m, dict) and "volume_type" in m for m in mappings):
        raise _refuse("server/block_device_mapping_v2", "volume_type")
    if "personality" in body and at_least("2.57"):
        raise _refuse("server", "personality")
    refuse_trusted_certs(body)
    if "hostname" in body and int(body.get("max_count", body.get("min_count", 1))) > 1:
        raise BadRequest("Cannot specify 'hostname' when creating multiple servers.")


# --- fields later microversions add to create, update and rebuild -------------------------------------------

# 2.90: a hostname is one DNS label; 2.94: a fully qualified name (labels joined by dots, 255 at most).
_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
HOSTNAME = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": f"^{_LABEL}$"}
FQDN = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": rf"^{_LABEL}(\.{_LABEL})*\.?$"}
TRUSTED_CERTS = {
    "type": ["array", "null"],
    "minItems": 1,
    "maxItems": 50,
    "uniqueItems": True,
    "items": {"type": "string", "minLength": 1},
}
CERTS_NOT_ENABLED = "Image signature certificate validation support is not yet enabled."


def hostname_schema() -> dict[str, Any]:
    return FQDN if at_least("2.94") else HOSTNAME


_SCHEMAS: dict[tuple[Any, ...], dict[str, Any]] = {}


def with_fields(schema: dict[str, Any], fields: dict[str, Any], wrapper: str | None = None) -> dict[str, Any]:
    """``schema`` (an object schema without additional properties; or its ``wrapper`` object's) with more
    ``fields`` allowed. Made once per set of fields and kept (field schemas are this module's constants):
    ``api.validation`` compiles each schema once."""
    key = (id(schema), wrapper, *sorted((name, id(field)) for name, field in fields.items()))
    found = _SCHEMAS.get(key)
    if found is None:
        if wrapper is None:
            found = {**schema, "properties": {**schema["properties"], **fields}}
        else:
            inner = with_fields(schema["properties"][wrapper], fields)
            found = {**schema, "properties": {**schema["properties"], wrapper: inner}}
        _SCHEMAS[key] = found
    return found


_NAME_255 = {"type": "string", "minLength": 1, "maxLength": 255}
_NULLABLE_KEY_NAME = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}
_NULLABLE_USER_DATA = {"type": ["string", "null"], "maxLength": 87380}


def create_fields() -> dict[str, Any]:
    """The server create fields added after 2.37 that the negotiated microversion accepts."""
    fields: dict[str, Any] = {}
    if at_least("2.63"):
        fields["trusted_image_certificates"] = TRUSTED_CERTS
    if at_least("2.74"):
        fields["host"] = _NAME_255
        fields["hypervisor_hostname"] = _NAME_255
    if at_least("2.90"):
        fields["hostname"] = hostname_schema()
    return fields


# 2.104: Nova's ``name_or_none``: a name (no leading or trailing blanks) or null, which unpins the server.
PINNED_ZONE = {"type": ["string", "null"], "minLength": 1, "maxLength": 255, "pattern": r"^(?!\s)[^\x00-\x1f]*(?<!\s)$"}


def update_fields() -> dict[str, Any]:
    """Update's later fields: ``hostname`` (2.90), ``pinned_availability_zone`` (2.104)."""
    fields: dict[str, Any] = {}
    if at_least("2.90"):
        fields["hostname"] = hostname_schema()
    if at_least("2.104"):
        fields["pinned_availability_zone"] = PINNED_ZONE
    return fields


def rebuild_fields() -> dict[str, Any]:
    """Rebuild's later fields: ``key_name`` (2.54, null unsets it), ``user_data`` (2.57, null unsets it),
    ``trusted_image_certificates`` (2.63), ``hostname`` (2.90)."""
    fields: dict[str, Any] = {}
    if at_least("2.54"):
        fields["key_name"] = _NULLABLE_KEY_NAME
    if at_least("2.57"):
        fields["user_data"] = _NULLABLE_USER_DATA
    if at_least("2.63"):
        fields["trusted_image_certificates"] = TRUSTED_CERTS
    if at_least("2.90"):
        fields["hostname"] = hostname_schema()
    return fields


def refuse_trusted_certs(body: dict[str, Any]) -> None:
    """Certificates to validate the image with: Nova's answer when validation is not configured (it is not)."""
    if body.get("trusted_image_certificates"):
        raise BadRequest(CERTS_NOT_ENABLED)
