"""The safety net for volume work whose task was lost (a worker killed, a message dropped): a status held past
its timeout is ended as a failure of that action, and a delete is asked for again (a delete always ends with the
data gone, so it is retried rather than failed).

Statuses held by the compute side while a server's host works (``reserved``, ``attaching``, ``detaching``) are
compute's to end and are not touched here; an attached extend is, since its volume is unusable until it ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.db import utcnow
from volume import transitions
from volume.context import VolumeWorker
from volume.models import Volume, VolumeBackup, VolumeSnapshot
from volume.states import BackupStatus, SnapshotStatus, VolumeAction, VolumeStatus

LOG = logging.getLogger(__name__)

STUCK_AFTER = {
    VolumeAction.CREATE: timedelta(hours=2),
    VolumeAction.EXTEND: timedelta(hours=1),
    VolumeAction.UPLOAD_IMAGE: timedelta(hours=4),
    VolumeAction.BACKUP: timedelta(hours=4),
    VolumeAction.RESTORE: timedelta(hours=4),
}
"""How long an action may hold its busy status before it is taken for lost (a create may copy a large image)."""
RETRY_DELETE_AFTER = timedelta(minutes=10)
SNAPSHOT_STUCK_AFTER = timedelta(hours=1)
BACKUP_STUCK_AFTER = timedelta(hours=4)


@dataclass
class Swept:
    failed: list[str] = field(default_factory=list)
    """Volumes and snapshots whose action was ended as failed."""
    volumes_to_delete: list[str] = field(default_factory=list)
    snapshots_to_delete: list[str] = field(default_factory=list)
    backups_to_delete: list[str] = field(default_factory=list)


def sweep(worker: VolumeWorker, scale: float = 1.0) -> Swept:
    """End what is stuck; returns what to ask again (``volume.tasks`` sends the deletes). ``scale`` shortens
    every timeout (tests)."""
    now, swept = utcnow(), Swept()
    with worker.db.session() as session:
        for action, timeout in STUCK_AFTER.items():
            busy = transitions.TRANSITIONS[action].busy
            assert busy is not None
            query = select(Volume).where(Volume.status == busy.value, Volume.updated_at < now - timeout * scale)
            for volume in session.scalars(query):
                error = f"The volume's {transitions.verb(action)} did not finish in time."
                if transitions.finish(session, volume, action, succeeded=False, error=error, extending_to=None):
                    swept.failed.append(volume.id)
        stale = now - RETRY_DELETE_AFTER * scale
        query = select(Volume.id).where(Volume.status == VolumeStatus.DELETING.value, Volume.updated_at < stale)
        swept.volumes_to_delete = list(session.scalars(query))
        if swept.volumes_to_delete:
            session.execute(update(Volume).where(Volume.id.in_(swept.volumes_to_delete)).values(updated_at=now))
        result = session.execute(
            update(VolumeSnapshot)
            .where(
                VolumeSnapshot.status == SnapshotStatus.CREATING.value,
                VolumeSnapshot.updated_at < now - SNAPSHOT_STUCK_AFTER * scale,
            )
            .values(status=SnapshotStatus.ERROR.value, error="The snapshot did not finish in time.", updated_at=now)
            .returning(VolumeSnapshot.id)
        )
        swept.failed += list(result.scalars())
        query = select(VolumeSnapshot.id).where(
            VolumeSnapshot.status == SnapshotStatus.DELETING.value,
            VolumeSnapshot.deleted.is_(False),
            VolumeSnapshot.updated_at < stale,
        )
        swept.snapshots_to_delete = list(session.scalars(query))
        if swept.snapshots_to_delete:
            session.execute(
                update(VolumeSnapshot).where(VolumeSnapshot.id.in_(swept.snapshots_to_delete)).values(updated_at=now)
            )
        _sweep_backups(session, swept, now, scale)
    if swept.failed or swept.volumes_to_delete or swept.snapshots_to_delete or swept.backups_to_delete:
        LOG.warning(
            "swept %d stuck volume actions, retrying %d volume, %d snapshot and %d backup deletes",
            len(swept.failed),
            len(swept.volumes_to_delete),
            len(swept.snapshots_to_delete),
            len(swept.backups_to_delete),
        )
    return swept


def _sweep_backups(session: Session, swept: Swept, now: datetime, scale: float) -> None:
    """A backup whose job was lost: a create ends in ``error`` (its source is freed: a snapshot here, a volume by
    the ``backing-up`` rule above), a restore gives the backup back (its volume ends ``error_restoring`` by the
    ``restoring-backup`` rule), a delete is asked for again."""
    stuck = now - BACKUP_STUCK_AFTER * scale
    result = session.execute(
        update(VolumeBackup)
        .where(VolumeBackup.status == BackupStatus.CREATING.value, VolumeBackup.updated_at < stuck)
        .values(status=BackupStatus.ERROR.value, fail_reason="The backup did not finish in time.", updated_at=now)
        .returning(VolumeBackup.id, VolumeBackup.snapshot_id)
    )
    for backup_id, snapshot_id in result.all():
        swept.failed.append(backup_id)
        if snapshot_id:
            session.execute(
                update(VolumeSnapshot)
                .where(VolumeSnapshot.id == snapshot_id, VolumeSnapshot.status == SnapshotStatus.BACKING_UP.value)
                .values(status=SnapshotStatus.AVAILABLE.value, updated_at=now)
            )
    result = session.execute(
        update(VolumeBackup)
        .where(VolumeBackup.status == BackupStatus.RESTORING.value, VolumeBackup.updated_at < stuck)
        .values(status=BackupStatus.AVAILABLE.value, restore_volume_id=None, updated_at=now)
        .returning(VolumeBackup.id)
    )
    swept.failed += list(result.scalars())
    stale = now - RETRY_DELETE_AFTER * scale
    query = select(VolumeBackup.id).where(
        VolumeBackup.status == BackupStatus.DELETING.value,
        VolumeBackup.deleted.is_(False),
        VolumeBackup.updated_at < stale,
    )
    swept.backups_to_delete = list(session.scalars(query))
    if swept.backups_to_delete:
        session.execute(update(VolumeBackup).where(VolumeBackup.id.in_(swept.backups_to_delete)).values(updated_at=now))
