"""Image records: the image, its properties and tags, the projects it is shared with, and the metadata-definition
catalogue (metadefs) describing the properties images and other resources may carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, TimestampMixin, UTCDateTime, new_uuid


class Image(TimestampMixin, Base):
    __tablename__ = "images"
    __table_args__ = (Index("ix_images_owner_status", "owner", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    owner: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    visibility: Mapped[str] = mapped_column(String(16), default="shared")
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    os_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    disk_format: Mapped[str | None] = mapped_column(String(16), default=None)
    container_format: Mapped[str | None] = mapped_column(String(16), default=None)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    checksum: Mapped[str | None] = mapped_column(String(32), default=None)
    os_hash_algo: Mapped[str | None] = mapped_column(String(16), default=None)
    os_hash_value: Mapped[str | None] = mapped_column(String(128), default=None)
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Where the data is, in the store's own terms; set only once the data is complete and inspected.
    location: Mapped[str | None] = mapped_column(String(255), default=None)
    # Data staged for an interoperable import, not yet inspected: never served.
    staging_location: Mapped[str | None] = mapped_column(String(255), default=None)
    # Which upload (or stage) owns the image while it is saving: a crashed upload can be recognised and reset.
    upload_token: Mapped[str | None] = mapped_column(String(64), default=None)


class ImageMember(TimestampMixin, Base):
    __tablename__ = "image_members"

    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")


class ImageTask(TimestampMixin, Base):
    """A Glance task (``/v2/tasks``): an ``import`` of image data from a web source, run by the image service
    (``image.web_import``). ``status`` is a ``TaskStatus``; ``result`` names the image made, ``message`` says why
    it failed. Kept until ``expires_at`` (set when it ends, as Glance's task_time_to_live), then swept."""

    __tablename__ = "image_tasks"
    __table_args__ = (Index("ix_image_tasks_owner_created_at", "owner", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    owner: Mapped[str] = mapped_column(String(64))
    input: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    image_id: Mapped[str | None] = mapped_column(String(36), default=None)
    user_id: Mapped[str | None] = mapped_column(String(64), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)


class ImageVariant(TimestampMixin, Base):
    """The image's data converted to another disk format, kept for hosts that need that format.

    Made by the image service from the inspected original (never from unchecked data), on request, once.
    """

    __tablename__ = "image_variants"

    image_id: Mapped[str] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    disk_format: Mapped[str] = mapped_column(String(16), primary_key=True)
    location: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(32))


# Metadata definitions (Glance "metadefs"): a catalogue of the keys a resource may carry, not values. Every row of
# a namespace goes with it (ondelete CASCADE); names are unique within their namespace, namespaces cloud-wide.


class MetadefNamespace(TimestampMixin, Base):
    __tablename__ = "metadef_namespaces"
    __table_args__ = (UniqueConstraint("namespace"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    namespace: Mapped[str] = mapped_column(String(80))
    display_name: Mapped[str | None] = mapped_column(String(80), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str] = mapped_column(String(255), index=True)


class MetadefResourceType(TimestampMixin, Base):
    """A kind of resource namespaces apply to (``OS::Glance::Image``); made on first association, as in Glance."""

    __tablename__ = "metadef_resource_types"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)


class MetadefResourceTypeAssociation(TimestampMixin, Base):
    __tablename__ = "metadef_namespace_resource_types"

    namespace_id: Mapped[str] = mapped_column(ForeignKey("metadef_namespaces.id", ondelete="CASCADE"), primary_key=True)
    resource_type: Mapped[str] = mapped_column(
        ForeignKey("metadef_resource_types.name", ondelete="CASCADE"), primary_key=True, index=True
    )
    prefix: Mapped[str | None] = mapped_column(String(80), default=None)
    properties_target: Mapped[str | None] = mapped_column(String(80), default=None)


class MetadefObject(TimestampMixin, Base):
    __tablename__ = "metadef_objects"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    namespace_id: Mapped[str] = mapped_column(ForeignKey("metadef_namespaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    required: Mapped[list[str]] = mapped_column(JSON, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MetadefProperty(TimestampMixin, Base):
    """One property definition; ``definition`` is its JSON-schema fragment (type, title, enum ...), name apart."""

    __tablename__ = "metadef_properties"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    namespace_id: Mapped[str] = mapped_column(ForeignKey("metadef_namespaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MetadefTag(TimestampMixin, Base):
    __tablename__ = "metadef_tags"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    namespace_id: Mapped[str] = mapped_column(ForeignKey("metadef_namespaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
