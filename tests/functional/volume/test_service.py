"""The volume service against a whole private cloud (launcher, Redis, stratus-volume with the file backend):
records made through ``volume.service`` in the caller's transaction, the work done by the volume worker over
the queue, statuses polled from the database. Each test works in a project of its own (a fresh id), so quotas
and usage are its own."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from threading import Barrier
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import func, select

from common.db import Database
from common.exceptions import StratusError
from common.queue import make_celery
from common.settings import Settings, load
from quota import engine
from quota.exceptions import OverQuota
from volume import client, quota, service
from volume.backends.file import FileBackend
from volume.models import Volume, VolumeSnapshot

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

MiB = 1 << 20
WAIT = 60.0


@dataclass
class Volumes:
    settings: Settings
    db: Database
    app: Celery
    project_id: str

    def create(self, size: int | None = 1, send: bool = True, **kwargs: Any) -> str:
        with self.db.session() as session:
            volume_id = service.create_volume(
                session, self.settings, project_id=self.project_id, user_id="u", size=size, **kwargs
            ).id
        if send:
            client.create_volume(self.app, volume_id, request_id="req-functional")
        return volume_id

    def change(self, volume_id: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.db.session() as session:
            volume = session.get(Volume, volume_id)
            return call(session, volume, *args, **kwargs)

    def volume(self, volume_id: str) -> Volume:
        with self.db.session() as session:
            found = session.get(Volume, volume_id)
            assert found is not None
            return found

    def wait(self, volume_id: str, *statuses: str) -> Volume:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            volume = self.volume(volume_id)
            if volume.status in statuses:
                return volume
            time.sleep(0.1)
        raise AssertionError(f"volume {volume_id} is {self.volume(volume_id).status}, not {' or '.join(statuses)}")

    def wait_snapshot(self, snapshot_id: str, status: str) -> VolumeSnapshot:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with self.db.session() as session:
                snapshot = session.get(VolumeSnapshot, snapshot_id)
            if snapshot is not None and snapshot.status == status:
                return snapshot
            time.sleep(0.1)
        raise AssertionError(f"snapshot {snapshot_id} never became {status}")

    def delete(self, volume_id: str, **kwargs: Any) -> Volume:
        self.change(volume_id, service.delete_volume, **kwargs)
        client.delete_volume(self.app, volume_id, request_id="req-functional")
        return self.wait(volume_id, "deleted", "error_deleting")

    def path(self, volume: Volume) -> Any:
        assert volume.location
        return self.settings.effective_volume_dir / volume.location


@pytest.fixture(scope="module")
def shared(cloud) -> Iterator[tuple[Settings, Database, Celery]]:
    settings = load(cloud.server.env)
    db = Database(settings.effective_database_url)
    try:
        yield settings, db, make_celery(settings)
    finally:
        db.dispose()


@pytest.fixture
def volumes(shared) -> Volumes:
    settings, db, app = shared
    return Volumes(settings, db, app, f"project-{uuid.uuid4().hex}")


def test_an_empty_volume_becomes_available_as_a_qcow2_file_and_its_delete_removes_it(volumes):
    volume = volumes.wait(volumes.create(2, name="data"), "available")
    path = volumes.path(volume)
    assert path.name == f"volume-{volume.id}.qcow2" and path.exists()
    assert path.read_bytes()[:4] == b"QFI\xfb" and path.stat().st_size < 2 * MiB
    assert service.connection_info(volumes.settings, volume) == {
        "driver_volume_type": "file",
        "data": {"path": str(path), "format": "qcow2"},
    }

    deleted = volumes.delete(volume.id)

    assert (deleted.status, deleted.deleted) == ("deleted", True) and not path.exists()


def test_a_volume_from_an_image_holds_it_and_is_bootable(cloud, volumes):
    token = cloud.admin_token()
    body = {"name": "volume-source", "disk_format": "raw", "container_format": "bare", "visibility": "public"}
    image = cloud.request("POST", "/image/v2/images", token, json=body).json()
    headers = {"Content-Type": "application/octet-stream"}
    data = b"\x5a" * (3 * MiB)
    put = cloud.request("PUT", f"/image/v2/images/{image['id']}/file", token, data=data, headers=headers)
    assert put.status_code == 204, put.text

    volume = volumes.wait(volumes.create(None, source=service.Source(image_id=image["id"])), "available")

    assert (volume.size, volume.bootable, volume.image_id) == (1, True, image["id"])
    assert volume.image_metadata["image_name"] == "volume-source"
    assert volume.image_metadata["disk_format"] == "raw"
    exported = volumes.settings.state_path / f"export-{volume.id}.raw"
    FileBackend(volumes.settings.effective_volume_dir).export(volume.location, exported, "raw")
    with open(exported, "rb") as handle:
        assert handle.read(len(data)) == data
    exported.unlink()


def test_snapshot_volume_from_it_volume_from_a_volume_extend_and_cascade_delete(volumes):
    source = volumes.wait(volumes.create(1), "available")
    with volumes.db.session() as session:
        snapshot_id = service.create_snapshot(
            session, volume=session.get(Volume, source.id), project_id=volumes.project_id, user_id="u"
        ).id
    client.create_snapshot(volumes.app, snapshot_id, request_id="req-functional")
    snapshot = volumes.wait_snapshot(snapshot_id, "available")
    assert snapshot.location == f"volume-{source.id}.qcow2@snapshot-{snapshot_id}"

    from_snapshot = volumes.wait(volumes.create(2, source=service.Source(snapshot_id=snapshot_id)), "available")
    clone = volumes.wait(volumes.create(None, source=service.Source(source_volid=from_snapshot.id)), "available")
    assert (from_snapshot.size, clone.size) == (2, 2)

    assert volumes.change(clone.id, lambda s, v: service.extend_volume(s, volumes.settings, v, 4)) is False
    client.extend_volume(volumes.app, clone.id, 4, request_id="req-functional")
    extended = volumes.wait(clone.id, "available")
    assert (extended.size, extended.extending_to) == (4, None)

    with pytest.raises(StratusError, match="must not be migrating, attached") as refused:
        volumes.change(source.id, service.delete_volume)
    assert refused.value.code == 400
    assert volumes.delete(source.id, cascade=True).status == "deleted"
    assert volumes.wait_snapshot(snapshot_id, "deleted").deleted
    with volumes.db.session() as session:
        assert quota.count_volumes(session, volumes.project_id, None) == {"volumes": 2, "gigabytes": 6}


def test_wrong_states_are_cinders_400(volumes):
    creating = volumes.create(1, send=False)
    with pytest.raises(StratusError, match="Invalid volume: Volume status must be available or error") as delete:
        volumes.change(creating, service.delete_volume)
    with pytest.raises(StratusError, match="to extend, but current status is: creating") as extend:
        volumes.change(creating, lambda s, v: service.extend_volume(s, volumes.settings, v, 2))
    with pytest.raises(StratusError, match="to snapshot, but current status is: creating") as snapshot:
        volumes.change(
            creating,
            lambda s, v: service.create_snapshot(s, volume=v, project_id=volumes.project_id, user_id="u"),
        )
    assert {delete.value.code, extend.value.code, snapshot.value.code} == {400}
    client.create_volume(volumes.app, creating, request_id="req-functional")
    available = volumes.wait(creating, "available")
    with pytest.raises(StratusError, match="New size for extend must be greater than current size") as shrink:
        volumes.change(available.id, lambda s, v: service.extend_volume(s, volumes.settings, v, 1))
    assert shrink.value.code == 400


def test_over_quota_is_refused_in_the_transaction_and_nothing_is_made(volumes):
    for _ in range(10):
        volumes.create(1, send=False)
    with pytest.raises(OverQuota) as volumes_over:
        volumes.create(1, send=False)
    with volumes.db.session() as session:
        engine.set_limits(session, volumes.project_id, {"volumes": -1}, force=True)
    with pytest.raises(OverQuota) as gigabytes_over:
        volumes.create(991, send=False)
    assert volumes_over.value.resources == ["volumes"] and gigabytes_over.value.resources == ["gigabytes"]
    with volumes.db.session() as session:
        made = session.scalar(select(func.count()).where(Volume.project_id == volumes.project_id))
    assert made == 10


def test_fifty_concurrent_creates_never_exceed_the_quota(volumes):
    start = Barrier(50)

    def create(_: int) -> str:
        start.wait()
        try:
            return volumes.create(1, send=False)
        except OverQuota:
            return "refused"

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(create, range(50)))

    assert len([r for r in results if r != "refused"]) == 10
    with volumes.db.session() as session:
        assert quota.count_volumes(session, volumes.project_id, None) == {"volumes": 10, "gigabytes": 10}


def test_a_failed_create_is_error_with_a_reason_and_leaves_no_file(volumes):
    with volumes.db.session() as session:
        engine.set_limits(session, volumes.project_id, {"gigabytes": -1}, force=True)
    volume = volumes.wait(volumes.create(10**7), "available", "error")

    assert volume.status == "error" and "GiB are needed" in (volume.error or "")
    assert volume.location is None
    assert list(volumes.settings.effective_volume_dir.glob(f"*{volume.id}*")) == []
    assert volumes.delete(volume.id).status == "deleted"
