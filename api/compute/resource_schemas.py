"""Request schemas of flavors, key pairs, server groups and os-services, per microversion as Nova has them."""

from __future__ import annotations

from typing import Any

# Nova's ``parameter_types.name``: printable, no leading or trailing whitespace.
NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^(?!\s)[^\x00-\x1f]*(?<!\s)$"}
# Nova's ``parameter_types.boolean``: JSON booleans and the usual spellings.
BOOLEAN_WORDS = {
    **dict.fromkeys(("true", "1", "on", "yes"), True),
    **dict.fromkeys(("false", "0", "off", "no"), False),
}
BOOLEAN = {
    "anyOf": [
        {"type": "boolean"},
        {"type": "string", "enum": [w for word in BOOLEAN_WORDS for w in (word, word.upper(), word.capitalize())]},
    ]
}
# Integers may come as strings; the range is checked after the schema, as Nova does, naming the field.
_flavor_int = {"type": ["integer", "string"], "pattern": "^[0-9]+$"}
EXTRA_SPEC_KEY = "^[a-zA-Z0-9-_:. ]{1,255}$"
_extra_spec_value = {"type": ["string", "number", "boolean"], "maxLength": 255}


def _wrapped(key: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            key: {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
        },
        "required": [key],
        "additionalProperties": False,
    }


FLAVOR_CREATE = _wrapped(
    "flavor",
    {
        "name": NAME,
        "id": {
            "type": ["string", "number", "null"],
            "minLength": 1,
            "maxLength": 255,
            "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )$",
        },
        "ram": _flavor_int,
        "vcpus": _flavor_int,
        "disk": _flavor_int,
        "OS-FLV-EXT-DATA:ephemeral": _flavor_int,
        "swap": {"anyOf": [_flavor_int, {"type": "string", "enum": [""]}]},
        "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$", "exclusiveMinimum": 0},
        "os-flavor-access:is_public": BOOLEAN,
    },
    ["name", "ram", "vcpus", "disk"],
)
# 2.55: a flavor's description (Nova's ``description`` parameter type: printable, up to 65535 characters).
_flavor_description = {"type": ["string", "null"], "maxLength": 65535, "pattern": r"^[^\x00-\x1f\x7f]*$"}
FLAVOR_CREATE_V255 = _wrapped(
    "flavor", {**FLAVOR_CREATE["properties"]["flavor"]["properties"], "description": _flavor_description},
    ["name", "ram", "vcpus", "disk"],
)  # fmt: skip
# 2.102: ``rxtx_factor`` (meaningful only to nova-network, long gone) is no longer accepted.
FLAVOR_CREATE_V2102 = _wrapped(
    "flavor",
    {k: v for k, v in FLAVOR_CREATE_V255["properties"]["flavor"]["properties"].items() if k != "rxtx_factor"},
    ["name", "ram", "vcpus", "disk"],
)
FLAVOR_UPDATE = _wrapped("flavor", {"description": _flavor_description}, ["description"])

EXTRA_SPECS = {
    "type": "object",
    "properties": {
        "extra_specs": {
            "type": "object",
            "patternProperties": {EXTRA_SPEC_KEY: _extra_spec_value},
            "additionalProperties": False,
        }
    },
    "required": ["extra_specs"],
    "additionalProperties": False,
}
EXTRA_SPEC_ITEM = {
    "type": "object",
    "patternProperties": {EXTRA_SPEC_KEY: _extra_spec_value},
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
}

_tenant = {
    "type": "object",
    "properties": {"tenant": {"type": "string", "minLength": 1, "maxLength": 255}},
    "required": ["tenant"],
    "additionalProperties": False,
}
FLAVOR_ACTION = {
    "type": "object",
    "properties": {"addTenantAccess": _tenant, "removeTenantAccess": _tenant},
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
}

_keypair = {"name": NAME, "public_key": {"type": "string"}}
_key_type = {"type": "string", "enum": ["ssh", "x509"]}
KEYPAIR_CREATE = _wrapped("keypair", _keypair, ["name"])
KEYPAIR_CREATE_V22 = _wrapped("keypair", {**_keypair, "type": _key_type}, ["name"])
KEYPAIR_CREATE_V210 = _wrapped("keypair", {**_keypair, "type": _key_type, "user_id": {"type": "string"}}, ["name"])


def _server_group(policies: list[str]) -> dict[str, Any]:
    return _wrapped(
        "server_group",
        {
            "name": NAME,
            "policies": {
                "type": "array",
                "items": {"type": "string", "enum": policies},
                "minItems": 1,
                "maxItems": 1,
            },
        },
        ["name", "policies"],
    )


SERVER_GROUP_CREATE = _server_group(["anti-affinity", "affinity"])
SERVER_GROUP_CREATE_V215 = _server_group(["anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"])
SERVER_GROUP_CREATE_V264 = _wrapped(
    "server_group",
    {
        "name": NAME,
        "policy": {"type": "string", "enum": ["anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"]},
        "rules": {
            "type": "object",
            "properties": {"max_server_per_host": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1}},
            "additionalProperties": False,
        },
    },
    ["name", "policy"],
)

_service = {
    "host": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9-._]*$"},
    "binary": {"type": "string", "minLength": 1, "maxLength": 255},
    "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
}
SERVICE_UPDATE = {
    "type": "object",
    "properties": _service,
    "required": ["host", "binary"],
    "additionalProperties": False,
}
SERVICE_UPDATE_V211 = {**SERVICE_UPDATE, "properties": {**_service, "forced_down": BOOLEAN}}


def as_bool(value: Any) -> bool:
    """A value that passed ``BOOLEAN`` as a Python bool."""
    return value if isinstance(value, bool) else BOOLEAN_WORDS[value.lower()]
