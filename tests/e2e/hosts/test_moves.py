"""Real guests move between host machines through the whole cloud (issue #16): three hosts of ``make up HOSTS=3``'s
kind (``host_machines``: each in its own namespaces with its own libvirtd, its agents inside, reaching the control
node only by its underlay address), the openstack and stratus CLIs as an operator uses them.

One module, one cloud, its tests in order (each starts from where the one before left the guests, as an operator's
day goes): a live block migration while a guest on a third host pings the mover, a cold migration and a resize
across hosts, a host powered off under its HA server, a drain. Guests are TCG and slow to boot, so the module boots
three and moves them rather than booting more.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from manage import host_machine
from tests.e2e.guests import guest_cloud_settings, in_parallel
from tests.e2e.hosts.moves import BOOT_TIMEOUT, HOST_MACHINE_SETTINGS, World, host_machine_cloud, uptime
from tests.harness import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

NAME = "mv"
H1, H2, H3 = (f"{NAME}-{i}" for i in (1, 2, 3))


@pytest.fixture(scope="module")
def world(tiny_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state, env = guest_cloud_settings(
        NAME, "qemu:///system", hosts=3, underlay_bridge="ul-mv", underlay="10.234.0.0/24"
    )
    for located in ("STRATUS_INSTANCES_PATH", "STRATUS_IMAGE_CACHE_PATH"):
        env.pop(located)
    env |= HOST_MACHINE_SETTINGS | {"STRATUS_VOLUME_DIR": str(state / "volumes")}
    kept = tmp_path_factory.mktemp("moves-logs")
    try:
        with host_machine_cloud(state, env, 3, "10.61.0.0/24", {"tiny": ("qcow2", tiny_image)}, kept) as world:
            in_parallel(
                lambda: world.boot("mover", H1),
                lambda: world.boot("peer", H3),
                lambda: world.boot("keeper", H2, "--property", "HA_Enabled=True"),
            )
            yield world
    finally:
        shutil.rmtree(state, ignore_errors=True)


def test_a_live_block_migration_keeps_the_guest_running_and_reachable_and_leaves_nothing_behind(world):
    mover, peer = world.guests["mover"], world.guests["peer"]
    assert peer.reaches(mover.ip)
    before = uptime(mover)
    moved_in, missing, figures = world.live_migrate("mover", H2, "peer")
    print(f"live migration: {moved_in:.1f} s from the request to ACTIVE on {H2}; {figures}; pings lost: {missing}")
    assert len(missing) <= 5, f"pings {missing} lost during the move ({figures})"

    mover = world.follow("mover")
    after = uptime(mover)  # the same guest, still running: no boot on the target
    assert after > before + moved_in / 2, (before, after, moved_in)
    assert "SYSLINUX" not in mover.console(), "the guest booted again on the target"
    assert peer.reaches(mover.ip)  # the other hosts' forwarding entries follow the port
    world.left_nothing_on(H1, "mover")
    (migration,) = [m for m in world.migrations("mover") if m["Type"] == "live-migration"]
    assert (migration["Source Compute"], migration["Dest Compute"], migration["Status"]) == (H1, H2, "completed")


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


def test_an_ha_server_of_a_host_that_loses_power_comes_back_active_elsewhere_with_its_volume(world):
    volume = world.openstack.json("admin", "volume", "create", "--size", "1", "keeper-data", project="demo")
    wait_until(lambda: world.openstack.json("admin", "volume", "show", volume["id"]), 120, interval=2,
               message="the volume never became available", until=lambda v: v["status"] == "available")  # fmt: skip
    world.openstack("admin", "server", "add", "volume", "keeper", volume["id"], project="demo")
    wait_until(lambda: world.openstack.json("admin", "volume", "show", volume["id"]), 120, interval=2,
               message="the volume was never attached", until=lambda v: v["status"] == "in-use")  # fmt: skip

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
    attached = world.openstack.json("admin", "volume", "show", volume["id"])
    assert attached["status"] == "in-use" and attached["attachments"][0]["server_id"] == keeper["id"], attached
    guest = world.follow("keeper")
    guest.wait_for_shell(BOOT_TIMEOUT)
    assert guest.run("test -b /dev/vdb")[0] == 0  # its volume is plugged in on the new host

    world.cloud.manage("services", "up")  # the host comes back: it must not run a second copy
    wait_until(lambda: world.domains(H2), 120, interval=2, message=f"{H2} kept its stale copy of keeper",
               until=lambda names: f"stratus-{keeper['id']}" not in names)  # fmt: skip
    wait_until(lambda: [m["Status"] for m in world.migrations("keeper") if m["Type"] == "evacuation"], 120,
               interval=2, message="the evacuation never completed", until=lambda s: s == ["completed"])  # fmt: skip
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
