"""One guest's HTTP request, sent on to the metadata API with its identity signed, and the answer sent back.

What the guest controls is only the method and the path: its headers are all dropped (an ``X-Forwarded-For`` or
``X-Stratus-*`` of its own would otherwise speak for another guest), and the identity the API sees is the one the
kernel gives (the peer address of the accepted connection) on the network whose namespace accepted it. GET and
HEAD only; a request line, header or answer over its bound is refused rather than passed on.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import posixpath
import queue
import socket
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from common.metadata_secret import sign

LOG = logging.getLogger(__name__)
MAX_PATH = 2048
MAX_ANSWER = 1 << 20  # user data is at most 64 KiB; nothing a guest reads here comes near
CLIENT_TIMEOUT = 10.0
UPSTREAM_TIMEOUT = 15.0
POOL_SIZE = 16
NETWORK_HEADER = "X-Stratus-Network-ID"
ADDRESS_HEADER = "X-Forwarded-For"
SIGNATURE_HEADER = "X-Stratus-Signature"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


class Upstream:
    """The metadata API, over a few kept-alive connections shared by the request threads (no connection set-up on
    the way of a guest's request, once warm)."""

    def __init__(self, url: str, secret: bytes, timeout: float = UPSTREAM_TIMEOUT) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"metadata URL must be http(s)://host[:port]/path, got {url!r}")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.base = parts.path.rstrip("/")
        self.secret = secret
        self.timeout = timeout
        self.idle: queue.LifoQueue[http.client.HTTPConnection] = queue.LifoQueue(POOL_SIZE)

    def _connection(self) -> http.client.HTTPConnection:
        try:
            return self.idle.get_nowait()
        except queue.Empty:
            kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            return kind(self.host, self.port, timeout=self.timeout)

    def _release(self, connection: http.client.HTTPConnection) -> None:
        try:
            self.idle.put_nowait(connection)
        except queue.Full:
            connection.close()

    def close(self) -> None:
        while True:
            try:
                self.idle.get_nowait().close()
            except queue.Empty:
                return

    def headers(self, network_id: str, address: str) -> dict[str, str]:
        """The only headers the API gets: the signed identity (and the API's Host)."""
        return {
            NETWORK_HEADER: network_id,
            ADDRESS_HEADER: address,
            SIGNATURE_HEADER: sign(self.secret, network_id, address),
            "Accept": "*/*",
        }

    def fetch(self, method: str, path: str, network_id: str, address: str) -> Answer:
        """The API's answer; a kept connection the API closed meanwhile is retried once on a new one (GET and
        HEAD change nothing). ``OSError`` / ``http.client.HTTPException`` when the API cannot be reached."""
        headers = self.headers(network_id, address)
        for attempt in (1, 2):
            connection = self._connection()
            reused = connection.sock is not None
            try:
                connection.request(method, self.base + path, headers=headers)
                response = connection.getresponse()
                if response.length is not None and response.length > MAX_ANSWER:
                    raise http.client.HTTPException(f"metadata answer larger than {MAX_ANSWER} bytes")
                body = response.read(MAX_ANSWER + 1)
                if len(body) > MAX_ANSWER:
                    raise http.client.HTTPException(f"metadata answer larger than {MAX_ANSWER} bytes")
                if not response.isclosed():
                    response.read()  # the end of a chunked answer: the connection is clean again
            except (OSError, http.client.HTTPException):
                connection.close()
                if reused and attempt == 1:
                    continue
                raise
            answer = Answer(response.status, response.getheader("Content-Type") or "text/plain", body)
            if response.will_close:
                connection.close()
            else:
                self._release(connection)
            return answer
        raise AssertionError("unreachable")


def _inside(target: str) -> str:
    """The guest's path with ``.``, ``..`` and repeated slashes resolved (a trailing slash kept), so that no
    normalising hop between here and the API can turn it into a path outside the metadata API's prefix."""
    path, mark, query = target.partition("?")
    clean = posixpath.normpath("/" + path.lstrip("/"))
    clean = "/" + clean.lstrip("/")  # normpath keeps a leading "//"
    if path.endswith("/") and clean != "/":
        clean += "/"
    return clean + mark + query


class GuestRequest(BaseHTTPRequestHandler):
    """Handles one guest connection. ``server`` is the ``Accepted`` context the accept loop gives (the network
    of the listening socket and the upstream), not a ``socketserver`` server."""

    protocol_version = "HTTP/1.1"
    server_version = "stratus-metadata-proxy"
    sys_version = ""
    timeout = CLIENT_TIMEOUT
    server: Any

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # any other method
            return self._refuse
        raise AttributeError(name)

    def _refuse(self) -> None:
        self._reply(405, "text/plain", b"Only GET and HEAD are served here.\n", extra={"Allow": "GET, HEAD"})

    def _forward(self) -> None:
        if self.headers.get("Content-Length") not in (None, "0") or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # a body we will not read: do not parse it as the next request
        if not self.path.startswith("/") or len(self.path) > MAX_PATH:
            self._reply(400, "text/plain", b"Bad request path.\n")
            return
        address = self.client_address[0]
        try:
            answer = self.server.upstream.fetch(self.command, _inside(self.path), self.server.network_id, address)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            LOG.warning("metadata: %s %s for %s failed upstream: %s", self.command, self.path[:200], address, exc)
            self._reply(502, "text/plain", b"The metadata service cannot be reached.\n")
            return
        self._reply(answer.status, answer.content_type, answer.body)

    def _reply(self, status: int, content_type: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("metadata %s: " + format, self.client_address[0], *args)


@dataclass(frozen=True)
class Accepted:
    """What a handler knows of where its connection came in."""

    network_id: str
    upstream: Upstream


def serve_connection(conn: socket.socket, peer: tuple[str, int], accepted: Accepted) -> None:
    """Answer every request of one guest connection, then close it."""
    try:
        conn.setblocking(True)
        GuestRequest(conn, peer, accepted)
    except OSError as exc:
        LOG.debug("metadata: connection from %s ended: %s", peer[0], exc)
    finally:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        conn.close()
