"""The safety net for uploads whose API process died: the image goes back to ``queued``, staged bytes go.

An upload refreshes its image's ``updated_at`` every half minute while bytes flow (``upload.touch``); one that
has been silent far longer than that can only belong to a process that is gone (killed, host rebooted), so
its claim is released and the image can be uploaded again. Staged files are removed by age the same way.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from common.db import Database
from image.models import Image
from image.states import ImageStatus
from image.store.base import ImageStore

LOG = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=10)


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
