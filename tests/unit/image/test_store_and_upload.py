"""The filesystem store's atomicity and the upload workflow's streaming rules, on real files and SQLite."""

from __future__ import annotations

import hashlib
import io
import os
import random
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Database
from common.exceptions import BadRequest, Conflict, PayloadTooLarge
from image import sweeper, upload
from image.inspector import InspectionError
from image.models import Image
from image.store.filesystem import FilesystemStore


@pytest.fixture
def store(tmp_path) -> FilesystemStore:
    return FilesystemStore(tmp_path / "images")


def _image(db: Database, **values) -> Image:
    with db.session() as session:
        image = Image(owner="p1", disk_format="raw", container_format="bare", **values)
        session.add(image)
    return image


def test_nothing_is_visible_until_commit_and_commit_is_a_rename(store):
    with store.begin("img-1") as staged:
        staged.write(b"data")
        staged.flush()
        assert not (store.root / "img-1").exists()
        location = staged.commit("img-1")
    with store.open(location) as handle:
        assert handle.read() == b"data"
    assert list(store.staging.iterdir()) == []


def test_an_aborted_write_leaves_nothing(store):
    with pytest.raises(RuntimeError), store.begin("img-2") as staged:
        staged.write(b"half")
        raise RuntimeError("client went away")
    assert list(store.staging.iterdir()) == [] and not (store.root / "img-2").exists()


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", ".hidden", ""])
def test_names_cannot_escape_the_store(store, name):
    with pytest.raises(ValueError):
        store.begin(name)


def test_stale_staged_files_are_swept_and_fresh_ones_kept(store):
    old, fresh = store.staging / "old.x", store.staging / "fresh.x"
    old.write_bytes(b"1")
    fresh.write_bytes(b"2")
    os.utime(old, (time.time() - 3600,) * 2)
    assert store.sweep_staging(600) == 1
    assert not old.exists() and fresh.exists()


def test_streaming_hashes_as_it_goes(store):
    data = os.urandom(3 << 20)
    with store.begin("img-3") as staged:
        received = upload.stream_into(staged, io.BytesIO(data), 1 << 20, allowance=len(data), expected=len(data))
    assert received.size == len(data)
    assert received.checksum == hashlib.md5(data).hexdigest()
    assert received.os_hash_value == hashlib.sha512(data).hexdigest()


class _Trickle:
    """A stream that hands out what a socket would: pieces of random sizes, never a whole buffer's worth."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._data, self._offset, self._random = memoryview(data), 0, random.Random(seed)

    def readinto(self, buffer: memoryview) -> int:
        n = min(len(buffer), self._random.randint(1, 200_000), len(self._data) - self._offset)
        buffer[:n] = self._data[self._offset : self._offset + n]
        self._offset += n
        return n


class _SlowWrite:
    """A staged write that keeps its copy of every chunk and takes its time, so the next chunk is being read into
    the other buffer while this one is still being written."""

    def __init__(self) -> None:
        self.kept = bytearray()

    def write(self, chunk: memoryview) -> None:
        time.sleep(0.002)
        self.kept += chunk


def test_an_upload_read_in_small_pieces_into_reused_buffers_hashes_and_stores_exactly_its_bytes():
    data = os.urandom(5 * (1 << 20) + 12345)
    staged = _SlowWrite()
    received = upload.stream_into(staged, _Trickle(data, seed=7), 256 << 10, allowance=len(data), expected=len(data))
    assert bytes(staged.kept) == data
    assert (received.size, received.checksum, received.os_hash_value) == (
        len(data),
        hashlib.md5(data).hexdigest(),
        hashlib.sha512(data).hexdigest(),
    )


class _Endless:
    """A body that never ends, produced without allocating: only what ``stream_into`` allocates is traced."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readinto(self, buffer: memoryview) -> int:
        n = min(len(buffer), self.left)
        self.left -= n
        return n


class _Discard:
    def write(self, chunk: memoryview) -> None:
        pass


def test_streaming_memory_is_two_chunks_whatever_the_size():
    chunk = 1 << 20
    peaks = []
    for size in (8 * chunk, 64 * chunk):
        tracemalloc.start()
        try:
            upload.stream_into(_Discard(), _Endless(size), chunk, allowance=size, expected=size)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert all(peak < 3 * chunk for peak in peaks), peaks
    assert peaks[1] - peaks[0] < chunk // 4, peaks


def test_streaming_stops_at_the_allowance(store):
    with store.begin("img-4") as staged, pytest.raises(PayloadTooLarge):
        upload.stream_into(staged, io.BytesIO(b"x" * 5000), 1000, allowance=4096)


def test_a_stream_shorter_than_announced_is_refused(store):
    with store.begin("img-5") as staged, pytest.raises(BadRequest, match="100 of the 200"):
        upload.stream_into(staged, io.BytesIO(b"x" * 100), 1000, allowance=1000, expected=200)


def test_receive_activates_with_checksums_and_rejects_a_second_upload(db, store):
    image = _image(db)
    upload.receive(db, store, image, io.BytesIO(b"r" * 8192), 1 << 20, 4096, 8192)
    with db.session() as session:
        stored = session.get(Image, image.id)
        assert (stored.status, stored.size, stored.virtual_size) == ("active", 8192, 8192)
        assert stored.checksum == hashlib.md5(b"r" * 8192).hexdigest() and stored.upload_token is None
    with pytest.raises(Conflict):
        upload.receive(db, store, image, io.BytesIO(b"again"), 1 << 20, 4096)


def test_a_failed_stream_puts_the_image_back_to_queued_with_nothing_stored(db, store):
    image = _image(db)
    with pytest.raises(PayloadTooLarge):
        upload.receive(db, store, image, io.BytesIO(b"z" * 10000), 4096, 1024)
    with db.session() as session:
        assert session.get(Image, image.id).status == "queued"
    assert list(store.root.glob(f"{image.id}*")) == [] and list(store.staging.iterdir()) == []


def test_a_rejected_image_is_killed(db, store):
    image = _image(db, name="claims raw")
    qcow2_magic = b"QFI\xfb\x00\x00\x00\x03" + b"\0" * 4088
    with pytest.raises(InspectionError) as rejected:
        upload.receive(db, store, image, io.BytesIO(qcow2_magic), 1 << 20, 4096)
    assert rejected.value.code == 400
    with db.session() as session:
        assert session.get(Image, image.id).status == "killed"
    assert list(store.root.glob(f"{image.id}*")) == []


def test_the_sweeper_releases_only_silent_uploads(db, store):
    stale, live = _image(db), _image(db)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with db.session() as session:
        session.execute(
            update(Image).where(Image.id == stale.id).values(status="saving", upload_token="t1", updated_at=long_ago)
        )
        session.execute(
            update(Image)
            .where(Image.id == live.id)
            .values(status="saving", upload_token="t2", updated_at=datetime.now(UTC))
        )
    assert sweeper.sweep(db, store) == (1, 0)
    with db.session() as session:
        assert session.get(Image, stale.id).status == "queued"
        assert session.get(Image, live.id).status == "saving"


def test_an_upload_is_inspected_as_the_format_the_image_has_once_claimed_not_as_it_was_read(db, store):
    # A format change (allowed while queued) lands between the API's read of the image and the upload's claim: the
    # data must be inspected as the format it will be opened as, never as the stale one.
    image = _image(db, name="changed while queued")
    with db.session() as session:
        session.execute(update(Image).where(Image.id == image.id).values(disk_format="vmdk"))
    raw_bytes = b"\xeb\x63\x90\x00" + bytes(4092)
    with pytest.raises(InspectionError, match="claims disk_format 'vmdk' but is raw"):
        upload.receive(db, store, image, io.BytesIO(raw_bytes), 1 << 20, 4096)
    with db.session() as session:
        assert session.get(Image, image.id).status == "killed"
