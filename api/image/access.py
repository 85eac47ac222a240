"""Which images a caller may see, list and change: Glance's visibility and membership rules in one place.

Seeing and listing differ, as in Glance: a community image can be used by anyone who knows its id but is
listed only for its owner or when asked for; a shared image is listed for members who accepted it, and
visible by id to any member. An image the caller may not see is a 404, never a 403.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from api.context import RequestContext
from common.exceptions import NotFound
from image.models import Image, ImageMember
from image.states import ImageStatus, MemberStatus, Visibility


def _member_of(project_id: str, statuses: tuple[str, ...] | None = None) -> ColumnElement[bool]:
    query = select(ImageMember.image_id).where(ImageMember.member_id == project_id)
    if statuses:
        query = query.where(ImageMember.status.in_(statuses))
    return Image.id.in_(query)


def visible(ctx: RequestContext) -> ColumnElement[bool]:
    """Images the caller may read by id."""
    if ctx.is_admin:
        return true()
    project = ctx.project_id or ""
    return or_(
        Image.owner == project,
        Image.visibility.in_((Visibility.PUBLIC.value, Visibility.COMMUNITY.value)),
        and_(Image.visibility == Visibility.SHARED.value, _member_of(project)),
    )


def listed(ctx: RequestContext, visibility: str | None, member_status: str | None) -> ColumnElement[bool]:
    """Images a list request shows, following Glance's defaults for each ``visibility`` filter."""
    project = ctx.project_id or ""
    statuses = (member_status,) if member_status and member_status != "all" else None
    accepted = statuses or (MemberStatus.ACCEPTED.value,)
    shared_with_me = and_(Image.visibility == Visibility.SHARED.value, _member_of(project, accepted))
    own = Image.owner == project
    if visibility in (None, "all"):
        if ctx.is_admin:
            return true()
        everyone = (Visibility.PUBLIC.value,) + ((Visibility.COMMUNITY.value,) if visibility == "all" else ())
        return or_(own, Image.visibility.in_(everyone), shared_with_me)
    condition = Image.visibility == visibility
    if visibility in (Visibility.PUBLIC.value, Visibility.COMMUNITY.value) or ctx.is_admin:
        return condition
    if visibility == Visibility.SHARED.value:
        return and_(condition, or_(own, _member_of(project, accepted)))
    if visibility == Visibility.PRIVATE.value:
        return and_(condition, own)
    return false()


def not_deleted() -> ColumnElement[bool]:
    return Image.status != ImageStatus.DELETED.value


def get_visible(session: Session, ctx: RequestContext, image_id: str, for_update: bool = False) -> Image:
    query = select(Image).where(Image.id == image_id, not_deleted(), visible(ctx))
    if for_update:
        query = query.with_for_update()
    image = session.scalars(query).one_or_none() if len(image_id) <= 36 else None
    if image is None:
        raise NotFound(f"No image found with ID {image_id}")
    return image
