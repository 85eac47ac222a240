"""The volume service's public in-process interface: what the API and the compute control side call.

Why in-process: a volume, snapshot or attachment record is made in the request's own transaction, with the quota
check that admits it, so a request that fails leaves nothing half made; the work on the backend's data then runs
in ``stratus-volume``, asked for through ``volume.client`` after commit. The API never imports the workflow
modules behind these functions nor the worker; import-linter contracts in pyproject.toml say so.

Every function that takes a ``Session`` works inside the caller's transaction and never commits; errors are
``common.exceptions`` (``volume.exceptions``) with Cinder's status and message, and leave the caller to roll back.
Nothing here touches a backend's data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from common.db import utcnow
from common.settings import Settings
from image import service as image_service
from image.models import Image
from volume import backups, quota, sources, transitions, types
from volume.backends import backend_for
from volume.exceptions import InvalidInput, InvalidVolume, NotDeletable, SnapshotWrongStatus
from volume.models import Volume, VolumeAttachment, VolumeSnapshot, VolumeType
from volume.states import SNAPSHOT_DELETABLE, AttachStatus, SnapshotStatus, VolumeAction, VolumeStatus

AVAILABILITY_ZONES = ("nova",)
"""Cinder's one default storage availability zone; volumes are not placed by zone here."""
LIVE_ATTACHMENT = (
    AttachStatus.RESERVED.value,
    AttachStatus.ATTACHING.value,
    AttachStatus.ATTACHED.value,
    AttachStatus.DETACHING.value,
)


@dataclass(frozen=True)
class Source:
    """Where a new volume's data comes from: at most one of these (none: an empty volume)."""

    image_id: str | None = None
    snapshot_id: str | None = None
    source_volid: str | None = None
    backup_id: str | None = None


def default_type(session: Session, settings: Settings) -> VolumeType:
    """The type of a volume created without one (``volume_default_type``)."""
    return types.default_type(session, settings)


def find_type(session: Session, name_or_id: str, project_id: str | None) -> VolumeType:
    """A type the project may use, by id or name (404 otherwise; admins pass ``project_id=None``)."""
    return types.find_type(session, name_or_id, project_id)


def _resolve(session: Session, project_id: str, source: Source) -> tuple[str, sources.Resolved]:
    given = [name for name in ("image_id", "snapshot_id", "source_volid", "backup_id") if getattr(source, name)]
    if len(given) > 1:
        raise InvalidInput(reason="Only one of imageRef, snapshot_id, source_volid and backup_id may be given.")
    if source.image_id:
        return "image", sources.from_image(session, project_id, source.image_id)
    if source.snapshot_id:
        return "snapshot", sources.from_snapshot(session, project_id, source.snapshot_id)
    if source.source_volid:
        return "volume", sources.from_volume(session, project_id, source.source_volid)
    if source.backup_id:
        return "backup", sources.from_backup(session, project_id, source.backup_id)
    return "empty", sources.Resolved(size=None)


def create_volume(
    session: Session,
    settings: Settings,
    *,
    project_id: str,
    user_id: str,
    size: int | None,
    name: str | None = None,
    description: str | None = None,
    volume_type: str | None = None,
    availability_zone: str | None = None,
    metadata: Mapping[str, str] | None = None,
    source: Source = Source(),
) -> Volume:
    """A new ``creating`` volume (``POST /volumes``), checked against the project's ``volumes`` and ``gigabytes``
    quotas in the same locked transaction. ``size`` may be None only with a source that gives one (a snapshot, a
    volume, a backup: theirs; an image: its virtual size in GiB rounded up, at least its ``min_disk``). The source
    must be visible to the project and usable (an ``available`` snapshot, an ``available`` volume, an ``active``
    image); a size smaller than the source's is 400. The caller sends ``volume.client.create_volume`` after commit."""
    kind, resolved = _resolve(session, project_id, source)
    if size is None:
        if resolved.size is None:
            raise InvalidInput(reason="Volume size must be specified.")
        size = resolved.size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidInput(reason=f"Volume size '{size}' must be an integer and greater than 0")
    if size < resolved.min_size:
        raise sources.size_error(kind, size, resolved.min_size)
    zone = availability_zone or AVAILABILITY_ZONES[0]
    if zone not in AVAILABILITY_ZONES:
        raise InvalidInput(reason=f"Availability zone '{zone}' is invalid.")
    if volume_type:
        chosen = types.find_type(session, volume_type, project_id)
    elif resolved.volume_type_id:
        chosen = session.get(VolumeType, resolved.volume_type_id) or types.default_type(session, settings)
    else:
        chosen = types.default_type(session, settings)
    backend = types.backend_of(settings, chosen)
    if resolved.backend and backend != resolved.backend:
        raise InvalidInput(
            reason=f"A volume made from a {kind} stays on its backend ({resolved.backend}); "
            f"volume type {chosen.name} is on {backend}."
        )
    quota.check(session, settings, project_id, {"volumes": 1, "gigabytes": size})
    volume = Volume(
        project_id=project_id,
        user_id=user_id,
        name=name,
        description=description,
        size=size,
        status=VolumeStatus.CREATING.value,
        volume_type_id=chosen.id,
        availability_zone=zone,
        properties=dict(metadata or {}),
        image_metadata=resolved.image_metadata,
        image_id=source.image_id,
        snapshot_id=source.snapshot_id,
        source_volid=source.source_volid,
        backup_id=source.backup_id,
        bootable=resolved.bootable if source.backup_id else False,
        backend=backend,
    )
    session.add(volume)
    if source.backup_id:
        backups.claim_for_restore(session, source.backup_id, volume)
    session.flush()
    return volume


def _live_snapshots(session: Session, volume: Volume) -> list[VolumeSnapshot]:
    query = select(VolumeSnapshot).where(VolumeSnapshot.volume_id == volume.id, VolumeSnapshot.deleted.is_(False))
    return list(session.scalars(query))


def _has_live_attachment(session: Session, volume: Volume) -> bool:
    query = exists().where(
        VolumeAttachment.volume_id == volume.id,
        VolumeAttachment.deleted.is_(False),
        VolumeAttachment.attach_status.in_(LIVE_ATTACHMENT),
    )
    return bool(session.scalar(select(query)))


def delete_volume(session: Session, volume: Volume, *, cascade: bool = False, force: bool = False) -> None:
    """Start deleting (400 in a status the table forbids, attached, or with snapshots unless ``cascade``; with
    ``cascade`` its snapshots go first). Its quota is freed at once. The caller sends
    ``volume.client.delete_volume``. ``force`` (an admin's ``os-force_delete``) deletes from any status but
    ``deleted``, never while attached."""
    if volume.status == VolumeStatus.DELETED or _has_live_attachment(session, volume):
        raise NotDeletable()
    if not force and not transitions.TRANSITIONS[VolumeAction.DELETE].allows(volume.status):
        raise NotDeletable()
    snapshots = _live_snapshots(session, volume)
    if snapshots and not cascade:
        raise NotDeletable()
    for snapshot in snapshots:
        if snapshot.status not in SNAPSHOT_DELETABLE and snapshot.status != SnapshotStatus.DELETING:
            raise InvalidVolume(reason=f"Snapshot {snapshot.id} is {snapshot.status}: it must be available or error.")
        snapshot.status = SnapshotStatus.DELETING.value
    if force:
        transitions.force(session, volume, VolumeStatus.DELETING, error=None)
    else:
        transitions.begin(session, volume, VolumeAction.DELETE)


def extend_volume(session: Session, settings: Settings, volume: Volume, new_size: int) -> bool:
    """Start growing to ``new_size`` GiB (400 unless larger; 413 over ``gigabytes``). Returns True when the volume
    is attached (the caller asks its server's host to grow it, Cinder 3.42) and False when the volume service does
    (``volume.client.extend_volume``). The quota counts ``new_size`` from now on (``Volume.extending_to``)."""
    transitions.check(volume, VolumeAction.EXTEND)
    if isinstance(new_size, bool) or not isinstance(new_size, int) or new_size <= volume.size:
        raise InvalidInput(
            reason=f"New size for extend must be greater than current size. (current: {volume.size}, "
            f"extended: {new_size})."
        )
    busy = [
        s for s in _live_snapshots(session, volume) if s.status in (SnapshotStatus.CREATING, SnapshotStatus.DELETING)
    ]
    if busy:
        raise InvalidVolume(reason=f"Volume {volume.id} has a snapshot being created or deleted; try again later.")
    quota.check(session, settings, volume.project_id, {"gigabytes": new_size - volume.size})
    attached = volume.status == VolumeStatus.IN_USE
    transitions.begin(session, volume, VolumeAction.EXTEND, extending_to=new_size)
    return attached


def extended(session: Session, volume: Volume, new_size: int) -> None:
    """An attached volume was grown by its host: the new size, back to ``in-use``."""
    transitions.finish(session, volume, VolumeAction.EXTEND, succeeded=True, size=new_size, extending_to=None)


def extend_failed(session: Session, volume: Volume, reason: str) -> None:
    """An attached volume's host could not grow it: ``error_extending`` at its old size, ``reason`` kept."""
    transitions.finish(session, volume, VolumeAction.EXTEND, succeeded=False, error=reason, extending_to=None)


def create_snapshot(
    session: Session,
    *,
    volume: Volume,
    project_id: str,
    user_id: str,
    name: str | None = None,
    description: str | None = None,
    force: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> VolumeSnapshot:
    """A new ``creating`` snapshot (``POST /snapshots``); an ``in-use`` volume needs ``force``. Quotas
    ``snapshots`` and ``gigabytes``. The caller sends ``volume.client.create_snapshot``."""
    transitions.check(volume, VolumeAction.SNAPSHOT)
    if volume.status == VolumeStatus.IN_USE and not force:
        raise InvalidVolume(
            reason=f"Volume {volume.id} status must be available, but current status is: {volume.status}."
        )
    quota.check(session, None, project_id, {"snapshots": 1, "gigabytes": volume.size})
    snapshot = VolumeSnapshot(
        project_id=project_id,
        user_id=user_id,
        volume_id=volume.id,
        name=name,
        description=description,
        size=volume.size,
        status=SnapshotStatus.CREATING.value,
        properties=dict(metadata or {}),
    )
    session.add(snapshot)
    session.flush()
    return snapshot


def host_snapshot_target(
    session: Session, settings: Settings, volume: Volume, snapshot: VolumeSnapshot
) -> dict[str, Any] | None:
    """Who takes the new ``creating`` snapshot of ``volume``: None when the volume service does (the caller sends
    ``volume.client.create_snapshot``); for an ``in-use`` volume whose backend cannot read it beside the guest
    (``VolumeBackend.snapshot_by_host``: a qcow2 file QEMU holds locked), the target the server's host writes a
    point-in-time copy to, in ``connection_info``'s shape. The snapshot's location is recorded now, so the host's
    report cannot point it anywhere else and a delete finds the file whatever became of the copy; the compute
    side asks the host (``compute.volumes.snapshot_attached_volume``) and ends it with ``snapshot_taken`` or
    ``snapshot_failed``."""
    if volume.status != VolumeStatus.IN_USE or not volume.location or snapshot.status != SnapshotStatus.CREATING:
        return None
    found = backend_for(settings, volume.backend).snapshot_by_host(volume.location, snapshot.id)
    if found is None:
        return None
    snapshot.location, target = found
    session.flush()
    return target.as_dict()


def _end_creating(session: Session, snapshot: VolumeSnapshot, **values: object) -> bool:
    result = session.execute(
        update(VolumeSnapshot)
        .where(VolumeSnapshot.id == snapshot.id, VolumeSnapshot.status == SnapshotStatus.CREATING.value)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1


def snapshot_taken(session: Session, snapshot: VolumeSnapshot) -> bool:
    """The server's host wrote the copy to the snapshot's location: ``available``. False, and nothing changed,
    when the snapshot was no longer ``creating`` (an admin's reset, the sweeper)."""
    done = {"status": SnapshotStatus.AVAILABLE.value, "progress": "100%", "error": None}
    return _end_creating(session, snapshot, **done)


def snapshot_failed(session: Session, snapshot: VolumeSnapshot, reason: str) -> bool:
    """The server's host could not copy the volume (and left no file): ``error`` with ``reason``. False, and
    nothing changed, when the snapshot was no longer ``creating``."""
    return _end_creating(session, snapshot, status=SnapshotStatus.ERROR.value, error=reason[:1024])


def delete_snapshot(session: Session, snapshot: VolumeSnapshot) -> None:
    """Start deleting (400 unless available or error). The caller sends ``volume.client.delete_snapshot``."""
    if snapshot.status not in SNAPSHOT_DELETABLE:
        raise SnapshotWrongStatus("delete", snapshot.status, SNAPSHOT_DELETABLE)
    result = session.execute(
        update(VolumeSnapshot)
        .where(VolumeSnapshot.id == snapshot.id, VolumeSnapshot.status == snapshot.status)
        .values(status=SnapshotStatus.DELETING.value, error=None, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        session.refresh(snapshot)
        raise SnapshotWrongStatus("delete", snapshot.status, SNAPSHOT_DELETABLE)


def upload_to_image(
    session: Session,
    settings: Settings,
    volume: Volume,
    *,
    project_id: str,
    image_name: str,
    disk_format: str = "raw",
    container_format: str = "bare",
    visibility: str = "private",
    protected: bool = False,
    force: bool = False,
) -> Image:
    """Start copying the volume into a new ``queued`` image of ``project_id`` (``os-volume_upload_image``; an
    ``in-use`` volume needs ``force``), counted against the project's image quota; the volume is ``uploading``
    until the copy ends. The caller sends ``volume.client.upload_to_image(volume.id, image.id)`` after commit."""
    transitions.check(volume, VolumeAction.UPLOAD_IMAGE)
    if volume.status == VolumeStatus.IN_USE and not force:
        raise InvalidVolume(
            reason=f"Volume {volume.id} status must be available or in-use (with force), but current status is: "
            f"{volume.status}."
        )
    if disk_format not in ("raw", "qcow2"):
        raise InvalidInput(reason=f"Invalid disk-format '{disk_format}' is specified. Allowed: raw, qcow2.")
    kept = {k: v for k, v in (volume.image_metadata or {}).items() if k.startswith(sources.IMAGE_PROPERTIES)}
    attrs = {"name": image_name, "disk_format": disk_format, "container_format": container_format}
    attrs |= {"protected": protected, "min_disk": volume.size}
    image = image_service.create_image(session, settings, project_id, visibility, attrs, kept)
    transitions.begin(session, volume, VolumeAction.UPLOAD_IMAGE)
    return image


def set_bootable(session: Session, volume: Volume, bootable: bool) -> None:
    """``os-set_bootable``."""
    transitions.begin(session, volume, VolumeAction.SET_BOOTABLE, bootable=bool(bootable))


def reset_status(session: Session, volume: Volume, status: str) -> None:
    """An admin's ``os-reset_status``: any status but ``deleted``, from any but ``deleted``; clears an action in
    flight (its task finds the volume changed and leaves it)."""
    transitions.check(volume, VolumeAction.RESET_STATUS)
    try:
        target = VolumeStatus(status)
    except ValueError:
        raise InvalidInput(reason=f"Invalid status '{status}'.") from None
    if target is VolumeStatus.DELETED:
        raise InvalidInput(reason="A volume cannot be reset to deleted; delete it.")
    transitions.force(session, volume, target, extending_to=None)


def reserve(
    session: Session, settings: Settings, volume: Volume, *, instance_uuid: str, mountpoint: str
) -> VolumeAttachment:
    """Hold ``volume`` for a server (Nova's attach, a boot from volume): an attachment ``reserved`` with the
    ``connection_info`` the server's host will need, the volume ``reserved``. 400 unless the volume is available."""
    info = connection_info(settings, volume)
    transitions.begin(session, volume, VolumeAction.RESERVE)
    attachment = VolumeAttachment(
        volume_id=volume.id,
        instance_uuid=instance_uuid,
        mountpoint=mountpoint,
        attach_status=AttachStatus.RESERVED.value,
        connection_info=info,
    )
    session.add(attachment)
    session.flush()
    return attachment


def _volume_of(session: Session, attachment: VolumeAttachment) -> Volume:
    volume = session.get(Volume, attachment.volume_id)
    assert volume is not None, "an attachment's volume outlives it"
    return volume


def attaching(session: Session, attachment: VolumeAttachment, host: str) -> None:
    """The server's host is plugging it in (volume ``attaching``)."""
    volume = _volume_of(session, attachment)
    if attachment.attach_status == AttachStatus.ATTACHING and volume.status == VolumeStatus.ATTACHING:
        return
    if attachment.deleted or attachment.attach_status != AttachStatus.RESERVED:
        raise InvalidVolume(reason=f"Attachment {attachment.id} is {attachment.attach_status}, not reserved.")
    transitions.begin(session, volume, VolumeAction.ATTACH)
    attachment.attach_status = AttachStatus.ATTACHING.value
    attachment.attached_host = host
    session.flush()


def attached(session: Session, attachment: VolumeAttachment, host: str) -> None:
    """The host plugged it in: attachment ``attached``, volume ``in-use``. Idempotent."""
    if attachment.attach_status == AttachStatus.ATTACHED:
        return
    volume = _volume_of(session, attachment)
    if volume.status == VolumeStatus.RESERVED:
        transitions.begin(session, volume, VolumeAction.ATTACH)
    if not transitions.finish(session, volume, VolumeAction.ATTACH, succeeded=True):
        raise InvalidVolume(reason=f"Volume {volume.id} is {volume.status}: it was not being attached.")
    attachment.attach_status = AttachStatus.ATTACHED.value
    attachment.attached_host = host
    attachment.attach_time = utcnow()
    session.flush()


def unreserve(session: Session, attachment: VolumeAttachment, reason: str | None = None) -> None:
    """Drop an attachment that never got plugged in (a failed attach, a server deleted first): volume back to
    ``available``. Idempotent."""
    if attachment.deleted:
        return
    volume = _volume_of(session, attachment)
    attachment.attach_status = (AttachStatus.ERROR_ATTACHING if reason else AttachStatus.DETACHED).value
    attachment.deleted = True
    attachment.detach_time = utcnow()
    session.flush()
    if volume.status in (VolumeStatus.RESERVED, VolumeStatus.ATTACHING) and not _has_live_attachment(session, volume):
        transitions.begin(session, volume, VolumeAction.UNRESERVE)
        transitions.finish(session, volume, VolumeAction.UNRESERVE, succeeded=True)
        if reason:
            volume.error = reason[:1024]
    session.flush()


def detaching(session: Session, attachment: VolumeAttachment) -> None:
    """Start unplugging (400 unless attached): volume ``detaching``."""
    volume = _volume_of(session, attachment)
    if attachment.attach_status == AttachStatus.DETACHING and volume.status == VolumeStatus.DETACHING:
        return
    if attachment.deleted or attachment.attach_status != AttachStatus.ATTACHED:
        raise InvalidVolume(
            reason=f"Volume {volume.id} is not attached (its attachment is {attachment.attach_status})."
        )
    transitions.begin(session, volume, VolumeAction.DETACH)
    attachment.attach_status = AttachStatus.DETACHING.value
    session.flush()


def detached(session: Session, attachment: VolumeAttachment) -> None:
    """The host unplugged it (or its server is gone): attachment ``detached``, volume ``available``. Idempotent."""
    if attachment.deleted:
        return
    volume = _volume_of(session, attachment)
    attachment.attach_status = AttachStatus.DETACHED.value
    attachment.deleted = True
    attachment.detach_time = utcnow()
    session.flush()
    if _has_live_attachment(session, volume):
        return
    if volume.status == VolumeStatus.DETACHING:
        transitions.finish(session, volume, VolumeAction.DETACH, succeeded=True)
    elif volume.status in (VolumeStatus.IN_USE, VolumeStatus.RESERVED, VolumeStatus.ATTACHING):
        # The server went away without a detach: nothing holds the volume any more.
        transitions.force(session, volume, VolumeStatus.AVAILABLE)
    session.flush()


def detach_failed(session: Session, attachment: VolumeAttachment, reason: str) -> None:
    """The guest did not release the disk: the attachment stays ``attached``, the volume ``in-use``."""
    volume = _volume_of(session, attachment)
    if attachment.attach_status == AttachStatus.DETACHING:
        attachment.attach_status = AttachStatus.ATTACHED.value
    transitions.finish(session, volume, VolumeAction.DETACH, succeeded=False, error=reason)
    session.flush()


def connection_info(settings: Settings, volume: Volume) -> dict[str, Any]:
    """Cinder's ``connection_info`` for the volume (``volume.backends.base.Connection.as_dict``)."""
    if not volume.location:
        raise InvalidVolume(reason=f"Volume {volume.id} holds no data yet (status {volume.status}).")
    return backend_for(settings, volume.backend).connection(volume.location).as_dict()
