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

from compute.imagecache import ImageCache
from compute.virt.base import DriverError
from compute.virt.libvirt import disks
from tests.hostile_images import hostile_images, make_canary


class ImageServer:
    """Serves ``/v2/images/<id>/file`` (and ``?disk_format=``) from a dict, as the image API would."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
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
        _cache(tmp_path, server).ensure({"id": "img", "disk_format": claim, "checksum": checksum})
    assert _cached_files(tmp_path) == []


def test_a_prepared_variant_naming_a_host_file_never_enters_the_cache(tmp_path: Path, server: ImageServer) -> None:
    # A vmdk image is fetched as the qcow2 the image service prepared: that file is inspected on the host too.
    canary = make_canary(tmp_path)
    path, _ = hostile_images(tmp_path, canary)["qcow2 with a backing file"]
    checksum = server.offer("img", path.read_bytes(), disk_format="qcow2")
    cache = _cache(tmp_path, server, {"img": {"disk_format": "qcow2", "checksum": checksum}})
    with pytest.raises(DriverError, match="backing file"):
        cache.ensure({"id": "img", "disk_format": "vmdk", "checksum": "0" * 32})
    assert _cached_files(tmp_path) == []


def test_a_clean_image_is_cached_and_becomes_a_root_disk(tmp_path: Path, server: ImageServer) -> None:
    source = tmp_path / "clean.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(source), "16M"], check=True, timeout=60)
    checksum = server.offer("img", source.read_bytes())
    cached = _cache(tmp_path, server).ensure({"id": "img", "disk_format": "qcow2", "checksum": checksum})
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
