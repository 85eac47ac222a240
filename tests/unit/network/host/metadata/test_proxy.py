"""The metadata proxy on loopback: a guest's headers never reach the API, the signed identity is the kernel's
(peer address, listening socket's network); listeners follow the dataplane's file and its namespaces' inodes."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from common.metadata_secret import verify
from network.host.metadata.forward import MAX_ANSWER, Upstream
from network.host.metadata.namespaces import Listeners, listen, read_served
from network.host.metadata.server import MetadataProxy
from tests.harness import wait_until

SECRET = b"s" * 64
NET_A = "11111111-1111-1111-1111-111111111111"
NET_B = "22222222-2222-2222-2222-222222222222"


class RecordingApi(BaseHTTPRequestHandler):
    """The metadata API's side of the wire: records what arrives, answers with what the test set."""

    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []
    answer: tuple[int, bytes] = (200, b'{"uuid": "x"}')

    def do_GET(self) -> None:
        RecordingApi.seen.append({"method": "GET", "path": self.path, "headers": dict(self.headers.items())})
        status, body = RecordingApi.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    RecordingApi.seen = []
    RecordingApi.answer = (200, b'{"uuid": "x"}')
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingApi)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metadata"
    server.shutdown()
    server.server_close()


class Proxy:
    """A proxy whose "namespaces" are files under ``netns`` and whose listeners are loopback sockets."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.netns = tmp / "netns"
        self.netns.mkdir()
        self.file = tmp / "metadata.json"
        self.bound: list[Path] = []
        self.listeners = Listeners(self.netns, bind=self._bind)
        self.proxy = MetadataProxy(self.file, Upstream(url, SECRET), self.listeners)
        self.thread = threading.Thread(target=self.proxy.run, daemon=True)

    def _bind(self, path: Path) -> socket.socket:
        self.bound.append(path)
        return listen("127.0.0.1", 0)

    def serve(self, *networks: tuple[str, str]) -> None:
        for _, namespace in networks:
            (self.netns / namespace).touch()
        entries = [{"network_id": n, "namespace": ns} for n, ns in networks]
        temporary = self.file.with_suffix(".tmp")
        temporary.write_text(json.dumps(entries))
        temporary.replace(self.file)

    def port(self, network_id: str) -> int:
        wait_until(lambda: network_id in self.listeners.by_network, timeout=5)
        return self.listeners.by_network[network_id].sock.getsockname()[1]

    def get(self, network_id: str, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Any:
        """(status, body) of one request on a new connection."""
        connection = self.connect(network_id)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def connect(self, network_id: str) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port(network_id), timeout=5)


@pytest.fixture
def proxy(tmp_path: Path, api: str) -> Iterator[Proxy]:
    proxy = Proxy(tmp_path, api)
    proxy.thread.start()
    yield proxy
    proxy.proxy.stop()
    proxy.thread.join(5)


FORGED = {
    "X-Forwarded-For": "10.0.0.99",
    "X-Stratus-Network-ID": NET_B,
    "X-Stratus-Signature": "0" * 64,
    "X-Auth-Token": "stolen",
    "X-OpenStack-Request-ID": "req-00000000-0000-0000-0000-000000000000",
    "Forwarded": "for=10.0.0.99",
    "X-Real-IP": "10.0.0.99",
    "Cookie": "session=1",
}


def test_guest_headers_are_dropped_and_the_identity_is_signed(proxy: Proxy) -> None:
    proxy.serve((NET_A, "qdhcp-a"))
    status, body = proxy.get(NET_A, "/openstack/latest/meta_data.json?x=1", FORGED)
    assert (status, body) == (200, b'{"uuid": "x"}')
    (seen,) = RecordingApi.seen
    assert seen["path"] == "/metadata/openstack/latest/meta_data.json?x=1"
    headers = seen["headers"]
    assert headers["X-Forwarded-For"] == "127.0.0.1" and headers["X-Stratus-Network-ID"] == NET_A
    assert verify(SECRET, NET_A, "127.0.0.1", headers["X-Stratus-Signature"])
    for name, value in FORGED.items():
        assert value not in headers.values(), name
    assert not {"X-Auth-Token", "Forwarded", "X-Real-IP", "Cookie", "X-OpenStack-Request-ID"} & set(headers)


def test_each_listener_speaks_for_its_own_network(proxy: Proxy) -> None:
    proxy.serve((NET_A, "qdhcp-a"), (NET_B, "qdhcp-b"))
    proxy.get(NET_B, "/latest/meta-data/")
    proxy.get(NET_A, "/latest/meta-data/")
    assert [s["headers"]["X-Stratus-Network-ID"] for s in RecordingApi.seen] == [NET_B, NET_A]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_only_get_and_head_reach_the_api(proxy: Proxy, method: str) -> None:
    proxy.serve((NET_A, "qdhcp-a"))
    status, _ = proxy.get(NET_A, "/openstack/latest/meta_data.json", method=method)
    assert status == 405 and RecordingApi.seen == []


def test_absolute_and_overlong_paths_are_refused(proxy: Proxy) -> None:
    proxy.serve((NET_A, "qdhcp-a"))
    assert proxy.get(NET_A, "http://example.com/latest")[0] == 400
    assert proxy.get(NET_A, "/" + "a" * 5000)[0] == 400
    assert RecordingApi.seen == []


def test_dot_segments_are_resolved_before_the_api_prefix(proxy: Proxy) -> None:
    proxy.serve((NET_A, "qdhcp-a"))
    for path in ("/../identity/v3/auth/tokens", "//../../identity/v3/auth/tokens", "/./identity/v3/auth/tokens"):
        proxy.get(NET_A, path)
    proxy.get(NET_A, "/latest//meta-data/?a=../b")
    paths = [seen["path"] for seen in RecordingApi.seen]
    assert paths == ["/metadata/identity/v3/auth/tokens"] * 3 + ["/metadata/latest/meta-data/?a=../b"]


def test_api_status_passes_through_and_connections_are_kept(proxy: Proxy) -> None:
    proxy.serve((NET_A, "qdhcp-a"))
    RecordingApi.answer = (404, b'{"error": {}}')
    connection = proxy.connect(NET_A)
    try:
        for _ in range(2):  # the guest's connection is kept alive between requests
            connection.request("GET", "/openstack/latest/user_data")
            response = connection.getresponse()
            assert (response.status, response.read()) == (404, b'{"error": {}}')
    finally:
        connection.close()
    assert len(RecordingApi.seen) == 2


def test_an_oversized_answer_is_not_passed_on(proxy: Proxy) -> None:
    proxy.serve((NET_A, "qdhcp-a"))
    RecordingApi.answer = (200, b"x" * (MAX_ANSWER + 1))
    assert proxy.get(NET_A, "/latest/user-data")[0] == 502


def test_an_unreachable_api_is_502_not_a_hang(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/metadata"
    proxy = Proxy(tmp_path, url)
    proxy.thread.start()
    try:
        proxy.serve((NET_A, "qdhcp-a"))
        assert proxy.get(NET_A, "/latest/meta-data/")[0] == 502
    finally:
        proxy.proxy.stop()
        proxy.thread.join(5)


def test_listeners_follow_the_file_and_the_namespaces_inode(tmp_path: Path) -> None:
    netns = tmp_path / "netns"
    netns.mkdir()
    bound: list[str] = []

    def bind(path: Path) -> socket.socket:
        bound.append(path.name)
        return listen("127.0.0.1", 0)

    listeners = Listeners(netns, bind=bind)
    served = tmp_path / "metadata.json"
    served.write_text(json.dumps([{"network_id": NET_A, "namespace": "qdhcp-a"}]))
    assert listeners.sync(read_served(served)) == ([], [])  # no namespace yet: tried again later
    (netns / "qdhcp-a").touch()
    opened, _ = listeners.sync(read_served(served))
    assert [o.served.network_id for o in opened] == [NET_A] and bound == ["qdhcp-a"]
    assert listeners.sync(read_served(served)) == ([], [])  # nothing changed: nothing done
    (netns / "new").touch()
    (netns / "new").replace(netns / "qdhcp-a")  # the namespace was made again
    opened, closed = listeners.sync(read_served(served))
    assert len(opened) == len(closed) == 1 and bound == ["qdhcp-a", "qdhcp-a"] and closed[0].sock.fileno() == -1
    served.write_text("[]")
    _, closed = listeners.sync(read_served(served))
    assert len(closed) == 1 and listeners.by_network == {}


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"network_id": "x"}',
        json.dumps([{"network_id": "../../etc", "namespace": "qdhcp-a"}]),
        json.dumps([{"network_id": NET_A, "namespace": "../../proc/1/ns/net"}]),
        json.dumps([{"network_id": NET_A, "namespace": "qdhcp a\n"}]),
        json.dumps([{"network_id": NET_A}]),
        json.dumps([[NET_A, "qdhcp-a"]]),
    ],
)
def test_entries_not_of_the_dataplanes_making_are_skipped(tmp_path: Path, content: str) -> None:
    served = tmp_path / "metadata.json"
    served.write_text(content)
    assert read_served(served) == []
