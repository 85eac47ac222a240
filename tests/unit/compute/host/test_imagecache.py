"""The host's image cache against an image API on loopback (a real HTTP server) and the real qemu-img: bytes that
name a host file never enter the cache, whatever the image service said about them, and a clean image goes from the
cache to a root disk."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from common import signing
from common.hostauth import HostSigner, HostVerifier
from compute.host.imagecache import ImageCache
from compute.host.virt.base import DriverError
from compute.host.virt.libvirt import disks
from tests.hostile_images import hostile_images, make_canary

MASTER = bytes(range(32))


class ImageServer:
    """Serves ``/v2/images/<id>/file`` (and ``?disk_format=``) from a dict, as the image API would, and keeps the
    host each request was signed as (checked as the API checks it, with the master key ``MASTER``)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.signed_as: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                server.signed_as.append(HostVerifier(MASTER).verify(self.headers, "GET", path, query))
                body = server.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def offer(self, image_id: str, data: bytes, disk_format: str | None = None) -> str:
        query = f"?disk_format={disk_format}" if disk_format else ""
        self.files[f"/v2/images/{image_id}/file{query}"] = data
        return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.fixture
def server() -> Iterator[ImageServer]:
    served = ImageServer()
    thread = threading.Thread(target=served.httpd.serve_forever, daemon=True)
    thread.start()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


def _cache(tmp_path: Path, server: ImageServer, prepared: dict[str, dict[str, object]] | None = None) -> ImageCache:
    return ImageCache(
        tmp_path / "cache",
        requests.Session,
        lambda: server.url,
        lambda image_id, fmt: (prepared or {})[image_id],
        HostSigner({host: signing.host_key(MASTER, host) for host in ("h1", "h2")}),
    )


def _cached_files(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "cache").iterdir())


@pytest.mark.parametrize(
    "label",
    [
        "descriptor after a blank line, as raw",
        "descriptor with its createType in a comment, as raw",
        "qemu-img's own monolithicFlat descriptor, as raw",
        "qcow2 with a backing file",
        "qcow2 with an external data file",
    ],
)
def test_a_download_naming_a_host_file_never_enters_the_cache(tmp_path: Path, server: ImageServer, label: str) -> None:
    canary = make_canary(tmp_path)
    path, claim = hostile_images(tmp_path, canary)[label]
    checksum = server.offer("img", path.read_bytes())
    with pytest.raises(DriverError, match="is refused"):
        _cache(tmp_path, server).ensure({"id": "img", "disk_format": claim, "checksum": checksum}, "h1")
    assert _cached_files(tmp_path) == []


def test_a_prepared_variant_naming_a_host_file_never_enters_the_cache(tmp_path: Path, server: ImageServer) -> None:
    # A vmdk image is fetched as the qcow2 the image service prepared: that file is inspected on the host too.
    canary = make_canary(tmp_path)
    path, _ = hostile_images(tmp_path, canary)["qcow2 with a backing file"]
    checksum = server.offer("img", path.read_bytes(), disk_format="qcow2")
    cache = _cache(tmp_path, server, {"img": {"disk_format": "qcow2", "checksum": checksum}})
    with pytest.raises(DriverError, match="backing file"):
        cache.ensure({"id": "img", "disk_format": "vmdk", "checksum": "0" * 32}, "h1")
    assert _cached_files(tmp_path) == []


def test_a_clean_image_is_cached_and_becomes_a_root_disk(tmp_path: Path, server: ImageServer) -> None:
    source = tmp_path / "clean.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(source), "16M"], check=True, timeout=60)
    checksum = server.offer("img", source.read_bytes())
    cached = _cache(tmp_path, server).ensure({"id": "img", "disk_format": "qcow2", "checksum": checksum}, "h1")
    disks.create_root_disk(tmp_path / "disk", cached.path, cached.disk_format, root_gb=1)

    assert cached.path.read_bytes() == source.read_bytes() and cached.disk_format == "qcow2"
    assert [p.name for p in _cached_files(tmp_path)] == [f"img.{checksum}.qcow2"]
    info = subprocess.run(
        ["qemu-img", "info", "--output", "json", "-f", "qcow2", str(tmp_path / "disk")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert json.loads(info)["full-backing-filename"] == str(cached.path)


def test_each_download_is_signed_as_the_host_whose_build_needs_it(tmp_path: Path, server: ImageServer) -> None:
    # One agent may serve several hosts with one cache: the API shows each host only its own builds' images.
    cache = _cache(tmp_path, server)
    for image_id, host in (("one", "h2"), ("two", "h1")):
        checksum = server.offer(image_id, bytes(4096))
        cache.ensure({"id": image_id, "disk_format": "raw", "checksum": checksum}, host)
    vmdk_checksum = server.offer("three", bytes(4096), disk_format="qcow2")
    with pytest.raises(DriverError):  # zeros are no qcow2; the request was still signed, query included
        _cache(tmp_path, server, {"three": {"checksum": vmdk_checksum}}).ensure(
            {"id": "three", "disk_format": "vmdk", "checksum": "0" * 32}, "h2"
        )
    assert server.signed_as == ["h2", "h1", "h2"]
