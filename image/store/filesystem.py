"""Images as files in one directory: ``<root>/<name>``, staged under ``<root>/.staging/``.

Commit is ``fsync`` + ``rename`` within one filesystem, which is atomic on POSIX: readers see either the
whole new file or nothing.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import BinaryIO

from image.store.base import ImageStore, StagedWrite, write_all

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PREFIX = "file:"


def _checked_name(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"invalid store name {name!r}")
    return name


class _FileWrite(StagedWrite):
    def __init__(self, store: FilesystemStore, image_id: str) -> None:
        self._store = store
        self._path = store.staging / f"{_checked_name(image_id)}.{uuid.uuid4().hex}"
        # Unbuffered: uploads write megabytes at a time, which a buffer would only copy (``base.write_all``).
        self._handle: BinaryIO | None = open(self._path, "xb", buffering=0)  # noqa: SIM115 - closed by commit/abort
        os.chmod(self._path, 0o600)
        self._done = False

    @property
    def path(self) -> Path:
        return self._path

    def write(self, chunk: bytes | memoryview) -> None:
        assert self._handle is not None, "write after commit or abort"
        write_all(self._handle, chunk)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def commit(self, name: str) -> str:
        assert self._handle is not None, "commit after commit or abort"
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        target = self._store.root / _checked_name(name)
        os.replace(self._path, target)
        self._store.fsync_dir()
        self._done = True
        return PREFIX + name

    def abort(self) -> None:
        if self._done:
            return
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._path.unlink(missing_ok=True)
        self._done = True


class FilesystemStore(ImageStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / ".staging"
        self.staging.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)

    def fsync_dir(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _path(self, location: str) -> Path:
        if not location.startswith(PREFIX):
            raise ValueError(f"not a filesystem location: {location!r}")
        return self.root / _checked_name(location[len(PREFIX) :])

    def begin(self, image_id: str) -> _FileWrite:
        return _FileWrite(self, image_id)

    def open(self, location: str) -> BinaryIO:
        return open(self._path(location), "rb")

    def local_path(self, location: str) -> Path | None:
        return self._path(location)

    def size(self, location: str) -> int:
        return self._path(location).stat().st_size

    def delete(self, location: str) -> None:
        self._path(location).unlink(missing_ok=True)

    def sweep_staging(self, older_than_seconds: float) -> int:
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in self.staging.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
