"""One error handler for the whole API: each StratusError becomes the fault body of the API it came through.

Keystone: ``{"error": {"code", "title", "message"}}``; Nova and Cinder: ``{"itemNotFound": {"code", "message"}}``;
Neutron: ``{"NeutronError": {"type", "message", "detail"}}``; Placement: ``{"errors": [{"status", "title",
"detail", "request_id"}]}``; Glance: ``{"code", "title", "message"}``
wrapped in ``error`` like Keystone. Unknown paths and methods answer in the same format, and an
unexpected exception is logged with the request id and answered as a 500 without internals.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from api.context import current
from api.placement.errors import error_body as placement_error_body
from common.db import database_unreachable
from common.exceptions import StratusError
from quota.exceptions import OverQuota

LOG = logging.getLogger(__name__)

NOVA_FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}

NEUTRON_FAULT_TYPES = {
    400: "HTTPBadRequest",
    401: "HTTPUnauthorized",
    403: "HTTPForbidden",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    409: "HTTPConflict",
    413: "HTTPRequestEntityTooLarge",
    415: "HTTPUnsupportedMediaType",
    503: "HTTPServiceUnavailable",
}


def _api_of(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def fault_body(
    api: str, code: int, title: str, message: str, fault_type: str | None = None, detail: str = ""
) -> dict[str, Any]:
    if api in ("compute", "volume"):  # Cinder's fault names are Nova's
        return {NOVA_FAULT_NAMES.get(code, "computeFault"): {"code": code, "message": message}}
    if api == "placement":
        return placement_error_body(code, title, message)
    if api == "image":
        # Glance answers with webob's JSON error body: the status line as ``code``.
        return {"code": f"{code} {title}", "title": title, "message": message}
    if api == "network":
        kind = fault_type or NEUTRON_FAULT_TYPES.get(code, "HTTPInternalServerError")
        return {"NeutronError": {"type": kind, "message": message, "detail": detail}}
    return {"error": {"code": code, "title": title, "message": message}}


def fault_response(code: int, title: str, message: str, fault_type: str | None = None, detail: str = "") -> Response:
    response = jsonify(fault_body(_api_of(request.path), code, title, message, fault_type, detail))
    response.status_code = code
    if code == 401:
        response.headers["WWW-Authenticate"] = f'Keystone uri="{current_app.config["PUBLIC_URL"]}/identity"'
    return response


def _handle_stratus_error(error: StratusError) -> Response:
    if error.code >= 500:
        LOG.error("%s %s failed [%s]: %s", request.method, request.path, current().request_id, error.message)
    response = fault_response(error.code, error.title, error.message, getattr(error, "fault_type", None))
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _handle_over_quota(error: OverQuota) -> Response:
    """Each API's own over-quota fault, whichever service raised it (a port over quota in a server create is
    Nova's 403): Nova's ``forbidden`` "Quota exceeded for ...", Neutron's 409 ``OverQuota``, Glance's 413 with
    oslo.limit's wording, Cinder's 413 ``overLimit``. Every one names the resources, their limits and their usage."""
    api = _api_of(request.path)
    figures = "; ".join(
        f"{o.resource}: limit {o.limit}, in use {o.in_use}, requested {o.requested}" for o in error.overs
    )
    if api == "network":
        message = f"Quota exceeded for resources: {error.resources}."
        return fault_response(409, "Conflict", message, "OverQuota", detail=figures)
    if api == "image":
        over = ", ".join(
            f"Resource {o.resource} is over limit of {o.limit} due to current usage {o.in_use} and delta {o.requested}"
            for o in error.overs
        )
        message = f"Project {error.project_id} is over a limit for [{over}]"
        return fault_response(413, "Request Entity Too Large", message)
    if api == "volume":
        return fault_response(413, "Request Entity Too Large", cinder_over_quota_message(error))
    return fault_response(403, "Forbidden", error.message)


def cinder_over_quota_message(error: OverQuota) -> str:
    """Cinder's words for each resource over its limit (``VolumeLimitExceeded``, ``VolumeSizeExceedsAvailableQuota``
    and the like), joined."""
    parts = []
    for o in error.overs:
        if o.resource.endswith("gigabytes"):
            kind = "backup" if o.resource.startswith("backup") else "volume or snapshot"
            parts.append(
                f"Requested {kind} exceeds allowed {o.resource} quota. Requested {o.requested}G, quota is "
                f"{o.limit}G and {o.in_use}G has been consumed."
            )
        else:
            parts.append(f"Maximum number of {o.resource} allowed ({o.limit}) exceeded for quota '{o.resource}'.")
    return " ".join(parts)


def _handle_http_exception(error: HTTPException) -> Response:
    code = error.code or 500
    message = error.description or error.name
    if code == 404:
        message = f"The resource could not be found: {request.path}"
    response = fault_response(code, error.name, message)
    valid_methods = getattr(error, "valid_methods", None)
    if valid_methods:
        response.headers["Allow"] = ", ".join(valid_methods)
    return response


def _handle_unexpected(error: Exception) -> Response:
    LOG.exception("unhandled error in %s %s [%s]", request.method, request.path, current().request_id)
    return fault_response(500, "Internal Server Error", "An unexpected error prevented the server from answering.")


DATABASE_RETRY_AFTER = 5
"""Seconds a client is asked to wait while no database server takes writes (a standby being promoted)."""


def _handle_database_error(error: DBAPIError) -> Response:
    """No database server to answer (the primary died, the standby not yet promoted): a 503 the client may retry,
    in the API's own fault format, rather than the 500 of an unexpected error. The next request connects anew
    (``common.db``'s pool drops the broken connections) and finds the new primary by itself."""
    if not database_unreachable(error):
        return _handle_unexpected(error)
    # The request id from g, not current(): authenticating the caller would reach for the database again.
    first_line = str(error.orig).splitlines()[0] if error.orig else str(error)
    LOG.warning("%s %s: database unreachable [%s]: %s", request.method, request.path, g.get("request_id"), first_line)
    response = fault_response(503, "Service Unavailable", "The database is unavailable; retry the request later.")
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


def register(app: Flask) -> None:
    app.register_error_handler(StratusError, _handle_stratus_error)
    app.register_error_handler(OverQuota, _handle_over_quota)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(DBAPIError, _handle_database_error)
    app.register_error_handler(Exception, _handle_unexpected)
