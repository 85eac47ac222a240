"""What every request is checked for before a view runs: a body no larger than its route accepts, and a URL
without NUL characters.

- **Body size.** A declared ``Content-Length`` over the limit is refused at once, before a byte of the body is
  read; a chunked body (no length) is read through Werkzeug's bounded stream, which raises the same 413 when it
  passes the limit. JSON and form requests get ``max_request_body_bytes``; the views that stream image data
  (marked with ``image_data``) get ``image_size_cap`` plus that much for a form's other fields, and check the
  project's quota allowance themselves before they read.
- **NUL in the path or query.** PostgreSQL refuses NUL in text, so ``/servers/%00`` would fail in the
  database instead of being a plain 400; JSON bodies are checked by ``api.validation.check_document``.

Both raise Werkzeug's HTTP exceptions, which each API answers in its own fault format and the portal with its
error page (the portal's handlers take every exception of its routes, even one raised before its views).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

View = TypeVar("View", bound=Callable[..., object])
_IMAGE_DATA = "stratus_image_data"


def image_data(view: View) -> View:
    """Mark a view that streams image data: its body may be as large as an image (place under the route)."""
    setattr(view, _IMAGE_DATA, True)
    return view


def body_limit() -> int:
    """The largest body the current request's route accepts, in bytes (limits set by ``api.app``)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, _IMAGE_DATA, False):
        return int(current_app.config["MAX_IMAGE_BODY"])
    return int(current_app.config["MAX_JSON_BODY"])


def _bound_body() -> None:
    limit = body_limit()
    # Werkzeug's stream raises 413 when read past this, chunked bodies included; one byte more than the limit
    # lets a reader tell a body of exactly ``limit`` bytes (complete) from a longer one (refused).
    request.max_content_length = limit + 1
    declared = request.content_length
    if declared is not None and declared > limit:
        raise RequestEntityTooLarge(f"The request body ({declared} bytes) is larger than the {limit} bytes accepted.")


def _refuse_nul() -> None:
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
        raise BadRequest("NUL characters are not allowed in the URL.")


def register(app: Flask) -> None:
    """Install the checks; call before anything else registers a ``before_request`` that could read the body."""
    app.before_request(_bound_body)
    app.before_request(_refuse_nul)
