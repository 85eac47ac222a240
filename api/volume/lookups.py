"""Finding block storage records as the caller may see them: another project's volume, snapshot or attachment is
404 with Cinder's message, never 403; admins see every project's."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import RequestContext
from common.exceptions import NotFound
from volume.models import Volume, VolumeAttachment, VolumeSnapshot

MAX_ID = 36


def volume(session: Session, ctx: RequestContext, volume_id: str, *, for_update: bool = False) -> Volume:
    query = select(Volume).where(Volume.id == volume_id, Volume.deleted.is_(False))
    if not ctx.is_admin:
        query = query.where(Volume.project_id == ctx.project_id)
    if for_update:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none() if len(volume_id) <= MAX_ID else None
    if found is None:
        raise NotFound(f"Volume {volume_id} could not be found.")
    return found


def snapshot(session: Session, ctx: RequestContext, snapshot_id: str) -> VolumeSnapshot:
    query = select(VolumeSnapshot).where(VolumeSnapshot.id == snapshot_id, VolumeSnapshot.deleted.is_(False))
    if not ctx.is_admin:
        query = query.where(VolumeSnapshot.project_id == ctx.project_id)
    found = session.scalars(query).one_or_none() if len(snapshot_id) <= MAX_ID else None
    if found is None:
        raise NotFound(f"Snapshot {snapshot_id} could not be found.")
    return found


def attachment(session: Session, ctx: RequestContext, attachment_id: str) -> VolumeAttachment:
    query = (
        select(VolumeAttachment)
        .join(Volume, Volume.id == VolumeAttachment.volume_id)
        .where(VolumeAttachment.id == attachment_id, VolumeAttachment.deleted.is_(False))
    )
    if not ctx.is_admin:
        query = query.where(Volume.project_id == ctx.project_id)
    found = session.scalars(query).one_or_none() if len(attachment_id) <= MAX_ID else None
    if found is None:
        raise NotFound(f"Volume attachment could not be found with filter: attachment_id = {attachment_id}.")
    return found
