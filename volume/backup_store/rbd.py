"""Backups in a Ceph pool (``backup_rbd_pool``), as Cinder's Ceph backup driver keeps them: one RBD image per
backup, ``backup-<id>``, with chunk *i* at offset *i* x chunk size and objects of one chunk each (order 16), so an
image holds exactly the chunks its backup carries and Ceph's thin provisioning leaves the rest unwritten; the
manifest is the RADOS object ``backup-<id>.manifest`` beside it. A backup is written as ``backup-<id>.partial``
and renamed once its manifest is in, so a failed one is never found.

Ceph is reached through the rbd volume backend's connection (its settings, its error translation): the import
contracts keep Ceph's libraries behind that module.
"""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Any

from common.settings import Settings
from volume.backends.base import BackendError
from volume.backends.rbd import RbdBackend
from volume.backup_store.base import CHUNK_SIZE, ZERO, BackupStore, BackupStoreError, Manifest, PendingBackup

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ORDER = 16
"""log2 of an object's size: one 64 KiB chunk per RADOS object."""
assert 1 << ORDER == CHUNK_SIZE


def _names(backup_id: str) -> tuple[str, str, str]:
    if not _ID.match(backup_id):
        raise BackupStoreError(reason="backup ids are UUIDs")
    image = f"backup-{backup_id}"
    return image, f"{image}.partial", f"{image}.manifest"


class _Pending(PendingBackup):
    """The partial image stays open while chunks go in (one open, not one per chunk)."""

    def __init__(self, store: RbdStore, backup_id: str, size: int) -> None:
        self.store, self.backup_id = store, backup_id
        self.image_name, self.partial_name, self.manifest_name = _names(backup_id)
        self.carried = 0
        rbd = store._rbd()
        self.ioctx: Any = store.backend._connected().open_ioctx(store.pool)
        self.image: Any = None
        with suppress(rbd.ImageNotFound):
            rbd.RBD().remove(self.ioctx, self.partial_name)  # a leftover of an earlier attempt
        rbd.RBD().create(self.ioctx, self.partial_name, max(size, CHUNK_SIZE), order=ORDER)
        self.image = rbd.Image(self.ioctx, self.partial_name)

    def put(self, index: int, data: bytes) -> None:
        if len(data) > CHUNK_SIZE or index < 0:
            raise BackupStoreError(reason="a chunk larger than the store's chunk size")
        self.image.write(data, index * CHUNK_SIZE)
        self.carried += len(data)

    def _release(self) -> None:
        if self.image is not None:
            self.image.close()
            self.image = None

    def commit(self, manifest: Manifest) -> int:
        self.image.flush()
        self._release()
        self.ioctx.write_full(self.manifest_name, manifest.to_json().encode())
        self.store._rbd().RBD().rename(self.ioctx, self.partial_name, self.image_name)
        self.ioctx.close()
        return self.carried

    def abort(self) -> None:
        self._release()
        with suppress(Exception):
            self.store._rbd().RBD().remove(self.ioctx, self.partial_name)
        with suppress(Exception):
            self.ioctx.close()


class RbdStore(BackupStore):
    def __init__(self, settings: Settings) -> None:
        self.backend = RbdBackend(settings)
        self.pool = settings.backup_rbd_pool
        self._open: dict[str, Any] = {}
        self._open_ioctx: Any = None

    def _rbd(self) -> Any:
        self.backend._connected()
        return self.backend._rbd

    def _ioctx(self) -> Any:
        return self.backend._ioctx(self.pool)

    def open(self, backup_id: str, size: int) -> PendingBackup:
        try:
            return _Pending(self, backup_id, size)
        except BackendError:
            raise
        except Exception as exc:  # librados/librbd: their errno's words, no paths or keys
            raise BackupStoreError(reason=f"Ceph failed to start the backup: {type(exc).__name__}") from None

    def manifest(self, backup_id: str) -> Manifest:
        _, _, manifest_name = _names(backup_id)
        with self._ioctx() as ioctx:
            try:
                size = ioctx.stat(manifest_name)[0]
                text = ioctx.read(manifest_name, length=size).decode()
            except self.backend._rados.ObjectNotFound:
                raise BackupStoreError(reason=f"backup {backup_id} is not in the backup store") from None
        return Manifest.from_json(text)

    def get(self, backup_id: str, index: int, length: int) -> bytes:
        image = self._open.get(backup_id)
        if image is None:
            if self._open_ioctx is None:
                self._open_ioctx = self.backend._connected().open_ioctx(self.pool)
            try:
                image = self._rbd().Image(self._open_ioctx, _names(backup_id)[0], read_only=True)
            except self._rbd().ImageNotFound:
                raise BackupStoreError(reason=f"backup {backup_id} is not in the backup store") from None
            self._open[backup_id] = image
        return bytes(image.read(index * CHUNK_SIZE, length))

    def delete(self, backup_id: str) -> None:
        image_name, partial_name, manifest_name = _names(backup_id)
        with self._ioctx() as ioctx:
            for name in (image_name, partial_name):
                with suppress(self._rbd().ImageNotFound):
                    self._rbd().RBD().remove(ioctx, name)
            with suppress(self.backend._rados.ObjectNotFound):
                ioctx.remove_object(manifest_name)

    def stored_bytes(self, backup_id: str) -> int:
        manifest = self.manifest(backup_id)
        return sum(
            min(CHUNK_SIZE, manifest.size - index * CHUNK_SIZE)
            for index, digest in manifest.chunks.items()
            if digest != ZERO
        )

    def close(self) -> None:
        for image in self._open.values():
            image.close()
        self._open.clear()
        if self._open_ioctx is not None:
            self._open_ioctx.close()
            self._open_ioctx = None
        self.backend.close()
