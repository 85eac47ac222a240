"""Making a ``creating`` volume's data on its backend: empty, or from its image, snapshot or source volume.

Idempotent: a volume no longer ``creating`` is left alone (done, deleted, or reset meanwhile), and the backends'
creates succeed on data they already made. A failure leaves the volume ``error`` with the reason and no data
(the backends' creates leave nothing behind when they fail).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from common.exceptions import StratusError
from image import service as image_service
from image.models import Image
from image.states import ImageStatus
from volume import transitions
from volume.backends.base import ImageSource, VolumeBackend
from volume.context import VolumeWorker
from volume.models import Volume, VolumeSnapshot
from volume.states import SnapshotStatus, VolumeAction, VolumeStatus

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
        return _Plan(volume.id, volume.size, volume.backend, volume.image_id, snapshot_location, source_location)


def image_source(worker: VolumeWorker, image_id: str) -> ImageSource:
    """The image's data as a local file of the image store: the original, or its qcow2 variant if the image
    service prepared one for an original hosts cannot read as it is."""
    with worker.db.session() as session:
        image = session.get(Image, image_id)
        if image is None or image.status != ImageStatus.ACTIVE or not image.location:
            raise StratusError(f"Image {image_id} is no longer active.")
        location, disk_format = image.location, image.disk_format or "raw"
        virtual_size = image.virtual_size or image.size or 0
    if disk_format not in DIRECT_FORMATS:
        variant = image_service.variant_location(worker.db, image_id, "qcow2")
        if variant is not None:
            location, disk_format = variant, "qcow2"
    path = worker.image_store.local_path(location)
    if path is None:
        raise StratusError("The image store keeps no local files; the volume service cannot read the image.")
    return ImageSource(image_id=image_id, disk_format=disk_format, virtual_size=virtual_size, path=path)


def _make(worker: VolumeWorker, backend: VolumeBackend, plan: _Plan) -> str:
    if plan.image_id:
        return backend.create_from_image(plan.volume_id, plan.size, image_source(worker, plan.image_id))
    if plan.snapshot_location:
        return backend.create_from_snapshot(plan.volume_id, plan.size, plan.snapshot_location)
    if plan.source_location:
        return backend.create_from_volume(plan.volume_id, plan.size, plan.source_location)
    return backend.create(plan.volume_id, plan.size)


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
        return VolumeStatus.ERROR.value
    if not _end(worker, volume_id, succeeded=True, location=location) and not _holds(worker, volume_id, location):
        # Deleted or reset while the data was made (not a second delivery of this task): the data is nobody's.
        LOG.warning("volume %s changed while it was created; removing the data made", volume_id)
        backend.delete(location)
        return "preempted"
    LOG.info("volume %s: created (%d GiB on %s)", volume_id, plan.size, plan.backend)
    return VolumeStatus.AVAILABLE.value


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
