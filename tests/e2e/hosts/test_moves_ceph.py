"""Guests whose disks live in Ceph move between host machines without a disk copy (issue #16): ``make up VOLUMES=ceph
HOSTS=3``'s shape, three host machines that reach the single-node Ceph only at the control node's underlay address
(its daemons bound there), each host with the ceph.conf and keyring its join bundle gave it.

The mover's root disk is a clone in Ceph of the raw image (``images_type = "rbd"``) and it has a Ceph volume; bytes
written to both before the moves are read back after each. One module, its tests in order: a live migration that
copies no disk while a guest on a third host pings the mover (and a live migration of that peer, whose root is a
file, which ``block_migration: auto`` copies), a cold migration confirmed, then the mover's host powered off: the
HA server comes back on another host from the same Ceph disks (nothing made again from the image), and the host
that comes back removes its stale copy but never the shared disk.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from common.settings import load
from manage import host_machine
from tests.e2e.guests import Guest, guest_cloud_settings, in_parallel
from tests.e2e.hosts.moves import BOOT_TIMEOUT, HOST_MACHINE_SETTINGS, World, host_machine_cloud, uptime
from tests.e2e.volumes import ceph
from tests.harness import cloud_environment, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

NAME = "mc"
H1, H2, H3 = (f"{NAME}-{i}" for i in (1, 2, 3))
ROOT_MARK, VOLUME_MARK = "stratus-root-in-ceph", "stratus-volume-in-ceph"
MARK_AT_MIB = 900
"""Where the root disk's mark is written: far past the image's own partition, inside m1.tiny's 1 GiB clone (a
root made again from the image would read zeros there)."""
FILL_AT_MIB, WRITTEN_MIB = 800, 8


@pytest.fixture(scope="module")
def world(tiny_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state, env = guest_cloud_settings(
        NAME, "qemu:///system", hosts=3, underlay_bridge="ul-mc", underlay="10.236.0.0/24"
    )
    for located in ("STRATUS_INSTANCES_PATH", "STRATUS_IMAGE_CACHE_PATH"):
        env.pop(located)
    env |= HOST_MACHINE_SETTINGS | {
        "STRATUS_VOLUME_DIR": str(state / "volumes"),
        "STRATUS_VOLUME_BACKENDS": "file,rbd",
        "STRATUS_IMAGE_STORE": "rbd",
        "STRATUS_IMAGES_TYPE": "rbd",
        "STRATUS_CEPH_SECRET_UUID": str(uuid.uuid4()),
    }
    settings = load(environ=cloud_environment(state, env))
    host_machine.ensure_control_address(settings)  # as make up does before Ceph binds it
    raw = state / "tiny.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(tiny_image), str(raw)], check=True)
    images = {"tiny-raw": ("raw", raw), "tiny": ("qcow2", tiny_image)}
    kept = tmp_path_factory.mktemp("moves-ceph-logs")
    try:
        with ExitStack() as stack:
            stack.enter_context(ceph.running_ceph(state, host_machine.control_address(settings)))
            world = stack.enter_context(host_machine_cloud(state, env, 3, "10.62.0.0/24", images, kept))
            in_parallel(
                lambda: world.boot("mover", H1, "--property", "HA_Enabled=True", image="tiny-raw"),
                lambda: world.boot("peer", H3),
            )
            attach_ceph_volume(world, "mover")
            write_marks(world.guests["mover"])
            yield world
    finally:
        shutil.rmtree(state, ignore_errors=True)


def attach_ceph_volume(world: World, name: str) -> None:
    volume = world.openstack.json("admin", "volume", "create", "--type", "rbd", "--size", "1", "data", project="demo")
    show = ("volume", "show", volume["id"])
    wait_until(lambda: world.openstack.json("admin", *show), 120, interval=2,
               message="the volume never became available", until=lambda v: v["status"] == "available")  # fmt: skip
    world.openstack("admin", "server", "add", "volume", name, volume["id"], project="demo")
    wait_until(lambda: world.openstack.json("admin", *show), 120, interval=2,
               message="the volume was never attached", until=lambda v: v["status"] == "in-use")  # fmt: skip
    wait_until(lambda: world.guests[name].run("test -b /dev/vdb")[0], 60, interval=2,
               message="the guest never saw its volume", until=lambda rc: rc == 0)  # fmt: skip


def write_marks(guest: Guest) -> None:
    for mark, device, offset in ((ROOT_MARK, "vda", MARK_AT_MIB), (VOLUME_MARK, "vdb", 0)):
        rc, out = guest.run(f"printf {mark} | dd of=/dev/{device} bs=1M seek={offset} conv=fsync 2>&1; sync")
        assert rc == 0, out


def fill_root(guest: Guest) -> None:
    """``WRITTEN_MIB`` of random bytes on the root disk, which a block migration would have to copy (a booted tiny
    guest writes next to nothing there: its root file system is its initramfs)."""
    command = f"dd if=/dev/urandom of=/dev/vda bs=1M seek={FILL_AT_MIB} count={WRITTEN_MIB} conv=fsync 2>&1"
    rc, out = guest.run(command, timeout=120)
    assert rc == 0, out


def disk_copied_mib(figures: str) -> int:
    found = re.search(r"(\d+) MiB of disk copied", figures)
    assert found, figures
    return int(found[1])


def read_marks(guest: Guest) -> tuple[str, str]:
    """The bytes where the marks were written, read from the disks (the page cache dropped first)."""
    found = []
    for mark, device, offset in ((ROOT_MARK, "vda", MARK_AT_MIB), (VOLUME_MARK, "vdb", 0)):
        command = f"echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/{device} bs=1M skip={offset} count=1 2>/dev/null"
        rc, out = guest.run(f"{command} | head -c {len(mark)}; echo")
        assert rc == 0, out
        found.append(out.strip().splitlines()[-1] if out.strip() else "")
    return found[0], found[1]


def ceph_disks(world: World) -> list[str]:
    return [name for name in ceph.rbd(world.cloud.state_dir, "ls", "vms") if name.endswith("_disk")]


def test_hosts_reach_ceph_only_at_the_control_nodes_underlay_address(world):
    conf = (world.cloud.state_dir / "hosts" / H1 / "state" / "ceph" / "ceph.conf").read_text()
    address = host_machine.control_address(load(environ=world.cloud.env))
    assert f"v1:{address}:" in conf and "127.0.0.1" not in conf, conf
    assert ceph_disks(world) == [f"{world.guests['mover'].server_id}_disk"], "the mover's root is a clone in Ceph"


def test_a_live_migration_of_disks_in_ceph_copies_none_and_keeps_the_guest_running(world):
    mover, peer = world.guests["mover"], world.guests["peer"]
    assert peer.reaches(mover.ip)
    in_parallel(lambda: fill_root(mover), lambda: fill_root(peer))
    before = uptime(mover)
    moved_in, missing, figures = world.live_migrate("mover", H2, "peer")
    print(f"live migration, disks in Ceph: {moved_in:.1f} s to ACTIVE on {H2}; {figures}; pings lost: {missing}")
    assert disk_copied_mib(figures) == 0, figures
    assert len(missing) <= 5, f"pings {missing} lost during the move ({figures})"
    mover = world.follow("mover")
    assert uptime(mover) > before + moved_in / 2, "the guest booted again"
    assert read_marks(mover) == (ROOT_MARK, VOLUME_MARK)
    assert peer.reaches(mover.ip)
    world.left_nothing_on(H1, "mover")
    assert ceph_disks(world) == [f"{mover.server_id}_disk"], "the shared root stays where it was, once"

    # The peer's root is a file on its host: 'auto' copies it (a clone in Ceph is what makes a root shared).
    moved_in, missing, figures = world.live_migrate("peer", H1, "mover")
    print(f"live migration, root a file: {moved_in:.1f} s to ACTIVE on {H1}; {figures}")
    assert disk_copied_mib(figures) >= WRITTEN_MIB, figures
    world.left_nothing_on(H3, "peer")


def test_a_cold_migration_of_a_root_in_ceph_moves_no_data_and_keeps_it(world):
    mover_id = world.guests["mover"].server_id
    world.openstack("admin", "--os-compute-api-version", "2.56", "server", "migrate", "--host", H3, mover_id)
    world.wait_for("mover", "VERIFY_RESIZE", H3)
    world.openstack("admin", "server", "resize", "confirm", mover_id)
    world.wait_for("mover", "ACTIVE", H3)
    world.left_nothing_on(H2, "mover")
    mover = world.follow("mover")
    mover.wait_for_shell(BOOT_TIMEOUT)
    assert read_marks(mover) == (ROOT_MARK, VOLUME_MARK), "the root disk in Ceph came along, not a new one"
    assert ceph_disks(world) == [f"{mover_id}_disk"]


def test_an_ha_server_comes_back_from_its_ceph_disks_and_the_returning_host_leaves_them(world):
    powered_off = time.monotonic()
    host_machine.kill_processes(world.machine(H3))  # a power cut: its agents, libvirtd and guests all stop
    mover = wait_until(
        lambda: world.server("mover"),
        180,
        interval=1,
        message="the mover never came back on another host",
        until=lambda s: s["status"] == "ACTIVE" and not s["OS-EXT-STS:task_state"] and s["OS-EXT-SRV-ATTR:host"] != H3,
    )
    print(f"HA, disks in Ceph: ACTIVE on {mover['OS-EXT-SRV-ATTR:host']} {time.monotonic() - powered_off:.0f} s "
          "after its host lost power")  # fmt: skip
    guest = world.follow("mover")
    guest.wait_for_shell(BOOT_TIMEOUT)
    assert read_marks(guest) == (ROOT_MARK, VOLUME_MARK), "evacuated onto the same disks, nothing made again"
    assert ceph_disks(world) == [f"{mover['id']}_disk"]

    world.cloud.manage("services", "up")  # the host comes back: its stale copy goes, the shared disk stays
    wait_until(lambda: world.domains(H3), 120, interval=2, message=f"{H3} kept its stale copy",
               until=lambda names: f"stratus-{mover['id']}" not in names)  # fmt: skip
    wait_until(lambda: [m["Status"] for m in world.migrations("mover") if m["Type"] == "evacuation"], 120,
               interval=2, message="the evacuation never completed", until=lambda s: s == ["completed"])  # fmt: skip
    assert ceph_disks(world) == [f"{mover['id']}_disk"]
    assert read_marks(guest) == (ROOT_MARK, VOLUME_MARK)
    world.openstack("admin", "compute", "service", "set", "--enable", "--up", H3, "nova-compute")
