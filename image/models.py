"""Image records: the image, its properties and tags, and the projects it is shared with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, TimestampMixin, new_uuid


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
