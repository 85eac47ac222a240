"""The file backend with the real qemu-img: thin qcow2 files named from ids, internal snapshots, snapshot files a
host wrote, independent copies, extend, export, idempotent deletes, and no path made from anything but an id."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from volume.backends.base import BackendError, GiB, ImageSource, NotEnoughSpace
from volume.backends.file import FileBackend

pytestmark = pytest.mark.skipif(not shutil.which("qemu-io"), reason="qemu-utils (qemu-io) is not installed")

V1, V2, V3 = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
              "33333333-3333-4333-8333-333333333333")  # fmt: skip
S1 = "44444444-4444-4444-8444-444444444444"
MiB = 1 << 20


def write(path: Path, byte: int, offset: int = 0, length: int = MiB) -> None:
    command = ["qemu-io", "-f", "qcow2", "-c", f"write -P {byte} {offset} {length}", str(path)]
    subprocess.run(command, check=True, capture_output=True)


def read_raw(backend: FileBackend, location: str, tmp_path: Path, length: int = MiB) -> bytes:
    target = tmp_path / "export.raw"
    backend.export(location, target, "raw")
    with open(target, "rb") as handle:
        return handle.read(length)


@pytest.fixture
def backend(tmp_path: Path) -> FileBackend:
    return FileBackend(tmp_path / "volumes")


def test_a_volume_is_a_thin_qcow2_named_after_its_id(backend):
    location = backend.create(V1, 2)
    assert location == f"volume-{V1}.qcow2"
    path = backend.root / location
    assert path.stat().st_size < 1 * MiB
    assert backend.size_gb(location) == 2
    assert backend.create(V1, 2) == location
    assert backend.connection(location).as_dict() == {
        "driver_volume_type": "file",
        "data": {"path": str(path.absolute()), "format": "qcow2"},
    }
    assert [p.name for p in backend.root.iterdir() if not p.name.startswith(".")] == [location]


def test_a_snapshot_keeps_the_first_write_and_a_volume_from_it_holds_only_that(backend, tmp_path):
    location = backend.create(V1, 1)
    write(backend.root / location, 0xAB)
    snapshot = backend.create_snapshot(location, S1)
    assert snapshot == f"{location}@snapshot-{S1}"
    assert backend.create_snapshot(location, S1) == snapshot
    write(backend.root / location, 0xCD)
    copy = backend.create_from_snapshot(V2, 2, snapshot)
    assert read_raw(backend, copy, tmp_path) == b"\xab" * MiB
    assert read_raw(backend, location, tmp_path) == b"\xcd" * MiB
    assert backend.size_gb(copy) == 2
    with pytest.raises(BackendError, match="has snapshots"):
        backend.delete(location)
    backend.delete_snapshot(snapshot)
    backend.delete_snapshot(snapshot)
    backend.delete(location)
    assert read_raw(backend, copy, tmp_path) == b"\xab" * MiB


def test_a_snapshot_of_an_attached_volume_is_a_file_a_host_writes_beside_it(backend, tmp_path):
    location = backend.create(V1, 1)
    snapshot, target = backend.snapshot_by_host(location, S1)
    assert snapshot == f"snapshot-{S1}.qcow2"
    assert target.as_dict() == {
        "driver_volume_type": "file",
        "data": {"path": str((backend.root / snapshot).absolute()), "format": "qcow2"},
    }
    assert not (backend.root / snapshot).exists()  # it only names the file
    for hostile in ("../x", f"{S1}/../x", ""):
        with pytest.raises(BackendError):
            backend.snapshot_by_host(location, hostile)
    with pytest.raises(BackendError):
        backend.snapshot_by_host("../etc/passwd", S1)


def test_a_volume_from_a_snapshot_file_holds_its_data_and_deleting_either_keeps_the_other(backend, tmp_path):
    location = backend.create(V1, 1)
    write(backend.root / location, 0xAB)
    snapshot, _ = backend.snapshot_by_host(location, S1)
    shutil.copyfile(backend.root / location, backend.root / snapshot)  # what the host's copy holds
    write(backend.root / location, 0xCD)
    backend.delete(location)  # a standalone copy: the volume goes, the snapshot stays
    assert (backend.root / snapshot).exists()
    copy = backend.create_from_snapshot(V2, 2, snapshot)
    assert backend.size_gb(copy) == 2
    backend.delete_snapshot(snapshot)
    backend.delete_snapshot(snapshot)
    assert read_raw(backend, copy, tmp_path) == b"\xab" * MiB
    assert sorted(p.name for p in backend.root.iterdir() if not p.name.startswith(".")) == [copy]
    with pytest.raises(BackendError, match="gone"):
        backend.create_from_snapshot(V3, 1, snapshot)
    assert not backend.exists(f"volume-{V3}.qcow2")


def test_a_volume_from_a_volume_is_an_independent_copy(backend, tmp_path):
    source = backend.create(V1, 1)
    write(backend.root / source, 0x11)
    clone = backend.create_from_volume(V2, 1, source)
    write(backend.root / source, 0x22)
    backend.delete(source)
    assert read_raw(backend, clone, tmp_path) == b"\x11" * MiB


def test_extend_grows_and_never_shrinks(backend):
    location = backend.create(V1, 1)
    write(backend.root / location, 0x5A)
    backend.extend(location, 3)
    backend.extend(location, 3)
    assert backend.size_gb(location) == 3
    with pytest.raises(BackendError, match="only grow"):
        backend.extend(location, 2)


def test_a_volume_from_an_image_holds_it_and_grows_to_its_size(backend, tmp_path):
    image = tmp_path / "image.raw"
    image.write_bytes(b"\x7f" * MiB)
    source = ImageSource(image_id="i", disk_format="raw", virtual_size=MiB, path=image)
    location = backend.create_from_image(V1, 2, source)
    assert backend.size_gb(location) == 2
    assert read_raw(backend, location, tmp_path) == b"\x7f" * MiB
    too_big = ImageSource(image_id="i", disk_format="raw", virtual_size=3 * GiB, path=image)
    with pytest.raises(BackendError, match="needs 3 GiB"):
        backend.create_from_image(V2, 2, too_big)
    assert not backend.exists(f"volume-{V2}.qcow2")


def test_an_image_that_is_not_what_it_claims_leaves_no_file(backend, tmp_path):
    image = tmp_path / "image.qcow2"
    image.write_bytes(b"not a qcow2" * 100)
    source = ImageSource(image_id="i", disk_format="qcow2", virtual_size=MiB, path=image)
    with pytest.raises(Exception):  # noqa: B017 - the inspector's error or the backend's
        backend.create_from_image(V1, 1, source)
    assert [p for p in backend.root.iterdir() if not p.is_dir()] == []


def test_a_volume_beyond_the_oversubscribed_free_space_is_refused_and_leaves_no_file(backend):
    with pytest.raises(NotEnoughSpace):
        backend.create(V1, 10**7)
    assert not backend.exists(f"volume-{V1}.qcow2")


def test_delete_of_a_missing_volume_succeeds(backend):
    backend.delete(f"volume-{V3}.qcow2")
    backend.delete_snapshot(f"volume-{V3}.qcow2@snapshot-{S1}")


@pytest.mark.parametrize(
    "hostile",
    ["../etc/passwd", f"volume-{V1}.qcow2/../../x", "/etc/shadow", f"volume-{V1}.qcow2 ", "volume-x.qcow2", ""],
)
def test_no_path_is_made_from_anything_but_an_id(backend, hostile):
    with pytest.raises(BackendError):
        backend.create(hostile, 1)
    with pytest.raises(BackendError):
        backend.delete(hostile)
    with pytest.raises(BackendError):
        backend.connection(hostile)
    with pytest.raises(BackendError):
        backend.delete_snapshot(f"{hostile}@snapshot-{S1}")
    for snapshot_file in (hostile, f"snapshot-{hostile}.qcow2", f"{hostile}/snapshot-{S1}.qcow2"):
        with pytest.raises(BackendError):
            backend.delete_snapshot(snapshot_file)
        with pytest.raises(BackendError):
            backend.create_from_snapshot(V2, 1, snapshot_file)
    with pytest.raises(BackendError):
        backend.create_snapshot(f"volume-{V1}.qcow2", hostile)


def test_export_as_qcow2_and_refuses_other_formats(backend, tmp_path):
    location = backend.create(V1, 1)
    backend.export(location, tmp_path / "out.qcow2", "qcow2")
    assert (tmp_path / "out.qcow2").read_bytes()[:4] == b"QFI\xfb"
    with pytest.raises(BackendError):
        backend.export(location, tmp_path / "out.vmdk", "vmdk")


def test_the_volume_directory_lets_qemu_through_whatever_the_umask(tmp_path):
    """The services run under umask 0077; QEMU, another user, must still pass through to the files it is handed
    (search bit), without being able to list them."""
    previous = os.umask(0o077)
    try:
        made = FileBackend(tmp_path / "strict" / "volumes")
        made.create(V1, 1)
    finally:
        os.umask(previous)
    assert (tmp_path / "strict" / "volumes").stat().st_mode & 0o777 == 0o711


def test_a_volume_directory_made_by_someone_else_without_search_bits_gets_them(tmp_path):
    (tmp_path / "volumes").mkdir(mode=0o700)
    (tmp_path / "volumes").chmod(0o700)
    FileBackend(tmp_path / "volumes").create(V1, 1)
    assert (tmp_path / "volumes").stat().st_mode & 0o777 == 0o711
