"""The safety net for uploads whose API process died (the image goes back to ``queued``, staged bytes go) and
for image tasks (``/v2/tasks``): expired ones are removed, ones whose worker died end in ``failure``, and ones
still ``pending`` long after they were sent are sent again (their run claims them once, so that is harmless).

An upload refreshes its image's ``updated_at`` every half minute while bytes flow (``upload.touch``); one that
has been silent far longer than that can only belong to a process that is gone (killed, host rebooted), so
its claim is released and the image can be uploaded again. Staged files are removed by age the same way.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update

from common.db import Database
from image.models import Image, ImageTask
from image.states import ImageStatus, TaskStatus
from image.store.base import ImageStore

LOG = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=10)
TASK_RUNS_AT_MOST = timedelta(hours=4, minutes=5)
"""Longer than the run's time limit (``image.tasks``): a task still ``processing`` after that has no worker."""


def sweep(db: Database, store: ImageStore, stale_after: timedelta = STALE_AFTER) -> tuple[int, int]:
    """Release stale upload claims and delete stale staged files; returns how many of each."""
    cutoff = datetime.now(UTC) - stale_after
    with db.session() as session:
        result = session.execute(
            update(Image)
            .where(
                Image.status.in_((ImageStatus.SAVING.value, ImageStatus.UPLOADING.value)),
                Image.upload_token.is_not(None),
                Image.updated_at < cutoff,
            )
            .values(status=ImageStatus.QUEUED.value, upload_token=None, updated_at=datetime.now(UTC))
        )
        released = result.rowcount
    removed = store.sweep_staging(stale_after.total_seconds())
    if released or removed:
        LOG.warning("released %d stale uploads, removed %d stale staged files", released, removed)
    return released, removed


def sweep_tasks(db: Database, time_to_live: timedelta, resend_after: timedelta = STALE_AFTER) -> list[str]:
    """Remove expired tasks, end orphaned ``processing`` ones in ``failure``; return the ids of tasks ``pending``
    for longer than ``resend_after`` (their message may be lost), marked as re-sent now."""
    now = datetime.now(UTC)
    with db.session() as session:
        removed = session.execute(delete(ImageTask).where(ImageTask.expires_at < now)).rowcount
        orphaned = session.execute(
            update(ImageTask)
            .where(
                ImageTask.status == TaskStatus.PROCESSING.value,
                func.coalesce(ImageTask.updated_at, ImageTask.created_at) < now - TASK_RUNS_AT_MOST,
            )
            .values(
                status=TaskStatus.FAILURE.value,
                message="The image service stopped while running this task.",
                updated_at=now,
                expires_at=now + time_to_live,
            )
        ).rowcount
        stale = func.coalesce(ImageTask.updated_at, ImageTask.created_at) < now - resend_after
        waiting = list(session.scalars(select(ImageTask.id).where(ImageTask.status == TaskStatus.PENDING.value, stale)))
        if waiting:
            session.execute(update(ImageTask).where(ImageTask.id.in_(waiting)).values(updated_at=now))
    if removed or orphaned or waiting:
        LOG.warning("image tasks: %d expired removed, %d orphaned failed, %d re-sent", removed, orphaned, len(waiting))
    return waiting
