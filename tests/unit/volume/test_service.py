"""volume.service on SQLite: records, statuses through the one table, Cinder's 400s, quotas in the transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.db import Database
from common.settings import Settings, load
from quota.exceptions import OverQuota
from volume import quota, service, transitions, types
from volume.exceptions import InvalidInput, InvalidVolume, NotDeletable, VolumeTypeInUse, WrongStatus
from volume.models import Volume
from volume.states import VolumeAction, VolumeStatus


@pytest.fixture
def settings(tmp_path) -> Settings:
    return load({"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_VOLUME_BACKENDS": "fake"})


@pytest.fixture
def vdb(db: Database, settings: Settings) -> Iterator[Database]:
    with db.session() as session:
        types.ensure_types(session, settings)
    yield db


def _create(db: Database, settings: Settings, size: int = 1, **kwargs) -> Volume:
    with db.session() as session:
        return service.create_volume(session, settings, project_id="p1", user_id="u1", size=size, **kwargs)


def _available(db: Database, volume: Volume) -> Volume:
    with db.session() as session:
        row = session.get(Volume, volume.id)
        assert transitions.finish(session, row, VolumeAction.CREATE, succeeded=True, location=f"fake:volume-{row.id}")
        return row


def test_an_empty_volume_is_creating_on_the_default_types_backend(vdb, settings):
    volume = _create(vdb, settings, 3, name="v")
    assert (volume.status, volume.size, volume.backend) == ("creating", 3, "fake")
    with vdb.session() as session:
        assert service.default_type(session, settings).id == volume.volume_type_id
        assert quota.count_volumes(session, "p1", None) == {"volumes": 1, "gigabytes": 3}


def test_bootstrap_types_are_made_once(vdb, settings):
    with vdb.session() as session:
        assert types.ensure_types(session, settings) == []
        assert service.find_type(session, "fake", "p1").extra_specs == {"volume_backend_name": "fake"}


def test_an_empty_volume_needs_a_size_and_a_known_zone(vdb, settings):
    with pytest.raises(InvalidInput):
        _create(vdb, settings, None)
    with pytest.raises(InvalidInput):
        _create(vdb, settings, 0)
    with pytest.raises(InvalidInput):
        _create(vdb, settings, 1, availability_zone="elsewhere")


def test_the_eleventh_volume_and_the_gigabyte_over_are_refused(vdb, settings):
    for _ in range(10):
        _create(vdb, settings)
    with pytest.raises(OverQuota) as refused:
        _create(vdb, settings)
    assert refused.value.resources == ["volumes"]
    with pytest.raises(OverQuota) as too_big, vdb.session() as session:
        service.create_volume(session, settings, project_id="p2", user_id="u", size=1001)
    assert too_big.value.resources == ["gigabytes"]


def test_a_creating_volume_cannot_be_deleted_an_available_one_frees_its_quota_at_once(vdb, settings):
    volume = _create(vdb, settings, 2)
    with vdb.session() as session, pytest.raises(NotDeletable):
        service.delete_volume(session, session.get(Volume, volume.id))
    _available(vdb, volume)
    with vdb.session() as session:
        row = session.get(Volume, volume.id)
        service.delete_volume(session, row)
        assert row.status == "deleting" and row.previous_status == "available"
        assert quota.count_volumes(session, "p1", None) == {"volumes": 0, "gigabytes": 0}


def test_extend_must_grow_and_counts_the_new_size_at_once(vdb, settings):
    volume = _available(vdb, _create(vdb, settings, 2))
    with vdb.session() as session:
        row = session.get(Volume, volume.id)
        with pytest.raises(InvalidInput, match="must be greater than current size"):
            service.extend_volume(session, settings, row, 2)
        assert service.extend_volume(session, settings, row, 5) is False
        assert (row.status, row.size, row.extending_to) == ("extending", 2, 5)
        assert quota.count_volumes(session, "p1", None)["gigabytes"] == 5
        with pytest.raises(WrongStatus, match="available or in-use to extend, but current status is: extending"):
            service.extend_volume(session, settings, row, 6)


def test_a_snapshot_counts_gigabytes_and_blocks_the_delete_unless_cascade(vdb, settings):
    volume = _available(vdb, _create(vdb, settings, 4))
    with vdb.session() as session:
        row = session.get(Volume, volume.id)
        snapshot = service.create_snapshot(session, volume=row, project_id="p1", user_id="u1")
        assert quota.count_volumes(session, "p1", None)["gigabytes"] == 8
        assert quota.count_snapshots(session, "p1", None) == {"snapshots": 1}
        with pytest.raises(NotDeletable):
            service.delete_volume(session, row)
        snapshot.status = "available"
        service.delete_volume(session, row, cascade=True)
        assert (row.status, snapshot.status) == ("deleting", "deleting")


def test_a_snapshot_of_an_in_use_file_volume_is_the_hosts_to_take_and_ends_once(tmp_path, db):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_VOLUME_BACKENDS": "file,fake"})
    with db.session() as session:
        types.ensure_types(session, settings)
    file_volume, fake_volume = _create(db, settings, volume_type="file"), _create(db, settings, volume_type="fake")
    locations = (f"volume-{file_volume.id}.qcow2", f"fake:volume-{fake_volume.id}")
    with db.session() as session:
        rows = [session.get(Volume, v.id) for v in (file_volume, fake_volume)]
        for row, location in zip(rows, locations, strict=True):
            transitions.finish(session, row, VolumeAction.CREATE, succeeded=True, location=location)
        taken = [service.create_snapshot(session, volume=row, project_id="p1", user_id="u1") for row in rows]
        for row, snapshot in zip(rows, taken, strict=True):  # detached: the volume service takes both
            assert service.host_snapshot_target(session, settings, row, snapshot) is None
        for row in rows:
            transitions.force(session, row, VolumeStatus.IN_USE)
        by_host = [service.create_snapshot(session, volume=r, project_id="p1", user_id="u1", force=True) for r in rows]
        target = service.host_snapshot_target(session, settings, rows[0], by_host[0])
        expected = settings.effective_volume_dir.absolute() / f"snapshot-{by_host[0].id}.qcow2"
        assert target == {"driver_volume_type": "file", "data": {"path": str(expected), "format": "qcow2"}}
        assert by_host[0].location == expected.name
        assert service.host_snapshot_target(session, settings, rows[1], by_host[1]) is None  # fake: itself, in use
        assert service.snapshot_taken(session, by_host[0])
        assert not service.snapshot_failed(session, by_host[0], "too late")  # no longer creating: nothing changes
        session.refresh(by_host[0])
        assert (by_host[0].status, by_host[0].progress, by_host[0].error) == ("available", "100%", None)
        assert service.snapshot_failed(session, taken[0], "the host could not copy it")
        session.refresh(taken[0])
        assert (taken[0].status, taken[0].error) == ("error", "the host could not copy it")


def test_the_attach_cycle_moves_volume_and_attachment_together(vdb, settings):
    volume = _available(vdb, _create(vdb, settings))
    with vdb.session() as session:
        row = session.get(Volume, volume.id)
        attachment = service.reserve(session, settings, row, instance_uuid="i" * 36, mountpoint="/dev/vdb")
        assert attachment.connection_info == {"driver_volume_type": "fake", "data": {"name": f"volume-{row.id}"}}
        assert row.status == "reserved"
        with pytest.raises(NotDeletable):
            service.delete_volume(session, row)
        service.attaching(session, attachment, "host1")
        service.attached(session, attachment, "host1")
        service.attached(session, attachment, "host1")
        assert (row.status, attachment.attach_status) == ("in-use", "attached")
        with pytest.raises(InvalidVolume, match="must be available, but current status is: in-use"):
            service.create_snapshot(session, volume=row, project_id="p1", user_id="u1")
        service.detaching(session, attachment)
        service.detach_failed(session, attachment, "the guest did not release the disk")
        assert (row.status, attachment.attach_status, row.error) == (
            "in-use",
            "attached",
            "the guest did not release the disk",
        )
        service.detaching(session, attachment)
        service.detached(session, attachment)
        service.detached(session, attachment)
        assert (row.status, attachment.deleted) == ("available", True)


def test_an_unplugged_reservation_goes_back_to_available(vdb, settings):
    volume = _available(vdb, _create(vdb, settings))
    with vdb.session() as session:
        row = session.get(Volume, volume.id)
        attachment = service.reserve(session, settings, row, instance_uuid="i" * 36, mountpoint="/dev/vdb")
        with pytest.raises(WrongStatus):
            service.reserve(session, settings, row, instance_uuid="j" * 36, mountpoint="/dev/vdc")
        service.unreserve(session, attachment, "the host failed")
        service.unreserve(session, attachment)
        assert row.status == "available"


def test_a_type_in_use_cannot_be_deleted_nor_the_default(vdb, settings):
    _create(vdb, settings, volume_type="fake")
    with vdb.session() as session:
        with pytest.raises(VolumeTypeInUse, match=r"Target volume type is still in use\."):
            types.delete_type(session, settings, service.find_type(session, "fake", None))
        with pytest.raises(Exception, match="Default volume type can not be deleted"):
            types.delete_type(session, settings, service.default_type(session, settings))
        private = types.create_type(session, name="gold", is_public=False)
        with pytest.raises(Exception, match="could not be found"):
            service.find_type(session, "gold", "p1")
        types.add_access(session, private, "p1")
        assert service.find_type(session, "gold", "p1").id == private.id
        types.delete_type(session, settings, private)


def test_a_volume_from_another_projects_snapshot_is_not_found(vdb, settings):
    volume = _available(vdb, _create(vdb, settings, 2))
    with vdb.session() as session:
        snapshot = service.create_snapshot(session, volume=session.get(Volume, volume.id), project_id="p1", user_id="u")
        snapshot.status = "available"
    with vdb.session() as session, pytest.raises(Exception, match="could not be found"):
        service.create_volume(
            session, settings, project_id="p2", user_id="u", size=None, source=service.Source(snapshot_id=snapshot.id)
        )
    with vdb.session() as session:
        made = service.create_volume(
            session, settings, project_id="p1", user_id="u", size=None, source=service.Source(snapshot_id=snapshot.id)
        )
        assert (made.size, made.snapshot_id) == (2, snapshot.id)
        with pytest.raises(InvalidInput, match="cannot be smaller than the snapshot size"):
            service.create_volume(
                session, settings, project_id="p1", user_id="u", size=1, source=service.Source(snapshot_id=snapshot.id)
            )


def test_reset_status_leaves_any_state():
    assert VolumeStatus.ERROR_EXTENDING in transitions.TRANSITIONS[VolumeAction.RESET_STATUS].starts_from
