"""Block access to the fake backend's volumes, which hold no blocks: every volume reads as zeros, so a backup
stores nothing and a restore writes nothing, while checkpoints are kept in the volume's record as the real
backends keep theirs (an incremental backup after a full one is tracked; one whose checkpoint is gone is not).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from volume.backends.base import BackendError
from volume.backends.blocks import BlockAccess, BlockReader, BlockWriter, Range
from volume.backends.fake import FakeBackend, GiB


class _Reader(BlockReader):
    def __init__(self, size: int, *, tracked: bool, checkpoint: str | None) -> None:
        self.size, self.tracked, self.checkpoint = size, tracked, checkpoint

    def ranges(self) -> Iterator[Range]:
        return iter(())

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise BackendError(reason="a read beyond the volume's end")
        return bytes(length)


class _Writer(BlockWriter):
    def __init__(self, size: int) -> None:
        self.size = size

    def write(self, offset: int, data: bytes) -> None:
        if offset + len(data) > self.size:
            raise BackendError(reason="a write beyond the volume's end")

    def zero(self, offset: int, length: int) -> None:
        self.write(offset, b"")


class FakeBlocks(BlockAccess):
    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend

    @contextmanager
    def reader(
        self, location: str, *, backup_id: str, since: str | None, snapshot_location: str | None = None
    ) -> Iterator[BlockReader]:
        self.backend._pause()
        record = self.backend._read(snapshot_location or location)
        volume = self.backend._read(location)
        checkpoints = list(volume.get("checkpoints", []))
        checkpoint = None if snapshot_location else f"fake-backup-{backup_id}"
        tracked = since is not None and since in checkpoints and snapshot_location is None
        if checkpoint is not None:
            self.backend._write(location, {**volume, "checkpoints": [*checkpoints, checkpoint]})
        try:
            yield _Reader(int(record["size_gb"]) * GiB, tracked=tracked, checkpoint=checkpoint)
        except BaseException:
            if checkpoint is not None:
                self.forget(location, checkpoint)
            raise

    def forget(self, location: str, checkpoint: str) -> None:
        if not self.backend.exists(location):
            return
        volume = self.backend._read(location)
        kept = [c for c in volume.get("checkpoints", []) if c != checkpoint]
        self.backend._write(location, {**volume, "checkpoints": kept})

    @contextmanager
    def writer(self, location: str) -> Iterator[BlockWriter]:
        self.backend._pause()
        yield _Writer(int(self.backend._read(location)["size_gb"]) * GiB)
