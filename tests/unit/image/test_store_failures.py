"""An image store that fails at commit (a Ceph cluster out of reach) leaves the upload retryable, and locations
are read by the store that wrote them."""

from __future__ import annotations

import io

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Database
from image import upload
from image.models import Image
from image.store.base import StoreError
from image.store.filesystem import FilesystemStore
from image.store.multi import MultiStore


class UnreachableAtCommit(FilesystemStore):
    """Stages locally like the rbd store, then cannot reach its cluster."""

    def begin(self, image_id: str):
        staged = super().begin(image_id)

        def commit(name: str) -> str:
            raise StoreError(reason="cannot reach the Ceph cluster as stratus: connection timed out")

        staged.commit = commit  # type: ignore[method-assign]
        return staged


def test_a_commit_that_fails_puts_the_image_back_to_queued_with_nothing_staged(db: Database, tmp_path):
    store = UnreachableAtCommit(tmp_path / "images")
    with db.session() as session:
        image = Image(owner="p1", disk_format="raw", container_format="bare", name="unlucky")
        session.add(image)
    with pytest.raises(StoreError) as failed:
        upload.receive(db, store, image, io.BytesIO(b"r" * 8192), 1 << 20, 4096, 8192)
    assert failed.value.code == 503 and "cannot reach" in failed.value.message
    with db.session() as session:
        stored = session.get(Image, image.id)
        assert (stored.status, stored.upload_token, stored.location) == ("queued", None, None)
    assert list(store.staging.iterdir()) == []


def test_each_location_goes_to_the_store_of_its_prefix(tmp_path):
    old, new = FilesystemStore(tmp_path / "old"), FilesystemStore(tmp_path / "new")
    with old.begin("kept") as staged:
        staged.write(b"before")
        location = staged.commit("kept")
    store = MultiStore(new, {"file:": old, "new:": new})
    with store.open(location) as handle:
        assert handle.read() == b"before"
    with store.local_file(location) as path:
        assert path == old.root / "kept"
    assert store.ceph_snapshot(location) is None and not store.in_use(location)
    with pytest.raises(ValueError, match="no image store"):
        store.open("s3:bucket/kept")
