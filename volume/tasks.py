"""Celery entry points of the volume service: thin wrappers that find the shared worker context and call one
workflow. Every task takes ids, is idempotent (the workflow returns early when the work is done or was
preempted) and runs with ``acks_late`` and a time limit."""

from __future__ import annotations

import logging
from dataclasses import asdict
from functools import cache

from celery import Celery

from common.periodic import my_turn
from common.settings import Settings
from volume import backup_jobs, client, creation, deletion, extending, snapshots, sweeper, uploads
from volume.context import VolumeWorker

LOG = logging.getLogger(__name__)
SWEEP_SECONDS = 300.0
COPY_LIMIT = 4 * 3600
"""Seconds a task that copies a volume's data may take (a large image, a large volume)."""
SHORT_LIMIT = 600
BACKUP_SNAPSHOT_POLL = 3.0
"""Seconds between a backup's looks at the snapshot of the volume in use it is to be read from."""


@cache
def _worker(settings: Settings) -> VolumeWorker:
    return VolumeWorker.from_settings(settings)


def register(app: Celery, settings: Settings) -> None:
    @app.task(name=client.CREATE_VOLUME, acks_late=True, time_limit=COPY_LIMIT)
    def create_volume(volume_id: str, request_id: str = "") -> str:
        LOG.info("[%s] creating volume %s", request_id, volume_id)
        return creation.create(_worker(settings), volume_id)

    @app.task(name=client.DELETE_VOLUME, acks_late=True, time_limit=SHORT_LIMIT)
    def delete_volume(volume_id: str, request_id: str = "") -> str:
        LOG.info("[%s] deleting volume %s", request_id, volume_id)
        return deletion.delete(_worker(settings), volume_id)

    @app.task(name=client.EXTEND_VOLUME, acks_late=True, time_limit=SHORT_LIMIT)
    def extend_volume(volume_id: str, new_size: int, request_id: str = "") -> str:
        LOG.info("[%s] extending volume %s to %s GiB", request_id, volume_id, new_size)
        return extending.extend(_worker(settings), volume_id, int(new_size))

    @app.task(name=client.CREATE_SNAPSHOT, acks_late=True, time_limit=SHORT_LIMIT)
    def create_snapshot(snapshot_id: str, request_id: str = "") -> str:
        LOG.info("[%s] taking snapshot %s", request_id, snapshot_id)
        return snapshots.create(_worker(settings), snapshot_id)

    @app.task(name=client.DELETE_SNAPSHOT, acks_late=True, time_limit=SHORT_LIMIT)
    def delete_snapshot(snapshot_id: str, request_id: str = "") -> str:
        LOG.info("[%s] deleting snapshot %s", request_id, snapshot_id)
        return snapshots.delete(_worker(settings), snapshot_id)

    @app.task(name=client.UPLOAD_TO_IMAGE, acks_late=True, time_limit=COPY_LIMIT)
    def upload_to_image(volume_id: str, image_id: str, request_id: str = "") -> str:
        LOG.info("[%s] uploading volume %s to image %s", request_id, volume_id, image_id)
        return uploads.upload(_worker(settings), volume_id, image_id)

    @app.task(name=client.CREATE_BACKUP, acks_late=True, time_limit=COPY_LIMIT)
    def create_backup(backup_id: str, request_id: str = "") -> str:
        LOG.info("[%s] backing up %s", request_id, backup_id)
        outcome = backup_jobs.create(_worker(settings), backup_id)
        if outcome == backup_jobs.WAITING:
            client.create_backup(app, backup_id, request_id, delay=BACKUP_SNAPSHOT_POLL)
        return outcome

    @app.task(name=client.RESTORE_BACKUP, acks_late=True, time_limit=COPY_LIMIT)
    def restore_backup(backup_id: str, volume_id: str, request_id: str = "") -> str:
        LOG.info("[%s] restoring backup %s into volume %s", request_id, backup_id, volume_id)
        return backup_jobs.restore(_worker(settings), backup_id, volume_id)

    @app.task(name=client.DELETE_BACKUP, acks_late=True, time_limit=SHORT_LIMIT)
    def delete_backup(backup_id: str, request_id: str = "") -> str:
        LOG.info("[%s] deleting backup %s", request_id, backup_id)
        return backup_jobs.delete(_worker(settings), backup_id)

    @app.task(name=client.SWEEP, acks_late=True, time_limit=SHORT_LIMIT, expires=SWEEP_SECONDS)
    def sweep(request_id: str = "") -> dict[str, list[str]]:
        worker = _worker(settings)
        if not my_turn(worker.db, client.SWEEP, SWEEP_SECONDS):
            return {}
        swept = sweeper.sweep(worker)
        for volume_id in swept.volumes_to_delete:
            client.delete_volume(app, volume_id, request_id=f"sweep-{volume_id}")
        for snapshot_id in swept.snapshots_to_delete:
            client.delete_snapshot(app, snapshot_id, request_id=f"sweep-{snapshot_id}")
        for backup_id in swept.backups_to_delete:
            client.delete_backup(app, backup_id, request_id=f"sweep-{backup_id}")
        return asdict(swept)

    app.conf.beat_schedule = {"sweep-stuck-volumes": {"task": client.SWEEP, "schedule": SWEEP_SECONDS}}
