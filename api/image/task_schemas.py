"""Glance's task schemas: the request body of ``POST /v2/tasks`` and what ``/v2/schemas/task(s)`` publish."""

from __future__ import annotations

import re
from typing import Any

from api.image.schemas import DISK_FORMATS, UUID_PATTERN

__all__ = ["CREATE", "DISK_FORMATS", "is_uuid", "published_task_schema", "published_tasks_schema"]

_UUID = re.compile(UUID_PATTERN)

PROPERTIES: dict[str, Any] = {
    "id": {"description": "An identifier for the task", "pattern": UUID_PATTERN, "type": "string"},
    "type": {
        "description": "The type of task represented by this content",
        "enum": ["import", "api_image_import"],
        "type": "string",
    },
    "status": {
        "description": "The current status of this task",
        "enum": ["pending", "processing", "success", "failure"],
        "type": "string",
    },
    "input": {"description": "The parameters required by task, JSON blob", "type": ["null", "object"]},
    "result": {"description": "The result of current task, JSON blob", "type": ["null", "object"]},
    "owner": {"description": "An identifier for the owner of this task", "type": "string"},
    "message": {
        "description": "Human-readable informative message only included when appropriate (usually on failure)",
        "type": "string",
    },
    "image_id": {"description": "Image associated with the task", "type": "string"},
    "request_id": {"description": "Human-readable informative request-id", "type": "string"},
    "user_id": {"description": "User associated with the task", "type": "string"},
    "expires_at": {
        "description": "Datetime when this resource would be subject to removal",
        "type": ["null", "string"],
    },
    "created_at": {"description": "Datetime when this resource was created", "type": "string"},
    "updated_at": {"description": "Datetime when this resource was updated", "type": "string"},
    "self": {"readOnly": True, "type": "string"},
    "schema": {"readOnly": True, "type": "string"},
}
LIST_HIDES = ("input", "result", "message")
"""What a task in a listing leaves out, as in Glance."""

CREATE = {
    "type": "object",
    "properties": {"type": {"type": "string", "enum": ["import", "api_image_import"]}, "input": {"type": "object"}},
    "required": ["type", "input"],
}


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def published_task_schema() -> dict[str, Any]:
    return {
        "name": "task",
        "properties": dict(PROPERTIES),
        "additionalProperties": False,
        "links": [{"href": "{self}", "rel": "self"}, {"href": "{schema}", "rel": "describedby"}],
    }


def published_tasks_schema() -> dict[str, Any]:
    item = {
        "name": "task",
        "properties": {k: v for k, v in PROPERTIES.items() if k not in LIST_HIDES},
        "additionalProperties": False,
        "links": [{"href": "{self}", "rel": "self"}, {"href": "{schema}", "rel": "describedby"}],
    }
    return {
        "name": "tasks",
        "properties": {
            "tasks": {"type": "array", "items": item},
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
