"""The image service's public in-process interface: what the API process calls besides ``image.client``.

Why in-process: image data arrives as an HTTP body, and bytes cannot travel through the queue, so the API process
that receives them runs the upload workflow (``image.upload``) itself; and an image record is created in the
request's own transaction (a snapshot in the same one as the server's claim), so a request that fails leaves no
queued image behind. Those entry points, with the quota rules they enforce, live here. The API never imports the
workflow modules behind them (``upload``, ``quota``, ``variants``, ``importing``) nor the worker (``tasks``,
``worker``, ``sweeper``): import-linter contracts in pyproject.toml say so. Work that runs in ``stratus-image``
(import, format variants) is asked for through ``image.client`` after commit.

Every function that takes a ``Session`` works inside the caller's transaction and never commits; errors are
``common.exceptions`` with their HTTP status (409, 413, 400) and leave the caller to roll back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from common.db import Database
from common.exceptions import Conflict
from common.settings import Settings
from image import quota, upload, variants
from image.models import Image, ImageMember, ImageTask
from image.states import ImageStatus, TaskStatus, Visibility
from image.store.base import ImageStore

SNAPSHOT_DISK_FORMAT = "qcow2"
"""What a compute host uploads for ``createImage``: the guest's disk flattened to qcow2 (see compute.host)."""


def create_image(
    session: Session,
    settings: Settings,
    owner: str,
    visibility: str,
    attrs: Mapping[str, Any],
    properties: Mapping[str, Any],
) -> Image:
    """A new ``queued`` image of ``owner`` (``POST /v2/images``), its base attributes taken from ``attrs`` (Glance's
    names, already validated) and the rest as ``properties``. 413 over the project's image-count quota; 409 when
    ``attrs["id"]`` names an existing image (a deleted one too: Glance never reuses an id)."""
    quota.check_create(session, settings, owner)
    if attrs.get("id") and session.get(Image, attrs["id"]) is not None:
        raise Conflict(f"An image with identifier {attrs['id']} already exists")
    image = Image(
        **({"id": attrs["id"]} if attrs.get("id") else {}),
        name=attrs.get("name"),
        owner=owner,
        visibility=visibility,
        protected=attrs.get("protected", False),
        os_hidden=attrs.get("os_hidden", False),
        disk_format=attrs.get("disk_format"),
        container_format=attrs.get("container_format"),
        min_disk=attrs.get("min_disk", 0),
        min_ram=attrs.get("min_ram", 0),
        tags=list(dict.fromkeys(attrs.get("tags", []))),
        properties=dict(properties),
    )
    session.add(image)
    session.flush()
    return image


def create_task(
    session: Session, owner: str, task_type: str, task_input: Mapping[str, Any], user_id: str | None, request_id: str
) -> ImageTask:
    """A new ``pending`` task (``POST /v2/tasks``) in the caller's transaction; the caller sends
    ``image.client.run_task`` after its commit. The input is kept as given, as Glance shows it."""
    task = ImageTask(
        type=task_type,
        status=TaskStatus.PENDING.value,
        owner=owner,
        input=dict(task_input),
        message="",
        user_id=user_id,
        request_id=request_id or None,
    )
    session.add(task)
    session.flush()
    return task


def create_snapshot(
    session: Session, owner: str, name: str, min_disk: int, min_ram: int, properties: Mapping[str, Any]
) -> str:
    """The ``queued``, private image a server's ``createImage`` fills (its host uploads the data later); returns
    its id for the task and the ``Location`` header. Not counted against the image-count quota, as in Nova, where
    the snapshot is created on the user's behalf; its data is counted when it arrives."""
    image = Image(
        name=name,
        owner=owner,
        visibility=Visibility.PRIVATE.value,
        disk_format=SNAPSHOT_DISK_FORMAT,
        container_format="bare",
        min_disk=min_disk,
        min_ram=min_ram,
        properties=dict(properties),
    )
    session.add(image)
    session.flush()
    return image.id


EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
EMPTY_SHA512 = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)


def create_volume_backed_snapshot(
    session: Session, owner: str, name: str, min_disk: int, min_ram: int, properties: Mapping[str, Any]
) -> str:
    """The image of a server booted from a volume (``createImage``): no data, only properties naming the volume
    snapshots it stands for. Nova uploads an empty body (raw, bare) so it is ``active`` at once with size 0; here
    it is recorded so in the caller's transaction (nothing in the store: a download answers 204). Not counted
    against the image-count quota, as ``create_snapshot``."""
    image = Image(
        name=name,
        owner=owner,
        status=ImageStatus.ACTIVE.value,
        visibility=Visibility.PRIVATE.value,
        disk_format="raw",
        container_format="bare",
        size=0,
        virtual_size=0,
        checksum=EMPTY_MD5,
        os_hash_algo="sha512",
        os_hash_value=EMPTY_SHA512,
        min_disk=min_disk,
        min_ram=min_ram,
        properties=dict(properties),
    )
    session.add(image)
    session.flush()
    return image.id


def discard_snapshot(session: Session, image_id: str) -> None:
    """Remove a snapshot's image whose ``createImage`` task could not start (the server was busy): no data was
    ever sent to it, so nothing is in the store. Idempotent."""
    image = session.get(Image, image_id)
    if image is not None:
        session.delete(image)


def upload_allowance(session: Session, settings: Settings, owner: str, image_id: str) -> int:
    """How many bytes an upload to the image may bring: the size cap, or what the owner's storage quota leaves."""
    return quota.upload_allowance(session, settings, owner, image_id)


def receive_data(
    db: Database,
    store: ImageStore,
    settings: Settings,
    image: Image,
    stream: upload.ReadsInto,
    allowance: int,
    expected_size: int | None = None,
) -> None:
    """``PUT /file``: stream, checksum, inspect and store the image's data, then make it ``active`` (see
    ``image.upload``). The storage quota has the last word in the transaction that activates it (413, the image
    stays ``queued``); a concurrent upload is 409; data that is not what ``disk_format`` claims is 400 (``killed``)."""

    def recheck(session: Session, size: int) -> None:
        quota.recheck_upload(session, settings, image.owner, image.id, size)

    upload.receive(db, store, image, stream, allowance, settings.image_chunk_size, expected_size, recheck)


def stage_data(
    db: Database,
    store: ImageStore,
    settings: Settings,
    image: Image,
    stream: upload.ReadsInto,
    allowance: int,
    expected_size: int | None = None,
) -> None:
    """``PUT /stage``: the first half of an interoperable import; the data waits in staging for ``begin_import``."""
    upload.stage(db, store, image, stream, allowance, settings.image_chunk_size, expected_size)


def begin_import(db: Database, image_id: str) -> None:
    """Move a fully staged image to ``importing`` (409 when it is not staged); the caller then sends
    ``image.client.import_image`` after its commit."""
    upload.begin_import(db, image_id)


def variant_location(db: Database, image_id: str, disk_format: str) -> str | None:
    """Where the image's data converted to ``disk_format`` is stored, if the image service prepared it."""
    return variants.variant_location(db, image_id, disk_format)


def check_deletable(store: ImageStore, image: Image) -> None:
    """409 while something outside the image service depends on the image's data (volumes that are copy-on-write
    clones of it in Ceph), as Glance's rbd store answers: the image stays, and goes once they are gone. Called in
    the delete's transaction, before the image is marked ``deleted``."""
    if image.location and store.in_use(image.location):
        raise Conflict(
            f"Image {image.id} could not be deleted because it is in use: The image cannot be deleted because it is "
            "in use through the backend store outside of Glance."
        )


def delete_server_snapshot(db: Database, store: ImageStore, image_id: str) -> str:
    """Delete an image compute made of a server for its own use (``image.client.delete_server_snapshot``): as the
    API's delete, without a caller; an image already gone, protected or still in use is left alone."""
    with db.session() as session:
        image = session.get(Image, image_id)
        if image is None or image.status == ImageStatus.DELETED:
            return "gone"
        if image.protected:
            return "protected: kept"
        try:
            check_deletable(store, image)
        except Conflict:
            return "in use: kept"
        location = image.location
        image.status, image.location, image.upload_token = ImageStatus.DELETED.value, None, None
        session.execute(sql_delete(ImageMember).where(ImageMember.image_id == image.id))
    delete_data(db, store, image_id, location)
    return "deleted"


def delete_data(db: Database, store: ImageStore, image_id: str, location: str | None) -> None:
    """Free a deleted image's data and every format variant of it. Called after the commit that marked the image
    ``deleted``, so a reader never finds a record whose data is gone; a missing file is not an error, and data
    cloned since ``check_deletable`` is freed by the store once its clones are gone."""
    if location:
        store.delete(location)
    variants.delete_variants(db, store, image_id)
