"""Which images a caller may see, list and change: Glance's visibility and membership rules in one place.

Seeing and listing differ, as in Glance: a community image can be used by anyone who knows its id but is
listed only for its owner or when asked for; a shared image is listed for members who accepted it, and
visible by id to any member. An image the caller may not see is a 404, never a 403.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true
from sqlalchemy.orm import Session

from api.context import RequestContext
from common.accounts import HOST_ROLE
from common.exceptions import NotFound
from compute.models import Instance, Migration
from compute.moves import Status
from compute.states import TaskState
from image.models import Image, ImageMember
from image.states import ImageStatus, MemberStatus, Visibility

FETCHING = (
    TaskState.NETWORKING.value,
    TaskState.SPAWNING.value,
    TaskState.REBUILDING.value,
    TaskState.RESIZE_PREP.value,
    TaskState.RESCUING.value,
)
"""Task states in which a compute host fetches the server's image (to its image cache) for the build."""
TARGET_PREPARES = tuple(
    s.value for s in (Status.PRE_MIGRATING, Status.MIGRATING, Status.POST_MIGRATING, Status.QUEUED, Status.PREPARING)
)
"""Statuses of a move in which its target fetches the server's image (a cold move's finish, a live migration's
preparation)."""
SNAPSHOTTING = (TaskState.IMAGE_SNAPSHOT.value, TaskState.SHELVING.value)
"""Task states in which a compute host uploads a snapshot of the server (createImage, shelve)."""


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
        needed_by_host(ctx.host) if ctx.has_role(HOST_ROLE) and ctx.host else false(),
    )


def _snapshots_in_flight(host: str) -> Select[tuple[str]]:
    return select(Instance.id).where(
        Instance.deleted.is_(False), Instance.host == host, Instance.task_state.in_(SNAPSHOTTING)
    )


def needed_by_host(host: str) -> ColumnElement[bool]:
    """What one compute host (a ``host``-role request signed as ``host``, see ``common.hostauth``) may see of other
    projects' images: the image of a server that host is building, rebuilding, resizing or receiving now, and the queued
    image of a snapshot it is taking (it uploads the data). Nothing else: not what another host is building (one
    host broken into must not read every image in flight in the cloud), and once a build is over the host has the
    image in its cache and needs it no more."""
    fetching = select(Instance.image_ref).where(
        Instance.deleted.is_(False), Instance.host == host, Instance.task_state.in_(FETCHING)
    )
    snapshot = and_(
        Image.status == ImageStatus.QUEUED.value,
        Image.properties["image_type"].as_string() == "snapshot",
        Image.properties["instance_uuid"].as_string().in_(_snapshots_in_flight(host)),
    )
    unshelving = select(Instance.shelved_image_id).where(
        Instance.deleted.is_(False), Instance.host == host, Instance.task_state == TaskState.UNSHELVING.value
    )
    # The target of a move under way is not the server's host yet, and prepares the guest from its image.
    moving_here = (
        select(Instance.image_ref)
        .join(Migration, Migration.instance_id == Instance.id)
        .where(Instance.deleted.is_(False), Migration.dest_compute == host, Migration.status.in_(TARGET_PREPARES))
    )
    return or_(Image.id.in_(fetching), Image.id.in_(unshelving), Image.id.in_(moving_here), snapshot)


def snapshot_host(session: Session, image: Image) -> str | None:
    """The host taking the snapshot whose queued image ``image`` is, now (it may upload the data); else None."""
    properties = image.properties or {}
    if image.status != ImageStatus.QUEUED or properties.get("image_type") != "snapshot":
        return None
    query = select(Instance.host).where(
        Instance.id == str(properties.get("instance_uuid")),
        Instance.deleted.is_(False),
        Instance.task_state.in_(SNAPSHOTTING),
    )
    return session.scalars(query).first()


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
