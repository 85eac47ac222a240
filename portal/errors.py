"""The APIs' fault bodies turned into one readable message, and the form field it is about.

Every API answers errors its own way (Nova ``{"badRequest": {"message"}}``, Neutron ``{"NeutronError":
{"message", "detail"}}``, Keystone and Glance ``{"error": {...}}`` or ``{"message"}``). The portal shows the
message as text next to the field or action that caused it; :func:`field_of` finds the field from the
wording the APIs use for validation failures ("Invalid input for field 'server.name'", Neutron's "Invalid
input for cidr"), and a page can add its own keywords for other messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

_FIELD_PATTERNS = (
    re.compile(r"Invalid input for field '([^']+)'"),
    re.compile(r"Invalid input for query parameter '([^']+)'"),
    re.compile(r"Invalid input for ([A-Za-z_]+)\. Reason"),
)


class ApiError(Exception):
    """An API call that answered 4xx or 5xx. ``message`` is the API's own words, safe to show (the API never
    puts internals in a fault body); ``kind`` is Neutron's fault type where there is one (``OverQuota``)."""

    def __init__(self, status: int, message: str, path: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.path = path
        self.kind = kind

    @classmethod
    def from_response(cls, path: str, status: int, body: bytes) -> ApiError:
        message, kind = parse_fault(body)
        return cls(status, message or f"The request failed (HTTP {status}).", path, kind)

    @property
    def over_quota(self) -> bool:
        lowered = self.message.lower()
        return self.kind == "OverQuota" or "quota exceeded" in lowered or "over a limit" in lowered

    def field(self, fields: Mapping[str, str] | None = None, keywords: Mapping[str, str] | None = None) -> str:
        """The form field this error belongs to, or "" for the form as a whole.

        ``fields`` maps the API's field paths (``server.flavorRef``) to form field names; ``keywords`` maps a
        word of the message ("CIDR") to a field, for messages that name no field path.
        """
        return field_of(self.message, fields or {}, keywords or {})


def parse_fault(body: bytes) -> tuple[str, str]:
    """(message, fault type) of any of the APIs' fault bodies; ("", "") when there is no JSON message."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", ""
    if not isinstance(document, dict):
        return "", ""
    if isinstance(document.get("message"), str):  # Glance
        return document["message"], ""
    if len(document) == 1:
        ((name, inner),) = document.items()
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            message = inner["message"]
            detail = inner.get("detail")
            if isinstance(detail, str) and detail and detail not in message:
                message = f"{message} ({detail})"
            return message, str(inner.get("type") or (name if name != "error" else ""))
    return "", ""


def field_of(message: str, fields: Mapping[str, str], keywords: Mapping[str, str]) -> str:
    for pattern in _FIELD_PATTERNS:
        found = pattern.search(message)
        if found:
            path = found.group(1)
            if path in fields:
                return fields[path]
            leaf = path.rsplit(".", 1)[-1]
            return fields.get(leaf, leaf if leaf in fields.values() else "")
    lowered = message.lower()
    for word, field in keywords.items():
        if word.lower() in lowered:
            return field
    return ""
