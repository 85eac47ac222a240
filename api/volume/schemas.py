"""Request bodies of the Block Storage API, as Cinder's ``cinder/api/schemas`` define them: names and descriptions
up to 255 characters, metadata keys of Cinder's characters, sizes as integers or digit strings (Cinder takes
``"10"``), ids as UUIDs, and no fields Cinder does not know (its schemas forbid additional properties).

A JSON schema bounds only numbers; ``as_int`` checks what a digit string holds."""

from __future__ import annotations

from typing import Any

from common.exceptions import ValidationError

MAX_INT = 0x7FFFFFFF
MAX_METADATA_ITEMS = 256
"""Cinder sets no count; a bound keeps a record's JSON column and every view of it small."""

NAME = {"type": ["string", "null"], "maxLength": 255}
REQUIRED_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
UUID = {"type": "string", "pattern": "^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$"}
NULLABLE_UUID = {"anyOf": [UUID, {"type": "null"}]}
SIZE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": MAX_INT}
NULLABLE_SIZE = {"anyOf": [SIZE, {"type": "null"}]}
TRUE_STRINGS = ("true", "True", "TRUE", "1", "yes", "on")
FALSE_STRINGS = ("false", "False", "FALSE", "0", "no", "off")
BOOLEAN = {
    "anyOf": [
        {"type": "boolean"},
        {"type": "string", "enum": [*TRUE_STRINGS, *FALSE_STRINGS]},
        {"type": "integer", "enum": [0, 1]},
    ]
}
METADATA_KEY = "^[a-zA-Z0-9_:. /-]{1,255}$"
METADATA = {
    "type": "object",
    "patternProperties": {METADATA_KEY: {"type": "string", "maxLength": 255}},
    "additionalProperties": False,
    "maxProperties": MAX_METADATA_ITEMS,
}
NULLABLE_METADATA = {"anyOf": [METADATA, {"type": "null"}]}
LIMIT = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": MAX_INT}


def wrapped(key: str, properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{key: {properties...}}`` with nothing else in either object."""
    inner: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        inner["required"] = list(required)
    return {"type": "object", "properties": {key: inner}, "required": [key], "additionalProperties": False}


VOLUME_CREATE = wrapped(
    "volume",
    {
        "name": NAME,
        "description": NAME,
        "display_name": NAME,
        "display_description": NAME,
        "size": NULLABLE_SIZE,
        "availability_zone": NAME,
        "source_volid": NULLABLE_UUID,
        "snapshot_id": NULLABLE_UUID,
        "backup_id": NULLABLE_UUID,
        "volume_type": NAME,
        "metadata": NULLABLE_METADATA,
        "imageRef": NAME,
        "image_id": NAME,
        "consistencygroup_id": NULLABLE_UUID,
        "group_id": NULLABLE_UUID,
        "multiattach": BOOLEAN,
    },
)
VOLUME_CREATE["properties"]["OS-SCH-HNT:scheduler_hints"] = {"type": ["object", "null"], "maxProperties": 16}

VOLUME_UPDATE = wrapped(
    "volume",
    {
        "name": NAME,
        "description": NAME,
        "display_name": NAME,
        "display_description": NAME,
        "metadata": NULLABLE_METADATA,
    },
)

METADATA_BODY = {
    "type": "object",
    "properties": {"metadata": METADATA},
    "required": ["metadata"],
    "additionalProperties": False,
}
META_ITEM = {
    "type": "object",
    "properties": {"meta": {**METADATA, "minProperties": 1}},
    "required": ["meta"],
    "additionalProperties": False,
}

SNAPSHOT_CREATE = wrapped(
    "snapshot",
    {
        "name": NAME,
        "description": NAME,
        "display_name": NAME,
        "display_description": NAME,
        "volume_id": UUID,
        "force": BOOLEAN,
        "metadata": NULLABLE_METADATA,
    },
    required=("volume_id",),
)
SNAPSHOT_UPDATE = wrapped(
    "snapshot", {"name": NAME, "description": NAME, "display_name": NAME, "display_description": NAME}
)

EXTRA_SPECS = {"type": "object", **{k: v for k, v in METADATA.items() if k != "type"}}
TYPE_CREATE = wrapped(
    "volume_type",
    {
        "name": REQUIRED_NAME,
        "description": NAME,
        "extra_specs": EXTRA_SPECS,
        "os-volume-type-access:is_public": BOOLEAN,
    },
    required=("name",),
)
TYPE_UPDATE = wrapped("volume_type", {"name": REQUIRED_NAME, "description": NAME, "is_public": BOOLEAN})
EXTRA_SPECS_BODY = {
    "type": "object",
    "properties": {"extra_specs": EXTRA_SPECS},
    "required": ["extra_specs"],
    "additionalProperties": False,
}
PROJECT = {
    "type": "object",
    "properties": {"project": REQUIRED_NAME},
    "required": ["project"],
    "additionalProperties": False,
}
TYPE_ACTION = {
    "type": "object",
    "properties": {"addProjectAccess": PROJECT, "removeProjectAccess": PROJECT},
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
}

STATUS = {"type": "string", "maxLength": 24}
CONNECTOR = {
    "type": "object",
    "maxProperties": 64,
    "propertyNames": {"maxLength": 255},
    "additionalProperties": {
        "anyOf": [
            {"type": ["string"], "maxLength": 1024},
            {"type": ["boolean", "integer", "null"]},
            {"type": "array", "maxItems": 64, "items": {"type": "string", "maxLength": 255}},
        ]
    },
}
ATTACH_MODE = {"type": "string", "enum": ["rw", "ro"]}
ATTACHMENT_CREATE = wrapped(
    "attachment",
    {
        "volume_uuid": UUID,
        "instance_uuid": NULLABLE_UUID,
        "connector": {"anyOf": [CONNECTOR, {"type": "null"}]},
        "mode": ATTACH_MODE,
    },
    required=("volume_uuid",),
)
ATTACHMENT_UPDATE = wrapped("attachment", {"connector": CONNECTOR}, required=("connector",))
ATTACHMENT_ACTION = {
    "type": "object",
    # Cinder reads nothing in it; openstacksdk sends the attachment's id.
    "properties": {"os-complete": {"type": ["object", "null", "string"], "maxLength": 64, "maxProperties": 8}},
    "required": ["os-complete"],
    "additionalProperties": False,
}

QUOTA_KEYS = ("volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes", "per_volume_gigabytes", "groups")
QUOTA_UPDATE = wrapped("quota_set", {**dict.fromkeys(QUOTA_KEYS, LIMIT), "skip_validation": BOOLEAN})


def action_schema(name: str, properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return wrapped(name, properties, required)


EXTEND = action_schema("os-extend", {"new_size": SIZE}, ("new_size",))
SET_BOOTABLE = action_schema("os-set_bootable", {"bootable": BOOLEAN}, ("bootable",))
RESET_STATUS = action_schema(
    "os-reset_status", {"status": STATUS, "attach_status": STATUS, "migration_status": {"type": ["string", "null"]}}
)
SNAPSHOT_RESET_STATUS = action_schema("os-reset_status", {"status": STATUS}, ("status",))
DISK_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "ploop")
UPLOAD_IMAGE = action_schema(
    "os-volume_upload_image",
    {
        "image_name": REQUIRED_NAME,
        "force": BOOLEAN,
        "disk_format": {"type": "string", "enum": list(DISK_FORMATS)},
        "container_format": {"type": "string", "enum": ["bare", "ovf"]},
        "visibility": {"type": "string", "enum": ["public", "private", "shared", "community"]},
        "protected": BOOLEAN,
    },
    ("image_name",),
)
NO_ARGUMENTS = {"type": ["object", "null"], "maxProperties": 0}


def as_bool(value: Any) -> bool:
    """A schema-checked ``BOOLEAN`` as a bool."""
    if isinstance(value, str):
        return value.lower() in ("true", "1", "yes", "on")
    return bool(value)


def text(body: dict[str, Any], field: str) -> str | None:
    """``name`` or ``description`` of a create, or Cinder's older ``display_name``/``display_description``."""
    return body.get(field, body.get(f"display_{field}"))


def update_texts(record: Any, body: dict[str, Any]) -> None:
    """Set the ``name`` and ``description`` an update names, in either spelling; the others stay as they are."""
    for field in ("name", "description"):
        if field in body or f"display_{field}" in body:
            setattr(record, field, text(body, field))


def as_int(value: Any, field: str, minimum: int = 1, maximum: int = MAX_INT) -> int:
    """A schema-checked ``SIZE`` or ``LIMIT`` (an integer or a digit string) as an int within bounds."""
    number = int(value)
    if not minimum <= number <= maximum:
        raise ValidationError(field=field, reason=f"{value} is not between {minimum} and {maximum}")
    return number
