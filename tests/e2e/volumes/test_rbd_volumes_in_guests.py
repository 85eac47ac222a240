"""Ceph (rbd) volumes in real QEMU guests on two simulated hosts, which reach the single-node Ceph through librbd in
QEMU with the cephx key that each host's libvirt holds as a secret (``make up VOLUMES=ceph HOSTS=2`` in small):

- a guest on the first host writes a pattern to an attached volume, a snapshot is taken while it is attached
  (``--force``; crash-consistent, after a sync in the guest), the guest writes again (over the first pattern and
  in an RBD object the snapshot never had), and sees an online extend; the volume is detached and attached to a
  guest on the second host, which reads the second write; a volume made from the snapshot (a copy-on-write clone)
  holds the first write only;
- a server booted from a Ceph volume writes to its root disk, is deleted with delete_on_termination false, and the
  volume, attached to the other guest, still holds the data;
- a full backup into Ceph's backups pool, then the guest changes 1% of the volume, then an incremental backup (the
  difference between two RBD snapshots) stores about 1% (the bytes it moved are printed) and restores into a new
  volume identical block for block (``qemu-img compare`` through librbd).

Two guests in all, both booted at once: ``root-guest`` from a Ceph volume on the first host, ``reader`` from the
image on the second. Everything this module makes carries its own host name (``e2r<hex>``) or lives under its state
directory (Ceph too), and is removed whatever happens. Run under ``flock /tmp/stratus-e2e.lock``.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e.guests import Guest, guest_cloud_settings
from tests.e2e.kernel import remove_domains_under, remove_leftovers, virsh
from tests.e2e.volumes import ceph
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

HOST = f"e2r{secrets.token_hex(2)}"
HOSTS = (f"{HOST}-1", f"{HOST}-2")
UNDERLAY_BRIDGE = f"ul{HOST}"
UNDERLAY = f"198.19.{secrets.randbelow(256)}.0/24"
PASSWORDS = {"admin": "e2r-admin", "demo": "e2r-demo"}
POOL = "volumes"
FAR_SECTOR = 16384
"""8 MiB into a volume: in another 4 MiB RBD object than sector 0."""


def domain_xml(guest: Guest) -> str:
    """The guest's domain as libvirt runs it: an RBD disk is ``<source protocol='rbd' name='pool/image'>``."""
    return virsh("dumpxml", f"stratus-{guest.server_id}")


def both_places(guest: Guest, device: str) -> tuple[str, str]:
    """What the guest reads at sector 0 and at ``FAR_SECTOR`` of its disk ``device``."""
    return read_pattern(guest, f"/dev/{device}"), read_pattern(guest, f"/dev/{device}", FAR_SECTOR)


@pytest.fixture(scope="module")
def world(
    libvirtd: str, tiny_image: Path, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Ceph, then the cloud (its hosts define the libvirt secret from the keyring when they start) and the two
    guests: ``root-guest`` from a Ceph volume on the first host, ``reader`` from the image on the second. When
    anything failed, the logs and consoles are kept in pytest's temporary directory (``rbd-volumes-logs*``) before
    everything is removed."""
    failed_before, ok = request.session.testsfailed, False
    state, env = guest_cloud_settings(
        HOST, libvirtd, hosts=len(HOSTS), underlay_bridge=UNDERLAY_BRIDGE, underlay=UNDERLAY
    )
    secret = str(uuid.uuid4())
    env |= {"STRATUS_VOLUME_BACKENDS": "file,rbd", "STRATUS_CEPH_SECRET_UUID": secret, "STRATUS_BACKUP_STORE": "rbd"}
    try:
        with ExitStack() as stack:
            stack.enter_context(ceph.running_ceph(state))
            stack.callback(remove_domains_under, state)  # the guests go before Ceph stops under them
            yield stack.enter_context(running_world(state, env, tiny_image, PASSWORDS, "rbd", HOSTS))
            ok = request.session.testsfailed == failed_before
    finally:
        if not ok:
            keep_logs(state, tmp_path_factory.mktemp("rbd-volumes-logs"))
        remove_leftovers(state, HOSTS, UNDERLAY_BRIDGE)
        virsh("secret-undefine", secret)
        shutil.rmtree(state, ignore_errors=True)


def test_a_ceph_volume_moves_between_hosts_and_its_snapshot_holds_the_first_write_only(world: World) -> None:
    openstack, writer, reader = world.openstack, world.root_guest, world.reader
    data = openstack.json("demo", "volume", "create", "--type", "rbd", "--size", "1", "data")["id"]
    wait_volume(openstack, data, "available")
    attach(openstack, writer, data)
    assert f"{POOL}/volume-{data}" in domain_xml(writer)  # QEMU opens the RBD image itself, no file in between
    device = device_of(writer, data)
    assert sectors(writer, device) == GiB // SECTOR

    first, second = f"FIRST-{secrets.token_hex(8)}", f"SECOND-{secrets.token_hex(8)}"
    write_pattern(writer, f"/dev/{device}", first)
    assert writer.run("sync")[0] == 0
    # Crash-consistent, as the guest flushed its writes. (--force is Cinder's before 3.66; the CLI at its own
    # default microversion drops it, while openstacksdk sends the request at 3.65.)
    snapshot = openstack.json(
        "demo", "--os-volume-api-version", "3.65", "volume", "snapshot", "create", "--force", "--volume", data, "s1"
    )["id"]
    wait_snapshot(openstack, snapshot, "available")
    write_pattern(writer, f"/dev/{device}", second)
    write_pattern(writer, f"/dev/{device}", second, seek=FAR_SECTOR)

    openstack("demo", "volume", "set", "--size", "2", data)  # online extend (Cinder 3.42): QEMU grows the image
    wait_sectors(writer, device, 2)
    assert wait_volume(openstack, data, "in-use")["size"] == 2
    assert ceph.rbd(world.cloud.state_dir, "info", f"{POOL}/volume-{data}")["size"] == 2 * GiB

    detach(openstack, writer, data)
    attach(openstack, reader, data)
    assert reader.host != writer.host
    device = device_of(reader, data)
    assert both_places(reader, device) == (second, second)
    assert sectors(reader, device) == 2 * GiB // SECTOR

    restored = openstack.json("demo", "volume", "create", "--snapshot", snapshot, "from-s1")["id"]
    assert wait_volume(openstack, restored, "available")["size"] == 1
    parent = ceph.rbd(world.cloud.state_dir, "info", f"{POOL}/volume-{restored}")["parent"]
    assert (parent["image"], parent["snapshot"]) == (f"volume-{data}", f"snapshot-{snapshot}")  # copy-on-write
    attach(openstack, reader, restored)
    device = device_of(reader, restored)
    assert both_places(reader, device) == (first, "")  # the second write is in neither place


def test_a_server_booted_from_a_ceph_volume_keeps_its_data_after_it_is_deleted(world: World) -> None:
    openstack, first, reader = world.openstack, world.root_guest, world.reader
    assert f"{POOL}/volume-{world.root_volume}" in domain_xml(first)
    assert device_of(first, world.root_volume) == "vda"
    kept = f"KEPT-{secrets.token_hex(8)}"
    write_pattern(first, "/dev/vda", kept, seek=ROOT_DATA_SECTOR)
    openstack("demo", "server", "delete", "--wait", first.server_id)  # --volume: delete_on_termination false
    wait_volume(openstack, world.root_volume, "available")

    attach(openstack, reader, world.root_volume)  # on the other host
    device = device_of(reader, world.root_volume)
    assert read_pattern(reader, f"/dev/{device}", ROOT_DATA_SECTOR) == kept


def test_an_incremental_backup_in_ceph_after_a_guest_changed_one_percent_moves_one_percent_and_restores_identically(
    world: World,
) -> None:
    openstack, state = world.openstack, world.cloud.state_dir
    made, full, incremental = backups_around_a_one_percent_change(world, "rbd")
    moved, whole = (
        sum(image["used_size"] for image in ceph.rbd(state, "du", f"backups/backup-{b}")["images"])
        for b in (incremental, full)
    )
    print(f"incremental backup in Ceph after the guest changed 1% of a 1 GiB volume: {moved} bytes moved "
          f"(full: {whole})")  # fmt: skip
    assert 10 * MiB <= moved <= 0.02 * GiB

    restored = openstack.json("demo", "volume", "backup", "restore", incremental, "restored")["volume_id"]
    wait_volume(openstack, restored, "available")
    images = [f"rbd:{POOL}/volume-{v}:conf={ceph.conf(state)}" for v in (made, restored)]
    same = subprocess.run(["qemu-img", "compare", "-q", "-f", "raw", "-F", "raw", *images], check=False)
    assert same.returncode == 0, "the restored volume differs from the backed-up one"
