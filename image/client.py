"""What other services call to ask the image service for work: task names and arguments live here only."""

from __future__ import annotations

from celery import Celery

IMPORT_IMAGE = "image.import_image"
SWEEP = "image.sweep_stale_uploads"


def import_image(app: Celery, image_id: str, request_id: str) -> None:
    """Finish an interoperable import in the image service (queue ``image``)."""
    app.send_task(IMPORT_IMAGE, args=[image_id], kwargs={"request_id": request_id})
