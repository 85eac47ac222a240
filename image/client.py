"""What other services call to ask the image service for work: task names and arguments live here only."""

from __future__ import annotations

from celery import Celery

IMPORT_IMAGE = "image.import_image"
SWEEP = "image.sweep_stale_uploads"
ENSURE_VARIANT = "image.ensure_variant"
DELETE_SERVER_SNAPSHOT = "image.delete_server_snapshot"
RUN_TASK = "image.run_task"


def delete_server_snapshot(app: Celery, image_id: str, request_id: str) -> None:
    """Delete the image compute made of a server for itself (a shelved server's, once unshelved or deleted), as
    Nova deletes it through Glance on the user's behalf. Idempotent; a protected image is kept."""
    app.send_task(DELETE_SERVER_SNAPSHOT, args=[image_id], kwargs={"request_id": request_id})


def import_image(app: Celery, image_id: str, request_id: str) -> None:
    """Finish an interoperable import in the image service (queue ``image``)."""
    app.send_task(IMPORT_IMAGE, args=[image_id], kwargs={"request_id": request_id})


def ensure_variant(app: Celery, image_id: str, disk_format: str, timeout: float = 3600) -> dict[str, object]:
    """Have the image service prepare the image in ``disk_format`` (once) and wait for its size and md5 (a host
    asks: its application gives the task an id under the host's name, the only results its Redis user reads)."""
    result = app.send_task(ENSURE_VARIANT, args=[image_id, disk_format], ignore_result=False)
    return result.get(timeout=timeout)


def run_task(app: Celery, task_id: str, request_id: str) -> None:
    """Run a Glance task (``POST /v2/tasks``: an ``import`` from a web source) in the image service. Idempotent:
    a task already claimed or ended is left alone."""
    app.send_task(RUN_TASK, args=[task_id], kwargs={"request_id": request_id})
