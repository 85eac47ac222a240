"""Volumes in real QEMU guests (one libvirt host, the file volume backend: qcow2 files QEMU opens below the volume
directory):

- a guest writes a pattern to a hot-plugged volume, a snapshot is taken while it is attached (its host copies the
  disk at one instant), the guest writes a second pattern and sees an online extend; the volume is detached (the
  guest releases it) and attached to a second guest that reads the second pattern, and a volume made from the
  snapshot holds the first one only;
- a full backup, then the guest changes 1% of the volume, then an incremental backup stores about 1% (the bytes
  it moved are printed) and restores into a new volume identical block for block (``qemu-img compare``);
- a server booted from a volume writes to its root disk, is deleted with delete_on_termination false, and the
  volume, attached to the other guest, still holds the data.

Two guests in all, both booted at once: ``root-guest`` from a file volume, ``reader`` from the image; the tiny image
runs from its initramfs, so the data goes to the raw disks (past the boot partition on the root disk). Everything
this module makes carries its own host name (``e2v<hex>``) or lives under its state directory, and is removed
whatever happens. Run under ``flock /tmp/stratus-e2e.lock``.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.guests import guest_cloud_settings
from tests.e2e.kernel import remove_leftovers
from tests.e2e.volumes.disks import (
    ROOT_DATA_SECTOR,
    SECTOR,
    GiB,
    MiB,
    World,
    attach,
    backups_around_a_one_percent_change,
    detach,
    device_of,
    keep_logs,
    read_pattern,
    running_world,
    sectors,
    wait_sectors,
    wait_snapshot,
    wait_volume,
    write_pattern,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

HOST = f"e2v{secrets.token_hex(2)}"
UNDERLAY_BRIDGE = f"ul{HOST}"
UNDERLAY = f"198.19.{secrets.randbelow(256)}.0/24"
PASSWORDS = {"admin": "e2v-admin", "demo": "e2v-demo"}


@pytest.fixture(scope="module")
def world(
    libvirtd: str, tiny_image: Path, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """A one-host cloud with the file backend and the two guests. When anything failed, the logs and consoles are
    kept in pytest's temporary directory (``file-volumes-logs*``) before everything is removed."""
    failed_before, ok = request.session.testsfailed, False
    state, env = guest_cloud_settings(HOST, libvirtd, hosts=1, underlay_bridge=UNDERLAY_BRIDGE, underlay=UNDERLAY)
    env["STRATUS_VOLUME_DIR"] = str(state / "volumes")
    try:
        with running_world(state, env, tiny_image, PASSWORDS, "file") as world:
            yield world
            ok = request.session.testsfailed == failed_before
    finally:
        if not ok:
            keep_logs(state, tmp_path_factory.mktemp("file-volumes-logs"))
        remove_leftovers(state, (HOST,), UNDERLAY_BRIDGE)
        shutil.rmtree(state, ignore_errors=True)


def test_a_pattern_written_in_one_guest_is_read_in_another_and_extend_is_seen(world: World) -> None:
    openstack, writer, reader = world.openstack, world.root_guest, world.reader
    made = openstack.json("demo", "volume", "create", "--size", "1", "data")["id"]
    wait_volume(openstack, made, "available")
    attach(openstack, writer, made)
    device = device_of(writer, made)  # virtio-blk serials are the volume id's first 20 characters
    assert sectors(writer, device) == GiB // SECTOR
    first = f"FIRST-{secrets.token_hex(8)}"
    write_pattern(writer, f"/dev/{device}", first)
    # A snapshot of the attached volume: its host copies the disk at one instant while the guest runs (the CLI
    # sends --force only below 3.66, and an in-use volume needs it there).
    snapshot = openstack.json(
        "demo", "--os-volume-api-version", "3.65", "volume", "snapshot", "create", "--force", "--volume", made, "s1"
    )["id"]
    wait_snapshot(openstack, snapshot, "available")
    pattern = f"STRATUS-{secrets.token_hex(8)}"
    write_pattern(writer, f"/dev/{device}", pattern)

    openstack("demo", "volume", "set", "--size", "2", made)  # online extend (Cinder 3.42)
    wait_sectors(writer, device, 2)
    assert wait_volume(openstack, made, "in-use")["size"] == 2

    detach(openstack, writer, made)
    attach(openstack, reader, made)
    device = device_of(reader, made)
    assert read_pattern(reader, f"/dev/{device}") == pattern
    assert sectors(reader, device) == 2 * GiB // SECTOR

    from_snapshot = openstack.json("demo", "volume", "create", "--snapshot", snapshot, "from-s1")["id"]
    wait_volume(openstack, from_snapshot, "available")
    attach(openstack, writer, from_snapshot)
    assert read_pattern(writer, f"/dev/{device_of(writer, from_snapshot)}") == first  # the first write only
    detach(openstack, writer, from_snapshot)


def _stored_bytes(world: World, backup_id: str) -> int:
    """What the backup takes in the cloud's backup store (its chunk file is sparse: the chunks it carries)."""
    backup_dir = world.cloud.state_dir / "backups" / backup_id
    return sum(path.stat().st_blocks * 512 for path in backup_dir.iterdir())


def test_an_incremental_backup_after_a_guest_changed_one_percent_moves_one_percent_and_restores_identically(
    world: World,
) -> None:
    openstack = world.openstack
    made, full, incremental = backups_around_a_one_percent_change(world, "file")
    moved, whole = _stored_bytes(world, incremental), _stored_bytes(world, full)
    print(f"incremental backup after the guest changed 1% of a 1 GiB volume: {moved} bytes moved (full: {whole})")
    assert 10 * MiB <= moved <= 0.02 * GiB + MiB  # the chunks plus the manifest

    restored = openstack.json("demo", "volume", "backup", "restore", incremental, "restored")["volume_id"]
    wait_volume(openstack, restored, "available")
    volumes = world.cloud.state_dir / "volumes"
    same = subprocess.run(
        ["qemu-img", "compare", "-q", "-f", "qcow2", "-F", "qcow2",
         str(volumes / f"volume-{made}.qcow2"), str(volumes / f"volume-{restored}.qcow2")],
        check=False,
    )  # fmt: skip
    assert same.returncode == 0, "the restored volume differs from the backed-up one"


def test_a_server_booted_from_a_volume_keeps_its_data_after_it_is_deleted(world: World) -> None:
    openstack, first, reader = world.openstack, world.root_guest, world.reader
    assert openstack.json("demo", "server", "show", first.server_id)["image"] in ("", "N/A (booted from volume)")
    assert device_of(first, world.root_volume) == "vda"
    kept = f"KEPT-{secrets.token_hex(8)}"
    write_pattern(first, "/dev/vda", kept, seek=ROOT_DATA_SECTOR)
    openstack("demo", "server", "delete", "--wait", first.server_id)  # --volume: delete_on_termination false
    wait_volume(openstack, world.root_volume, "available")

    attach(openstack, reader, world.root_volume)
    device = device_of(reader, world.root_volume)
    assert read_pattern(reader, f"/dev/{device}", ROOT_DATA_SECTOR) == kept
