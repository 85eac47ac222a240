"""The host's copy of a guest's volume for a snapshot: which disks it copies (a stopped guest's, with qemu-img)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compute.host.virt.base import DriverError
from compute.host.virt.libvirt import volume_snapshots

VOLUME_ID = "8f0e4b52-6d2a-4c1e-9f3b-2a7d5c9e1b40"


class StoppedGuest:
    """A stopped domain whose definition is ``xml`` (the copy of a stopped guest reads nothing else)."""

    uuid = "0d5c1f3e-2b4a-4e6f-8a9b-7c6d5e4f3a21"

    def __init__(self, xml: str) -> None:
        self._xml = xml

    def is_active(self) -> bool:
        return False

    def xml(self, inactive: bool = False) -> str:
        return self._xml


def _domain(disk: Path, device: str, serial: str) -> str:
    serial_element = f"<serial>{serial}</serial>" if serial else ""
    return (
        "<domain><devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        f"<source file='{disk}'/><target dev='{device}' bus='virtio'/>{serial_element}</disk></devices></domain>"
    )


def test_the_root_volume_of_a_server_booted_from_a_volume_is_copied(tmp_path: Path) -> None:
    # Regression: vda was refused ("cannot hold a volume"), so a snapshot of a volume-backed server failed.
    volumes = tmp_path / "volumes"
    volumes.mkdir()
    disk = volumes / f"volume-{VOLUME_ID}"
    disk.write_bytes(b"root volume" + bytes(65536 - 11))
    target = volumes / "snapshot.qcow2"
    volume_snapshots.take(StoppedGuest(_domain(disk, "vda", VOLUME_ID)), "vda", VOLUME_ID, target, volumes, 30)
    assert target.is_file() and not list(volumes.glob(".*partial"))


def test_the_instances_own_root_disk_is_no_volume_to_copy(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.write_bytes(bytes(4096))
    with pytest.raises(DriverError, match="has no volume"):
        volume_snapshots.take(StoppedGuest(_domain(disk, "vda", "")), "vda", VOLUME_ID, tmp_path / "t", tmp_path, 30)
    with pytest.raises(DriverError, match="cannot hold a volume"):
        volume_snapshots.take(StoppedGuest(_domain(disk, "sda", "")), "sda", VOLUME_ID, tmp_path / "t", tmp_path, 30)
