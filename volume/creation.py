"""Making a ``creating`` volume's data on its backend: empty, or from its image, snapshot, source volume or backup.

Idempotent: a volume no longer ``creating`` is left alone (done, deleted, or reset meanwhile), and the backends'
creates succeed on data they already made. A failure leaves the volume ``error`` with the reason and no data
(the backends' creates leave nothing behind when they fail).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from common.exceptions import StratusError
from image import service as image_service
from image.models import Image
from image.states import ImageStatus
from volume import backup_jobs, backups, transitions
from volume.backends import blocks_for
from volume.backends.base import ImageSource, VolumeBackend
from volume.backup_store import from_settings as store_from_settings
from volume.context import VolumeWorker
from volume.models import Volume, VolumeBackup, VolumeSnapshot
from volume.states import BackupStatus, SnapshotStatus, VolumeAction, VolumeStatus

LOG = logging.getLogger(__name__)
DIRECT_FORMATS = ("raw", "qcow2")
"""Formats a backend reads as they are; another format is read from the image service's qcow2 variant when it
prepared one, else converted by the backend from the (inspected) original."""


@dataclass(frozen=True)
class _Plan:
    volume_id: str
    size: int
    backend: str
    image_id: str | None
    snapshot_location: str | None
    source_location: str | None
    backup_ids: tuple[str, ...] = ()
    """A backup's chain, oldest first (a volume made from a backup)."""


def _plan(worker: VolumeWorker, volume_id: str) -> _Plan | None:
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        if volume is None or volume.status != VolumeStatus.CREATING:
            return None
        snapshot_location = source_location = None
        if volume.snapshot_id:
            snapshot = session.get(VolumeSnapshot, volume.snapshot_id)
            if snapshot is None or snapshot.status != SnapshotStatus.AVAILABLE or not snapshot.location:
                raise StratusError("The snapshot this volume is made from is no longer available.")
            snapshot_location = snapshot.location
        if volume.source_volid:
            source = session.get(Volume, volume.source_volid)
            if source is None or source.deleted or not source.location:
                raise StratusError("The volume this volume is made from is no longer available.")
            source_location = source.location
        backup_ids: tuple[str, ...] = ()
        if volume.backup_id:
            backup = session.get(VolumeBackup, volume.backup_id)
            if backup is None or backup.status != BackupStatus.RESTORING or backup.restore_volume_id != volume.id:
                raise StratusError("The backup this volume is made from is no longer available.")
            backup_ids = tuple(b.id for b in backups.chain(session, backup))
        return _Plan(
            volume.id, volume.size, volume.backend, volume.image_id, snapshot_location, source_location, backup_ids
        )


@contextmanager
def image_source(worker: VolumeWorker, image_id: str, clones: bool) -> Iterator[ImageSource]:
    """The image's data as the backend reads it while the block runs. A backend that ``clones`` (``rbd``) gets the
    protected Ceph snapshot of a raw image stored in Ceph: a copy-on-write clone, whatever the size. Otherwise a
    local file of the original, or of its qcow2 variant if the image service prepared one for an original hosts
    cannot read as it is: the store's own file, or a temporary copy (an image in Ceph that is not raw)."""
    with worker.db.session() as session:
        image = session.get(Image, image_id)
        if image is None or image.status != ImageStatus.ACTIVE or not image.location:
            raise StratusError(f"Image {image_id} is no longer active.")
        location, disk_format = image.location, image.disk_format or "raw"
        virtual_size = image.virtual_size or image.size or 0
    snapshot = worker.image_store.ceph_snapshot(location) if clones and disk_format == "raw" else None
    if snapshot is not None:
        yield ImageSource(image_id, disk_format, virtual_size, rbd_snapshot=snapshot)
        return
    if disk_format not in DIRECT_FORMATS:
        variant = image_service.variant_location(worker.db, image_id, "qcow2")
        if variant is not None:
            location, disk_format = variant, "qcow2"
    with ExitStack() as stack:
        try:
            path = stack.enter_context(worker.image_store.local_file(location))
        except FileNotFoundError:
            raise StratusError(f"The data of image {image_id} is gone from the image store.") from None
        yield ImageSource(image_id, disk_format, virtual_size, path=path)


def _make(worker: VolumeWorker, backend: VolumeBackend, plan: _Plan) -> str:
    if plan.image_id:
        with image_source(worker, plan.image_id, backend.clones_ceph_snapshots) as image:
            return backend.create_from_image(plan.volume_id, plan.size, image)
    if plan.snapshot_location:
        return backend.create_from_snapshot(plan.volume_id, plan.size, plan.snapshot_location)
    if plan.source_location:
        return backend.create_from_volume(plan.volume_id, plan.size, plan.source_location)
    location = backend.create(plan.volume_id, plan.size)
    if plan.backup_ids:
        try:
            store = store_from_settings(worker.settings)
            try:
                backup_jobs.write_chain(blocks_for(backend), store, location, plan.backup_ids)
            finally:
                store.close()
        except BaseException:
            backend.delete(location)  # a failed create leaves no data
            raise
    return location


def create(worker: VolumeWorker, volume_id: str) -> str:
    """Make the volume's data; returns the status it ends in (or why nothing was done)."""
    try:
        plan = _plan(worker, volume_id)
        if plan is None:
            return "skipped"
        backend = worker.backend(plan.backend)
        location = _make(worker, backend, plan)
    except Exception as exc:
        reason = exc.message if isinstance(exc, StratusError) else "The volume could not be created."
        LOG.warning("volume %s: create failed: %s", volume_id, reason, exc_info=not isinstance(exc, StratusError))
        _end(worker, volume_id, succeeded=False, error=reason)
        _release_backup(worker, volume_id)
        return VolumeStatus.ERROR.value
    _release_backup(worker, volume_id)
    if not _end(worker, volume_id, succeeded=True, location=location) and not _holds(worker, volume_id, location):
        # Deleted or reset while the data was made (not a second delivery of this task): the data is nobody's.
        LOG.warning("volume %s changed while it was created; removing the data made", volume_id)
        backend.delete(location)
        return "preempted"
    LOG.info("volume %s: created (%d GiB on %s)", volume_id, plan.size, plan.backend)
    return VolumeStatus.AVAILABLE.value


def _release_backup(worker: VolumeWorker, volume_id: str) -> None:
    """The backup a volume was made from is ``available`` again once the volume is made (or failed)."""
    with worker.db.session() as session:
        session.execute(
            update(VolumeBackup)
            .where(VolumeBackup.restore_volume_id == volume_id, VolumeBackup.status == BackupStatus.RESTORING.value)
            .values(status=BackupStatus.AVAILABLE.value, restore_volume_id=None)
        )


def _holds(worker: VolumeWorker, volume_id: str, location: str) -> bool:
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        return volume is not None and not volume.deleted and volume.location == location


def _end(worker: VolumeWorker, volume_id: str, *, succeeded: bool, error: str | None = None, **values: object) -> bool:
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        if volume is None:
            return False
        if succeeded:
            values["bootable"] = volume.bootable or bool(volume.image_id) or _source_bootable(session, volume)
        return transitions.finish(session, volume, VolumeAction.CREATE, succeeded=succeeded, error=error, **values)


def _source_bootable(session: Session, volume: Volume) -> bool:
    if volume.source_volid:
        source = session.get(Volume, volume.source_volid)
        return bool(source and source.bootable)
    snapshot = session.get(VolumeSnapshot, volume.snapshot_id) if volume.snapshot_id else None
    origin = session.get(Volume, snapshot.volume_id) if snapshot else None
    return bool(origin and origin.bootable)
