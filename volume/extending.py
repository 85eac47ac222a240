"""Growing a detached ``extending`` volume on its backend (an attached one is grown by its server's host).

Idempotent: a volume no longer ``extending`` to this size is left alone, and growing to the size it has
succeeds. A failure is ``error_extending`` at the old size, as in Cinder.
"""

from __future__ import annotations

import logging

from common.exceptions import StratusError
from volume import transitions
from volume.context import VolumeWorker
from volume.models import Volume
from volume.states import VolumeAction, VolumeStatus

LOG = logging.getLogger(__name__)


def extend(worker: VolumeWorker, volume_id: str, new_size: int) -> str:
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        if volume is None or volume.status != VolumeStatus.EXTENDING or volume.extending_to != new_size:
            return "skipped"
        if volume.previous_status == VolumeStatus.IN_USE:
            return "skipped"  # the server's host grows an attached volume
        backend_name, location = volume.backend, volume.location
    try:
        if not location:
            raise StratusError("The volume holds no data to extend.")
        worker.backend(backend_name).extend(location, new_size)
        succeeded, error = True, None
    except Exception as exc:
        error = exc.message if isinstance(exc, StratusError) else "The volume could not be extended."
        LOG.warning("volume %s: extend failed: %s", volume_id, error, exc_info=not isinstance(exc, StratusError))
        succeeded = False
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        if volume is None:
            return "skipped"
        size = {"size": new_size} if succeeded else {}
        transitions.finish(
            session, volume, VolumeAction.EXTEND, succeeded=succeeded, error=error, extending_to=None, **size
        )
    return volume.status
