"""A body read straight from gunicorn's socket (image uploads) gives exactly the body's bytes, in order, and leaves
gunicorn's connection as it would have been: the next pipelined request intact, an unread rest drained by gunicorn,
a client that broke off closing the connection. Real gunicorn requests, parsed from a loopback connection."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest
from gunicorn.config import Config
from gunicorn.http.parser import RequestParser

from api import request_body
from common.exceptions import BadRequest

NEXT_REQUEST = b"GET /next HTTP/1.1\r\nHost: cloud\r\n\r\n"


def _head(length: int) -> bytes:
    return (
        f"PUT /image/v2/images/i/file HTTP/1.1\r\nHost: cloud\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A loopback TCP connection, as gunicorn gets one: (server's end, client's end)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    server.settimeout(10)  # a reader that waits for bytes the client never sends fails instead of hanging
    with server, client:
        yield server, client


def _send(client: socket.socket, data: bytes, close: bool = False) -> threading.Thread:
    """In a thread: the data is larger than the socket pair's buffers."""

    def run() -> None:
        client.sendall(data)
        if close:
            client.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _read_all(reader: request_body.ReadsInto, piece: int) -> bytes:
    buffer, out = memoryview(bytearray(piece)), bytearray()
    while n := reader.readinto(buffer):
        out += buffer[:n]
    return bytes(out)


def _environ(server: socket.socket, request) -> dict[str, object]:
    return {"gunicorn.socket": server, "wsgi.input": request.body}


def test_the_body_comes_whole_and_in_order_and_the_pipelined_request_after_it_stays_for_gunicorn(connection):
    server, client = connection
    body = os.urandom(3 << 20)
    sender = _send(client, _head(len(body)) + body + NEXT_REQUEST)
    parser = RequestParser(Config(), server, ("127.0.0.1", 1))
    first = next(parser)
    reader = request_body._gunicorn_body(_environ(server, first))
    assert reader is not None
    assert _read_all(reader, 1 << 20) == body
    sender.join(10)
    second = next(parser)
    assert (second.method, second.path) == ("GET", "/next")


def test_a_body_left_half_read_is_drained_by_gunicorn_up_to_its_end_and_no_further(connection):
    # A 413 after the allowance leaves the rest unread: gunicorn must skip exactly the rest of this body.
    server, client = connection
    body = os.urandom(200_000)
    sender = _send(client, _head(len(body)) + body + NEXT_REQUEST)
    parser = RequestParser(Config(), server, ("127.0.0.1", 1))
    first = next(parser)
    reader = request_body._gunicorn_body(_environ(server, first))
    assert reader is not None
    buffer = memoryview(bytearray(50_000))
    assert reader.readinto(buffer) > 0
    second = next(parser)
    sender.join(10)
    assert (second.method, second.path) == ("GET", "/next")


def test_a_client_that_breaks_off_ends_the_body_short_and_the_connection_is_not_reused(connection):
    server, client = connection
    sender = _send(client, _head(1 << 20) + b"x" * 1000, close=True)
    parser = RequestParser(Config(), server, ("127.0.0.1", 1))
    first = next(parser)
    reader = request_body._gunicorn_body(_environ(server, first))
    assert reader is not None
    assert _read_all(reader, 4096) == b"x" * 1000
    sender.join(10)
    assert first.body.failed is True
    with pytest.raises(StopIteration):
        next(parser)


def test_a_reset_connection_is_a_bad_request_not_a_server_error(connection):
    server, client = connection
    client.sendall(_head(1 << 20))
    parser = RequestParser(Config(), server, ("127.0.0.1", 1))
    first = next(parser)
    reader = request_body._gunicorn_body(_environ(server, first))
    assert reader is not None
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # close with RST
    client.close()
    with pytest.raises(BadRequest):
        _read_all(reader, 4096)
    assert first.body.failed is True


def test_a_chunked_body_is_left_to_werkzeugs_bounded_stream(connection):
    server, client = connection
    head = b"PUT /image/v2/images/i/file HTTP/1.1\r\nHost: cloud\r\nTransfer-Encoding: chunked\r\n\r\n"
    client.sendall(head + b"5\r\nhello\r\n0\r\n\r\n")
    parser = RequestParser(Config(), server, ("127.0.0.1", 1))
    assert request_body._gunicorn_body(_environ(server, next(parser))) is None


def test_a_body_from_another_server_is_left_to_werkzeugs_bounded_stream():
    assert request_body._gunicorn_body({"wsgi.input": object()}) is None
