"""Removing a ``deleting`` volume's data (its snapshots' first, when it was deleted with cascade).

Idempotent: a volume no longer ``deleting`` is left alone, and the backends' deletes succeed on data already
gone. A failure leaves ``error_deleting`` with the reason; the sweeper and the user may try again.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from common.db import utcnow
from common.exceptions import StratusError
from volume import transitions
from volume.context import VolumeWorker
from volume.models import Volume, VolumeSnapshot
from volume.states import SnapshotStatus, VolumeAction, VolumeStatus

LOG = logging.getLogger(__name__)


def delete(worker: VolumeWorker, volume_id: str) -> str:
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        if volume is None or volume.status != VolumeStatus.DELETING:
            return "skipped"
        backend_name, location = volume.backend, volume.location
        query = select(VolumeSnapshot.id, VolumeSnapshot.location).where(
            VolumeSnapshot.volume_id == volume_id,
            VolumeSnapshot.deleted.is_(False),
            VolumeSnapshot.status == SnapshotStatus.DELETING.value,
        )
        snapshots = [tuple(row) for row in session.execute(query)]
    try:
        backend = worker.backend(backend_name)
        for snapshot_id, snapshot_location in snapshots:
            if snapshot_location:
                backend.delete_snapshot(snapshot_location)
            _snapshot_gone(worker, snapshot_id)
        if location:
            backend.delete(location)
    except Exception as exc:
        reason = exc.message if isinstance(exc, StratusError) else "The volume could not be deleted."
        LOG.warning("volume %s: delete failed: %s", volume_id, reason, exc_info=not isinstance(exc, StratusError))
        with worker.db.session() as session:
            volume = session.get(Volume, volume_id)
            if volume is not None:
                transitions.finish(session, volume, VolumeAction.DELETE, succeeded=False, error=reason)
        return VolumeStatus.ERROR_DELETING.value
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        if volume is not None:
            transitions.finish(session, volume, VolumeAction.DELETE, succeeded=True, deleted=True, deleted_at=utcnow())
    LOG.info("volume %s: deleted", volume_id)
    return VolumeStatus.DELETED.value


def _snapshot_gone(worker: VolumeWorker, snapshot_id: str) -> None:
    with worker.db.session() as session:
        snapshot = session.get(VolumeSnapshot, snapshot_id)
        if snapshot is not None and not snapshot.deleted:
            snapshot.status = SnapshotStatus.DELETED.value
            snapshot.deleted = True
            snapshot.deleted_at = utcnow()
