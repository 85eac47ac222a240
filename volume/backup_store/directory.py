"""Backups as directories: ``<store>/<backup id>/`` holds ``manifest.json`` and ``chunks``, one sparse file where
chunk *i* sits at offset *i* x chunk size, so a backup takes on disk just the chunks it carries (the file
system's holes are the chunks it does not). Written under ``.<backup id>.partial/`` and renamed when committed.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from volume.backup_store.base import CHUNK_SIZE, BackupStore, BackupStoreError, Manifest, PendingBackup

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MANIFEST = "manifest.json"
CHUNKS = "chunks"


def _allocated(path: Path) -> int:
    return path.stat().st_blocks * 512 if path.exists() else 0


class _Pending(PendingBackup):
    def __init__(self, root: Path, backup_id: str) -> None:
        self.root, self.backup_id = root, backup_id
        self.partial = root / f".{backup_id}.partial"
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True, mode=0o700)
        self.handle = open(self.partial / CHUNKS, "wb")  # noqa: SIM115 - closed by commit or abort

    def put(self, index: int, data: bytes) -> None:
        if len(data) > CHUNK_SIZE or index < 0:
            raise BackupStoreError(reason="a chunk larger than the store's chunk size")
        self.handle.seek(index * CHUNK_SIZE)
        self.handle.write(data)

    def commit(self, manifest: Manifest) -> int:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        (self.partial / MANIFEST).write_text(manifest.to_json())
        final = self.root / self.backup_id
        shutil.rmtree(final, ignore_errors=True)
        os.replace(self.partial, final)
        return _allocated(final / CHUNKS)

    def abort(self) -> None:
        self.handle.close()
        shutil.rmtree(self.partial, ignore_errors=True)


class DirectoryStore(BackupStore):
    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, backup_id: str) -> Path:
        if not _ID.match(backup_id):
            raise BackupStoreError(reason="backup ids are UUIDs")
        return self.root / backup_id

    def open(self, backup_id: str, size: int) -> PendingBackup:
        self._dir(backup_id)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return _Pending(self.root, backup_id)

    def manifest(self, backup_id: str) -> Manifest:
        try:
            text = (self._dir(backup_id) / MANIFEST).read_text()
        except FileNotFoundError:
            raise BackupStoreError(reason=f"backup {backup_id} is not in the backup store") from None
        return Manifest.from_json(text)

    def get(self, backup_id: str, index: int, length: int) -> bytes:
        try:
            with open(self._dir(backup_id) / CHUNKS, "rb") as handle:
                handle.seek(index * CHUNK_SIZE)
                data = handle.read(length)
        except FileNotFoundError:
            raise BackupStoreError(reason=f"backup {backup_id} is not in the backup store") from None
        return data + bytes(length - len(data))  # the file ends where its last chunk does

    def delete(self, backup_id: str) -> None:
        shutil.rmtree(self._dir(backup_id), ignore_errors=True)
        shutil.rmtree(self.root / f".{backup_id}.partial", ignore_errors=True)

    def stored_bytes(self, backup_id: str) -> int:
        return _allocated(self._dir(backup_id) / CHUNKS)
