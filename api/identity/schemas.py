"""JSON schemas of Keystone v3 request bodies, as its api-ref describes them."""

from __future__ import annotations

from typing import Any

_id = {"type": "string", "minLength": 1, "maxLength": 64}
_name = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[^\x00-\x1f]*\S[^\x00-\x1f]*$"}
_description = {"type": ["string", "null"], "maxLength": 65535}
_enabled = {"type": "boolean"}
_tags = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^,/]*$"},
    "maxItems": 80,
    "uniqueItems": True,
}

_domain_ref = {
    "type": "object",
    "properties": {"id": _id, "name": _name},
    "anyOf": [{"required": ["id"]}, {"required": ["name"]}],
}

_password_user = {
    "type": "object",
    "properties": {
        "id": _id,
        "name": _name,
        "domain": _domain_ref,
        "password": {"type": "string", "maxLength": 4096},
    },
    "required": ["password"],
    "anyOf": [{"required": ["id"]}, {"required": ["name", "domain"]}],
}

_scope = {
    "oneOf": [
        {"type": "string", "enum": ["unscoped"]},
        {
            "type": "object",
            "properties": {
                "project": {
                    "type": "object",
                    "properties": {"id": _id, "name": _name, "domain": _domain_ref},
                    "anyOf": [{"required": ["id"]}, {"required": ["name", "domain"]}],
                },
                "domain": _domain_ref,
                "system": {"type": "object"},
                "OS-TRUST:trust": {
                    "type": "object",
                    "properties": {"id": {"type": "string", "minLength": 1}},
                    "required": ["id"],
                },
            },
            "maxProperties": 1,
        },
    ]
}

AUTH = {
    "type": "object",
    "properties": {
        "auth": {
            "type": "object",
            "properties": {
                "identity": {
                    "type": "object",
                    "properties": {
                        "methods": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        "password": {"type": "object", "properties": {"user": _password_user}, "required": ["user"]},
                        "token": {
                            "type": "object",
                            "properties": {"id": _id | {"maxLength": 1024}},
                            "required": ["id"],
                        },
                        "application_credential": {
                            "type": "object",
                            "properties": {
                                "id": _id,
                                "name": _name,
                                "secret": {"type": "string", "maxLength": 4096},
                                "user": {
                                    "type": "object",
                                    "properties": {"id": _id, "name": _name, "domain": _domain_ref},
                                    "anyOf": [{"required": ["id"]}, {"required": ["name", "domain"]}],
                                },
                            },
                            "required": ["secret"],
                            "anyOf": [{"required": ["id"]}, {"required": ["name", "user"]}],
                        },
                    },
                    "required": ["methods"],
                },
                "scope": _scope,
            },
            "required": ["identity"],
        }
    },
    "required": ["auth"],
}


def _entity(key: str, properties: dict[str, Any], required: list[str], extra: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": extra}
    if required:
        body["required"] = required
    return {"type": "object", "properties": {key: body}, "required": [key]}


_project_properties = {
    "name": _name | {"maxLength": 64},
    # null: the default domain for a project; a project acting as a domain (is_domain) belongs to none.
    "domain_id": _id | {"type": ["string", "null"]},
    "description": _description,
    "enabled": _enabled,
    "parent_id": _id | {"type": ["string", "null"]},
    "is_domain": {"type": "boolean"},
    "tags": _tags,
    "options": {"type": "object"},
}
PROJECT_CREATE = _entity("project", _project_properties, ["name"])
# parent_id and is_domain may be sent back unchanged; a change is refused by the API, with Keystone's errors.
PROJECT_UPDATE = _entity("project", _project_properties, [])
PROJECT_TAGS_REPLACE = {
    "type": "object",
    "properties": {"tags": _tags},
    "required": ["tags"],
    "additionalProperties": False,
}

_user_properties = {
    "name": _name,
    "domain_id": _id,
    "password": {"type": ["string", "null"], "maxLength": 4096},
    "enabled": _enabled,
    "default_project_id": {"type": ["string", "null"], "maxLength": 64},
    "description": _description,
    "email": {"type": ["string", "null"], "maxLength": 255},
    "options": {"type": "object"},
}
USER_CREATE = _entity("user", _user_properties, ["name"], extra=True)
USER_UPDATE = _entity("user", _user_properties, [], extra=True)

PASSWORD_CHANGE = _entity(
    "user",
    {
        "password": {"type": "string", "minLength": 1, "maxLength": 4096},
        "original_password": {"type": "string", "maxLength": 4096},
    },
    ["password", "original_password"],
)

_role_properties = {
    "name": _name,
    "description": _description,
    "domain_id": _id | {"type": ["string", "null"]},  # a domain-specific role; null (or absent): a global one
    "options": {"type": "object"},
}
ROLE_CREATE = _entity("role", _role_properties, ["name"])
ROLE_UPDATE = _entity("role", _role_properties, [])
# OS-OAUTH1 consumers: a description and any extra attributes, as Keystone stores them; never a secret or an id.
_consumer_properties = {"description": _description, "id": {"not": {}}, "secret": {"not": {}}}
CONSUMER_CREATE = _entity("consumer", _consumer_properties, [], extra=True)
CONSUMER_UPDATE = _entity("consumer", _consumer_properties, [], extra=True)

_domain_properties = {
    "name": _name | {"maxLength": 64},
    "description": _description,
    "enabled": _enabled,
    "tags": _tags,
    "options": {"type": "object"},
}
DOMAIN_CREATE = _entity("domain", _domain_properties, ["name"])
DOMAIN_UPDATE = _entity("domain", _domain_properties, [])

_group_properties = {
    "name": _name | {"maxLength": 64},
    "domain_id": _id,
    "description": _description,
}
GROUP_CREATE = _entity("group", _group_properties, ["name"], extra=True)
GROUP_UPDATE = _entity("group", _group_properties, [], extra=True)

_credential_properties = {
    "blob": {"type": "string", "maxLength": 65535},
    "project_id": {"type": ["string", "null"], "maxLength": 64},
    "type": {"type": "string", "minLength": 1, "maxLength": 255},
    "user_id": _id,
}
# Keystone keeps attributes it does not know (``additionalProperties``) and ignores an ``id`` on create.
CREDENTIAL_CREATE = _entity(
    "credential", {**_credential_properties, "id": {"type": "string"}}, ["blob", "type", "user_id"], extra=True
)
CREDENTIAL_UPDATE = _entity("credential", _credential_properties, [], extra=True)
CREDENTIAL_UPDATE["properties"]["credential"]["minProperties"] = 1
EC2_CREDENTIAL_CREATE = {"type": "object", "properties": {"tenant_id": _id}, "required": ["tenant_id"]}

_http_method = {"type": "string", "enum": ["POST", "GET", "HEAD", "PATCH", "PUT", "DELETE"]}
_access_rule = {
    "type": "object",
    "properties": {
        "id": _id,
        "service": {"type": "string", "minLength": 1, "maxLength": 64},
        "path": {"type": "string", "minLength": 1, "maxLength": 128},
        "method": _http_method,
    },
    "anyOf": [{"required": ["id"]}, {"required": ["service", "path", "method"]}],
    "additionalProperties": False,
}
APPLICATION_CREDENTIAL_CREATE = _entity(
    "application_credential",
    {
        "name": _name,
        "description": _description,
        "secret": {"type": ["string", "null"], "maxLength": 4096},  # empty or null: one is generated (Keystone)
        "expires_at": {"type": ["string", "null"], "maxLength": 64},
        "roles": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": _id, "name": _name, "domain_id": {"type": ["string", "null"]}},
                "anyOf": [{"required": ["id"]}, {"required": ["name"]}],
            },
        },
        "unrestricted": {"type": ["boolean", "null"]},
        "access_rules": {"type": "array", "items": _access_rule},
    },
    ["name"],
)
