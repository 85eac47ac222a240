"""Receiving image data: stream it in constant memory, checksum it on the fly, inspect it, then store it.

The API process that receives the bytes runs this workflow (the bytes cannot travel through the queue):

1. claim the image with a compare-and-swap ``queued → saving`` so exactly one upload wins (the other: 409);
2. stream chunks into the store's staging area, updating md5 and sha512 and enforcing the size allowance;
3. inspect the staged file's headers (real format must match ``disk_format``; no backing or external files);
4. commit the data atomically, then mark the image ``active`` with its size and checksums.

A failure while streaming (client gone, over the allowance) puts the image back to ``queued``; a rejected
image becomes ``killed``. Either way the staged data is deleted: nothing half-written is ever served.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.db import Database
from common.exceptions import BadRequest, Conflict, PayloadTooLarge
from image.inspector import InspectionError, inspect
from image.models import Image
from image.states import ImageStatus
from image.store.base import ImageStore, StagedWrite

LOG = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 30.0


@dataclass(frozen=True)
class Received:
    size: int
    checksum: str
    os_hash_value: str


class ReadsInto(Protocol):
    """A byte stream read into the caller's buffer (a request body, a web response, a file): 0 at its end."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


def _fill(stream: ReadsInto, buffer: memoryview) -> int:
    """Read until ``buffer`` is full or the stream ends (a socket gives what has arrived, often far less)."""
    filled = 0
    while filled < len(buffer):
        n = stream.readinto(buffer[filled:])
        if not n:
            break
        filled += n
    return filled


def stream_into(
    staged: StagedWrite,
    stream: ReadsInto,
    chunk_size: int,
    allowance: int,
    expected: int | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> Received:
    """Copy a stream into a staged write, hashing as it goes; 413 as soon as it exceeds the allowance.

    ``expected`` is the declared Content-Length: a stream that ends short of it was cut (the client went
    away), and must never be taken for a complete, smaller image.

    The two digests and the write of one chunk run in parallel, while the next chunk is read into the other of
    two buffers: hashlib and file writes release the GIL, so an upload costs the slowest of the four instead of
    their sum. The bytes are read into those two buffers and handed to the digests and the write as views: no
    copy in this process, and memory stays two chunks whatever the size.
    """
    md5, sha512 = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    size = 0
    next_beat = time.monotonic() + HEARTBEAT_SECONDS
    buffers = (memoryview(bytearray(chunk_size)), memoryview(bytearray(chunk_size)))
    pending: list[Future[None]] = []
    with ThreadPoolExecutor(3, thread_name_prefix="upload") as pool:
        for turn in itertools.count():
            # The other buffer's chunk is still being hashed and written: this one is free since the last wait.
            n = _fill(stream, buffers[turn % 2])
            for future in pending:
                future.result()
            if not n:
                break
            chunk = buffers[turn % 2][:n]
            size += n
            if heartbeat and time.monotonic() > next_beat:
                heartbeat()
                next_beat = time.monotonic() + HEARTBEAT_SECONDS
            if size > allowance:
                raise PayloadTooLarge(
                    f"Image data exceeds the {allowance} bytes this image may hold (size cap or quota)."
                )
            pending = [
                pool.submit(md5.update, chunk),
                pool.submit(sha512.update, chunk),
                pool.submit(staged.write, chunk),
            ]
    if expected is not None and size != expected:
        raise BadRequest(f"The upload ended after {size} of the {expected} bytes announced; nothing was kept.")
    return Received(size, md5.hexdigest(), sha512.hexdigest())


def touch(db: Database, image_id: str, token: str) -> None:
    """Tell the stale-upload sweeper this upload is alive (it resets uploads silent for too long)."""
    with db.session() as session:
        session.execute(
            update(Image).where(Image.id == image_id, Image.upload_token == token).values(updated_at=datetime.now(UTC))
        )


def claim(db: Database, image_id: str, source: ImageStatus, target: ImageStatus) -> str:
    """Compare-and-swap the image from ``source`` to ``target`` under a fresh token; 409 if another got it."""
    token = uuid.uuid4().hex
    with db.session() as session:
        result = session.execute(
            update(Image)
            .where(Image.id == image_id, Image.status == source.value)
            .values(status=target.value, upload_token=token, updated_at=datetime.now(UTC))
        )
        if result.rowcount != 1:
            current = session.get(Image, image_id)
            status = current.status if current else "deleted"
            raise Conflict(f"Image {image_id} is {status}: data can only be sent to a queued image.")
    return token


def release(
    db: Database,
    image_id: str,
    token: str,
    status: ImageStatus,
    check: Callable[[Session], None] | None = None,
    **values: object,
) -> bool:
    """End an upload that holds ``token``; False when the image was deleted or taken meanwhile. ``check`` runs
    first in the same transaction and may refuse (the quota's last word on the upload's size)."""
    with db.session() as session:
        if check is not None:
            check(session)
        result = session.execute(
            update(Image)
            .where(Image.id == image_id, Image.upload_token == token)
            .values(status=status.value, upload_token=None, updated_at=datetime.now(UTC), **values)
        )
        return result.rowcount == 1


def _claimed_format(db: Database, image_id: str) -> str | None:
    """The image's ``disk_format`` once this upload holds it: the format can change only while the image is
    ``queued``, so from here on it is the one the data is inspected as and the one it will be opened as."""
    with db.session() as session:
        return session.scalar(select(Image.disk_format).where(Image.id == image_id))


def receive(
    db: Database,
    store: ImageStore,
    image: Image,
    stream: ReadsInto,
    allowance: int,
    chunk_size: int,
    expected_size: int | None = None,
    recheck: Callable[[Session, int], None] | None = None,
) -> None:
    """The whole direct-upload workflow for one image (see the module docstring). ``recheck(session, size)``
    may refuse the received data just before the image becomes active (a 413 leaves it ``queued``)."""
    if not image.disk_format or not image.container_format:
        raise BadRequest("Properties disk_format and container_format must be set prior to uploading data.")
    token = claim(db, image.id, ImageStatus.QUEUED, ImageStatus.SAVING)
    disk_format = _claimed_format(db, image.id)
    if disk_format is None:
        release(db, image.id, token, ImageStatus.QUEUED)
        raise BadRequest("Property disk_format must be set prior to uploading data.")
    with store.begin(image.id) as staged:
        try:
            beat = functools.partial(touch, db, image.id, token)
            received = stream_into(staged, stream, chunk_size, allowance, expected_size, beat)
        except BaseException:
            release(db, image.id, token, ImageStatus.QUEUED)
            raise
        staged.flush()
        try:
            info = inspect(staged.path, disk_format)
        except InspectionError as exc:
            LOG.warning("image %s rejected: %s", image.id, exc.message)
            release(db, image.id, token, ImageStatus.KILLED)
            raise
        try:
            location = staged.commit(image.id)
        except BaseException:  # the store failed (a Ceph cluster out of reach): the image can be sent again
            release(db, image.id, token, ImageStatus.QUEUED)
            raise
    try:
        activated = release(
            db,
            image.id,
            token,
            ImageStatus.ACTIVE,
            check=functools.partial(recheck, size=received.size) if recheck else None,
            size=received.size,
            virtual_size=info.virtual_size,
            checksum=received.checksum,
            os_hash_algo="sha512",
            os_hash_value=received.os_hash_value,
            location=location,
        )
    except Exception:
        store.delete(location)
        release(db, image.id, token, ImageStatus.QUEUED)
        raise
    if not activated:
        store.delete(location)
        raise Conflict(f"Image {image.id} was deleted during the upload.")


def stage(
    db: Database,
    store: ImageStore,
    image: Image,
    stream: ReadsInto,
    allowance: int,
    chunk_size: int,
    expected_size: int | None = None,
) -> None:
    """First half of an interoperable import: keep the data in staging; the image service inspects it later."""
    token = claim(db, image.id, ImageStatus.QUEUED, ImageStatus.UPLOADING)
    with store.begin(image.id) as staged:
        try:
            beat = functools.partial(touch, db, image.id, token)
            stream_into(staged, stream, chunk_size, allowance, expected_size, beat)
        except BaseException:
            release(db, image.id, token, ImageStatus.QUEUED)
            raise
        try:
            location = staged.commit(f"{image.id}.staging")
        except BaseException:
            release(db, image.id, token, ImageStatus.QUEUED)
            raise
    if not release(db, image.id, token, ImageStatus.UPLOADING, staging_location=location):
        store.delete(location)
        raise Conflict(f"Image {image.id} was deleted during the upload.")


def begin_import(db: Database, image_id: str) -> None:
    """Compare-and-swap a fully staged image to ``importing``; 409 when it is not staged (or already importing)."""
    with db.session() as session:
        result = session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                Image.status == ImageStatus.UPLOADING.value,
                Image.staging_location.is_not(None),
                Image.upload_token.is_(None),
            )
            .values(status=ImageStatus.IMPORTING.value, updated_at=datetime.now(UTC))
        )
        if result.rowcount != 1:
            raise Conflict(f"Image {image_id} has no staged data to import (stage it first, once).")
