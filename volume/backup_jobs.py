"""The volume worker's backup jobs: copying a volume's changed chunks into the backup store, writing a chain back
into a volume, and removing a backup.

A backup reads the blocks its source lists (``volume.backends.blocks``): the changed ones since the parent's
checkpoint, or every allocated one. Each 64 KiB chunk is hashed and stored only if it differs from what the chain
already holds for it, so an incremental backup whose checkpoint was lost still stores only what changed (a
block-level comparison), and a full backup stores nothing for chunks of zeros. The parent's checkpoint is dropped
once the new backup is committed: the source keeps one checkpoint per volume.

Idempotent like every task here: a backup, restore or delete no longer in its busy status is left alone, and a
job that finds its record changed when it ends (an admin's reset, a forced delete) undoes its own work.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import update

from common.db import utcnow
from common.exceptions import StratusError
from volume import snapshots, transitions
from volume.backends import blocks_for
from volume.backends.blocks import BlockAccess, BlockReader
from volume.backup_store import from_settings as store_from_settings
from volume.backup_store.base import ZERO, BackupStore, Manifest, PendingBackup
from volume.backups import chain
from volume.context import VolumeWorker
from volume.models import Volume, VolumeBackup, VolumeSnapshot
from volume.states import BackupStatus, SnapshotStatus, VolumeAction, VolumeStatus

LOG = logging.getLogger(__name__)
WAITING = "waiting"
"""What ``create`` answers while the temporary snapshot of an in-use volume is still being taken: ask again."""
READ_SIZE = 4 << 20
"""Bytes read from a source at once (a multiple of the chunk size)."""


def _reason(exc: Exception, fallback: str) -> str:
    return (exc.message if isinstance(exc, StratusError) else fallback)[:1024]


def _end(worker: VolumeWorker, backup_id: str, busy: BackupStatus, **values: object) -> bool:
    """Compare-and-swap the backup out of ``busy``; False when it had left it (deleted, reset) meanwhile."""
    with worker.db.session() as session:
        result = session.execute(
            update(VolumeBackup)
            .where(VolumeBackup.id == backup_id, VolumeBackup.status == busy.value)
            .values(updated_at=utcnow(), **values)
        )
        return result.rowcount == 1


def held_chunks(store: BackupStore, backup_ids: list[str]) -> dict[int, str]:
    """What a chain restores, chunk by chunk: the digest of the newest backup (of ``backup_ids``, oldest first)
    that carries each chunk."""
    held: dict[int, str] = {}
    for backup_id in backup_ids:
        held.update(store.manifest(backup_id).chunks)
    return held


# -- backing up ------------------------------------------------------------------------------------------------


@dataclass
class _Copied:
    stored_bytes: int
    chunks: int
    tracked: bool
    checkpoint: str | None


def _copy(reader: BlockReader, pending: PendingBackup, manifest: Manifest, held: dict[int, str]) -> int:
    """Put the chunks of ``reader``'s ranges that differ from ``held`` into ``pending``; returns how many."""
    size, chunk = reader.size, manifest.chunk_size
    zeros = bytes(chunk)
    seen: set[int] = set()
    carried = 0
    for extent in reader.ranges():
        start = extent.offset - extent.offset % chunk
        end = min(size, -(-extent.end // chunk) * chunk)
        while start < end:
            data = reader.read(start, min(READ_SIZE, end - start))
            for at in range(0, len(data), chunk):
                index = (start + at) // chunk
                if index in seen:
                    continue
                seen.add(index)
                piece = data[at : at + chunk]
                digest = ZERO if piece == zeros[: len(piece)] else hashlib.sha256(piece).hexdigest()
                if held.get(index, ZERO) == digest:
                    continue
                manifest.chunks[index] = digest
                if digest != ZERO:
                    pending.put(index, piece)
                    carried += 1
            start += len(data)
    if not reader.tracked:
        # Every allocated block was listed: a chunk the chain holds that was not listed reads as zeros now.
        for index, digest in held.items():
            if index not in seen and digest != ZERO and index * chunk < size:
                manifest.chunks[index] = ZERO
    return carried


def _back_up(
    blocks: BlockAccess, store: BackupStore, location: str, backup: VolumeBackup, parent: VolumeBackup | None,
    parent_ids: list[str], snapshot_location: str | None,
) -> _Copied:  # fmt: skip
    held = held_chunks(store, parent_ids)
    since = parent.checkpoint if parent is not None else None
    with blocks.reader(location, backup_id=backup.id, since=since, snapshot_location=snapshot_location) as reader:
        pending = store.open(backup.id, reader.size)
        try:
            manifest = Manifest(backup.id, reader.size, parent.id if parent is not None else None)
            carried = _copy(reader, pending, manifest, held)
            stored = pending.commit(manifest)
        except BaseException:
            pending.abort()
            raise
        return _Copied(stored, carried, reader.tracked, reader.checkpoint)


def create(worker: VolumeWorker, backup_id: str) -> str:
    store = store_from_settings(worker.settings)
    try:
        return _create(worker, backup_id, store)
    finally:
        store.close()


def _create(worker: VolumeWorker, backup_id: str, store: BackupStore) -> str:
    with worker.db.session() as session:
        backup = session.get(VolumeBackup, backup_id)
        if backup is None or backup.status != BackupStatus.CREATING:
            return "skipped"
        volume = session.get(Volume, backup.volume_id)
        snapshot_id = backup.snapshot_id or backup.temp_snapshot_id
        snapshot = session.get(VolumeSnapshot, snapshot_id) if snapshot_id else None
        if backup.temp_snapshot_id and snapshot is not None and snapshot.status == SnapshotStatus.CREATING:
            return WAITING
        parent = session.get(VolumeBackup, backup.parent_id) if backup.parent_id else None
        parent_ids = [b.id for b in chain(session, parent)] if parent is not None else []
        session.expunge_all()
    try:
        if volume is None or not volume.location:
            raise StratusError("The volume holds no data to back up.")
        if backup.temp_snapshot_id and (snapshot is None or snapshot.status != SnapshotStatus.AVAILABLE):
            why = snapshot.error if snapshot is not None and snapshot.error else "its snapshot is gone"
            raise StratusError(f"The volume in use could not be copied for its backup: {why}")
        blocks = blocks_for(worker.backend(volume.backend))
        snapshot_location = snapshot.location if snapshot is not None else None
        copied = _back_up(blocks, store, volume.location, backup, parent, parent_ids, snapshot_location)
    except Exception as exc:
        reason = _reason(exc, "The backup could not be made.")
        LOG.warning("backup %s: failed: %s", backup_id, reason, exc_info=not isinstance(exc, StratusError))
        _release_source(worker, backup, succeeded=False, error=reason)
        _end(worker, backup_id, BackupStatus.CREATING, status=BackupStatus.ERROR.value, fail_reason=reason)
        _drop_temporary_snapshot(worker, backup)
        return BackupStatus.ERROR.value
    assert volume is not None and volume.location is not None
    # The volume first, as Cinder does: a client that sees the backup available sees its volume back too.
    _release_source(worker, backup, succeeded=True)
    ended = _end(
        worker, backup_id, BackupStatus.CREATING, status=BackupStatus.AVAILABLE.value, fail_reason=None,
        stored_bytes=copied.stored_bytes, object_count=copied.chunks, checkpoint=copied.checkpoint,
        container=backup.container or store_container(worker),
        data_timestamp=snapshot.created_at if snapshot is not None else backup.created_at,
    )  # fmt: skip
    _drop_temporary_snapshot(worker, backup)
    if not ended:  # deleted or reset while it ran: what it made is nobody's
        store.delete(backup_id)
        if copied.checkpoint:
            blocks.forget(volume.location, copied.checkpoint)
        return "preempted"
    if parent is not None and parent.checkpoint and parent.checkpoint != copied.checkpoint:
        _forget(worker, blocks, volume.location, parent.id, parent.checkpoint)
    LOG.info(
        "backup %s of volume %s: %s, %d chunks, %d bytes stored",
        backup_id, volume.id, "incremental (tracked)" if copied.tracked else "compared" if parent else "full",
        copied.chunks, copied.stored_bytes,
    )  # fmt: skip
    return BackupStatus.AVAILABLE.value


def store_container(worker: VolumeWorker) -> str:
    """A backup's ``container`` when its request named none (Cinder shows it): the store directory's name."""
    return worker.settings.effective_backup_store_dir.name


def _forget(worker: VolumeWorker, blocks: BlockAccess, location: str, backup_id: str, checkpoint: str) -> None:
    """Drop a checkpoint no backup will start from again; a failure (the volume is attached right now) only
    leaves it in place, where it costs a bitmap or a snapshot and is dropped with the volume."""
    try:
        blocks.forget(location, checkpoint)
    except Exception as exc:
        LOG.info("backup %s: checkpoint %s kept: %s", backup_id, checkpoint, _reason(exc, type(exc).__name__))
        return
    with worker.db.session() as session:
        session.execute(
            update(VolumeBackup).where(VolumeBackup.id == backup_id, VolumeBackup.checkpoint == checkpoint)
            .values(checkpoint=None)
        )  # fmt: skip


def _drop_temporary_snapshot(worker: VolumeWorker, backup: VolumeBackup) -> None:
    """Delete the snapshot an in-use volume was backed up from (``volume.backups.temporary_snapshot``)."""
    if not backup.temp_snapshot_id:
        return
    with worker.db.session() as session:
        session.execute(
            update(VolumeSnapshot)
            .where(
                VolumeSnapshot.id == backup.temp_snapshot_id,
                VolumeSnapshot.status.in_((SnapshotStatus.AVAILABLE.value, SnapshotStatus.ERROR.value)),
            )
            .values(status=SnapshotStatus.DELETING.value, updated_at=utcnow())
        )
    snapshots.delete(worker, backup.temp_snapshot_id)


def _release_source(worker: VolumeWorker, backup: VolumeBackup, *, succeeded: bool, error: str | None = None) -> None:
    """The backed-up volume (or snapshot) back to the status it had."""
    with worker.db.session() as session:
        if backup.snapshot_id:
            backing_up = VolumeSnapshot.status == SnapshotStatus.BACKING_UP.value
            session.execute(
                update(VolumeSnapshot)
                .where(VolumeSnapshot.id == backup.snapshot_id, backing_up)
                .values(status=SnapshotStatus.AVAILABLE.value, updated_at=utcnow())
            )
            return
        volume = session.get(Volume, backup.volume_id)
        if volume is not None and volume.status == VolumeStatus.BACKING_UP:
            transitions.finish(session, volume, VolumeAction.BACKUP, succeeded=succeeded, error=error)


# -- restoring -------------------------------------------------------------------------------------------------


def write_chain(blocks: BlockAccess, store: BackupStore, location: str, backup_ids: Sequence[str]) -> int:
    """Zero the volume, then write each chunk the chain holds from the newest backup carrying it, checking its
    hash. Returns the bytes written."""
    owner: dict[int, tuple[str, str]] = {}
    manifests = [store.manifest(backup_id) for backup_id in backup_ids]
    for manifest in manifests:
        for index, digest in manifest.chunks.items():
            owner[index] = (manifest.backup_id, digest)
    newest = manifests[-1]
    written = 0
    with blocks.writer(location) as writer:
        if writer.size < newest.size:
            raise StratusError("The volume is smaller than the backup.")
        writer.zero(0, writer.size)
        for index in sorted(owner):
            backup_id, digest = owner[index]
            if digest == ZERO or index * newest.chunk_size >= newest.size:
                continue
            length = min(newest.chunk_size, newest.size - index * newest.chunk_size)
            data = store.get(backup_id, index, length)
            if hashlib.sha256(data).hexdigest() != digest:
                raise StratusError(f"The backup's data is damaged (chunk {index} of backup {backup_id}).")
            writer.write(index * newest.chunk_size, data)
            written += len(data)
    return written


def restore(worker: VolumeWorker, backup_id: str, volume_id: str) -> str:
    with worker.db.session() as session:
        backup = session.get(VolumeBackup, backup_id)
        volume = session.get(Volume, volume_id)
        if backup is None or backup.status != BackupStatus.RESTORING:
            return "skipped"
        if volume is None or volume.status != VolumeStatus.RESTORING_BACKUP:
            _end(worker, backup_id, BackupStatus.RESTORING, status=BackupStatus.AVAILABLE.value, restore_volume_id=None)
            return "skipped"
        backup_ids = [b.id for b in chain(session, backup)]
        backend_name, location, size = volume.backend, volume.location, volume.size
    try:
        backend = worker.backend(backend_name)
        if not location:
            location = backend.create(volume_id, size)
            with worker.db.session() as session:
                session.execute(update(Volume).where(Volume.id == volume_id).values(location=location))
        store = store_from_settings(worker.settings)
        try:
            written = write_chain(blocks_for(backend), store, location, backup_ids)
        finally:
            store.close()
        succeeded, error = True, None
    except Exception as exc:
        succeeded, error = False, _reason(exc, "The backup could not be restored.")
        LOG.warning("backup %s: restore into %s failed: %s", backup_id, volume_id, error, exc_info=True)
        written = 0
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        if volume is not None:
            transitions.finish(session, volume, VolumeAction.RESTORE, succeeded=succeeded, error=error)
    _end(worker, backup_id, BackupStatus.RESTORING, status=BackupStatus.AVAILABLE.value, restore_volume_id=None)
    LOG.info("backup %s: restore into volume %s %s (%d bytes)", backup_id, volume_id,
             "done" if succeeded else "failed", written)  # fmt: skip
    return VolumeStatus.AVAILABLE.value if succeeded else VolumeStatus.ERROR_RESTORING.value


# -- deleting --------------------------------------------------------------------------------------------------


def delete(worker: VolumeWorker, backup_id: str) -> str:
    with worker.db.session() as session:
        backup = session.get(VolumeBackup, backup_id)
        if backup is None or backup.status != BackupStatus.DELETING:
            return "skipped"
        volume = session.get(Volume, backup.volume_id)
        checkpoint = backup.checkpoint
        located = (volume.backend, volume.location) if volume is not None and volume.location else None
    try:
        store = store_from_settings(worker.settings)
        try:
            store.delete(backup_id)
        finally:
            store.close()
    except Exception as exc:
        reason = _reason(exc, "The backup could not be deleted.")
        LOG.warning("backup %s: delete failed: %s", backup_id, reason, exc_info=not isinstance(exc, StratusError))
        _end(worker, backup_id, BackupStatus.DELETING, status=BackupStatus.ERROR_DELETING.value, fail_reason=reason)
        return BackupStatus.ERROR_DELETING.value
    if checkpoint and located is not None:
        _forget(worker, blocks_for(worker.backend(located[0])), located[1], backup_id, checkpoint)
    _end(worker, backup_id, BackupStatus.DELETING, status=BackupStatus.DELETED.value, deleted=True,
         deleted_at=utcnow())  # fmt: skip
    LOG.info("backup %s: deleted", backup_id)
    return BackupStatus.DELETED.value
