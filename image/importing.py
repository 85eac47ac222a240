"""The second half of an interoperable import, run by the image service: inspect, convert, store, activate.

Idempotent: it acts only on an image that is ``importing``; a redelivered task for an image already
``active`` or ``killed`` does nothing. On any failure the image becomes ``killed`` and its staged data and
any partial output are deleted.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from sqlalchemy import update

from common.db import Database
from common.exceptions import StratusError
from common.settings import Settings
from image.inspector import inspect
from image.models import Image
from image.qemu_img import CONVERTIBLE_TARGETS, convert
from image.states import ImageStatus
from image.store.base import ImageStore

LOG = logging.getLogger(__name__)
HASH_CHUNK = 1 << 20


def digests(store: ImageStore, location: str) -> tuple[int, str, str]:
    """Size, md5 and sha512 of stored data, read once in chunks."""
    md5, sha512, size = hashlib.md5(usedforsecurity=False), hashlib.sha512(), 0
    with store.open(location) as handle:
        while chunk := handle.read(HASH_CHUNK):
            size += len(chunk)
            md5.update(chunk)
            sha512.update(chunk)
    return size, md5.hexdigest(), sha512.hexdigest()


def _finish(db: Database, image_id: str, status: ImageStatus, **values: object) -> bool:
    with db.session() as session:
        result = session.execute(
            update(Image)
            .where(Image.id == image_id, Image.status == ImageStatus.IMPORTING.value)
            .values(status=status.value, staging_location=None, updated_at=datetime.now(UTC), **values)
        )
        return result.rowcount == 1


def _target_format(settings: Settings, disk_format: str) -> str:
    wanted = settings.image_import_target_format
    return wanted if wanted in CONVERTIBLE_TARGETS and wanted != disk_format else disk_format


def run_import(db: Database, store: ImageStore, settings: Settings, image_id: str) -> str:
    """Finish the import of one image; returns the status it ended in."""
    with db.session() as session:
        image = session.get(Image, image_id)
        if image is None or image.status != ImageStatus.IMPORTING or not image.staging_location:
            return image.status if image else "missing"
        staged_location, disk_format = image.staging_location, image.disk_format or "raw"
    location = None
    try:
        target = _target_format(settings, disk_format)
        with store.local_file(staged_location) as staged, store.begin(image_id) as output:
            info = inspect(staged, disk_format)
            if target != disk_format:
                convert(staged, disk_format, output.path, target)
            else:
                with staged.open("rb") as source:
                    while chunk := source.read(HASH_CHUNK):
                        output.write(chunk)
            output.flush()
            virtual_size = inspect(output.path, target).virtual_size if target != disk_format else info.virtual_size
            location = output.commit(image_id)
        size, checksum, sha512 = digests(store, location)
    except StratusError as exc:
        LOG.warning("import of image %s failed: %s", image_id, exc.message)
        _finish(db, image_id, ImageStatus.KILLED)
        store.delete(staged_location)
        return ImageStatus.KILLED.value
    activated = _finish(
        db,
        image_id,
        ImageStatus.ACTIVE,
        disk_format=target,
        size=size,
        virtual_size=virtual_size,
        checksum=checksum,
        os_hash_algo="sha512",
        os_hash_value=sha512,
        location=location,
    )
    store.delete(staged_location)
    if not activated:
        store.delete(location)
        return "deleted"
    LOG.info("image %s imported as %s (%d bytes)", image_id, target, size)
    return ImageStatus.ACTIVE.value
