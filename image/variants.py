"""Disk-format variants for compute hosts: the same image in the format a host's hypervisor wants.

Every conversion inspects the original again (:mod:`image.qemu_img`) and the variant it made, whatever the record
says. A host asks through ``client.ensure_variant`` and gets the variant's size and md5 back; it then downloads
``GET /image/v2/images/{id}/file?disk_format=FMT``. Idempotent: an existing variant is returned as is, and
the original format is its own variant. Deleting the image deletes its variants (database cascade; the
store files go with ``delete_variants``).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from common.db import Database
from common.exceptions import Conflict, NotFound
from image.importing import digests
from image.inspector import inspect
from image.models import Image, ImageVariant
from image.qemu_img import CONVERTIBLE_TARGETS, convert
from image.states import ImageStatus
from image.store.base import ImageStore

LOG = logging.getLogger(__name__)


def ensure_variant(db: Database, store: ImageStore, image_id: str, disk_format: str) -> dict[str, object]:
    """The variant of an active image in ``disk_format``, converting it on first request."""
    if disk_format not in CONVERTIBLE_TARGETS:
        raise Conflict(f"Images can be prepared as {', '.join(CONVERTIBLE_TARGETS)}, not {disk_format}.")
    with db.session() as session:
        image = session.get(Image, image_id)
        if image is None or image.status != ImageStatus.ACTIVE or not image.location:
            raise NotFound(f"No active image {image_id}")
        if image.disk_format == disk_format:
            return {"disk_format": disk_format, "size": image.size, "checksum": image.checksum}
        existing = session.get(ImageVariant, (image_id, disk_format))
        if existing is not None:
            return {"disk_format": disk_format, "size": existing.size, "checksum": existing.checksum}
        source_location, source_format = image.location, image.disk_format or "raw"
    with store.local_file(source_location) as source, store.begin(f"{image_id}.{disk_format}") as output:
        convert(source, source_format, output.path, disk_format)
        output.flush()
        # The variant is handed to hosts as an image of its own: a qcow2 whose guest data is a VMDK descriptor
        # becomes, as raw, a file that reads as one, and is refused here rather than on every host.
        inspect(output.path, disk_format)
        location = output.commit(f"{image_id}.{disk_format}")
    size, checksum, _ = digests(store, location)
    variant = ImageVariant(image_id=image_id, disk_format=disk_format, location=location, size=size, checksum=checksum)
    with db.session() as session:
        image_gone = session.get(Image, image_id) is None
        if not image_gone and session.get(ImageVariant, (image_id, disk_format)) is None:
            session.add(variant)
    if image_gone:
        store.delete(location)
        raise NotFound(f"Image {image_id} was deleted while it was being prepared")
    LOG.info("prepared image %s as %s (%d bytes)", image_id, disk_format, variant.size)
    return {"disk_format": disk_format, "size": variant.size, "checksum": variant.checksum}


def variant_location(db: Database, image_id: str, disk_format: str) -> str | None:
    with db.session() as session:
        return session.scalar(
            select(ImageVariant.location).where(
                ImageVariant.image_id == image_id, ImageVariant.disk_format == disk_format
            )
        )


def delete_variants(db: Database, store: ImageStore, image_id: str) -> None:
    with db.session() as session:
        for variant in session.scalars(select(ImageVariant).where(ImageVariant.image_id == image_id)):
            store.delete(variant.location)
            session.delete(variant)
