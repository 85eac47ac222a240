"""The host's root disks in Ceph (``compute.host.virt.libvirt.rbd_disks``) against a real single-node Ceph brought up
by ``deploy/ceph/up.sh`` for the module (free monitor ports, stopped at the end): a root disk is a clone of an
image's protected snapshot, grown to the flavor, made once, snapshotted, rolled back, read and removed, as the
libvirt driver asks. Booting from one is in tests/e2e/test_rbd_root_disks.py."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.settings import load_host
from compute.host.virt.base import DriverError
from compute.host.virt.libvirt.rbd_disks import COMPLETE, RbdDisks
from tests.harness import free_port

pytestmark = [pytest.mark.functional, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
CEPH = REPO / "deploy" / "ceph"
MiB, GiB = 1 << 20, 1 << 30


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("rbd-root")
    env = os.environ | {"STRATUS_CEPH_MON_V2_PORT": str(free_port()), "STRATUS_CEPH_MON_V1_PORT": str(free_port())}
    try:
        subprocess.run(["bash", str(CEPH / "up.sh"), str(state)], check=True, env=env | {"STRATUS_CEPH_OSD_GB": "8"},
                       timeout=600)  # fmt: skip
        bindings = str(Path(sys.prefix) / "ceph-bindings")
        if bindings not in sys.path:
            sys.path.append(bindings)
            importlib.invalidate_caches()
        yield state
    finally:
        subprocess.run(["bash", str(CEPH / "down.sh"), str(state)], check=False, timeout=120)


def rbd(state: Path, *args: str, answers: bool = True) -> object:
    command = ["rbd", "-c", str(state / "ceph" / "ceph.conf"), *(["--format", "json"] if answers else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"rbd {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout) if answers else None


@pytest.fixture(scope="module")
def parent(state: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 64 MiB image with a pattern at 8 MiB, snapshotted and protected as the image store keeps one."""
    data = tmp_path_factory.mktemp("image") / "image.raw"
    data.write_bytes(bytes(8 * MiB) + b"\x5c" * MiB + bytes(55 * MiB))
    rbd(state, "import", "--no-progress", str(data), "images/an-image", answers=False)
    rbd(state, "snap", "create", "images/an-image@snap", answers=False)
    rbd(state, "snap", "protect", "images/an-image@snap", answers=False)
    return "images/an-image@snap"


@pytest.fixture(scope="module")
def disks(state: Path) -> Iterator[RbdDisks]:
    made = RbdDisks.from_settings(load_host({}, state_dir=str(state), images_type="rbd"))
    assert made is not None and made.pool == "vms"
    yield made
    made.close()


def test_a_root_disk_is_a_clone_grown_to_the_flavor_and_made_once(disks, parent, state):
    instance = str(uuid.uuid4())
    disks.clone(instance, parent, GiB)
    info = rbd(state, "info", f"vms/{instance}_disk")
    assert info["parent"]["image"] == "an-image" and info["parent"]["snapshot"] == "snap" and info["size"] == GiB
    disks.clone(instance, parent, 2 * GiB)  # a redelivered spawn: the disk made is kept as it is
    assert disks.size(instance) == GiB and disks.exists(instance)
    assert disks.monitors() and all(port != 3300 for _, port in disks.monitors())  # v1, as libvirt's <host>
    disks.remove(instance)
    disks.remove(instance)
    assert not disks.exists(instance)


def test_a_disk_left_half_made_is_made_again_and_a_too_small_flavor_refused(disks, parent, state):
    instance = str(uuid.uuid4())
    rbd(state, "clone", parent, f"vms/{instance}_disk", answers=False)  # a spawn that died before its mark
    disks.clone(instance, parent, GiB)
    assert disks.size(instance) == GiB
    meta = rbd(state, "image-meta", "list", f"vms/{instance}_disk")
    assert meta.get(COMPLETE) == "yes"
    disks.remove(instance)
    with pytest.raises(DriverError, match="smaller than the image"):
        disks.clone(str(uuid.uuid4()), parent, 32 * MiB)
    with pytest.raises(DriverError, match="gone from Ceph"):
        disks.clone(str(uuid.uuid4()), "images/no-such-image@snap", GiB)


def test_resize_backup_rolls_back_and_a_snapshot_reads_the_disk_as_it_was(disks, parent, state, tmp_path):
    instance = str(uuid.uuid4())
    disks.clone(instance, parent, GiB)
    disks.create_snapshot(instance, "resize-backup")
    disks.grow(instance, 3 * GiB)
    with pytest.raises(DriverError, match="cannot shrink"):
        disks.grow(instance, GiB)
    disks.rollback(instance, "resize-backup")
    disks.remove_snapshot(instance, "resize-backup")
    assert disks.size(instance) == GiB and rbd(state, "snap", "ls", f"vms/{instance}_disk") == []

    disks.create_snapshot(instance, "server-snapshot")
    copy = tmp_path / "disk.raw"
    disks.export(instance, "server-snapshot", copy)
    assert copy.stat().st_size == GiB and copy.stat().st_blocks * 512 <= 8 * MiB
    with copy.open("rb") as read:
        read.seek(8 * MiB)
        assert read.read(MiB) == b"\x5c" * MiB
    disks.remove(instance)  # its snapshots go with it
    assert not disks.exists(instance)
