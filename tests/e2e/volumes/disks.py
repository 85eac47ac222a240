"""Volumes as a tenant handles them (the ``openstack`` CLI) and as a guest sees them (its virtio disks, read and
written with ``dd`` on its serial console), for the volume modules of every backend; also the world each module
builds the same way: two guests booted at once, one from a new volume, the other from the image.

A guest finds a volume by its serial (the first 20 characters of the volume id, all a virtio-blk serial holds), not
by the device name the API reported: that is what a real guest can rely on, and the name proves nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manage.clouds import write_clouds_yaml
from tests.e2e.guests import Guest, OpenStack, in_parallel
from tests.harness import Cloud, running_cloud, wait_until

POLL = 1.0
"""Seconds between looks through the openstack CLI (each look is a process of about a second of CPU)."""

BOOT_TIMEOUT = 240.0
GiB = 1 << 30
MiB = 1 << 20
SECTOR = 512
ROOT_DATA_SECTOR = 2_000_000
"""Where a server booted from a volume writes on its root disk: far past the tiny image's boot partition (the guest
runs from its initramfs), inside a 1 GiB volume."""


@dataclass(frozen=True)
class World:
    """A module's cloud, its CLI, and its two guests."""

    cloud: Cloud
    openstack: OpenStack
    network: str
    root_guest: Guest
    """Booted from ``root_volume`` (delete_on_termination false)."""
    root_volume: str
    reader: Guest
    """Booted from the image."""


@contextmanager
def running_world(
    state: Path,
    env: dict[str, str],
    tiny_image: Path,
    passwords: dict[str, str],
    volume_type: str,
    hosts: tuple[str | None, str | None] = (None, None),
) -> Iterator[World]:
    """The cloud of ``state`` and ``env`` with accounts ``passwords`` (admin, demo), the image and network
    (``prepare``) and both guests (``boot_both``); the cloud's services stop at the end, its guests stay for the
    caller to remove (``tests.e2e.kernel``)."""
    with running_cloud(state, env) as cloud:
        cloud.bootstrap(passwords["admin"], passwords["demo"])
        clouds_yaml = state / "clouds.yaml"
        write_clouds_yaml(clouds_yaml, cloud.auth_url, "RegionOne", {n: (n, p) for n, p in passwords.items()})
        openstack = OpenStack(clouds_yaml)
        network = prepare(openstack, tiny_image)
        yield boot_both(cloud, openstack, network, volume_type, hosts)


def prepare(openstack: OpenStack, tiny_image: Path) -> str:
    """The tiny image, a network of demo's (its id) and the admin's role in demo (to place demo's servers), at once."""

    def network() -> str:
        made = openstack.json("admin", "network", "create", "--project", "demo", "vol-net")["id"]
        openstack("admin", "subnet", "create", "--project", "demo", "--network", made, "--subnet-range",
                  "10.9.0.0/24", "vol-subnet")  # fmt: skip
        return made

    image = ("image", "create", "--public", "--disk-format", "qcow2", "--container-format", "bare")
    _, made, _ = in_parallel(
        lambda: openstack("admin", *image, "--file", str(tiny_image), "tiny"),
        network,
        lambda: openstack("admin", "role", "add", "--project", "demo", "--user", "admin", "admin"),
    )
    return made


def boot_both(
    cloud: Cloud, openstack: OpenStack, network: str, volume_type: str, hosts: tuple[str | None, str | None]
) -> World:
    """``root-guest`` booted from a new bootable volume of ``volume_type`` made from the image, and ``reader`` from
    the image, at once, on ``hosts`` (None: where the scheduler puts them)."""

    def root_guest() -> tuple[Guest, str]:
        create = ("volume", "create", "--type", volume_type, "--size", "1", "--image", "tiny", "--bootable", "root")
        root = openstack.json("demo", *create)["id"]
        wait_volume(openstack, root, "available", timeout=180)
        return boot(cloud, openstack, network, "root-guest", "--volume", root, host=hosts[0]), root

    (first, root), reader = in_parallel(root_guest, lambda: boot(cloud, openstack, network, "reader", host=hosts[1]))
    return World(cloud, openstack, network, first, root, reader)


def keep_logs(state: Path, keep: Path) -> None:
    """The services' logs (Ceph's too, when it ran) and the guests' consoles, for a run that failed."""
    for logs, kept in ((state / "log", keep / "log"), (state / "ceph" / "log", keep / "ceph")):
        if logs.is_dir():
            shutil.copytree(logs, kept, dirs_exist_ok=True)
    for console in state.glob("instances/**/console.log"):
        shutil.copy(console, keep / f"console-{console.parent.name}.log")


def boot(cloud: Cloud, openstack: OpenStack, network: str, name: str, *how: str, host: str | None = None) -> Guest:
    """A server of the demo project at its root shell: from the tiny image unless ``how`` says otherwise (``--volume
    ID``). With ``host``, the admin acting in demo places it there (placing is for admins only)."""
    source = how or ("--image", "tiny")
    account, placed = ("admin", ("--availability-zone", f"nova:{host}")) if host else ("demo", ())
    command = ("server", "create", *source, *placed, "--flavor", "m1.tiny", "--network", network, "--wait", name)
    try:
        created = openstack.json(account, *command, project="demo" if host else None)
    except AssertionError as exc:
        shown = openstack.json("admin", "server", "show", name, project="demo")
        raise AssertionError(f"{name} is {shown['status']}: {shown.get('fault')}") from exc
    server_host = openstack.json("admin", "server", "show", created["id"])["OS-EXT-SRV-ATTR:host"]
    assert host is None or server_host == host, f"{name} went to {server_host}, not {host}"
    (port,) = openstack.json("admin", "port", "list", "--device-id", created["id"])
    ip = port["Fixed IP Addresses"][0]["ip_address"]
    # One host keeps its instances right in the instances path; several hosts each in a directory of their own.
    instances = cloud.state_dir / "instances"
    layouts = (instances / created["id"], instances / server_host / "instances" / created["id"])
    console_log = next((d for d in layouts if d.is_dir()), layouts[-1 if host else 0]) / "console.log"
    guest = Guest(name, created["id"], server_host, network, port["ID"], port["MAC Address"], ip, console_log)
    try:
        guest.wait_for_shell(BOOT_TIMEOUT)
    except AssertionError as exc:
        found = sorted(str(p) for p in instances.rglob("console.log"))
        tail = console_log.read_text(errors="replace")[-3000:] if console_log.exists() else "(no console log)"
        raise AssertionError(f"{exc}\nconsole logs: {found}\n{tail}") from None
    return guest


def volume(openstack: OpenStack, volume_id: str) -> dict[str, Any]:
    return openstack.json("demo", "volume", "show", volume_id)


def wait_volume(openstack: OpenStack, volume_id: str, status: str, timeout: float = 120) -> dict[str, Any]:
    """The volume once it is ``status``; fails at once when it ends in an error status instead."""
    return _wait_status(lambda: volume(openstack, volume_id), f"volume {volume_id}", status, timeout)


def wait_snapshot(openstack: OpenStack, snapshot_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    """The snapshot once it is ``status``; fails at once when it ends in an error status instead."""

    def show() -> dict[str, Any]:
        return openstack.json("demo", "volume", "snapshot", "show", snapshot_id)

    return _wait_status(show, f"snapshot {snapshot_id}", status, timeout)


def _wait_status(show: Callable[[], dict[str, Any]], what: str, status: str, timeout: float) -> dict[str, Any]:
    found = wait_until(
        show,
        timeout,
        interval=POLL,
        message=f"{what} never became {status}",
        until=lambda shown: shown["status"] == status or shown["status"].startswith("error"),
    )
    assert found["status"] == status, f"{what} is {found['status']}, not {status}: {found}"
    return found


def attach(openstack: OpenStack, guest: Guest, volume_id: str) -> None:
    """``server add volume``, then until the volume is in use; a failed attach shows the host's error."""
    openstack("demo", "server", "add", "volume", guest.server_id, volume_id)
    try:
        wait_volume(openstack, volume_id, "in-use")
    except AssertionError as exc:
        events = openstack.json("admin", "server", "event", "list", guest.server_id)
        request = next(e["Request ID"] for e in events if e["Action"] == "attach_volume")
        details = openstack.json("admin", "server", "event", "show", guest.server_id, request)
        raise AssertionError(f"{exc}\n{details}") from None


def detach(openstack: OpenStack, guest: Guest, volume_id: str) -> None:
    """``server remove volume``, until the volume is available and the guest has let its disk go."""
    device = device_of(guest, volume_id)
    openstack("demo", "server", "remove", "volume", guest.server_id, volume_id)
    wait_volume(openstack, volume_id, "available")
    wait_until(lambda: guest.run(f"test -e /sys/block/{device}")[0] != 0, 30, interval=1, message=f"{device} stays")


def guest_sees(guest: Guest, path: str, timeout: float = 60) -> str:
    """What ``cat path`` prints in the guest, once it exists there."""

    def read() -> str | None:
        rc, out = guest.run(f"cat {path}")
        return out.strip() if rc == 0 else None

    return wait_until(read, timeout, interval=1, message=f"{guest.name} never saw {path}")


def device_of(guest: Guest, volume_id: str, timeout: float = 60) -> str:
    """The guest's disk (``vdX``) whose serial is the volume's, once the guest has it."""

    def find() -> str | None:
        rc, out = guest.run(f"grep -l '^{volume_id[:20]}$' /sys/block/vd*/serial")
        paths = out.split()
        return Path(paths[0]).parent.name if rc == 0 and len(paths) == 1 else None

    return wait_until(find, timeout, interval=1, message=f"{guest.name} never saw volume {volume_id}")


def sectors(guest: Guest, device: str) -> int:
    rc, out = guest.run(f"cat /sys/block/{device}/size")
    assert rc == 0, out
    return int(out.strip())


def wait_sectors(guest: Guest, device: str, size_gb: int, timeout: float = 60) -> None:
    """Until the guest's kernel says ``device`` holds ``size_gb`` GiB."""
    wait_until(
        lambda: sectors(guest, device),
        timeout,
        interval=1,
        message=f"{guest.name} never saw /dev/{device} at {size_gb} GiB",
        until=lambda found: found == size_gb * GiB // SECTOR,
    )


def write_pattern(guest: Guest, device: str, pattern: str, seek: int = 0) -> None:
    """One sector holding ``pattern``, written through to the disk (fsync) before the command returns."""
    rc, out = guest.run(f"echo {pattern} | dd of={device} bs={SECTOR} seek={seek} count=1 conv=sync,fsync 2>&1")
    assert rc == 0, out


def read_pattern(guest: Guest, device: str, skip: int = 0) -> str:
    """The first line of one sector, its zero bytes left out: "" for a sector never written."""
    command = f"dd if={device} bs={SECTOR} skip={skip} count=1 2>/dev/null | tr -d '\\000' | head -n 1"
    rc, out = guest.run(command)
    assert rc == 0, out
    return out.strip()


def random_writes(guest: Guest, device: str, mib_offsets: list[int]) -> None:
    """1 MiB of new random data at each offset, through to the disk (one short line: the serial console's)."""
    offsets = " ".join(str(offset) for offset in mib_offsets)
    write = f"dd if=/dev/urandom of=/dev/{device} bs=1M count=1 seek=$o conv=fsync 2>/dev/null"
    command = f"for o in {offsets}; do {write}; done; echo written"
    rc, out = guest.run(command, timeout=180)
    assert rc == 0 and "written" in out, out


def back_up(world: World, *args: str) -> str:
    """``volume backup create`` with ``args``, until the backup is available (its id)."""
    made = world.openstack.json("demo", "volume", "backup", "create", *args)["id"]
    wait_until(
        lambda: world.openstack.json("demo", "volume", "backup", "show", made)["status"],
        180,
        interval=POLL,
        message=f"backup {made} never ended",
        until=lambda status: status in ("available", "error"),
    )
    assert world.openstack.json("demo", "volume", "backup", "show", made)["status"] == "available"
    return made


def backups_around_a_one_percent_change(world: World, volume_type: str) -> tuple[str, str, str]:
    """A new 1 GiB volume of ``volume_type`` that the reader fills with 16 MiB, a full backup of it, 10 MiB (1%)
    changed by the reader at spread offsets, an incremental backup: the volume's, the full and the incremental
    backup's ids. The guest writes while the volume is attached; the backups are taken detached."""
    openstack, guest = world.openstack, world.reader
    made = openstack.json("demo", "volume", "create", "--type", volume_type, "--size", "1", "backed")["id"]
    wait_volume(openstack, made, "available")
    attach(openstack, guest, made)
    random_writes(guest, device_of(guest, made), list(range(16)))
    detach(openstack, guest, made)
    full = back_up(world, "--name", "full", made)
    attach(openstack, guest, made)
    random_writes(guest, device_of(guest, made), [40 + 97 * i for i in range(10)])
    detach(openstack, guest, made)
    return made, full, back_up(world, "--incremental", "--name", "incremental", made)
