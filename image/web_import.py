"""Glance's ``import`` task (``POST /v2/tasks``), run by the image service: an image made from a web source.

1. claim the task ``pending -> processing`` by compare-and-swap: a redelivered or duplicate message finds it
   claimed (or ended) and does nothing;
2. check the source against the operator's allow-list (``image.sources``) before any connection is made or any
   record created: with no allowed source every task ends here, in ``failure``, with a message that says so;
3. make the image from ``image_properties`` (``queued``, the task owner's, counted against the quota), stream
   the data into staging within the owner's allowance, then inspect, convert and store it as an interoperable
   import does (``image.importing``);
4. end in ``success`` with ``{"image_id": ...}``, or in ``failure`` with the reason: a failed task's image is
   deleted (as Glance's flow reverts it) and nothing staged stays. Either way ``expires_at`` is set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from common.db import Database
from common.exceptions import StratusError
from common.settings import Settings
from image import importing, quota, service, sources, upload
from image.models import Image, ImageTask
from image.states import ImageStatus, TaskStatus
from image.store.base import ImageStore

LOG = logging.getLogger(__name__)
IMAGE_ATTRIBUTES = (
    "name", "visibility", "protected", "os_hidden", "disk_format", "container_format", "min_disk", "min_ram", "tags",
)  # fmt: skip
"""The keys of ``image_properties`` that are the image's own attributes; the others become its properties."""


class ImportFailed(StratusError):
    msg_fmt = "{reason}"
    code = 400
    title = "Bad Request"


def _claim(db: Database, task_id: str) -> bool:
    with db.session() as session:
        result = session.execute(
            update(ImageTask)
            .where(ImageTask.id == task_id, ImageTask.status == TaskStatus.PENDING.value)
            .values(status=TaskStatus.PROCESSING.value, updated_at=datetime.now(UTC))
        )
        return result.rowcount == 1


def end(db: Database, settings: Settings, task_id: str, status: TaskStatus, **values: Any) -> bool:
    """Move a ``processing`` task to ``status`` (an end), with its expiry; False when it was not processing."""
    now = datetime.now(UTC)
    with db.session() as session:
        result = session.execute(
            update(ImageTask)
            .where(ImageTask.id == task_id, ImageTask.status == TaskStatus.PROCESSING.value)
            .values(
                status=status.value,
                updated_at=now,
                expires_at=now + timedelta(hours=settings.image_task_time_to_live),
                **values,
            )
        )
        return result.rowcount == 1


def _create_image(db: Database, settings: Settings, owner: str, properties: Mapping[str, Any], fmt: str) -> Image:
    attrs = {k: v for k, v in properties.items() if k in IMAGE_ATTRIBUTES}
    attrs["disk_format"] = attrs.get("disk_format") or fmt
    attrs["container_format"] = attrs.get("container_format") or "bare"
    extra = {k: v for k, v in properties.items() if k not in IMAGE_ATTRIBUTES}
    with db.session() as session:
        image = service.create_image(session, settings, owner, attrs.get("visibility", "shared"), attrs, extra)
        session.expunge(image)
    return image


def _fetch(
    db: Database, store: ImageStore, settings: Settings, image: Image, url: str, allowed: frozenset[sources.Source]
) -> None:
    """Stream the source's data into the image's staging area (the allowance stops it as it passes)."""
    with db.session() as session:
        allowance = quota.upload_allowance(session, settings, image.owner, image.id)
    with sources.open_source(url, allowed) as response:
        length = response.headers.get("Content-Length", "")
        expected = int(length) if length.isascii() and length.isdigit() else None
        try:
            upload.stage(db, store, image, response, allowance, settings.image_chunk_size, expected)
        except OSError as exc:  # the source stopped answering mid-way
            raise sources.SourceUnreachable(url=url, reason=str(exc) or type(exc).__name__) from None


def _discard_image(db: Database, store: ImageStore, image_id: str) -> None:
    """The failed task's image goes, with any data it got; idempotent."""
    with db.session() as session:
        image = session.get(Image, image_id)
        if image is None or image.status == ImageStatus.DELETED:
            return
        location, staging = image.location, image.staging_location
        image.status, image.location, image.staging_location = ImageStatus.DELETED.value, None, None
        image.upload_token = None
    if staging:
        store.delete(staging)
    service.delete_data(db, store, image_id, location)


def _import(
    db: Database,
    store: ImageStore,
    settings: Settings,
    task_input: Mapping[str, Any],
    image: Image,
    allowed: frozenset[sources.Source],
) -> None:
    url = str(task_input["import_from"])
    _fetch(db, store, settings, image, url, allowed)
    upload.begin_import(db, image.id)
    status = importing.run_import(db, store, settings, image.id)
    if status != ImageStatus.ACTIVE:
        raise ImportFailed(
            reason=f"The image data fetched from {url} was not imported (status {status}): it is not a valid "
            f"{image.disk_format} image, or it points at other files."
        )


def run_task(db: Database, store: ImageStore, settings: Settings, task_id: str) -> str:
    """Run one ``import`` task (see the module's text); returns the status it ended in, or the status it already
    had when this delivery found it claimed or ended."""
    if not _claim(db, task_id):
        with db.session() as session:
            task = session.get(ImageTask, task_id)
            return task.status if task else "missing"
    with db.session() as session:
        task = session.get_one(ImageTask, task_id)
        task_input, owner = dict(task.input or {}), task.owner
    image_id = None
    try:
        try:
            allowed = sources.parse_allowed(settings.image_import_allowed_sources)
        except ValueError as exc:
            raise ImportFailed(reason=f"The image service's import sources are misconfigured: {exc}") from None
        sources.check(str(task_input.get("import_from", "")), allowed)
        properties = task_input.get("image_properties") or {}
        image = _create_image(db, settings, owner, properties, str(task_input.get("import_from_format") or "raw"))
        image_id = image.id
        _import(db, store, settings, task_input, image, allowed)
    except StratusError as exc:
        LOG.warning("image task %s failed: %s", task_id, exc.message)
        if image_id:
            _discard_image(db, store, image_id)
        end(db, settings, task_id, TaskStatus.FAILURE, message=exc.message)
        return TaskStatus.FAILURE.value
    except BaseException:  # a bug or the time limit: the task still ends, with nothing half made
        LOG.exception("image task %s failed unexpectedly", task_id)
        if image_id:
            _discard_image(db, store, image_id)
        end(db, settings, task_id, TaskStatus.FAILURE, message="The image service failed while running this task.")
        raise
    end(db, settings, task_id, TaskStatus.SUCCESS, result={"image_id": image_id})
    LOG.info("image task %s made image %s", task_id, image_id)
    return TaskStatus.SUCCESS.value
