"""Body limits over real HTTP, against gunicorn: a declared length over the limit is refused before the body is
sent, and a chunked body (no length) is cut off at the limit; both in the API's own fault format."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.functional

CHUNK = b"y" * 65536


def _chunks(total: int) -> Iterator[bytes]:
    yield b'{"network": {"name": "'
    for _ in range(total // len(CHUNK)):
        yield CHUNK
    yield b'"}}'


def test_a_chunked_body_over_the_limit_is_a_413_in_neutron_format(cloud):
    token = cloud.demo().get_token()
    response = cloud.request(
        "POST",
        "/network/v2.0/networks",
        token,
        data=_chunks(4 << 20),  # a generator: requests sends it chunked, without a Content-Length
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["NeutronError"]["type"] == "HTTPRequestEntityTooLarge"


@pytest.mark.parametrize(
    ("request_line", "content_type", "fault"),
    [
        # The portal's form parser waited for the body; a view that reads no body answered and left the
        # server's thread to drain whatever the client sent.
        ("POST /sign-in", "application/x-www-form-urlencoded", "<!doctype html>"),
        ("GET /compute/v2.1/flavors", "application/json", '"overLimit"'),
        ("POST /compute/v2.1/servers", "application/json", '"overLimit"'),
    ],
)
def test_a_declared_gigabyte_is_refused_before_a_byte_of_it_is_sent(cloud, request_line, content_type, fault):
    """Only the headers go out: the answer must come without the server waiting for the body."""
    token = cloud.demo().get_token()
    address = urlsplit(cloud.url)
    request = (
        f"{request_line} HTTP/1.1\r\nHost: {address.netloc}\r\nX-Auth-Token: {token}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {1 << 30}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while fault.encode() not in answer and (part := connection.recv(65536)):
            answer += part
    text = answer.decode(errors="replace")
    assert text.startswith("HTTP/1.1 413"), text[:200]
    assert fault in text
    assert time.monotonic() - started < 5
