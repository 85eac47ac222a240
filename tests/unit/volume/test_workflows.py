"""The volume worker's workflows in-process, on SQLite, with the file backend and the real qemu-img: every
task reaches its status, runs twice without harm, and a failure is the action's failure status with a reason."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from sqlalchemy import update

from common.db import utcnow
from image.models import Image
from volume import creation, deletion, extending, service, snapshots, sweeper, uploads
from volume.backends.base import Capacity
from volume.backends.file import FileBackend
from volume.context import VolumeWorker
from volume.models import Volume, VolumeSnapshot

pytestmark = pytest.mark.skipif(not shutil.which("qemu-img"), reason="qemu-utils is not installed")
MiB = 1 << 20


def _volume(worker: VolumeWorker, volume_id: str) -> Volume:
    with worker.db.session() as session:
        found = session.get(Volume, volume_id)
        assert found is not None
        return found


def _create(worker: VolumeWorker, size: int | None = 1, **kwargs) -> str:
    with worker.db.session() as session:
        volume_id = service.create_volume(
            session, worker.settings, project_id="p1", user_id="u1", size=size, **kwargs
        ).id
    assert creation.create(worker, volume_id) == "available"
    assert creation.create(worker, volume_id) == "skipped"
    return volume_id


def _image(worker: VolumeWorker, data: bytes, properties: dict | None = None) -> str:
    image = Image(
        owner="p1",
        name="tiny",
        status="active",
        disk_format="raw",
        container_format="bare",
        size=len(data),
        virtual_size=len(data),
        properties=properties or {},
        visibility="private",
    )
    with worker.db.session() as session:
        session.add(image)
        session.flush()
        image.location = f"file:{image.id}"
    path = worker.image_store.local_path(image.location)
    path.write_bytes(data)
    return image.id


def test_an_empty_volume_is_made_then_deleted(worker):
    volume_id = _create(worker, 2)
    volume = _volume(worker, volume_id)
    assert (volume.location, volume.bootable) == (f"volume-{volume_id}.qcow2", False)
    assert (worker.settings.effective_volume_dir / volume.location).exists()
    with worker.db.session() as session:
        service.delete_volume(session, session.get(Volume, volume_id))
    assert deletion.delete(worker, volume_id) == "deleted"
    assert deletion.delete(worker, volume_id) == "skipped"
    volume = _volume(worker, volume_id)
    assert (volume.status, volume.deleted) == ("deleted", True)
    assert not (worker.settings.effective_volume_dir / volume.location).exists()


def test_a_volume_from_an_image_is_bootable_and_keeps_its_metadata(worker):
    image_id = _image(worker, b"\x42" * MiB, {"hw_disk_bus": "virtio", "owner_secret": "x"})
    volume_id = _create(worker, None, source=service.Source(image_id=image_id))
    volume = _volume(worker, volume_id)
    assert (volume.size, volume.bootable, volume.image_id) == (1, True, image_id)
    assert volume.image_metadata["image_name"] == "tiny"
    assert volume.image_metadata["hw_disk_bus"] == "virtio"
    assert "owner_secret" not in volume.image_metadata


def test_snapshot_then_volume_from_it_then_extend_and_cascade_delete(worker):
    volume_id = _create(worker, 1)
    with worker.db.session() as session:
        snapshot_id = service.create_snapshot(
            session, volume=session.get(Volume, volume_id), project_id="p1", user_id="u1"
        ).id
    assert snapshots.create(worker, snapshot_id) == "available"
    assert snapshots.create(worker, snapshot_id) == "skipped"
    copy_id = _create(worker, 2, source=service.Source(snapshot_id=snapshot_id))
    assert _volume(worker, copy_id).size == 2
    with worker.db.session() as session:
        assert service.extend_volume(session, worker.settings, session.get(Volume, copy_id), 3) is False
    assert extending.extend(worker, copy_id, 3) == "available"
    copy = _volume(worker, copy_id)
    assert (copy.size, copy.extending_to) == (3, None)
    with worker.db.session() as session:
        service.delete_volume(session, session.get(Volume, volume_id), cascade=True)
    assert deletion.delete(worker, volume_id) == "deleted"
    with worker.db.session() as session:
        snapshot = session.get(VolumeSnapshot, snapshot_id)
        assert (snapshot.status, snapshot.deleted) == ("deleted", True)
    clone_id = _create(worker, 3, source=service.Source(source_volid=copy_id))
    assert _volume(worker, clone_id).status == "available"


class FullDisk(FileBackend):
    """A file backend on a filesystem with 1 GiB free."""

    def capacity(self) -> Capacity:
        return Capacity(total_gb=1, free_gb=1)


def test_a_create_the_backend_refuses_is_error_with_the_reason_and_leaves_no_file(worker):
    worker._backends["file"] = FullDisk(worker.settings.effective_volume_dir)
    with worker.db.session() as session:
        volume_id = service.create_volume(session, worker.settings, project_id="p1", user_id="u1", size=500).id
    assert creation.create(worker, volume_id) == "error"
    volume = _volume(worker, volume_id)
    assert volume.status == "error" and "1 GiB free" in volume.error
    assert list(worker.settings.effective_volume_dir.glob("*volume-*")) == []


def test_upload_to_image_makes_an_active_image_with_checksums(worker):
    volume_id = _create(worker, 1)
    with worker.db.session() as session:
        image = service.upload_to_image(
            session, worker.settings, session.get(Volume, volume_id), project_id="p1", image_name="from-volume"
        )
        image_id = image.id
        assert session.get(Volume, volume_id).status == "uploading"
    assert uploads.upload(worker, volume_id, image_id) == "active"
    with worker.db.session() as session:
        image = session.get(Image, image_id)
        assert (image.status, image.size, image.disk_format) == ("active", 1 << 30, "raw")
        assert image.checksum and image.os_hash_value
        assert session.get(Volume, volume_id).status == "available"


def test_the_sweeper_fails_a_stuck_create_and_retries_a_stuck_delete(worker):
    with worker.db.session() as session:
        stuck = service.create_volume(session, worker.settings, project_id="p1", user_id="u1", size=1).id
    deleting = _create(worker, 1)
    with worker.db.session() as session:
        service.delete_volume(session, session.get(Volume, deleting))
        session.execute(update(Volume).values(updated_at=utcnow() - timedelta(days=1)))
    swept = sweeper.sweep(worker)
    assert swept.failed == [stuck]
    assert swept.volumes_to_delete == [deleting]
    assert _volume(worker, stuck).status == "error"
    assert sweeper.sweep(worker).volumes_to_delete == []
