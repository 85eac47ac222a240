"""The image store interface: where image bytes live, behind one small contract.

Writes are atomic: data is written to a staging area and appears under its final location only when
``commit`` succeeds, so a crash or an aborted upload never leaves a half file that could be served. A
location is an opaque string the store hands out at commit and understands later; the database keeps it.
Its prefix names the store that made it (``file:``, ``rbd:``), so images of another store than today's
configured one stay readable (``image.store.multi``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO

from common.exceptions import ServiceUnavailable


class StoreError(ServiceUnavailable):
    """The store's backing system failed (a Ceph cluster out of reach); the message names no path or key."""

    msg_fmt = "The image store failed: {reason}"


class StoreInUse(StoreError):
    """The data cannot go yet: storage outside the image service depends on it (copy-on-write clones)."""

    msg_fmt = "The image data is in use by {reason}"
    code = 409


class StagedWrite(ABC):
    """Bytes being written for one image. Exactly one of ``commit`` or ``abort`` ends it."""

    @property
    @abstractmethod
    def path(self) -> Path:
        """A local file holding what was written so far, for inspection before commit (headers only)."""

    @abstractmethod
    def write(self, chunk: bytes | memoryview) -> None:
        """Append the bytes; the caller may reuse its buffer once this returns (nothing keeps a reference)."""

    @abstractmethod
    def flush(self) -> None:
        """Make everything written so far readable at ``path`` (before inspection)."""

    @abstractmethod
    def commit(self, name: str) -> str:
        """Make the data durable under ``name`` and return its location; replaces an older one atomically."""

    @abstractmethod
    def abort(self) -> None:
        """Discard everything written; idempotent, and a no-op after commit."""

    def __enter__(self) -> StagedWrite:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()


class ImageStore(ABC):
    @abstractmethod
    def begin(self, image_id: str) -> StagedWrite:
        """Start writing data for an image; use as a context manager so failures abort."""

    @abstractmethod
    def open(self, location: str) -> BinaryIO:
        """Read the data at a location; raises FileNotFoundError when it is gone."""

    @abstractmethod
    def local_path(self, location: str) -> Path | None:
        """A local file for the location when the store has one (zero-copy downloads, qemu-img), else None."""

    def local_file(self, location: str) -> AbstractContextManager[Path]:
        """A local file holding the data while the block runs (qemu-img, inspection): the store's own file when
        it keeps one, else a temporary copy removed at the end. FileNotFoundError when the data is gone."""
        path = self.local_path(location)
        if path is None:
            raise NotImplementedError(f"{type(self).__name__} keeps no local files and makes no copies")
        return _existing(path)

    @abstractmethod
    def size(self, location: str) -> int: ...

    def ceph_snapshot(self, location: str) -> str | None:
        """``pool/image@snapshot`` when the data is a protected RBD snapshot that a client of the same Ceph
        cluster can clone instead of copying (a volume from the image); None for data held any other way."""
        return None

    def in_use(self, location: str) -> bool:
        """Whether something outside the image service depends on the data (clones of it), so that ``delete``
        could not free it now. Reads only."""
        return False

    @abstractmethod
    def delete(self, location: str) -> None:
        """Remove the data; deleting a missing location succeeds. Data still in use (``in_use``) is not freed
        at once; the store frees it once nothing depends on it, and never fails the call for that."""

    @abstractmethod
    def sweep_staging(self, older_than_seconds: float) -> int:
        """Remove staged data left by writers that died; returns how many were removed."""

    def close(self) -> None:
        """Let go of connections (a Ceph client's threads); the next call makes them again."""
        return None


def write_all(handle: BinaryIO, chunk: bytes | memoryview) -> None:
    """The whole chunk to an unbuffered file, which may take less than it was given in one call."""
    view = memoryview(chunk)
    while view:
        written = handle.write(view)
        if not written:
            raise OSError(f"the file took none of {len(view)} bytes")
        view = view[written:]


@contextmanager
def _existing(path: Path) -> Iterator[Path]:
    if not path.exists():
        raise FileNotFoundError(path.name)
    yield path
