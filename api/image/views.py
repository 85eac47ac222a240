"""How images and members look on the wire, as Glance's api-ref shows them."""

from __future__ import annotations

from typing import Any

from api.urls import isotime
from image.models import Image, ImageMember

BASE_ATTRIBUTES = (
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "disk_format",
    "container_format",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "min_disk",
    "min_ram",
    "tags",
    "created_at",
    "updated_at",
)


def glance_time(moment: Any) -> str | None:
    """Glance prints seconds only: ``2014-11-07T17:07:06Z``."""
    text = isotime(moment)
    return None if text is None else text[:19] + "Z"


def image_view(image: Image) -> dict[str, Any]:
    body: dict[str, Any] = dict(image.properties or {})
    body.update(
        id=image.id,
        name=image.name,
        status=image.status,
        visibility=image.visibility,
        protected=image.protected,
        os_hidden=image.os_hidden,
        owner=image.owner,
        disk_format=image.disk_format,
        container_format=image.container_format,
        size=image.size,
        virtual_size=image.virtual_size,
        checksum=image.checksum,
        os_hash_algo=image.os_hash_algo,
        os_hash_value=image.os_hash_value,
        min_disk=image.min_disk,
        min_ram=image.min_ram,
        tags=list(image.tags or []),
        created_at=glance_time(image.created_at),
        updated_at=glance_time(image.updated_at or image.created_at),
        self=f"/v2/images/{image.id}",
        file=f"/v2/images/{image.id}/file",
        schema="/v2/schemas/image",
    )
    return body


def member_view(member: ImageMember) -> dict[str, Any]:
    return {
        "image_id": member.image_id,
        "member_id": member.member_id,
        "status": member.status,
        "created_at": glance_time(member.created_at),
        "updated_at": glance_time(member.updated_at or member.created_at),
        "schema": "/v2/schemas/member",
    }
