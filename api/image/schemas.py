"""Glance v2 request schemas, and the schemas Glance publishes at ``/v2/schemas/*`` for clients."""

from __future__ import annotations

from typing import Any

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
UUID_PATTERN = r"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"

# Attributes a user may set; every other base attribute is read-only (403 when set, as in Glance).
WRITABLE = {
    "id": {"type": "string", "pattern": UUID_PATTERN, "description": "An identifier for the image"},
    "name": {"type": ["null", "string"], "maxLength": 255, "description": "Descriptive name for the image"},
    "visibility": {"type": "string", "enum": list(VISIBILITIES), "description": "Scope of image accessibility"},
    "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
    "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list."},
    "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS], "description": "Format of the disk"},
    "container_format": {
        "type": ["null", "string"],
        "enum": [None, *CONTAINER_FORMATS],
        "description": "Format of the container",
    },
    "min_disk": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "description": "Minimum disk (GB)"},
    "min_ram": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "description": "Minimum RAM (MB)"},
    "tags": {
        "type": "array",
        "items": {"type": "string", "maxLength": 255},
        "maxItems": 128,
        "description": "List of strings related to the image",
    },
    "owner": {"type": ["null", "string"], "maxLength": 255, "description": "Owner of the image"},
}
READ_ONLY = {
    "status": {"type": "string", "description": "Status of the image"},
    "size": {"type": ["null", "integer"], "description": "Size of image file in bytes"},
    "virtual_size": {"type": ["null", "integer"], "description": "Virtual size of image in bytes"},
    "checksum": {"type": ["null", "string"], "maxLength": 32, "description": "md5 hash of image contents."},
    "os_hash_algo": {"type": ["null", "string"], "maxLength": 64, "description": "Algorithm of os_hash_value"},
    "os_hash_value": {"type": ["null", "string"], "maxLength": 128, "description": "Secure hash of the data"},
    "created_at": {"type": "string", "description": "Date and time of image registration"},
    "updated_at": {"type": "string", "description": "Date and time of the last image modification"},
    "self": {"type": "string", "description": "An image self url"},
    "file": {"type": "string", "description": "An image file url"},
    "schema": {"type": "string", "description": "An image schema url"},
}
RESERVED = ("location", "locations", "direct_url", "deleted", "deleted_at", "stores")
MAX_PROPERTY_LENGTH = 65535
MAX_PROPERTY_KEY = 255

CREATE = {
    "type": "object",
    "properties": WRITABLE,
    "additionalProperties": {"type": "string", "maxLength": MAX_PROPERTY_LENGTH},
    "propertyNames": {"maxLength": MAX_PROPERTY_KEY, "minLength": 1},
}

PATCH = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": ["add", "replace", "remove"]},
            "path": {"type": "string", "pattern": "^/[^/]+$"},
            "value": {},
        },
        "required": ["op", "path"],
        "additionalProperties": False,
    },
}

MEMBER_CREATE = {
    "type": "object",
    "properties": {"member": {"type": "string", "minLength": 1, "maxLength": 255}},
    "required": ["member"],
    "additionalProperties": False,
}
# Clients (openstacksdk) send the whole member back; only ``status`` can change.
MEMBER_UPDATE = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["pending", "accepted", "rejected"]}},
    "required": ["status"],
}

IMPORT = {
    "type": "object",
    "properties": {
        "method": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "uri": {"type": "string"}},
            "required": ["name"],
        },
        "stores": {"type": "array"},
        "all_stores": {"type": "boolean"},
        "all_stores_must_succeed": {"type": "boolean"},
    },
    "required": ["method"],
}


def published_image_schema() -> dict[str, Any]:
    return {
        "name": "image",
        "properties": {**WRITABLE, **READ_ONLY},
        "additionalProperties": {"type": "string"},
        "links": [
            {"href": "{self}", "rel": "self"},
            {"href": "{file}", "rel": "enclosure"},
            {"href": "{schema}", "rel": "describedby"},
        ],
    }


def published_images_schema() -> dict[str, Any]:
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": published_image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"href": "{first}", "rel": "first"},
            {"href": "{next}", "rel": "next"},
            {"href": "{schema}", "rel": "describedby"},
        ],
    }


def published_member_schema() -> dict[str, Any]:
    return {
        "name": "member",
        "properties": {
            "image_id": {"type": "string", "pattern": UUID_PATTERN},
            "member_id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
            "schema": {"type": "string"},
        },
    }


def published_members_schema() -> dict[str, Any]:
    return {
        "name": "members",
        "properties": {"members": {"type": "array", "items": published_member_schema()}, "schema": {"type": "string"}},
        "links": [{"href": "{schema}", "rel": "describedby"}],
    }
