"""Root disk overlays, snapshots, config drives and console tails, on real files with qemu-img and genisoimage."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from compute.host.virt.base import ConfigDrive, DriverError
from compute.host.virt.libvirt import disks
from tests.hostile_images import hostile_images, hostile_labels, make_canary

MiB = 1 << 20


def qemu_img_info(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["qemu-img", "info", "--output", "json", "-f", "qcow2", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return json.loads(out)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A 13 MiB qcow2 with one known cluster of data, like the tiny image."""
    image = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), str(13 * MiB)], check=True, timeout=60)
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k", str(image)], check=True, timeout=60, capture_output=True
    )
    return image


def test_root_disk_is_an_overlay_of_the_requested_size(base: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disks.create_root_disk(disk, base, "qcow2", root_gb=1)
    info = qemu_img_info(disk)
    assert info["virtual-size"] == 1 << 30
    assert info["backing-filename"] == str(base)
    assert info["backing-filename-format"] == "qcow2"


def test_root_gb_zero_takes_the_image_size(base: Path, tmp_path: Path) -> None:
    disks.create_root_disk(tmp_path / "disk", base, "qcow2", root_gb=0)
    assert qemu_img_info(tmp_path / "disk")["virtual-size"] == 13 * MiB


def test_a_root_disk_smaller_than_the_image_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), "2G"], check=True, timeout=60)
    with pytest.raises(DriverError, match="smaller than the image"):
        disks.create_root_disk(tmp_path / "disk", big, "qcow2", root_gb=1)
    assert not (tmp_path / "disk").exists()


def test_grow_enlarges_keeps_equal_sizes_and_refuses_to_shrink(base: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disks.create_root_disk(disk, base, "qcow2", root_gb=1)
    disks.grow(disk, 2)
    assert qemu_img_info(disk)["virtual-size"] == 2 << 30
    disks.grow(disk, 2)
    disks.grow(disk, 0)
    assert qemu_img_info(disk)["virtual-size"] == 2 << 30
    with pytest.raises(DriverError, match="cannot shrink from 2 GiB to 1 GiB"):
        disks.grow(disk, 1)
    assert qemu_img_info(disk)["virtual-size"] == 2 << 30


def test_growing_a_disk_never_opens_its_base(base: Path, tmp_path: Path) -> None:
    # The base is tenant data and is only ever opened checked (image.qemu_img): resizing the overlay needs its own
    # header only. Shown with a base that is gone: opening it would fail.
    disk = tmp_path / "disk"
    disks.create_root_disk(disk, base, "qcow2", root_gb=1)
    base.unlink()
    disks.grow(disk, 2)
    assert qemu_img_info(disk)["virtual-size"] == 2 << 30


def test_missing_base_and_unknown_format_are_driver_errors(base: Path, tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="missing"):
        disks.create_root_disk(tmp_path / "disk", tmp_path / "nope.qcow2", "qcow2", root_gb=1)
    with pytest.raises(DriverError, match="unsupported base image format"):
        disks.create_root_disk(tmp_path / "disk", base, "iso", root_gb=1)


def test_a_base_that_is_not_its_recorded_format_is_refused_never_read_as_another(base: Path, tmp_path: Path) -> None:
    # A qcow2 recorded as raw: before, its size was read as raw's; now it is refused before qemu-img opens it.
    with pytest.raises(DriverError, match="claims disk_format 'raw' but is qcow2"):
        disks.create_root_disk(tmp_path / "disk", base, "raw", root_gb=1)
    assert not (tmp_path / "disk").exists()


@pytest.mark.parametrize("label", hostile_labels())
def test_root_disk_on_a_base_naming_a_host_file_is_refused(tmp_path: Path, label: str) -> None:
    canary = make_canary(tmp_path)
    hostile, claim = hostile_images(tmp_path, canary)[label]
    with pytest.raises(DriverError):
        disks.create_root_disk(tmp_path / "disk", hostile, claim if claim in ("raw", "qcow2") else "raw", root_gb=1)
    assert not (tmp_path / "disk").exists()


def test_snapshot_of_a_disk_whose_base_names_a_host_file_reads_none_of_it(tmp_path: Path) -> None:
    canary = make_canary(tmp_path)
    for label in ("qcow2 with a backing file", "qcow2 with an external data file"):
        hostile, _ = hostile_images(tmp_path, canary)[label]
        disk = tmp_path / "disk"
        disk.unlink(missing_ok=True)
        # A base swapped under an existing disk: the snapshot inspects it again.
        subprocess.run(
            ["qemu-img", "create", "-q", "-u", "-f", "qcow2", "-F", "qcow2", "-b", str(hostile), str(disk), "1M"],
            check=True,
            timeout=60,
        )
        with pytest.raises(DriverError, match="self-contained"):
            disks.flatten(disk, tmp_path / "snap.qcow2", force_share=False)
        assert not (tmp_path / "snap.qcow2").exists(), label


def test_flatten_writes_a_standalone_qcow2_with_the_data(base: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disks.create_root_disk(disk, base, "qcow2", root_gb=0)
    target = tmp_path / "snap.qcow2"
    disks.flatten(disk, target, force_share=False)
    info = qemu_img_info(target)
    assert "backing-filename" not in info and info["virtual-size"] == 13 * MiB
    compare = subprocess.run(
        ["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", str(disk), str(target)], capture_output=True, timeout=60
    )
    assert compare.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.qcow2", "disk", "snap.qcow2"]  # no partial file


def test_failed_flatten_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="snapshot"):
        disks.flatten(tmp_path / "missing", tmp_path / "snap.qcow2", force_share=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("isoinfo") is None, reason="isoinfo (genisoimage package) missing")
def test_config_drive_layout(tmp_path: Path) -> None:
    drive = ConfigDrive(
        meta_data={"uuid": "u", "hostname": "vm-1", "public_keys": {"k": "ssh-ed25519 AAAA k@x\n"}},
        network_data={"links": [], "networks": [], "services": []},
        user_data=b"#!/bin/sh\necho hi\n",
        vendor_data={"vendor": 1},
    )
    iso = tmp_path / "disk.config"
    disks.build_config_drive(drive, iso)

    def isoinfo(*args: str) -> str:
        return subprocess.run(
            ["isoinfo", "-i", str(iso), *args], capture_output=True, text=True, check=True, timeout=60
        ).stdout

    assert "Volume id: config-2" in isoinfo("-d")
    assert sorted(isoinfo("-f", "-R").split()) == [
        "/openstack",
        "/openstack/latest",
        "/openstack/latest/meta_data.json",
        "/openstack/latest/network_data.json",
        "/openstack/latest/user_data",
        "/openstack/latest/vendor_data.json",
    ]
    assert json.loads(isoinfo("-R", "-x", "/openstack/latest/meta_data.json")) == drive.meta_data
    assert json.loads(isoinfo("-R", "-x", "/openstack/latest/vendor_data.json")) == {"vendor": 1}
    assert isoinfo("-R", "-x", "/openstack/latest/user_data") == "#!/bin/sh\necho hi\n"
    assert [p.name for p in tmp_path.iterdir()] == ["disk.config"]  # the staging directory is gone


@pytest.mark.skipif(shutil.which("isoinfo") is None, reason="isoinfo (genisoimage package) missing")
def test_config_drive_without_user_data_has_no_user_data_file(tmp_path: Path) -> None:
    iso = tmp_path / "disk.config"
    disks.build_config_drive(ConfigDrive(meta_data={}), iso)
    listing = subprocess.run(
        ["isoinfo", "-i", str(iso), "-f", "-R"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "/openstack/latest/meta_data.json" in listing and "user_data" not in listing


def test_direct_io_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    assert isinstance(disks.supports_direct_io(tmp_path), bool)
    assert list(tmp_path.iterdir()) == []
    assert disks.supports_direct_io(tmp_path / "missing") is False


def test_read_tail_spans_the_rotated_file(tmp_path: Path) -> None:
    old, current = tmp_path / "console.log.0", tmp_path / "console.log"
    old.write_bytes(b"0123456789")
    current.write_bytes(b"abcdef")
    assert disks.read_tail([old, current], 4) == b"cdef"
    assert disks.read_tail([old, current], 8) == b"89abcdef"
    assert disks.read_tail([old, current], 100) == b"0123456789abcdef"
    assert disks.read_tail([tmp_path / "none.0", tmp_path / "none"], 100) == b""
    old.unlink()
    assert disks.read_tail([old, current], 100) == b"abcdef"
