"""The fake driver's snapshots are real qcow2 files: the image API inspects them as the qcow2 they claim to be."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from compute.host.virt.base import InstanceSpec
from compute.host.virt.fake import FakeDriver, empty_qcow2
from image.inspector import inspect


@pytest.mark.parametrize("size", [1 << 30, 20 << 30, 4096 << 30])
def test_empty_qcow2_is_what_qemu_img_and_the_inspector_take_for_one(tmp_path: Path, size: int) -> None:
    path = tmp_path / "empty.qcow2"
    path.write_bytes(empty_qcow2(size))
    check = subprocess.run(["qemu-img", "check", "-f", "qcow2", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert inspect(path, "qcow2").virtual_size == size


def test_a_fake_snapshot_passes_inspection_as_qcow2_with_the_root_disk_size(tmp_path: Path) -> None:
    driver = FakeDriver()
    spec = InstanceSpec(
        uuid="u1", name="vm", vcpus=1, memory_mb=64, root_gb=3, base_image=Path("/dev/null"), base_image_format="raw"
    )
    driver.spawn(spec)
    driver.snapshot("u1", tmp_path / "snapshot.qcow2")
    assert inspect(tmp_path / "snapshot.qcow2", "qcow2").virtual_size == 3 << 30
