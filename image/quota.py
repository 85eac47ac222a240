"""Image quota hooks: how many images and how many bytes a project may keep.

Usage is counted from the database, never tracked separately; limits come from the settings until the
quota engine provides per-project ones (``limits_for`` is the seam).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.settings import Settings
from image.models import Image
from image.states import ImageStatus

UNLIMITED = -1
# What still occupies space or a slot: everything but deleted images.
_COUNTED = tuple(s.value for s in ImageStatus if s is not ImageStatus.DELETED)


@dataclass(frozen=True)
class ImageLimits:
    count: int
    total_bytes: int


def limits_for(settings: Settings, project_id: str) -> ImageLimits:
    return ImageLimits(settings.image_quota_count, settings.image_quota_bytes)


def image_count(session: Session, project_id: str) -> int:
    query = select(func.count()).select_from(Image).where(Image.owner == project_id, Image.status.in_(_COUNTED))
    return session.scalar(query) or 0


def bytes_used(session: Session, project_id: str, excluding: str | None = None) -> int:
    query = select(func.coalesce(func.sum(Image.size), 0)).where(Image.owner == project_id, Image.status.in_(_COUNTED))
    if excluding:
        query = query.where(Image.id != excluding)
    return int(session.scalar(query) or 0)


def upload_allowance(session: Session, settings: Settings, project_id: str, image_id: str) -> int:
    """How many bytes an upload to this image may bring: the size cap or what the quota leaves, whichever is less."""
    limit = limits_for(settings, project_id).total_bytes
    if limit == UNLIMITED:
        return settings.image_size_cap
    return max(0, min(settings.image_size_cap, limit - bytes_used(session, project_id, excluding=image_id)))
