"""The one exception base of Stratus.

Each error carries a message template and the HTTP status it means; the API turns it into the fault body
of whichever OpenStack API the request came through (Keystone ``error``, Nova ``itemNotFound`` ...), in one
error handler. Code raises ``NotFound(kind="project", id=x)``, never builds a response by hand.
"""

from __future__ import annotations

from typing import Any, ClassVar


class StratusError(Exception):
    msg_fmt: ClassVar[str] = "An unexpected error occurred."
    code: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.msg_fmt.format(**kwargs)
            except (KeyError, IndexError):
                message = self.msg_fmt
        self.message = message
        super().__init__(message)


class ConfigError(StratusError):
    msg_fmt = "Invalid setting {setting}: {reason}"


class BadRequest(StratusError):
    msg_fmt = "{reason}"
    code = 400
    title = "Bad Request"


class ValidationError(BadRequest):
    """A request body or query that does not match its schema; the message names the field."""

    msg_fmt = "Invalid input for field '{field}': {reason}"


class Unauthorized(StratusError):
    msg_fmt = "The request you have made requires authentication."
    code = 401
    title = "Unauthorized"


class Forbidden(StratusError):
    msg_fmt = "You are not authorized to perform the requested action: {action}."
    code = 403
    title = "Forbidden"


class NotFound(StratusError):
    msg_fmt = "Could not find {kind}: {id}."
    code = 404
    title = "Not Found"


class MethodNotAllowed(StratusError):
    msg_fmt = "The method is not allowed for the requested URL."
    code = 405
    title = "Method Not Allowed"


class Conflict(StratusError):
    msg_fmt = "Conflict occurred attempting to store {kind} - {reason}."
    code = 409
    title = "Conflict"


class PayloadTooLarge(StratusError):
    msg_fmt = "Request body is larger than {limit} bytes."
    code = 413
    title = "Request Entity Too Large"


class UnsupportedMediaType(StratusError):
    msg_fmt = "Unsupported content type {content_type}."
    code = 415
    title = "Unsupported Media Type"


class ServiceUnavailable(StratusError):
    """A service the request needs cannot be reached; nothing was changed, and the same request may be retried."""

    msg_fmt = "{reason}"
    code = 503
    title = "Service Unavailable"


class TooManyRequests(StratusError):
    """The caller sent too many failed requests of a kind; ``retry_after`` is how many seconds to wait."""

    msg_fmt = "Too many failed attempts from this address: try again in {retry_after} seconds."
    code = 429
    title = "Too Many Requests"

    def __init__(self, message: str | None = None, retry_after: int = 60, **kwargs: object) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, retry_after=self.retry_after, **kwargs)
