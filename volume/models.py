"""Volume records: volume types, volumes, their snapshots, attachments and backups.

Columns are Cinder's names where Cinder shows them; ``backend`` and ``location`` are ours: the name of the backend
(``volume.backends``) that holds the data and that backend's own name for it (a file under the volume directory,
an RBD image ``pool/name``), set once the backend has made it and never given to a client. Sizes are GiB, as
Cinder's. Deleted volumes, snapshots, attachments and backups stay as records (``deleted``), as in Cinder.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, TimestampMixin, UTCDateTime, new_uuid


class VolumeType(TimestampMixin, Base):
    """A named kind of volume; ``extra_specs["volume_backend_name"]`` picks the backend (Cinder's key)."""

    __tablename__ = "volume_types"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255), default=None)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    extra_specs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class VolumeTypeAccess(Base):
    """A project allowed to use a private volume type (``os-volume-type-access``)."""

    __tablename__ = "volume_type_projects"

    volume_type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Volume(TimestampMixin, Base):
    __tablename__ = "volumes"
    __table_args__ = (Index("ix_volumes_project_usage", "project_id", "deleted", "size"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(String(255), default=None)
    size: Mapped[int] = mapped_column(Integer)
    extending_to: Mapped[int | None] = mapped_column(Integer, default=None)
    """While ``extending``: the size asked for. The quota counts it from the moment the extend is accepted;
    ``size`` stays what the backend holds until the extend succeeds."""
    status: Mapped[str] = mapped_column(String(24), default="creating")
    previous_status: Mapped[str | None] = mapped_column(String(24), default=None)
    """The status an action in flight started from (``volume.states.BACK`` returns to it)."""
    volume_type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id"))
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False)
    properties: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    """Cinder's ``metadata`` (a reserved name in SQLAlchemy models)."""
    image_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """``volume_image_metadata``: the source image's id, name and disk properties, kept for booting from it."""
    source_volid: Mapped[str | None] = mapped_column(String(36), default=None)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), default=None)
    image_id: Mapped[str | None] = mapped_column(String(36), default=None)
    """The image it was created from (Cinder's ``imageRef``)."""
    backup_id: Mapped[str | None] = mapped_column(String(36), default=None)
    """The backup it was last restored from."""
    backend: Mapped[str] = mapped_column(String(32))
    location: Mapped[str | None] = mapped_column(String(255), default=None)
    error: Mapped[str | None] = mapped_column(String(1024), default=None)
    """Why the last action failed, for the user messages and the portal (Cinder logs it)."""
    consumes_quota: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class VolumeSnapshot(TimestampMixin, Base):
    __tablename__ = "volume_snapshots"
    __table_args__ = (Index("ix_volume_snapshots_project_usage", "project_id", "deleted", "size"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(String(255), default=None)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(24), default="creating")
    progress: Mapped[str] = mapped_column(String(8), default="0%")
    properties: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    location: Mapped[str | None] = mapped_column(String(255), default=None)
    error: Mapped[str | None] = mapped_column(String(1024), default=None)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class VolumeAttachment(TimestampMixin, Base):
    """One volume plugged into one server (Cinder's attachment record; Nova's ``attachment_id``)."""

    __tablename__ = "volume_attachments"
    __table_args__ = (Index("ix_volume_attachments_instance", "instance_uuid", "deleted"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True)
    instance_uuid: Mapped[str] = mapped_column(String(36))
    attached_host: Mapped[str | None] = mapped_column(String(255), default=None)
    mountpoint: Mapped[str | None] = mapped_column(String(32), default=None)
    """The device name the server sees it as (``/dev/vdb``)."""
    attach_status: Mapped[str] = mapped_column(String(24), default="reserved")
    attach_mode: Mapped[str] = mapped_column(String(4), default="rw")
    connector: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    connection_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    attach_time: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    detach_time: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class VolumeBackup(TimestampMixin, Base):
    """A copy of a volume's data in the backup store, whole or (``parent_id``) the blocks changed since its parent.

    ``checkpoint`` names the point the next incremental backup starts from, in the source's own terms (a QEMU
    dirty bitmap through libvirt's checkpoints for an attached volume, an RBD snapshot on Ceph); ``stored_bytes``
    is what this backup really wrote to the store (an incremental backup's changed blocks only).
    """

    __tablename__ = "volume_backups"
    __table_args__ = (Index("ix_volume_backups_project_usage", "project_id", "deleted", "size"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    """Not a foreign key: a backup outlives its volume."""
    snapshot_id: Mapped[str | None] = mapped_column(String(36), default=None)
    temp_snapshot_id: Mapped[str | None] = mapped_column(String(36), default=None)
    """The snapshot an in-use volume is backed up from, taken for the backup and deleted after it (Cinder's
    ``temp_snapshot_id``): a volume QEMU holds is read from a point-in-time copy, never beside the guest."""
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(String(255), default=None)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(24), default="creating")
    fail_reason: Mapped[str | None] = mapped_column(String(1024), default=None)
    is_incremental: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("volume_backups.id"), default=None, index=True)
    container: Mapped[str | None] = mapped_column(String(255), default=None)
    """Where the backup store keeps it (a directory name, a Ceph pool)."""
    location: Mapped[str | None] = mapped_column(String(255), default=None)
    checkpoint: Mapped[str | None] = mapped_column(String(255), default=None)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    object_count: Mapped[int] = mapped_column(Integer, default=0)
    data_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    properties: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    restore_volume_id: Mapped[str | None] = mapped_column(String(36), default=None)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
