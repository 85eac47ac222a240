"""Backups, the in-process interface the API calls (Cinder's ``/backups``): the records, their rules and quotas.

As in ``volume.service``: each function works inside the caller's transaction and never commits, a refused request
raises Cinder's fault (``volume.exceptions``) and leaves the caller to roll back, and the data moves later in
``stratus-volume`` (``volume.backup_jobs``), asked for through ``volume.client`` after commit.

An incremental backup's parent is the volume's newest ``available`` backup, as in Cinder; a backup with incremental
children cannot be deleted before them, so a chain is always whole from its full backup to its newest child.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from common.db import new_uuid, utcnow
from common.settings import Settings
from volume import quota, transitions, types
from volume.backends import backend_for
from volume.exceptions import BackupNotFound, InvalidBackup, InvalidSnapshot, InvalidVolume
from volume.models import Volume, VolumeBackup, VolumeSnapshot, VolumeType
from volume.states import BACKUP_DELETABLE, BackupStatus, SnapshotStatus, VolumeAction, VolumeStatus

UNSET = object()
"""An argument left out (``None`` is a value: a cleared description)."""
MAX_ID = 36
FORCE_DELETABLE = BACKUP_DELETABLE | {BackupStatus.CREATING, BackupStatus.RESTORING}
"""What ``os-force_delete`` may delete: also a backup whose task has stopped (its job finds it gone and stops)."""


def get_backup(session: Session, backup_id: str, project_id: str | None) -> VolumeBackup:
    """The backup, if ``project_id`` owns it (``None``: an admin, any project); 404 otherwise or once deleted."""
    backup = session.get(VolumeBackup, backup_id) if len(backup_id) <= MAX_ID else None
    if backup is None or backup.deleted or (project_id is not None and backup.project_id != project_id):
        raise BackupNotFound(backup_id=backup_id)
    return backup


def has_dependent_backups(session: Session, backup: VolumeBackup) -> bool:
    """True while an incremental backup that is not deleted names it as its parent."""
    children = select(VolumeBackup.id).where(VolumeBackup.parent_id == backup.id, VolumeBackup.deleted.is_(False))
    return bool(session.execute(select(exists(children))).scalar())


def newest_backup(session: Session, volume_id: str) -> VolumeBackup | None:
    """The volume's newest ``available`` backup: an incremental backup's parent."""
    return session.scalars(
        select(VolumeBackup)
        .where(
            VolumeBackup.volume_id == volume_id,
            VolumeBackup.deleted.is_(False),
            VolumeBackup.status == BackupStatus.AVAILABLE.value,
        )
        .order_by(VolumeBackup.data_timestamp.desc(), VolumeBackup.created_at.desc())
        .limit(1)
    ).first()


def chain(session: Session, backup: VolumeBackup) -> list[VolumeBackup]:
    """The backup and its ancestors, oldest (the full backup) first: what a restore applies."""
    links = [backup]
    while links[-1].parent_id is not None:
        parent = session.get(VolumeBackup, links[-1].parent_id)
        if parent is None:
            raise InvalidBackup(reason=f"Backup {links[-1].id} has lost its parent backup.")
        links.append(parent)
    return links[::-1]


def temporary_snapshot(
    session: Session, settings: Settings, volume: Volume, *, project_id: str, user_id: str
) -> VolumeSnapshot | None:
    """The snapshot an in-use volume is backed up from when its backend cannot read it beside its guest (a qcow2
    file QEMU holds locked; ``VolumeBackend.snapshot_by_host``), as Cinder's ``backup_use_temp_snapshot``: a new
    ``creating`` snapshot, outside the project's snapshot quota, that the backup deletes when it is done. None when
    the backend reads an in-use volume itself (RBD: the backup's own snapshot is consistent). The caller has the
    snapshot taken (``compute.volumes.snapshot_attached_volume``, or ``volume.client.create_snapshot`` when no
    server holds the volume) and passes it to ``create_backup``."""
    if volume.status != VolumeStatus.IN_USE or not volume.location:
        return None
    if backend_for(settings, volume.backend).snapshot_by_host(volume.location, new_uuid()) is None:
        return None
    snapshot = VolumeSnapshot(
        project_id=project_id,
        user_id=user_id,
        volume_id=volume.id,
        name=f"backup-snap-{volume.id}",
        description="A temporary snapshot for a backup of the volume in use.",
        size=volume.size,
        status=SnapshotStatus.CREATING.value,
    )
    session.add(snapshot)
    session.flush()
    return snapshot


def create_backup(
    session: Session,
    settings: Settings,
    *,
    volume: Volume,
    project_id: str,
    user_id: str,
    name: str | None = None,
    description: str | None = None,
    incremental: bool = False,
    force: bool = False,
    snapshot: VolumeSnapshot | None = None,
    container: str | None = None,
    metadata: Mapping[str, str] | None = None,
    temp_snapshot: VolumeSnapshot | None = None,
) -> VolumeBackup:
    """A new ``creating`` backup of the volume (or of one of its snapshots), counted against ``backups`` and
    ``backup_gigabytes``. The volume goes ``backing-up`` (a snapshot's backup: the snapshot does, the volume keeps
    working); ``temp_snapshot`` (``temporary_snapshot``) is what an in-use volume is read from. The caller sends
    ``volume.client.create_backup`` after commit."""
    if snapshot is not None:
        if snapshot.volume_id != volume.id:
            raise InvalidVolume(
                reason=f"Volume {volume.id} does not match with snapshot.volume_id {snapshot.volume_id}."
            )
        if snapshot.status != SnapshotStatus.AVAILABLE:
            raise InvalidSnapshot(
                reason=f'Snapshot to be backed up must be available, but the current status is "{snapshot.status}".'
            )
    else:
        transitions.check(volume, VolumeAction.BACKUP)
        if volume.status == VolumeStatus.IN_USE and not force:
            raise InvalidVolume(reason="Backing up an in-use volume must use the force flag.")
    parent = newest_backup(session, volume.id) if incremental else None
    if incremental and parent is None:
        raise InvalidBackup(reason="No backups available to do an incremental backup.")
    quota.check(session, settings, project_id, {"backups": 1, "backup_gigabytes": volume.size})
    backup = VolumeBackup(
        project_id=project_id,
        user_id=user_id,
        volume_id=volume.id,
        snapshot_id=snapshot.id if snapshot is not None else None,
        name=name,
        description=description,
        size=volume.size,
        status=BackupStatus.CREATING.value,
        is_incremental=incremental,
        parent_id=parent.id if parent is not None else None,
        container=container,
        temp_snapshot_id=temp_snapshot.id if temp_snapshot is not None else None,
        availability_zone=volume.availability_zone,
        properties=dict(metadata or {}),
    )
    session.add(backup)
    if snapshot is not None:
        _swap_snapshot(session, snapshot, SnapshotStatus.AVAILABLE, SnapshotStatus.BACKING_UP)
    else:
        transitions.begin(session, volume, VolumeAction.BACKUP)
    session.flush()
    return backup


def _swap_snapshot(session: Session, snapshot: VolumeSnapshot, was: SnapshotStatus, to: SnapshotStatus) -> None:
    result = session.execute(
        update(VolumeSnapshot)
        .where(VolumeSnapshot.id == snapshot.id, VolumeSnapshot.status == was.value)
        .values(status=to.value, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        session.refresh(snapshot)
        raise InvalidSnapshot(reason=f"Snapshot status must be {was.value}, but current status is: {snapshot.status}.")


def _swap_backup(session: Session, backup: VolumeBackup, allowed: frozenset[str], to: BackupStatus, verb: str) -> None:
    """Compare-and-swap the backup into ``to`` from the status the caller read; Cinder's 400 otherwise (also when
    another request changed it first)."""

    def refused() -> InvalidBackup:
        wanted, now = " or ".join(sorted(allowed)), backup.status
        return InvalidBackup(reason=f"Backup status must be {wanted} to {verb}, but current status is: {now}.")

    if backup.status not in allowed:
        raise refused()
    result = session.execute(
        update(VolumeBackup)
        .where(VolumeBackup.id == backup.id, VolumeBackup.status == backup.status)
        .values(status=to.value, fail_reason=None, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        session.refresh(backup)
        raise refused()


def delete_backup(session: Session, backup: VolumeBackup, *, force: bool = False) -> None:
    """Start deleting (``deleting``): 400 unless ``available`` or ``error`` (``force``: also while creating or
    restoring), or while incremental backups depend on it. The caller sends ``volume.client.delete_backup``."""
    if has_dependent_backups(session, backup):
        raise InvalidBackup(reason="Incremental backups exist for this backup.")
    allowed = frozenset(s.value for s in (FORCE_DELETABLE if force else BACKUP_DELETABLE))
    _swap_backup(session, backup, allowed, BackupStatus.DELETING, "delete")


def restore_backup(
    session: Session,
    settings: Settings,
    backup: VolumeBackup,
    *,
    project_id: str,
    user_id: str,
    volume: Volume | None = None,
    name: str | None = None,
) -> Volume:
    """Start writing the backup into ``volume`` (``available``, at least the backup's size), or into a new volume
    of the backup's size and its volume's type (quotas ``volumes`` and ``gigabytes``). The target is
    ``restoring-backup`` and the backup ``restoring`` until the data is in. The caller sends
    ``volume.client.restore_backup(backup.id, volume.id)`` after commit."""
    if backup.status != BackupStatus.AVAILABLE:
        raise InvalidBackup(reason=f"Backup status must be available, but the current status is: {backup.status}.")
    if volume is not None:
        if volume.size < backup.size:
            raise InvalidVolume(
                reason=f"volume size {volume.size} is too small to restore backup of size {backup.size}."
            )
        if volume.status != VolumeStatus.AVAILABLE:
            raise InvalidVolume(reason="Volume to be restored to must be available.")
        transitions.begin(session, volume, VolumeAction.RESTORE)
    else:
        volume = _new_restore_target(session, settings, backup, project_id, user_id, name)
    backup.restore_volume_id = volume.id
    _swap_backup(session, backup, frozenset({BackupStatus.AVAILABLE.value}), BackupStatus.RESTORING, "restore")
    return volume


def claim_for_restore(session: Session, backup_id: str, volume: Volume) -> None:
    """A volume being created from the backup (Cinder 3.47) holds it ``restoring`` until its data is in, so the
    backup cannot be deleted under the copy."""
    backup = session.get(VolumeBackup, backup_id)
    assert backup is not None, "sources.from_backup found it"
    backup.restore_volume_id = volume.id
    _swap_backup(session, backup, frozenset({BackupStatus.AVAILABLE.value}), BackupStatus.RESTORING, "restore")


def _new_restore_target(
    session: Session, settings: Settings, backup: VolumeBackup, project_id: str, user_id: str, name: str | None
) -> Volume:
    """A new volume for a restore: the backed-up volume's type and backend when it still exists (the backup
    outlives it), else the default type; no data yet (``restoring-backup`` with no location: the job creates it)."""
    source = session.get(Volume, backup.volume_id)
    chosen = session.get(VolumeType, source.volume_type_id) if source is not None else None
    if chosen is None:
        chosen = types.default_type(session, settings)
    quota.check(session, settings, project_id, {"volumes": 1, "gigabytes": backup.size})
    volume = Volume(
        project_id=project_id,
        user_id=user_id,
        name=name if name is not None else f"restore_backup_{backup.id}",
        size=backup.size,
        status=VolumeStatus.RESTORING_BACKUP.value,
        volume_type_id=chosen.id,
        availability_zone=backup.availability_zone,
        backend=types.backend_of(settings, chosen),
        bootable=bool(source.bootable) if source is not None else False,
        image_metadata=dict(source.image_metadata or {}) if source is not None else {},
    )
    session.add(volume)
    session.flush()
    return volume


def update_backup(
    session: Session, backup: VolumeBackup, *, name: object = UNSET, description: object = UNSET,
    metadata: object = UNSET,
) -> None:  # fmt: skip
    """``PUT /backups/{id}``: name and description (3.9), metadata (3.43, replaces it)."""
    if name is not UNSET:
        backup.name = name  # type: ignore[assignment]
    if description is not UNSET:
        backup.description = description  # type: ignore[assignment]
    if metadata is not UNSET:
        backup.properties = dict(metadata)  # type: ignore[call-overload]
    backup.updated_at = utcnow()
    session.flush()


def reset_backup_status(session: Session, backup: VolumeBackup, status: str) -> None:
    """An admin's ``os-reset_status``: ``available`` or ``error`` (Cinder's two), from any status; a job in
    flight finds the backup changed and leaves it."""
    if status not in (BackupStatus.AVAILABLE.value, BackupStatus.ERROR.value):
        raise InvalidBackup(reason=f"The status {status!r} is not allowed: available or error.")
    backup.status = status
    backup.updated_at = utcnow()
    session.flush()
