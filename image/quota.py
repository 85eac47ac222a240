"""Image quotas: how many images (``image_count_total``) and bytes (``image_size_total``) a project may keep.

Usage is counted from the database, never tracked separately; limits are the quota engine's (per project,
else the default class, else the ``image_quota_count``/``image_quota_bytes`` settings). Bytes are limited
twice: while an upload streams (``upload_allowance``: it stops as soon as the data passes what is left), and
once more under the project's quota lock before the image becomes active (``recheck_upload``), because two
uploads streaming at once were each allowed what was left before either finished.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from common.settings import Settings
from image.models import Image
from image.states import ImageStatus
from quota import engine, limits
from quota.exceptions import Overage, OverQuota
from quota.registry import UNLIMITED

# What still occupies space or a slot: everything but deleted images.
_COUNTED = tuple(s.value for s in ImageStatus if s is not ImageStatus.DELETED)


# Built once: building a statement costs more than running it (it runs in every image create's check).
_IMAGES = select(func.count(), func.coalesce(func.sum(Image.size), 0)).where(
    Image.owner == bindparam("project_id"), Image.status.in_(_COUNTED)
)


def count_images(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    count, size = session.connection().execute(_IMAGES, {"project_id": project_id}).one()
    return {"image_count_total": count, "image_size_total": int(size)}


def image_count(session: Session, project_id: str) -> int:
    return count_images(session, project_id, None)["image_count_total"]


def bytes_used(session: Session, project_id: str, excluding: str | None = None) -> int:
    query = select(func.coalesce(func.sum(Image.size), 0)).where(Image.owner == project_id, Image.status.in_(_COUNTED))
    if excluding:
        query = query.where(Image.id != excluding)
    return int(session.scalar(query) or 0)


def check_create(session: Session, settings: Settings, project_id: str) -> None:
    """One image more, counted under the project's quota lock in the create's transaction."""
    engine.enforce(session, project_id, {"image_count_total": 1}, settings=settings)


def upload_allowance(session: Session, settings: Settings, project_id: str, image_id: str) -> int:
    """How many bytes an upload to this image may bring: the size cap or what the quota leaves, whichever is less."""
    limit = limits.limits(session, project_id, ["image_size_total"], settings)["image_size_total"]
    if limit == UNLIMITED:
        return settings.image_size_cap
    return max(0, min(settings.image_size_cap, limit - bytes_used(session, project_id, excluding=image_id)))


def recheck_upload(session: Session, settings: Settings, project_id: str, image_id: str, size: int) -> None:
    """Before an upload's image becomes active: its ``size`` bytes still fit, counted under the lock."""
    engine.lock(session, project_id)
    limit = limits.limits(session, project_id, ["image_size_total"], settings)["image_size_total"]
    if limit == UNLIMITED:
        return
    used = bytes_used(session, project_id, excluding=image_id)
    if used + size > limit:
        raise OverQuota(project_id, [Overage("image_size_total", limit, used, size)])
