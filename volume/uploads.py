"""Copying an ``uploading`` volume into the ``queued`` image made for it (``os-volume_upload_image``).

The volume's data is exported to a temporary file beside the volumes, then handed to the image service's own
upload (``image.service.receive_data``): the image is checksummed, inspected and stored as any upload is, and
becomes ``active`` only if the owner's image storage quota still holds it. The volume returns to the status it
had. A failure leaves the volume as it was (with the reason in its ``error``) and removes the image, which got
no data.
"""

from __future__ import annotations

import logging
import uuid

from common.exceptions import StratusError
from image import service as image_service
from image.models import Image
from image.states import ImageStatus
from volume import transitions
from volume.context import VolumeWorker
from volume.models import Volume
from volume.states import VolumeAction, VolumeStatus

LOG = logging.getLogger(__name__)


def upload(worker: VolumeWorker, volume_id: str, image_id: str) -> str:
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        image = session.get(Image, image_id)
        if volume is None or volume.status != VolumeStatus.UPLOADING:
            return "skipped"
        if image is None or image.status != ImageStatus.QUEUED:
            transitions.finish(session, volume, VolumeAction.UPLOAD_IMAGE, succeeded=False, error="The image is gone.")
            return "skipped"
        backend_name, location, disk_format = volume.backend, volume.location, image.disk_format or "raw"
        allowance = image_service.upload_allowance(session, worker.settings, image.owner, image_id)
    exports = worker.settings.effective_volume_dir / ".exports"
    exports.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = exports / f"{volume_id}.{uuid.uuid4().hex}.{disk_format}"
    try:
        if not location:
            raise StratusError("The volume holds no data to upload.")
        worker.backend(backend_name).export(location, target, disk_format)
        with open(target, "rb") as stream:
            size = target.stat().st_size
            store, settings = worker.image_store, worker.settings
            image_service.receive_data(worker.db, store, settings, image, stream, allowance, expected_size=size)
        succeeded, error = True, None
    except Exception as exc:
        error = exc.message if isinstance(exc, StratusError) else "The volume could not be uploaded to the image."
        LOG.warning("volume %s: upload to image %s failed: %s", volume_id, image_id, error, exc_info=True)
        succeeded = False
    finally:
        target.unlink(missing_ok=True)
    with worker.db.session() as session:
        if not succeeded:
            queued = session.get(Image, image_id)
            if queued is not None and queued.status == ImageStatus.QUEUED:
                image_service.discard_snapshot(session, image_id)
        volume = session.get(Volume, volume_id)
        if volume is not None:
            transitions.finish(session, volume, VolumeAction.UPLOAD_IMAGE, succeeded=succeeded, error=error)
    LOG.info("volume %s: upload to image %s %s", volume_id, image_id, "done" if succeeded else "failed")
    return "active" if succeeded else "failed"
