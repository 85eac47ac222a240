"""Block-level access to a volume's data for backups: which blocks changed, reading them, writing them back.

Kept apart from ``VolumeBackend`` (the volume's life: create, snapshot, attach...) because it is another job with
other tools: QEMU's persistent dirty bitmaps read over NBD for qcow2 files, RBD snapshot diffs on Ceph.

*Changed block tracking*: each backup leaves a **checkpoint** on the volume (a dirty bitmap, an RBD snapshot)
from which the source tracks every write. The next backup asks for the blocks changed *since* that checkpoint;
when the source no longer has it (dropped, a restore rewrote the volume, a snapshot is backed up) the reader says
so (``tracked`` False) and lists every allocated block instead, and the backup job compares them with the chain's
hashes: a block-level comparison, slower to read, as small to store.

Offsets and lengths are bytes. Ranges are whatever the source reports; the job cuts them into its chunks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

MiB = 1 << 20


@dataclass(frozen=True)
class Range:
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


class BlockReader(ABC):
    """A point-in-time view of a volume (or one of its snapshots) being backed up."""

    size: int
    """Bytes the volume holds (its virtual size)."""
    tracked: bool
    """True when ``ranges`` are the blocks changed since the checkpoint asked for; False when they are every
    allocated block (a full backup, or the checkpoint was gone)."""
    checkpoint: str | None
    """The checkpoint this backup leaves for the next one (None: none was left, the next one compares)."""

    @abstractmethod
    def ranges(self) -> Iterator[Range]:
        """The ranges to copy, in order, not overlapping. Unallocated and known-zero ranges are left out of a full
        listing; a changed range may read as zeros (the guest wrote zeros or discarded)."""

    @abstractmethod
    def read(self, offset: int, length: int) -> bytes: ...


class BlockWriter(ABC):
    """The volume being restored into. A restore first ``zero``es the whole volume, then writes the chain."""

    size: int

    @abstractmethod
    def write(self, offset: int, data: bytes) -> None: ...

    @abstractmethod
    def zero(self, offset: int, length: int) -> None:
        """Make the range read as zeros, releasing its space where the backend can."""


class BlockAccess(ABC):
    """One backend's block access. Every method takes the backend's own locations (the volume service's records)."""

    @abstractmethod
    def reader(
        self, location: str, *, backup_id: str, since: str | None, snapshot_location: str | None = None
    ) -> AbstractContextManager[BlockReader]:
        """Open the volume (``snapshot_location``: that snapshot of it) for a backup named ``backup_id``: leave a
        new checkpoint for the next backup and list the blocks changed since checkpoint ``since`` (None: every
        allocated block). When the block raises, the new checkpoint is removed again; ``since`` is kept until the
        job forgets it. The volume is not written while it is read (it is ``backing-up``) unless the backend's
        checkpoint is a snapshot (RBD), which makes it consistent anyway."""

    @abstractmethod
    def forget(self, location: str, checkpoint: str) -> None:
        """Drop a checkpoint no backup needs any more. A missing one (or a missing volume) succeeds."""

    @abstractmethod
    def writer(self, location: str) -> AbstractContextManager[BlockWriter]:
        """Open the detached volume for writing a restore into it."""
