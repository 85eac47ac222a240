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
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from manage import host_machine
from manage.clouds import write_clouds_yaml
from manage.host_machine import HostMachine
from network.devicenames import vif_names
from tests.e2e.guests import Guest, OpenStack, guest_cloud_settings, in_parallel
from tests.harness import VENV_BIN, Cloud, running_cloud, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

NAME = "mv"
H1, H2, H3 = (f"{NAME}-{i}" for i in (1, 2, 3))
BOOT_TIMEOUT = 240.0
MOVE_TIMEOUT = 240.0
LIVE = ("--os-compute-api-version", "2.30")
PING_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) packets received")


@dataclass
class World:
    cloud: Cloud
    openstack: OpenStack
    network: str
    guests: dict[str, Guest]
    ports: dict[str, str]

    def machine(self, host: str) -> HostMachine:
        return host_machine.recorded(self.cloud.state_dir / "hosts" / host / "machine")

    def uri(self, host: str) -> str:
        return self.machine(host).libvirt_uri

    def domains(self, host: str) -> list[str]:
        result = subprocess.run(["virsh", "-c", self.uri(host), "list", "--all", "--name"], capture_output=True,
                                text=True, timeout=60, check=False)  # fmt: skip
        return result.stdout.split()

    def server(self, name: str) -> dict:
        return self.openstack.json("admin", "server", "show", self.guests[name].server_id)

    def follow(self, name: str) -> Guest:
        """The guest where the cloud says it runs now (host, console log, libvirtd)."""
        guest, host = self.guests[name], self.server(name)["OS-EXT-SRV-ATTR:host"]
        guest.host, guest.libvirt_uri = host, self.uri(host)
        guest.console_log = instance_dir(self.cloud, host, guest.server_id) / "console.log"
        return guest

    def wait_for(self, name: str, status: str, host: str | None = None, timeout: float = MOVE_TIMEOUT) -> dict:
        def settled(server: dict) -> bool:
            placed = host is None or server["OS-EXT-SRV-ATTR:host"] == host
            return server["status"] == status and server["OS-EXT-STS:task_state"] is None and placed

        return wait_until(lambda: self.server(name), timeout, interval=2, message=f"{name} never {status} on "
                          f"{host or 'any host'}", until=settled)  # fmt: skip

    def left_nothing_on(self, host: str, name: str) -> None:
        """No domain, no instance directory, no device of its port on ``host``."""
        guest = self.guests[name]
        assert f"stratus-{guest.server_id}" not in self.domains(host)
        assert not instance_dir(self.cloud, host, guest.server_id).exists()
        names = vif_names(self.ports[name])
        links = self.machine(host).run(["ip", "-br", "link"]).stdout
        assert not {names.bridge, names.qvb, names.qvo, names.tap} & {line.split("@")[0] for line in
                                                                       links.split()}, links  # fmt: skip


def instance_dir(cloud: Cloud, host: str, server_id: str) -> Path:
    return cloud.state_dir / "hosts" / host / "state" / "instances" / server_id


@pytest.fixture(scope="module")
def world(tiny_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    kept = tmp_path_factory.mktemp("moves-logs")
    state, env = guest_cloud_settings(
        NAME, "qemu:///system", hosts=3, underlay_bridge="ul-mv", underlay="10.234.0.0/24"
    )
    for located in ("STRATUS_INSTANCES_PATH", "STRATUS_IMAGE_CACHE_PATH"):
        env.pop(located)
    env |= {
        "STRATUS_HOST_MACHINES": "true",
        "STRATUS_VOLUME_DIR": str(state / "volumes"),
        # A host is down after 8 s without a heartbeat, and its HA servers leave 2 s later, once it is fenced.
        "STRATUS_HOST_HEARTBEAT_INTERVAL": "2",
        "STRATUS_COMPUTE_HOST_DOWN_AFTER": "8",
        "STRATUS_HA_GRACE_PERIOD": "2",
        "STRATUS_COMPUTE_REPORT_INTERVAL": "3",
    }
    try:
        with running_cloud(state, env) as cloud:
            cloud.bootstrap("e2e-admin", "e2e-demo")
            clouds_yaml = state / "clouds.yaml"
            accounts = {"admin": ("admin", "e2e-admin"), "demo": ("demo", "e2e-demo")}
            write_clouds_yaml(clouds_yaml, cloud.auth_url, "RegionOne", accounts)
            openstack = OpenStack(clouds_yaml)
            openstack("admin", "role", "add", "--project", "demo", "--user", "admin", "admin")  # places demo's servers
            image = ("image", "create", "--public", "--disk-format", "qcow2", "--container-format", "bare")
            openstack("admin", *image, "--file", str(tiny_image), "tiny")
            openstack("admin", "network", "create", "--project", "demo", "moves")
            subnet = ("subnet", "create", "--project", "demo", "--network", "moves", "--subnet-range", "10.61.0.0/24")
            openstack("admin", *subnet, "moves-v4")
            wait_until(lambda: openstack.json("admin", "hypervisor", "list"), 120, interval=2,
                       message="the three hosts never reported", until=lambda hosts: len(hosts) == 3)  # fmt: skip
            world = World(cloud, openstack, "moves", {}, {})
            in_parallel(
                lambda: boot(world, "mover", H1),
                lambda: boot(world, "peer", H3),
                lambda: boot(world, "keeper", H2, "--property", "HA_Enabled=True"),
            )
            yield world
    finally:  # the services' and hosts' logs are kept for a failed run
        for logs in [state / "log", *state.glob("hosts/*/state/log")]:
            shutil.copytree(logs, kept / logs.relative_to(state), dirs_exist_ok=True)
        shutil.rmtree(state, ignore_errors=True)


def boot(world: World, name: str, host: str, *extra: str) -> Guest:
    command = ("server", "create", "--image", "tiny", "--flavor", "m1.tiny", "--network", world.network,
               "--availability-zone", f"nova:{host}", *extra, "--wait", name)  # fmt: skip
    created = world.openstack.json("admin", *command, project="demo")
    (port,) = world.openstack.json("admin", "port", "list", "--device-id", created["id"])
    ip = port["Fixed IP Addresses"][0]["ip_address"]
    console = instance_dir(world.cloud, host, created["id"]) / "console.log"
    guest = Guest(name, created["id"], host, world.network, port["ID"], port["MAC Address"], ip, console,
                  world.uri(host))  # fmt: skip
    world.guests[name], world.ports[name] = guest, port["ID"]
    guest.wait_for_shell(BOOT_TIMEOUT)
    return guest


def uptime(guest: Guest) -> float:
    rc, out = guest.run("cut -d' ' -f1 /proc/uptime")
    assert rc == 0, out
    return float(out.strip().splitlines()[-1])


def live_migration_figures(world: World, name: str) -> str:
    """What the live migration's event says it cost (copy, downtime), as admins read it in the server's actions."""
    server = world.guests[name].server_id
    events = world.openstack.json("admin", "server", "event", "list", server)
    request = next(e["Request ID"] for e in events if e["Action"] == "live-migration")
    shown = world.openstack.json("admin", "server", "event", "show", server, request)
    done = [e for e in shown["events"] if e["event"] == "compute_live_migration"]
    return str(done[0].get("traceback")) if done else f"no compute_live_migration event in {shown['events']}"


def migrations(world: World, name: str) -> list[dict]:
    listing = (
        "--os-compute-api-version",
        "2.59",
        "server",
        "migration",
        "list",
        "--server",
        world.guests[name].server_id,
    )
    return world.openstack.json("admin", *listing)


def test_a_live_block_migration_keeps_the_guest_running_and_reachable_and_leaves_nothing_behind(world):
    mover, peer = world.guests["mover"], world.guests["peer"]
    assert peer.reaches(mover.ip)
    before = uptime(mover)
    peer.run(f"(ping -i 0.2 {mover.ip} > /tmp/during.log 2>&1 &)")
    started = time.monotonic()
    world.openstack("admin", *LIVE, "server", "migrate", "--live-migration", "--host", H2, mover.server_id)
    world.wait_for("mover", "ACTIVE", H2)
    moved_in = time.monotonic() - started
    time.sleep(2)
    _, out = peer.run("kill -INT $(pidof ping); sleep 1; cat /tmp/during.log")
    summary = PING_SUMMARY.search(out)
    assert summary, out
    sent = int(summary[1])
    missing = sorted(set(range(sent)) - {int(n) for n in re.findall(r"seq=(\d+)", out)})
    figures = live_migration_figures(world, "mover")
    print(f"live migration: {moved_in:.1f} s from the request to ACTIVE on {H2}; {figures}; pings lost: {missing}")
    assert sent >= 5 and len(missing) <= 5, f"pings {missing} of {sent} lost during the move ({figures})"

    mover = world.follow("mover")
    after = uptime(mover)  # the same guest, still running: no boot on the target
    assert after > before + moved_in / 2, (before, after, moved_in)
    assert "SYSLINUX" not in mover.console(), "the guest booted again on the target"
    assert peer.reaches(mover.ip)  # the other hosts' forwarding entries follow the port
    world.left_nothing_on(H1, "mover")
    (migration,) = [m for m in migrations(world, "mover") if m["Type"] == "live-migration"]
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
    wait_until(lambda: [m["Status"] for m in migrations(world, "keeper") if m["Type"] == "evacuation"], 120,
               interval=2, message="the evacuation never completed", until=lambda s: s == ["completed"])  # fmt: skip
    world.openstack("admin", "compute", "service", "set", "--enable", "--up", H2, "nova-compute")


def stratus(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env |= {"OS_CLIENT_CONFIG_FILE": str(world.openstack.clouds_yaml), "OS_CLOUD": "admin"}
    return subprocess.run([str(VENV_BIN / "stratus"), *args], env=env, capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip


def test_a_drain_empties_a_host_and_enable_takes_it_back(world):
    drained = stratus(world, "host", "drain", H1, "--format", "json")
    assert drained.returncode == 0, drained.stdout + drained.stderr
    report = json.loads(drained.stdout)
    assert report, report
    assert world.server("mover")["OS-EXT-SRV-ATTR:host"] != H1
    assert not [d for d in world.domains(H1) if d.startswith("stratus-")]
    world.left_nothing_on(H1, "mover")
    assert world.guests["peer"].reaches(world.follow("mover").ip)
    enabled = stratus(world, "host", "enable", H1)
    assert enabled.returncode == 0, enabled.stderr
