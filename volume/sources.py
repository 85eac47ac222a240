"""Where a new volume's data comes from, checked in the create's transaction: the source must be the project's
(or, for an image, visible to it) and usable, and it gives the volume its size, type and image metadata when the
request did not.

Only the records are read here; the volume worker reads the data (``volume.creation``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from image.models import Image, ImageMember
from image.states import ImageStatus, Visibility
from volume.exceptions import (
    BackupNotFound,
    ImageNotFound,
    InvalidBackup,
    InvalidInput,
    InvalidSnapshot,
    InvalidVolume,
    SnapshotNotFound,
    VolumeNotFound,
)
from volume.models import Volume, VolumeBackup, VolumeSnapshot
from volume.states import BackupStatus, SnapshotStatus, VolumeStatus

GiB = 1 << 30
MAX_ID = 36
IMAGE_PROPERTIES = ("hw_", "os_", "img_", "architecture", "hypervisor_type", "vm_mode", "kernel_id", "ramdisk_id")
"""Image properties a volume keeps in its ``volume_image_metadata`` (what booting from it needs)."""


@dataclass(frozen=True)
class Resolved:
    """What a source gives the new volume."""

    min_size: int = 1
    size: int | None = None
    """The size the volume gets when the request gives none."""
    volume_type_id: str | None = None
    backend: str | None = None
    """The backend the volume must be on (a snapshot's or a volume's: their data is copied within it)."""
    bootable: bool = False
    image_metadata: dict[str, Any] = field(default_factory=dict)


def _visible_image(project_id: str) -> Any:
    members = select(ImageMember.image_id).where(ImageMember.member_id == project_id)
    return or_(
        Image.owner == project_id,
        Image.visibility.in_((Visibility.PUBLIC.value, Visibility.COMMUNITY.value)),
        and_(Image.visibility == Visibility.SHARED.value, Image.id.in_(members)),
    )


def image_metadata(image: Image) -> dict[str, Any]:
    """Cinder's ``volume_image_metadata`` of a volume made from ``image``."""
    found: dict[str, Any] = {
        "image_id": image.id,
        "image_name": image.name,
        "checksum": image.checksum,
        "container_format": image.container_format,
        "disk_format": image.disk_format,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "size": image.size,
    }
    properties = image.properties or {}
    found.update({k: v for k, v in properties.items() if k.startswith(IMAGE_PROPERTIES)})
    return {k: v for k, v in found.items() if v is not None}


def from_image(session: Session, project_id: str, image_id: str) -> Resolved:
    image = None
    if len(image_id) <= MAX_ID:
        query = select(Image).where(
            Image.id == image_id, Image.status != ImageStatus.DELETED.value, _visible_image(project_id)
        )
        image = session.scalars(query).first()
    if image is None:
        raise ImageNotFound(image_id=image_id)
    if image.status != ImageStatus.ACTIVE or not image.location:
        raise InvalidInput(reason=f"Image {image_id} is not active.")
    needed = max(image.min_disk or 0, -(-(image.virtual_size or image.size or 0) // GiB), 1)
    return Resolved(min_size=needed, size=needed, bootable=True, image_metadata=image_metadata(image))


def from_snapshot(session: Session, project_id: str, snapshot_id: str) -> Resolved:
    snapshot = session.get(VolumeSnapshot, snapshot_id) if len(snapshot_id) <= MAX_ID else None
    if snapshot is None or snapshot.deleted or snapshot.project_id != project_id:
        raise SnapshotNotFound(snapshot_id=snapshot_id)
    if snapshot.status != SnapshotStatus.AVAILABLE:
        raise InvalidSnapshot(reason="Originating snapshot status must be one of 'available' values")
    source = session.get(Volume, snapshot.volume_id)
    assert source is not None, "a snapshot's volume outlives it"
    return Resolved(
        min_size=snapshot.size,
        size=snapshot.size,
        volume_type_id=source.volume_type_id,
        backend=source.backend,
        bootable=source.bootable,
        image_metadata=dict(source.image_metadata or {}),
    )


def from_volume(session: Session, project_id: str, volume_id: str) -> Resolved:
    source = session.get(Volume, volume_id) if len(volume_id) <= MAX_ID else None
    if source is None or source.deleted or source.project_id != project_id:
        raise VolumeNotFound(volume_id=volume_id)
    if source.status != VolumeStatus.AVAILABLE:
        raise InvalidVolume(reason=f"Volume status must be available to clone, but current status is: {source.status}.")
    return Resolved(
        min_size=source.size,
        size=source.size,
        volume_type_id=source.volume_type_id,
        backend=source.backend,
        bootable=source.bootable,
        image_metadata=dict(source.image_metadata or {}),
    )


def size_error(kind: str, size: int, min_size: int) -> InvalidInput:
    if kind == "image":
        return InvalidInput(reason=f"Size of specified image {min_size}GB is larger than volume size {size}GB.")
    return InvalidInput(
        reason=f"Volume size '{size}'GB cannot be smaller than the {kind} size {min_size}GB. "
        f"They must be >= original {kind} size."
    )


def from_backup(session: Session, project_id: str, backup_id: str) -> Resolved:
    """A backup restored into the new volume (Cinder 3.47): its size, and its volume's type and image metadata
    while that volume exists. Any backend may take it: a restore writes blocks, whatever holds them."""
    backup = session.get(VolumeBackup, backup_id) if len(backup_id) <= MAX_ID else None
    if backup is None or backup.deleted or backup.project_id != project_id:
        raise BackupNotFound(backup_id=backup_id)
    if backup.status != BackupStatus.AVAILABLE:
        raise InvalidBackup(reason=f"Backup status must be available, but the current status is: {backup.status}.")
    origin = session.get(Volume, backup.volume_id)
    return Resolved(
        min_size=backup.size,
        size=backup.size,
        volume_type_id=origin.volume_type_id if origin is not None and not origin.deleted else None,
        bootable=bool(origin and origin.bootable),
        image_metadata=dict(origin.image_metadata or {}) if origin is not None else {},
    )
