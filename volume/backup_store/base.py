"""The backup store contract: a backup is a set of fixed-size chunks of the volume and a manifest naming them.

A backup stores only the chunks it carries: all the volume's non-zero chunks for a full backup, the changed ones
for an incremental backup. The manifest maps each carried chunk's index to its SHA-256 (or ``ZERO``: the chunk
became zeros since the parent), so a restore applies the chain from the full backup to the newest, each chunk
from the newest backup that carries it, and checks every chunk it reads. A backup becomes visible (``manifest``
finds it) only once all its chunks are written: ``open`` writes under a temporary name and ``commit`` makes it
whole at once, so a failed backup leaves nothing in the store.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from common.exceptions import StratusError

CHUNK_SIZE = 64 << 10
"""Bytes a chunk holds: QEMU's dirty bitmap granularity (a qcow2 cluster), so a tracked change is one chunk."""
ZERO = "zero"
"""A manifest's mark for a chunk that reads as zeros."""


class BackupStoreError(StratusError):
    msg_fmt = "{reason}"
    code = 500
    title = "Backup Store Error"


@dataclass
class Manifest:
    backup_id: str
    size: int
    """The volume's size in bytes when it was backed up."""
    parent_id: str | None = None
    chunk_size: int = CHUNK_SIZE
    chunks: dict[int, str] = field(default_factory=dict)
    """Chunk index -> SHA-256 hex of its bytes, or ``ZERO``."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "backup_id": self.backup_id,
                "size": self.size,
                "parent_id": self.parent_id,
                "chunk_size": self.chunk_size,
                "chunks": {str(index): digest for index, digest in sorted(self.chunks.items())},
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            data: Any = json.loads(text)
            return cls(
                backup_id=str(data["backup_id"]),
                size=int(data["size"]),
                parent_id=data["parent_id"],
                chunk_size=int(data["chunk_size"]),
                chunks={int(index): str(digest) for index, digest in data["chunks"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackupStoreError(reason="a backup's manifest is damaged") from None


class PendingBackup(ABC):
    """A backup being written: chunks, then ``commit`` with its manifest (or ``abort``)."""

    @abstractmethod
    def put(self, index: int, data: bytes) -> None: ...

    @abstractmethod
    def commit(self, manifest: Manifest) -> int:
        """Make the backup whole and visible; returns the bytes it takes in the store."""

    @abstractmethod
    def abort(self) -> None:
        """Remove everything written so far. Idempotent."""


class BackupStore(ABC):
    @abstractmethod
    def open(self, backup_id: str, size: int) -> PendingBackup:
        """Start writing backup ``backup_id`` of a volume of ``size`` bytes (a leftover of an earlier attempt is
        discarded)."""

    @abstractmethod
    def manifest(self, backup_id: str) -> Manifest:
        """The committed backup's manifest; BackupStoreError when it is not in the store."""

    @abstractmethod
    def get(self, backup_id: str, index: int, length: int) -> bytes:
        """The first ``length`` bytes of one chunk the backup carries (not ``ZERO`` ones): the chunk size, or less
        for the volume's last chunk."""

    @abstractmethod
    def delete(self, backup_id: str) -> None:
        """Remove the backup (committed or not). A missing one succeeds."""

    @abstractmethod
    def stored_bytes(self, backup_id: str) -> int:
        """Bytes the committed backup takes in the store."""

    def close(self) -> None:  # noqa: B027 - most stores hold nothing open
        """Let go of what reads left open (a job's store is closed when the job ends)."""
