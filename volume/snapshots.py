"""Taking and removing a volume's snapshots on its backend.

Idempotent: a snapshot no longer ``creating`` (or ``deleting``) is left alone. A failed snapshot is ``error``
with the reason and holds no data; a failed delete is ``error_deleting`` and may be tried again.
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from common.db import utcnow
from common.exceptions import StratusError
from volume.context import VolumeWorker
from volume.models import Volume, VolumeSnapshot
from volume.states import SnapshotStatus

LOG = logging.getLogger(__name__)


def _reason(exc: Exception, fallback: str) -> str:
    return (exc.message if isinstance(exc, StratusError) else fallback)[:1024]


def _end(worker: VolumeWorker, snapshot_id: str, busy: SnapshotStatus, **values: object) -> bool:
    """Compare-and-swap the snapshot out of ``busy``; False when it had left it (deleted, reset) meanwhile."""
    with worker.db.session() as session:
        result = session.execute(
            update(VolumeSnapshot)
            .where(VolumeSnapshot.id == snapshot_id, VolumeSnapshot.status == busy.value)
            .values(updated_at=utcnow(), **values)
        )
        return result.rowcount == 1


def create(worker: VolumeWorker, snapshot_id: str) -> str:
    with worker.db.session() as session:
        snapshot = session.get(VolumeSnapshot, snapshot_id)
        if snapshot is None or snapshot.status != SnapshotStatus.CREATING:
            return "skipped"
        volume = session.get(Volume, snapshot.volume_id)
        assert volume is not None, "a snapshot's volume outlives it"
        backend_name, location = volume.backend, volume.location
    try:
        if not location:
            raise StratusError("The volume holds no data to snapshot.")
        snapshot_location = worker.backend(backend_name).create_snapshot(location, snapshot_id)
    except Exception as exc:
        reason = _reason(exc, "The snapshot could not be taken.")
        LOG.warning("snapshot %s: failed: %s", snapshot_id, reason, exc_info=not isinstance(exc, StratusError))
        _end(worker, snapshot_id, SnapshotStatus.CREATING, status=SnapshotStatus.ERROR.value, error=reason)
        return SnapshotStatus.ERROR.value
    ended = _end(
        worker,
        snapshot_id,
        SnapshotStatus.CREATING,
        status=SnapshotStatus.AVAILABLE.value,
        location=snapshot_location,
        progress="100%",
        error=None,
    )
    LOG.info("snapshot %s of volume %s: %s", snapshot_id, location, "taken" if ended else "taken, but changed since")
    return SnapshotStatus.AVAILABLE.value if ended else "preempted"


def delete(worker: VolumeWorker, snapshot_id: str) -> str:
    with worker.db.session() as session:
        snapshot = session.get(VolumeSnapshot, snapshot_id)
        if snapshot is None or snapshot.status != SnapshotStatus.DELETING:
            return "skipped"
        volume = session.get(Volume, snapshot.volume_id)
        assert volume is not None, "a snapshot's volume outlives it"
        backend_name, location = volume.backend, snapshot.location
    try:
        if location:
            worker.backend(backend_name).delete_snapshot(location)
    except Exception as exc:
        reason = _reason(exc, "The snapshot could not be deleted.")
        LOG.warning("snapshot %s: delete failed: %s", snapshot_id, reason, exc_info=not isinstance(exc, StratusError))
        _end(worker, snapshot_id, SnapshotStatus.DELETING, status=SnapshotStatus.ERROR_DELETING.value, error=reason)
        return SnapshotStatus.ERROR_DELETING.value
    _end(
        worker,
        snapshot_id,
        SnapshotStatus.DELETING,
        status=SnapshotStatus.DELETED.value,
        deleted=True,
        deleted_at=utcnow(),
    )
    LOG.info("snapshot %s: deleted", snapshot_id)
    return SnapshotStatus.DELETED.value
