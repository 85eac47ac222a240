"""Real guests move between host machines through the whole cloud (issue #16): three hosts of ``make up VOLUMES=ceph
HOSTS=3``'s kind (``host_machines``: each in its own namespaces with its own libvirtd, its agents inside, reaching
the control node only by its underlay address: the broker, the API, and the single-node Ceph bound there, with the
ceph.conf and key each host's join bundle gave it), the openstack and stratus CLIs as an operator uses them.

One module, one cloud, its tests in order (each starts from where the one before left the guests, as an operator's
day goes). The mover's root disk is a qcow2 file on its host; the keeper's is a clone in Ceph of the raw image
(``images_type = "rbd"``) and it has a file volume and a Ceph volume, all three holding bytes written at the start
and read back after each move. A live block migration of the mover while a guest on a third host pings it; a live
migration of the keeper there and back that copies no disk; a cold migration and a resize across hosts; the
keeper's host powered off under it (HA: back on another host from the same disks, nothing made again from the
image; the host that returns removes its stale copy, never the shared disk); a drain. Guests are TCG and slow to
boot, so the module boots three and moves them rather than booting more.
"""

from __future__ import annotations

import json
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

NAME = "mv"
H1, H2, H3 = (f"{NAME}-{i}" for i in (1, 2, 3))
MARKS = (
    ("stratus-root-mark", "vda", 900),
    ("stratus-file-volume-mark", "vdb", 0),
    ("stratus-ceph-volume-mark", "vdc", 0),
)
"""What the keeper writes where (device, MiB offset), and reads back after each move: the root's far past the
image's own partition, inside m1.tiny's 1 GiB disk (a root made again from the image would read zeros there)."""
WRITTEN = [mark for mark, _, _ in MARKS]
FILL_AT_MIB, WRITTEN_MIB = 800, 8


@pytest.fixture(scope="module")
def world(tiny_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state, env = guest_cloud_settings(
        NAME, "qemu:///system", hosts=3, underlay_bridge="ul-mv", underlay="10.234.0.0/24"
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
    images = {"tiny": ("qcow2", tiny_image), "tiny-raw": ("raw", raw)}
    kept = tmp_path_factory.mktemp("moves-logs")
    try:
        with ExitStack() as stack:
            stack.enter_context(ceph.running_ceph(state, host_machine.control_address(settings)))
            world = stack.enter_context(host_machine_cloud(state, env, 3, "10.61.0.0/24", images, kept))
            in_parallel(
                lambda: world.boot("mover", H1),
                lambda: world.boot("peer", H3),
                lambda: world.boot("keeper", H2, "--property", "HA_Enabled=True", image="tiny-raw"),
            )
            attach_volume(world, "keeper", "file")
            attach_volume(world, "keeper", "rbd")
            write_marks(world.guests["keeper"])
            yield world
    finally:
        shutil.rmtree(state, ignore_errors=True)


def attach_volume(world: World, name: str, volume_type: str) -> None:
    command = ("volume", "create", "--type", volume_type, "--size", "1", f"{name}-{volume_type}")
    volume = world.openstack.json("admin", *command, project="demo")
    show = ("volume", "show", volume["id"])
    wait_until(lambda: world.openstack.json("admin", *show), 120, interval=2,
               message="the volume never became available", until=lambda v: v["status"] == "available")  # fmt: skip
    world.openstack("admin", "server", "add", "volume", name, volume["id"], project="demo")
    wait_until(lambda: world.openstack.json("admin", *show), 120, interval=2,
               message="the volume was never attached", until=lambda v: v["status"] == "in-use")  # fmt: skip


def write_marks(guest: Guest) -> None:
    for mark, device, offset in MARKS:
        wait_until(lambda device=device: guest.run(f"test -b /dev/{device}")[0], 60, interval=2,
                   message=f"the guest never saw /dev/{device}", until=lambda rc: rc == 0)  # fmt: skip
        rc, out = guest.run(f"printf {mark} | dd of=/dev/{device} bs=1M seek={offset} conv=fsync 2>&1; sync")
        assert rc == 0, out


def read_marks(guest: Guest) -> list[str]:
    """The bytes where the marks were written, read from the disks (the guest's page cache dropped first)."""
    found = []
    for mark, device, offset in MARKS:
        command = f"echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/{device} bs=1M skip={offset} count=1 2>/dev/null"
        rc, out = guest.run(f"{command} | head -c {len(mark)}; echo")
        assert rc == 0, out
        found.append(out.strip().splitlines()[-1] if out.strip() else "")
    return found


def fill_root(guest: Guest) -> None:
    """``WRITTEN_MIB`` of random bytes on the root disk, which a block migration must copy (a booted tiny guest
    writes next to nothing there: its root file system is its initramfs)."""
    command = f"dd if=/dev/urandom of=/dev/vda bs=1M seek={FILL_AT_MIB} count={WRITTEN_MIB} conv=fsync 2>&1"
    rc, out = guest.run(command, timeout=120)
    assert rc == 0, out


def disk_copied_mib(figures: str) -> int:
    found = re.search(r"(\d+) MiB of disk copied", figures)
    assert found, figures
    return int(found[1])


def ceph_disks(world: World) -> list[str]:
    return [name for name in ceph.rbd(world.cloud.state_dir, "ls", "vms") if name.endswith("_disk")]


def test_hosts_reach_ceph_only_at_the_control_nodes_underlay_address(world):
    conf = (world.cloud.state_dir / "hosts" / H1 / "state" / "ceph" / "ceph.conf").read_text()
    address = host_machine.control_address(load(environ=world.cloud.env))
    assert f"v1:{address}:" in conf and "127.0.0.1" not in conf, conf
    assert ceph_disks(world) == [f"{world.guests['keeper'].server_id}_disk"], "the keeper's root is a clone in Ceph"


def test_a_live_block_migration_keeps_the_guest_running_and_reachable_and_leaves_nothing_behind(world):
    mover, peer = world.guests["mover"], world.guests["peer"]
    assert peer.reaches(mover.ip)
    in_parallel(lambda: fill_root(mover), lambda: fill_root(world.guests["keeper"]))
    before = uptime(mover)
    moved_in, missing, figures = world.live_migrate("mover", H2, "peer")
    print(f"live migration: {moved_in:.1f} s from the request to ACTIVE on {H2}; {figures}; pings lost: {missing}")
    assert len(missing) <= 5, f"pings {missing} lost during the move ({figures})"
    assert disk_copied_mib(figures) >= WRITTEN_MIB, figures

    mover = world.follow("mover")
    after = uptime(mover)  # the same guest, still running: no boot on the target
    assert after > before + moved_in / 2, (before, after, moved_in)
    assert "SYSLINUX" not in mover.console(), "the guest booted again on the target"
    assert peer.reaches(mover.ip)  # the other hosts' forwarding entries follow the port
    world.left_nothing_on(H1, "mover")
    (migration,) = [m for m in world.migrations("mover") if m["Type"] == "live-migration"]
    assert (migration["Source Compute"], migration["Dest Compute"], migration["Status"]) == (H1, H2, "completed")


def test_a_live_migration_of_disks_in_ceph_and_volumes_copies_none_there_and_back(world):
    before = uptime(world.guests["keeper"])
    for source, target in ((H2, H1), (H1, H2)):
        moved_in, missing, figures = world.live_migrate("keeper", target, "peer")
        print(f"live migration, root and volumes shared: {moved_in:.1f} s to ACTIVE on {target}; {figures}; "
              f"pings lost: {missing}")  # fmt: skip
        assert disk_copied_mib(figures) == 0, figures
        assert len(missing) <= 5, f"pings {missing} lost during the move ({figures})"
        world.left_nothing_on(source, "keeper")
    keeper = world.follow("keeper")
    assert uptime(keeper) > before, "the guest booted again"
    assert read_marks(keeper) == WRITTEN
    assert ceph_disks(world) == [f"{keeper.server_id}_disk"], "the shared root stays where it was, once"


def test_a_cold_migration_is_confirmed_and_a_resize_to_another_host_is_reverted(world):
    mover_id = world.guests["mover"].server_id
    world.openstack("admin", "--os-compute-api-version", "2.56", "server", "migrate", "--host", H1, mover_id)
    world.wait_for("mover", "VERIFY_RESIZE", H1)
    world.openstack("admin", "server", "resize", "confirm", mover_id)
    world.wait_for("mover", "ACTIVE", H1)
    world.left_nothing_on(H2, "mover")
    mover = world.follow("mover")
    mover.wait_for_shell(BOOT_TIMEOUT)  # the moved disk boots on its new host
    assert world.guests["peer"].reaches(mover.ip)

    world.openstack("admin", "server", "resize", "--flavor", "m1.small", mover_id)
    resized = world.wait_for("mover", "VERIFY_RESIZE")
    assert resized["OS-EXT-SRV-ATTR:host"] != H1 and "m1.small" in str(resized["flavor"]), resized
    world.openstack("admin", "server", "resize", "revert", mover_id)
    reverted = world.wait_for("mover", "ACTIVE", H1)
    assert "m1.tiny" in str(reverted["flavor"]), reverted
    world.left_nothing_on(resized["OS-EXT-SRV-ATTR:host"], "mover")
    assert f"stratus-{mover.server_id}" in world.domains(H1)
    world.follow("mover").wait_for_shell(BOOT_TIMEOUT)


def test_an_ha_server_comes_back_on_another_host_from_its_own_disks_and_volumes(world):
    powered_off = time.monotonic()
    host_machine.kill_processes(world.machine(H2))  # a power cut: its agents, libvirtd and guests all stop
    keeper = wait_until(
        lambda: world.server("keeper"),
        180,
        interval=1,
        message="keeper never came back on another host",
        until=lambda s: s["status"] == "ACTIVE" and not s["OS-EXT-STS:task_state"] and s["OS-EXT-SRV-ATTR:host"] != H2,
    )
    back_in = time.monotonic() - powered_off
    print(f"HA: keeper ACTIVE on {keeper['OS-EXT-SRV-ATTR:host']} {back_in:.0f} s after its host lost power")
    volumes = world.openstack.json("admin", "volume", "list", "--long", project="demo")
    assert all(v["Status"] == "in-use" for v in volumes) and len(volumes) == 2, volumes
    guest = world.follow("keeper")
    guest.wait_for_shell(BOOT_TIMEOUT)
    assert read_marks(guest) == WRITTEN, "back on the same root and volumes, nothing made again from the image"

    world.cloud.manage("services", "up")  # the host comes back: it must not run a second copy
    wait_until(lambda: world.domains(H2), 120, interval=2, message=f"{H2} kept its stale copy of keeper",
               until=lambda names: f"stratus-{keeper['id']}" not in names)  # fmt: skip
    wait_until(lambda: [m["Status"] for m in world.migrations("keeper") if m["Type"] == "evacuation"], 120,
               interval=2, message="the evacuation never completed", until=lambda s: s == ["completed"])  # fmt: skip
    assert ceph_disks(world) == [f"{keeper['id']}_disk"], "the returning host left the shared root alone"
    world.openstack("admin", "compute", "service", "set", "--enable", "--up", H2, "nova-compute")


def test_a_drain_empties_a_host_and_enable_takes_it_back(world):
    drained = world.stratus("host", "drain", H1, "--format", "json")
    assert drained.returncode == 0, drained.stdout + drained.stderr
    report = json.loads(drained.stdout)
    assert report, report
    assert world.server("mover")["OS-EXT-SRV-ATTR:host"] != H1
    assert not [d for d in world.domains(H1) if d.startswith("stratus-")]
    world.left_nothing_on(H1, "mover")
    assert world.guests["peer"].reaches(world.follow("mover").ip)
    enabled = world.stratus("host", "enable", H1)
    assert enabled.returncode == 0, enabled.stderr
