"""How other packages ask the volume service for work: every task name and its arguments live here, nowhere else.

Tasks go to the ``volume`` queue (``common.queue`` routes them by their prefix) and carry ids, never ORM objects;
each is sent after the transaction that made the records it names has committed.
"""

from __future__ import annotations

from celery import Celery

CREATE_VOLUME = "volume.create_volume"
DELETE_VOLUME = "volume.delete_volume"
EXTEND_VOLUME = "volume.extend_volume"
CREATE_SNAPSHOT = "volume.create_snapshot"
DELETE_SNAPSHOT = "volume.delete_snapshot"
UPLOAD_TO_IMAGE = "volume.upload_to_image"
CREATE_BACKUP = "volume.create_backup"
DELETE_BACKUP = "volume.delete_backup"
RESTORE_BACKUP = "volume.restore_backup"
SWEEP = "volume.sweep"


def _send(app: Celery, name: str, *args: object, request_id: str, delay: float = 0.0) -> None:
    app.send_task(name, args=list(args), kwargs={"request_id": request_id}, countdown=delay or None)


def create_volume(app: Celery, volume_id: str, request_id: str) -> None:
    """Make the ``creating`` volume's data on its backend (empty, or from its image, snapshot or source volume)."""
    _send(app, CREATE_VOLUME, volume_id, request_id=request_id)


def delete_volume(app: Celery, volume_id: str, request_id: str) -> None:
    """Remove the ``deleting`` volume's data (and its snapshots', when deleted with cascade)."""
    _send(app, DELETE_VOLUME, volume_id, request_id=request_id)


def extend_volume(app: Celery, volume_id: str, new_size: int, request_id: str) -> None:
    """Grow the detached ``extending`` volume to ``new_size`` GiB."""
    _send(app, EXTEND_VOLUME, volume_id, new_size, request_id=request_id)


def create_snapshot(app: Celery, snapshot_id: str, request_id: str) -> None:
    _send(app, CREATE_SNAPSHOT, snapshot_id, request_id=request_id)


def delete_snapshot(app: Celery, snapshot_id: str, request_id: str) -> None:
    _send(app, DELETE_SNAPSHOT, snapshot_id, request_id=request_id)


def upload_to_image(app: Celery, volume_id: str, image_id: str, request_id: str) -> None:
    """Copy the ``uploading`` volume's data into the ``queued`` image ``image_id``."""
    _send(app, UPLOAD_TO_IMAGE, volume_id, image_id, request_id=request_id)


def create_backup(app: Celery, backup_id: str, request_id: str, delay: float = 0.0) -> None:
    """Copy the ``creating`` backup's volume (or snapshot) into the backup store: all of it, or the blocks changed
    since its parent. ``delay``: in that many seconds (the job waits for an in-use volume's snapshot so)."""
    _send(app, CREATE_BACKUP, backup_id, request_id=request_id, delay=delay)


def delete_backup(app: Celery, backup_id: str, request_id: str) -> None:
    """Remove the ``deleting`` backup's data from the backup store."""
    _send(app, DELETE_BACKUP, backup_id, request_id=request_id)


def restore_backup(app: Celery, backup_id: str, volume_id: str, request_id: str) -> None:
    """Write the ``restoring`` backup's chain into the ``restoring-backup`` volume."""
    _send(app, RESTORE_BACKUP, backup_id, volume_id, request_id=request_id)
