"""Placement's error body, the API working group's format: ``{"errors": [{"status", "title", "detail",
"request_id"}]}``. Placement adds ``code`` (``placement.undefined_code`` and the like) only from microversion 1.23,
which this API does not reach, and to a 406 about the version header ``min_version`` and ``max_version``.

``detail`` is what webob's error page becomes once Placement strips its tags: the status's explanation, a blank
line, then the message. A 401 is keystonemiddleware's, which answers before Placement runs: Keystone's body."""

from __future__ import annotations

from typing import Any

from flask import g

from api.placement.microversions import MAX_VERSION, MIN_VERSION, as_text

EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed or otherwise incorrect.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method specified is not allowed for this resource.",
    406: "The resource could not be generated that was acceptable to your browser.",
}


def error_body(code: int, title: str, message: str) -> dict[str, Any]:
    if code == 401:
        return {"error": {"code": code, "title": title, "message": message}}
    explanation = EXPLANATIONS.get(code, "")
    error: dict[str, Any] = {
        "status": code,
        "title": title,
        "detail": f"{explanation}\n\n {message}  " if explanation else message,
    }
    request_id = g.get("request_id")
    if request_id:
        error["request_id"] = request_id
    if code == 406:
        error["max_version"], error["min_version"] = as_text(MAX_VERSION), as_text(MIN_VERSION)
    return {"errors": [error]}
