"""Block access to the rbd backend's volumes: RBD snapshots as checkpoints, librbd's diff between them.

A backup takes the snapshot ``backup.<backup id>`` of the volume's image and reads that snapshot, so the copy is
consistent at one instant even while a guest writes to the attached volume (Cinder's Ceph backup driver works the
same way). The next backup lists what changed between the two snapshots with ``diff_iterate`` (what ``rbd
export-diff --from-snap`` sends), which Ceph answers from its object map without reading data. The previous
snapshot is dropped once the next backup is stored; a volume keeps at most the newest one.

Ceph's libraries are reached only through the rbd backend's own connection (the import contracts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from volume.backends.base import BackendError
from volume.backends.blocks import BlockAccess, BlockReader, BlockWriter, Range
from volume.backends.rbd import RbdBackend

SNAPSHOT_PREFIX = "backup."
_CHECKPOINT = re.compile(r"^backup\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DISCARD_STEP = 1 << 30


class _Reader(BlockReader):
    def __init__(self, image: Any, *, since: str | None, checkpoint: str | None) -> None:
        self.image = image
        self.size = int(image.size())
        self.since = since
        self.tracked = since is not None
        self.checkpoint = checkpoint

    def ranges(self) -> Iterator[Range]:
        found: list[Range] = []

        def collect(offset: int, length: int, exists: bool) -> None:
            # A range that no longer exists (discarded) changed too: it reads as zeros now.
            if exists or self.tracked:
                found.append(Range(offset, length))

        self.image.diff_iterate(0, self.size, self.since, collect, include_parent=True, whole_object=False)
        return iter(sorted(found, key=lambda r: r.offset))

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.image.read(offset, length))


class _Writer(BlockWriter):
    def __init__(self, image: Any) -> None:
        self.image = image
        self.size = int(image.size())

    def write(self, offset: int, data: bytes) -> None:
        self.image.write(data, offset)

    def zero(self, offset: int, length: int) -> None:
        end = offset + length
        while offset < end:
            step = min(DISCARD_STEP, end - offset)
            self.image.discard(offset, step)
            offset += step


class RbdBlocks(BlockAccess):
    def __init__(self, backend: RbdBackend) -> None:
        self.backend = backend

    @staticmethod
    def checkpoint_of(backup_id: str) -> str:
        name = f"{SNAPSHOT_PREFIX}{backup_id}"
        if not _CHECKPOINT.match(name):
            raise BackendError(reason="backup ids are UUIDs")
        return name

    @contextmanager
    def reader(
        self, location: str, *, backup_id: str, since: str | None, snapshot_location: str | None = None
    ) -> Iterator[BlockReader]:
        backend = self.backend
        pool, name = backend._volume(location)
        with backend._ioctx(pool) as ioctx:
            if snapshot_location is not None:
                snapshot_pool, snapshot_name, snapshot = backend._snapshot(snapshot_location)
                if (snapshot_pool, snapshot_name) != (pool, name):
                    raise BackendError(reason="the snapshot is not one of this volume's")
                with backend._image(ioctx, name, snapshot=snapshot, read_only=True) as image:
                    if image is None:
                        raise BackendError(reason="the snapshot's data is gone")
                    yield _Reader(image, since=None, checkpoint=None)
                return
            checkpoint = self.checkpoint_of(backup_id)
            with backend._image(ioctx, name) as image:
                if image is None:
                    raise BackendError(reason="the volume's data is gone")
                snapshots = {s["name"] for s in image.list_snaps()}
                if checkpoint not in snapshots:
                    image.create_snap(checkpoint)
            tracked = since if since is not None and since in snapshots else None
            try:
                with backend._image(ioctx, name, snapshot=checkpoint, read_only=True) as image:
                    yield _Reader(image, since=tracked, checkpoint=checkpoint)
            except BaseException:
                self._remove_snapshot(ioctx, name, checkpoint)
                raise

    def _remove_snapshot(self, ioctx: Any, name: str, checkpoint: str) -> None:
        with self.backend._image(ioctx, name) as image:
            if image is not None and checkpoint in {s["name"] for s in image.list_snaps()}:
                image.remove_snap(checkpoint)

    def forget(self, location: str, checkpoint: str) -> None:
        if not _CHECKPOINT.match(checkpoint):
            raise BackendError(reason="not a checkpoint of the rbd backend")
        pool, name = self.backend._volume(location)
        with self.backend._ioctx(pool) as ioctx:
            self._remove_snapshot(ioctx, name, checkpoint)

    @contextmanager
    def writer(self, location: str) -> Iterator[BlockWriter]:
        pool, name = self.backend._volume(location)
        with self.backend._ioctx(pool) as ioctx, self.backend._image(ioctx, name) as image:
            if image is None:
                raise BackendError(reason="the volume's data is gone")
            yield _Writer(image)
            image.flush()
