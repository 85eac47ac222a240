"""Backups in-process, on SQLite, with the file backend, the real qemu-img and qemu-nbd and the directory store:
a full backup stores the volume's data, an incremental one only the chunks changed since (through the QEMU dirty
bitmap, or by comparing when the bitmap is gone), a restore is identical block for block, and failures leave the
volume as it was and nothing in the store."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from volume import backup_jobs, backups, creation, service, snapshots
from volume.backends.file import FileBackend
from volume.backends.file_blocks import FileBlocks
from volume.backup_store.directory import DirectoryStore
from volume.context import VolumeWorker
from volume.exceptions import InvalidBackup, InvalidVolume
from volume.models import Volume, VolumeBackup

pytestmark = pytest.mark.skipif(not shutil.which("qemu-nbd"), reason="qemu-utils is not installed")
MiB = 1 << 20
GiB = 1 << 30


def _volume(worker: VolumeWorker, volume_id: str) -> Volume:
    with worker.db.session() as session:
        found = session.get(Volume, volume_id)
        assert found is not None
        return found


def _backup(worker: VolumeWorker, backup_id: str) -> VolumeBackup:
    with worker.db.session() as session:
        found = session.get(VolumeBackup, backup_id)
        assert found is not None
        return found


def _path(worker: VolumeWorker, volume_id: str) -> Path:
    return worker.settings.effective_volume_dir / str(_volume(worker, volume_id).location)


def _new_volume(worker: VolumeWorker, size: int = 1) -> str:
    with worker.db.session() as session:
        volume_id = service.create_volume(session, worker.settings, project_id="p1", user_id="u1", size=size).id
    assert creation.create(worker, volume_id) == "available"
    return volume_id


def _write(path: Path, *writes: tuple[int, int, int]) -> None:
    """(pattern byte, offset, length) writes into the qcow2 file, as a guest would make them."""
    commands = [arg for pattern, offset, length in writes for arg in ("-c", f"write -P {pattern} {offset} {length}")]
    subprocess.run(["qemu-io", "-f", "qcow2", *commands, str(path)], check=True, capture_output=True)


def _back_up(worker: VolumeWorker, volume_id: str, *, incremental: bool = False, **kwargs) -> str:
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        backup_id = backups.create_backup(
            session, worker.settings, volume=volume, project_id="p1", user_id="u1", incremental=incremental, **kwargs
        ).id
    return backup_id


def _restore(worker: VolumeWorker, backup_id: str, volume_id: str | None = None) -> str:
    with worker.db.session() as session:
        backup = session.get(VolumeBackup, backup_id)
        target = session.get(Volume, volume_id) if volume_id else None
        volume = backups.restore_backup(session, worker.settings, backup, project_id="p1", user_id="u1", volume=target)
        target_id = volume.id
    assert backup_jobs.restore(worker, backup_id, target_id) == "available"
    return target_id


def _identical(first: Path, second: Path) -> bool:
    return subprocess.run(["qemu-img", "compare", "-q", str(first), str(second)], check=False).returncode == 0


def _bitmaps(worker: VolumeWorker, volume_id: str) -> list[str]:
    blocks = FileBlocks(FileBackend(worker.settings.effective_volume_dir))
    return blocks._bitmaps(str(_volume(worker, volume_id).location))


def test_an_incremental_backup_after_changing_one_percent_stores_about_one_percent(worker, capsys):
    volume_id = _new_volume(worker, 1)
    path = _path(worker, volume_id)
    _write(path, (0xA1, 0, 200 * MiB), (0xA2, 700 * MiB, 100 * MiB))
    full = _back_up(worker, volume_id)
    assert _volume(worker, volume_id).status == "backing-up"
    assert backup_jobs.create(worker, full) == "available"
    assert backup_jobs.create(worker, full) == "skipped"
    assert _volume(worker, volume_id).status == "available"
    full_bytes = _backup(worker, full).stored_bytes
    assert 300 * MiB <= full_bytes <= 301 * MiB

    _write(path, (0xB1, 50 * MiB, 5 * MiB), (0xB2, 900 * MiB, 5 * MiB + 4096))  # ~1% of 1 GiB, one unaligned end
    incremental = _back_up(worker, volume_id, incremental=True)
    assert backup_jobs.create(worker, incremental) == "available"
    stored = _backup(worker, incremental)
    print(f"full backup {full_bytes} bytes, incremental after changing 1%: {stored.stored_bytes} bytes")
    assert (stored.parent_id, stored.is_incremental) == (full, True)
    assert 10 * MiB <= stored.stored_bytes <= 10 * MiB + 64 * 1024
    assert stored.stored_bytes <= 0.02 * GiB
    assert _bitmaps(worker, volume_id) == [f"stratus-backup-{incremental}"]  # the parent's checkpoint is dropped
    assert _backup(worker, full).checkpoint is None

    restored = _restore(worker, incremental)
    assert _volume(worker, restored).status == "available"
    assert _identical(path, _path(worker, restored))


def test_a_restore_into_an_existing_volume_replaces_all_of_its_data(worker):
    source = _new_volume(worker, 1)
    _write(_path(worker, source), (0x11, 0, 3 * MiB))
    backup_id = _back_up(worker, source)
    assert backup_jobs.create(worker, backup_id) == "available"
    target = _new_volume(worker, 2)
    _write(_path(worker, target), (0x77, 1 * MiB, 4 * MiB), (0x78, 1536 * MiB, 1 * MiB))
    assert _restore(worker, backup_id, target) == target
    assert _volume(worker, target).size == 2
    subprocess.run(["qemu-img", "resize", "-q", "-f", "qcow2", str(_path(worker, source)), str(2 * GiB)], check=True)
    assert _identical(_path(worker, source), _path(worker, target))


def test_without_its_checkpoint_an_incremental_backup_compares_blocks_and_still_stores_only_the_change(worker):
    volume_id = _new_volume(worker, 1)
    path = _path(worker, volume_id)
    _write(path, (0x21, 0, 20 * MiB))
    full = _back_up(worker, volume_id)
    backup_jobs.create(worker, full)
    subprocess.run(["qemu-img", "bitmap", "--remove", str(path), f"stratus-backup-{full}"], check=True)
    _write(path, (0x22, 4 * MiB, 1 * MiB))
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "discard 10M 2M", str(path)], check=True, capture_output=True)
    incremental = _back_up(worker, volume_id, incremental=True)
    assert backup_jobs.create(worker, incremental) == "available"
    assert _backup(worker, incremental).stored_bytes == 1 * MiB
    restored = _restore(worker, incremental)
    assert _identical(path, _path(worker, restored))


def test_a_snapshot_is_backed_up_as_it_was_taken(worker):
    volume_id = _new_volume(worker, 1)
    path = _path(worker, volume_id)
    _write(path, (0x31, 0, 2 * MiB))
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        snapshot_id = service.create_snapshot(session, volume=volume, project_id="p1", user_id="u1").id
    snapshots.create(worker, snapshot_id)
    _write(path, (0x32, 0, 2 * MiB))
    with worker.db.session() as session:
        from volume.models import VolumeSnapshot

        snapshot = session.get(VolumeSnapshot, snapshot_id)
        backup_id = _back_up(worker, volume_id, snapshot=snapshot)
    assert backup_jobs.create(worker, backup_id) == "available"
    restored = _restore(worker, backup_id)
    data = subprocess.run(
        ["qemu-io", "-f", "qcow2", "-r", "-c", "read -P 0x31 0 2M", str(_path(worker, restored))],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "Pattern verification failed" not in data.stdout


def test_a_failed_backup_leaves_the_volume_as_it_was_and_nothing_in_the_store(worker, settings):
    volume_id = _new_volume(worker, 1)
    _write(_path(worker, volume_id), (0x41, 0, 1 * MiB))
    store_dir = settings.effective_backup_store_dir
    store_dir.parent.mkdir(parents=True, exist_ok=True)
    store_dir.write_text("not a directory")  # the store cannot be written
    backup_id = _back_up(worker, volume_id)
    assert backup_jobs.create(worker, backup_id) == "error"
    backup = _backup(worker, backup_id)
    assert backup.fail_reason
    assert _volume(worker, volume_id).status == "available"
    assert _bitmaps(worker, volume_id) == []


def test_a_backup_with_incremental_children_is_not_deleted_and_a_deleted_one_leaves_the_store(worker, settings):
    volume_id = _new_volume(worker, 1)
    _write(_path(worker, volume_id), (0x51, 0, 1 * MiB))
    full = _back_up(worker, volume_id)
    backup_jobs.create(worker, full)
    child = _back_up(worker, volume_id, incremental=True)
    backup_jobs.create(worker, child)
    with worker.db.session() as session, pytest.raises(InvalidBackup, match="Incremental backups exist"):
        backups.delete_backup(session, session.get(VolumeBackup, full))
    for backup_id in (child, full):
        with worker.db.session() as session:
            backups.delete_backup(session, session.get(VolumeBackup, backup_id))
        assert backup_jobs.delete(worker, backup_id) == "deleted"
        assert backup_jobs.delete(worker, backup_id) == "skipped"
        assert not (settings.effective_backup_store_dir / backup_id).exists()
    assert _bitmaps(worker, volume_id) == []
    assert _backup(worker, full).deleted


def test_an_in_use_volume_needs_force_and_an_incremental_backup_needs_a_full_one(worker):
    volume_id = _new_volume(worker, 1)
    with worker.db.session() as session, pytest.raises(InvalidBackup, match="No backups available"):
        backups.create_backup(session, worker.settings, volume=session.get(Volume, volume_id), project_id="p1",
                              user_id="u1", incremental=True)  # fmt: skip
    with worker.db.session() as session:
        session.get(Volume, volume_id).status = "in-use"
    with worker.db.session() as session, pytest.raises(InvalidVolume, match="must use the force flag"):
        backups.create_backup(session, worker.settings, volume=session.get(Volume, volume_id), project_id="p1",
                              user_id="u1")  # fmt: skip


def test_a_restore_checks_every_chunk_it_reads(worker, settings):
    volume_id = _new_volume(worker, 1)
    _write(_path(worker, volume_id), (0x61, 0, 1 * MiB))
    backup_id = _back_up(worker, volume_id)
    backup_jobs.create(worker, backup_id)
    chunks = settings.effective_backup_store_dir / backup_id / "chunks"
    with open(chunks, "r+b") as handle:
        handle.seek(65536 * 3)
        handle.write(b"tampered")
    with worker.db.session() as session:
        target = backups.restore_backup(session, worker.settings, session.get(VolumeBackup, backup_id),
                                        project_id="p1", user_id="u1").id  # fmt: skip
    assert backup_jobs.restore(worker, backup_id, target) == "error_restoring"
    assert "damaged" in str(_volume(worker, target).error)
    assert _backup(worker, backup_id).status == "available"
    assert DirectoryStore(settings.effective_backup_store_dir).manifest(backup_id).backup_id == backup_id


def test_a_volume_created_from_a_backup_holds_its_data_and_the_backup_is_held_meanwhile(worker):
    from volume.service import Source

    source = _new_volume(worker, 1)
    _write(_path(worker, source), (0x71, 0, 2 * MiB))
    backup_id = _back_up(worker, source)
    backup_jobs.create(worker, backup_id)
    with worker.db.session() as session:
        volume_id = service.create_volume(session, worker.settings, project_id="p1", user_id="u1", size=None,
                                          source=Source(backup_id=backup_id)).id  # fmt: skip
    assert _backup(worker, backup_id).status == "restoring"
    with worker.db.session() as session, pytest.raises(InvalidBackup):
        backups.delete_backup(session, session.get(VolumeBackup, backup_id))
    assert creation.create(worker, volume_id) == "available"
    assert (_volume(worker, volume_id).size, _volume(worker, volume_id).backup_id) == (1, backup_id)
    assert _backup(worker, backup_id).status == "available"
    assert _identical(_path(worker, source), _path(worker, volume_id))


def test_the_sweeper_ends_a_lost_backup_and_frees_its_volume_and_retries_a_lost_delete(worker):
    from datetime import timedelta

    from sqlalchemy import update

    from common.db import utcnow
    from volume import sweeper

    volume_id = _new_volume(worker, 1)
    lost = _back_up(worker, volume_id)  # its task never runs
    done = _back_up(worker, _new_volume(worker, 1))
    backup_jobs.create(worker, done)
    with worker.db.session() as session:
        backups.delete_backup(session, session.get(VolumeBackup, done))  # its delete task is lost too
        past = utcnow() - timedelta(hours=5)
        session.execute(update(VolumeBackup).values(updated_at=past))
        session.execute(update(Volume).values(updated_at=past))
    swept = sweeper.sweep(worker)
    assert lost in swept.failed and volume_id in swept.failed
    assert swept.backups_to_delete == [done]
    assert (_backup(worker, lost).status, _volume(worker, volume_id).status) == ("error", "available")
    assert backup_jobs.delete(worker, done) == "deleted"


def _in_use_backup(worker: VolumeWorker, volume_id: str) -> tuple[str, str, dict | None]:
    """A forced backup of the in-use volume, in the API's order: its temporary snapshot, the target the server's
    host copies it to (compute asks the host for it), then the backup."""
    with worker.db.session() as session:
        volume = session.get(Volume, volume_id)
        volume.status = "in-use"
        session.flush()
        temp = backups.temporary_snapshot(session, worker.settings, volume, project_id="p1", user_id="u1")
        assert temp is not None
        target = service.host_snapshot_target(session, worker.settings, volume, temp)
        backup = backups.create_backup(
            session, worker.settings, volume=volume, project_id="p1", user_id="u1", force=True, temp_snapshot=temp
        )
        return backup.id, temp.id, target


def _snapshot_status(worker: VolumeWorker, snapshot_id: str) -> str:
    from volume.models import VolumeSnapshot

    with worker.db.session() as session:
        return session.get(VolumeSnapshot, snapshot_id).status


def test_an_in_use_volume_is_backed_up_from_a_snapshot_its_host_wrote_and_the_snapshot_goes_after(worker):
    from volume.models import VolumeSnapshot

    volume_id = _new_volume(worker, 1)
    path = _path(worker, volume_id)
    _write(path, (0x81, 0, 3 * MiB))
    backup_id, temp_id, target = _in_use_backup(worker, volume_id)
    assert _volume(worker, volume_id).status == "backing-up"
    assert backup_jobs.create(worker, backup_id) == backup_jobs.WAITING  # the host has not copied it yet
    assert target is not None  # the host's copy, as compute's snapshot_volume writes it:
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "qcow2", str(path), target["data"]["path"]], check=True)
    _write(path, (0x82, 0, 1 * MiB))  # the guest writes on after the copy: not in the backup
    with worker.db.session() as session:
        assert service.snapshot_taken(session, session.get(VolumeSnapshot, temp_id))
    assert backup_jobs.create(worker, backup_id) == "available"
    assert (_volume(worker, volume_id).status, _snapshot_status(worker, temp_id)) == ("in-use", "deleted")
    assert not Path(target["data"]["path"]).exists()
    restored = _restore(worker, backup_id)
    check = subprocess.run(
        ["qemu-io", "-f", "qcow2", "-r", "-c", "read -P 0x81 0 3M", str(_path(worker, restored))],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "Pattern verification failed" not in check.stdout


def test_an_in_use_backup_whose_snapshot_failed_fails_and_gives_the_volume_back(worker):
    from volume.models import VolumeSnapshot

    volume_id = _new_volume(worker, 1)
    backup_id, temp_id, _ = _in_use_backup(worker, volume_id)
    with worker.db.session() as session:
        service.snapshot_failed(session, session.get(VolumeSnapshot, temp_id), "the guest's disk could not be read")
    assert backup_jobs.create(worker, backup_id) == "error"
    assert "could not be read" in str(_backup(worker, backup_id).fail_reason)
    assert (_volume(worker, volume_id).status, _snapshot_status(worker, temp_id)) == ("in-use", "deleted")


def test_a_backup_is_available_only_once_its_volume_is_available_again(worker, monkeypatch):
    """A client waiting for the backup saw it available while its volume still said backing-up (the volume was
    given back in a second transaction after the backup's)."""
    volume_id = _new_volume(worker)
    backup_id = _back_up(worker, volume_id)
    seen: list[str] = []
    end = backup_jobs._end

    def recording_end(worker_, backup_id_, busy, **values):
        seen.append(_volume(worker, volume_id).status)
        return end(worker_, backup_id_, busy, **values)

    monkeypatch.setattr(backup_jobs, "_end", recording_end)
    assert backup_jobs.create(worker, backup_id) == "available"
    assert seen == ["available"]
