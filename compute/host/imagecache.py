"""The per-host cache of base images: each image is downloaded once, verified, and shared by its instances.

Entries are named ``<image id>.<md5>.<format>``, so a changed image can never be mistaken for a cached one;
downloads go to a temporary name and are renamed only once their md5 matches, so a half download is never
used. Images are fetched from the image API like any client would (the host agent has no database), with a
service token and signed as the host whose build needs them (``common.hostauth``: the API shows a host only the
images of its own builds); a host that needs another format asks the image service to prepare it.

The downloaded bytes are inspected before they enter the cache, whatever the image service checked: they must be
a self-contained image of the format the host was told, or the build fails and nothing is kept. The driver then
inspects the cached file again each time it opens it (``image.qemu_img``).
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from common.exceptions import StratusError
from common.hostauth import HostSigner
from compute.host.virt.base import DriverError
from image.inspector import inspect

CHUNK = 1 << 20
USABLE_FORMATS = ("qcow2", "raw")


@dataclass(frozen=True)
class CachedImage:
    path: Path
    disk_format: str


class ImageCache:
    def __init__(
        self,
        root: Path,
        session_factory: Callable[[], requests.Session],
        image_url: Callable[[], str],
        prepare: Callable[[str, str], dict[str, object]],
        signer: HostSigner,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)  # QEMU opens base images as its own user; it may not list the cache
        self._session = session_factory
        self._image_url = image_url
        self._prepare = prepare
        self._signer = signer
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def ensure(self, image: dict[str, object], host: str) -> CachedImage:
        """The cached base image for an image (id, disk_format, checksum), downloading it if needed as ``host``,
        the host whose build needs it (the cache may be shared by several hosts one agent serves)."""
        image_id, disk_format = str(image["id"]), str(image["disk_format"])
        checksum = str(image["checksum"])
        query = ""
        if disk_format not in USABLE_FORMATS:
            prepared = self._prepare(image_id, "qcow2")
            disk_format, checksum, query = "qcow2", str(prepared["checksum"]), "?disk_format=qcow2"
        path = self.root / f"{image_id}.{checksum}.{disk_format}"
        with self._lock(path.name):
            if not path.exists():
                url = f"{self._image_url()}/v2/images/{image_id}/file{query}"
                self._download(url, path, checksum, disk_format, host)
        return CachedImage(path, disk_format)

    def _download(self, url: str, path: Path, checksum: str, disk_format: str, host: str) -> None:
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        digest = hashlib.md5(usedforsecurity=False)
        signed = self._signer.headers(host, "GET", url)
        try:
            with self._session().get(url, stream=True, timeout=60, headers=signed) as response:
                if response.status_code != 200:
                    raise DriverError(reason=f"could not fetch the image: HTTP {response.status_code} from {url}")
                with partial.open("wb") as handle:
                    for chunk in response.iter_content(CHUNK):
                        digest.update(chunk)
                        handle.write(chunk)
                    handle.flush()
                    os.fsync(handle.fileno())
            if digest.hexdigest() != checksum:
                raise DriverError(reason=f"the image downloaded from {url} does not match its checksum")
            try:
                inspect(partial, disk_format)
            except StratusError as exc:
                raise DriverError(reason=f"the image downloaded from {url} is refused: {exc.message}") from exc
            os.chmod(partial, 0o644)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
