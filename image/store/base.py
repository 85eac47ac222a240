"""The image store interface: where image bytes live, behind one small contract.

Writes are atomic: data is written to a staging area and appears under its final location only when
``commit`` succeeds, so a crash or an aborted upload never leaves a half file that could be served. A
location is an opaque string the store hands out at commit and understands later; the database keeps it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO


class StagedWrite(ABC):
    """Bytes being written for one image. Exactly one of ``commit`` or ``abort`` ends it."""

    @property
    @abstractmethod
    def path(self) -> Path:
        """A local file holding what was written so far, for inspection before commit (headers only)."""

    @abstractmethod
    def write(self, chunk: bytes) -> None: ...

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

    @abstractmethod
    def size(self, location: str) -> int: ...

    @abstractmethod
    def delete(self, location: str) -> None:
        """Remove the data; deleting a missing location succeeds."""

    @abstractmethod
    def sweep_staging(self, older_than_seconds: float) -> int:
        """Remove staged data left by writers that died; returns how many were removed."""
