"""Celery entry points of the image service: thin wrappers that load settings and call a workflow."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import cache

from celery import Celery

from common.periodic import my_turn
from common.settings import Settings
from image import client, importing, service, sweeper, variants, web_import
from image.context import ImageWorker

LOG = logging.getLogger(__name__)
SWEEP_SECONDS = 300.0


@cache
def _worker(settings: Settings) -> ImageWorker:
    return ImageWorker.from_settings(settings)


def register(app: Celery, settings: Settings) -> None:
    @app.task(name=client.IMPORT_IMAGE, acks_late=True, time_limit=4 * 3600, soft_time_limit=4 * 3600 - 60)
    def import_image(image_id: str, request_id: str = "") -> str:
        worker = _worker(settings)
        LOG.info("[%s] importing image %s", request_id, image_id)
        return importing.run_import(worker.db, worker.store, worker.settings, image_id)

    # Hosts ask for the variant of an image they must boot (compute.host.imagecache).
    @app.task(name=client.ENSURE_VARIANT, acks_late=True, time_limit=4 * 3600, from_hosts=True)
    def ensure_variant(image_id: str, disk_format: str) -> dict[str, object]:
        worker = _worker(settings)
        return variants.ensure_variant(worker.db, worker.store, image_id, disk_format)

    @app.task(name=client.DELETE_SERVER_SNAPSHOT, acks_late=True, time_limit=600)
    def delete_server_snapshot(image_id: str, request_id: str = "") -> str:
        worker = _worker(settings)
        LOG.info("[%s] deleting server snapshot %s", request_id, image_id)
        return service.delete_server_snapshot(worker.db, worker.store, image_id)

    @app.task(name=client.RUN_TASK, acks_late=True, time_limit=4 * 3600, soft_time_limit=4 * 3600 - 60)
    def run_task(task_id: str, request_id: str = "") -> str:
        worker = _worker(settings)
        LOG.info("[%s] running image task %s", request_id, task_id)
        return web_import.run_task(worker.db, worker.store, worker.settings, task_id)

    @app.task(name=client.SWEEP, acks_late=True, time_limit=600, expires=SWEEP_SECONDS)
    def sweep() -> tuple[int, int]:
        worker = _worker(settings)
        if not my_turn(worker.db, client.SWEEP, SWEEP_SECONDS):
            return (0, 0)
        time_to_live = timedelta(hours=worker.settings.image_task_time_to_live)
        for task_id in sweeper.sweep_tasks(worker.db, time_to_live):
            client.run_task(app, task_id, request_id="")
        return sweeper.sweep(worker.db, worker.store)

    app.conf.beat_schedule = {"sweep-stale-uploads": {"task": client.SWEEP, "schedule": SWEEP_SECONDS}}
