"""The portal's only way into the cloud: the REST APIs, called in-process with the signed-in user's token.

Each call builds a WSGI environ and dispatches it into this same Flask application, so the portal gets
exactly what an HTTP client gets (policy, schema validation, quotas, state checks and fault bodies) without
a network hop or a second code path. "Nothing a user cannot do with the API can be done in the portal"
then holds by construction: there is no other door.

A fresh application context is pushed for each call, because Flask reuses the caller's app context (and so
its ``g``: request id, authenticated caller) when the app is the same; the API call must not see the
portal request's state, nor leave its own behind.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlencode

from flask import Flask, current_app, g, has_request_context, request
from werkzeug.datastructures import Headers

from portal.errors import ApiError

# The newest microversion the portal is written against: fields like ``description`` and tags appear from it.
COMPUTE_MICROVERSION = "2.37"


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ApiClient:
    """Calls the cloud's APIs as one user. ``token`` None calls anonymously (only sign-in does)."""

    def __init__(self, token: str | None, app: Flask | None = None) -> None:
        self._token = token
        self._app = app

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query).json()

    def post(self, path: str, body: Any = None) -> ApiResponse:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: Any = None) -> ApiResponse:
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> ApiResponse:
        return self.request("DELETE", path)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        stream: IO[bytes] | None = None,
        content_length: int | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> ApiResponse:
        """One API call; a status >= 400 raises ``ApiError`` with the fault body's message.

        ``body`` is sent as JSON; ``stream`` (with ``content_length`` when known) is passed through as the
        request body unread, so an image upload streams with constant memory.
        """
        if stream is None:
            raw = b"" if body is None else json.dumps(body).encode()
            stream, content_length = io.BytesIO(raw), len(raw)
        environ = self._environ(method, path, query or {}, stream, content_length, content_type, headers or {})
        response = self._dispatch(environ)
        if response.status >= 400:
            raise ApiError.from_response(path, response.status, response.body)
        return response

    def _environ(
        self,
        method: str,
        path: str,
        query: dict[str, Any],
        stream: IO[bytes],
        content_length: int | None,
        content_type: str,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        outer = request.environ if has_request_context() else {}
        pairs = [(k, v) for k, v in query.items() if v is not None]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            # WSGI carries the path as UTF-8 bytes in a latin-1 str; an id taken from the portal's own URL may
            # hold any character (U+FFFD for undecodable bytes), which a plain str here would fail to encode.
            "PATH_INFO": path.encode("utf-8", "replace").decode("latin-1"),
            "QUERY_STRING": urlencode(pairs, doseq=True),
            "SERVER_NAME": outer.get("SERVER_NAME", "localhost"),
            "SERVER_PORT": outer.get("SERVER_PORT", "80"),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": outer.get("REMOTE_ADDR", "127.0.0.1"),
            "HTTP_HOST": outer.get("HTTP_HOST", "localhost"),
            "CONTENT_TYPE": content_type,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": outer.get("wsgi.url_scheme", "http"),
            "wsgi.input": stream,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "HTTP_OPENSTACK_API_VERSION": f"compute {COMPUTE_MICROVERSION}",
            "HTTP_X_OPENSTACK_NOVA_API_VERSION": COMPUTE_MICROVERSION,
            "HTTP_ACCEPT": "application/json",
        }
        if content_length is not None:
            environ["CONTENT_LENGTH"] = str(content_length)
        if self._token:
            environ["HTTP_X_AUTH_TOKEN"] = self._token
        request_id = g.get("request_id") if has_request_context() else None
        if request_id:
            # The API keeps a well-formed incoming request id: one id in the logs for the page and its calls.
            environ["HTTP_X_OPENSTACK_REQUEST_ID"] = request_id
        for name, value in headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        return environ

    def _dispatch(self, environ: dict[str, Any]) -> ApiResponse:
        app: Flask = self._app or current_app._get_current_object()  # type: ignore[attr-defined]
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = int(status.split(" ", 1)[0]), Headers(headers)
            return lambda data: None

        with app.app_context():
            iterable: Iterable[bytes] = app.wsgi_app(environ, start_response)
            try:
                body = b"".join(iterable)
            finally:
                close = getattr(iterable, "close", None)
                if close is not None:
                    close()
        return ApiResponse(captured["status"], captured["headers"], body)
