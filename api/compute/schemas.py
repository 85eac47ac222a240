"""Request schemas of the compute API (Nova v2.1 up to the microversions we serve)."""

from __future__ import annotations

from typing import Any

# No control characters, lone surrogates or non-characters: a name must be writable in domain XML.
_NAME_PATTERN = r"^(?!\s)[^\x00-\x1f\ud800-\udfff\ufffe\uffff]*(?<!\s)$"
_name = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": _NAME_PATTERN}
# What server create reads of a mapping (the rest of Nova's keys pass, and volumes are refused by the handler).
_BLOCK_DEVICE_MAPPING = {
    "type": "object",
    "properties": {
        "uuid": {"type": ["string", "null"], "maxLength": 255},
        "source_type": {"type": "string", "maxLength": 255},
        "destination_type": {"type": ["string", "null"], "maxLength": 255},
        "boot_index": {"type": ["integer", "string", "null"]},
        "volume_size": {"type": ["integer", "string", "null"]},
        "delete_on_termination": {"type": ["boolean", "string", "null"]},
        "device_name": {"type": ["string", "null"], "maxLength": 255},
        "tag": {"type": ["string", "null"], "maxLength": 60},
        "volume_type": {"type": ["string", "null"], "minLength": 0, "maxLength": 255},  # 2.67
    },
}
_LEGACY_BLOCK_DEVICE_MAPPING = {
    "type": "object",
    "properties": {
        "volume_id": {"type": ["string", "null"], "maxLength": 36},
        "snapshot_id": {"type": ["string", "null"], "maxLength": 36},
        "device_name": {"type": ["string", "null"], "maxLength": 255},
        "volume_size": {"type": ["integer", "string", "null"]},
        "delete_on_termination": {"type": ["boolean", "string", "null"]},
    },
}
_metadata = {
    "type": "object",
    "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False,
}

SERVER_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {
                "name": _name,
                "imageRef": {"type": "string", "maxLength": 255},  # "" when booting from a volume
                "flavorRef": {"type": ["string", "integer"], "minLength": 1},
                "networks": {
                    "oneOf": [
                        {"type": "string", "enum": ["auto", "none"]},
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "uuid": {"type": "string"},
                                    "port": {"type": ["string", "null"]},
                                    "fixed_ip": {"type": "string"},
                                    "tag": {"type": "string", "maxLength": 60},
                                },
                                "additionalProperties": False,
                            },
                        },
                    ]
                },
                "key_name": {"type": "string", "minLength": 1, "maxLength": 255},
                "user_data": {"type": "string", "maxLength": 87380},
                "metadata": _metadata,
                "security_groups": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
                },
                "availability_zone": {"type": "string", "minLength": 1, "maxLength": 255},
                "config_drive": {"type": ["boolean", "string"]},
                "min_count": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1},
                "max_count": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1},
                "return_reservation_id": {"type": ["boolean", "string"]},
                "accessIPv4": {"type": "string"},
                "accessIPv6": {"type": "string"},
                "adminPass": {"type": "string"},
                "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
                "description": {"type": ["string", "null"], "maxLength": 255},
                "block_device_mapping_v2": {"type": "array", "items": _BLOCK_DEVICE_MAPPING},
                "block_device_mapping": {"type": "array", "items": _LEGACY_BLOCK_DEVICE_MAPPING},
                "personality": {"type": "array", "items": {"type": "object"}},
                "tags": {"type": "array"},  # 2.52: checked by api.compute.server_tags.for_create
            },
            "required": ["name", "flavorRef"],
            "additionalProperties": False,
        },
        "os:scheduler_hints": {"type": "object"},
        "OS-SCH-HNT:scheduler_hints": {"type": "object"},
    },
    "required": ["server"],
    "additionalProperties": False,
}

SERVER_UPDATE = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {
                "name": _name,
                "accessIPv4": {"type": "string"},
                "accessIPv6": {"type": "string"},
                "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
                "description": {"type": ["string", "null"], "maxLength": 255},
            },
            "additionalProperties": False,
        }
    },
    "required": ["server"],
    "additionalProperties": False,
}

METADATA = {
    "type": "object",
    "properties": {"metadata": _metadata},
    "required": ["metadata"],
    "additionalProperties": False,
}
META_ITEM = {"type": "object", "properties": {"meta": _metadata}, "required": ["meta"], "additionalProperties": False}

REBOOT = {
    "type": "object",
    "properties": {"type": {"type": "string", "enum": ["SOFT", "HARD", "soft", "hard"]}},
    "required": ["type"],
}
CREATE_IMAGE = {
    "type": "object",
    "properties": {"name": _name, "metadata": _metadata},
    "required": ["name"],
    "additionalProperties": False,
}
CONSOLE_OUTPUT = {
    "type": "object",
    "properties": {"length": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"}},
}

REBUILD = {
    "type": "object",
    "properties": {
        "imageRef": {"type": "string", "minLength": 1, "maxLength": 255},
        "name": _name,
        "adminPass": {"type": "string"},
        "metadata": _metadata,
        "accessIPv4": {"type": "string"},
        "accessIPv6": {"type": "string"},
        "preserve_ephemeral": {"type": "boolean"},
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "description": {"type": ["string", "null"], "maxLength": 255},
        "personality": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["imageRef"],
    "additionalProperties": False,
}
RESIZE = {
    "type": "object",
    "properties": {
        "flavorRef": {"type": ["string", "integer"], "minLength": 1},
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
    },
    "required": ["flavorRef"],
    "additionalProperties": False,
}

_UUID = {"type": "string", "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"}
# Nova's pattern for ``device`` lets /dev/sdb through; the handler then takes only /dev/vd[b-z] (virtio disks).
VOLUME_ATTACHMENT_CREATE = {
    "type": "object",
    "properties": {
        "volumeAttachment": {
            "type": "object",
            "properties": {
                "volumeId": _UUID,
                "device": {
                    "type": ["string", "null"],
                    "maxLength": 255,
                    "pattern": "(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$",
                },
            },
            "required": ["volumeId"],
            "additionalProperties": False,
        }
    },
    "required": ["volumeAttachment"],
    "additionalProperties": False,
}
VOLUME_ATTACHMENT_UPDATE = {
    "type": "object",
    "properties": {
        "volumeAttachment": {
            "type": "object",
            "properties": {"volumeId": _UUID},
            "required": ["volumeId"],
            "additionalProperties": False,
        }
    },
    "required": ["volumeAttachment"],
    "additionalProperties": False,
}
