"""LibvirtDriver against the host's libvirtd with real QEMU (TCG) guests booted from the tiny image.

One guest goes through the whole lifecycle (TCG boots take 10-20 s, so each boot counts); a second one is spawned
from its snapshot; another has a volume copied for a snapshot between two of its writes. ``virsh`` is the
independent witness of what libvirt holds. Domains are ``stratus-<uuid>`` with fresh uuids; a finalizer removes
exactly the domains these tests created, whatever happens.

QEMU runs as libvirt-qemu, which cannot enter pytest's private temporary directories: instances and the copy of the
base image live in a directory of our own under /var/tmp.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.settings import Settings
from compute.host.virt.base import (
    ConfigDrive,
    ConsoleKind,
    DriverError,
    InstanceSpec,
    InvalidConnection,
    Nic,
    PowerState,
    VolumeConnection,
)
from compute.host.virt.libvirt import config, taps
from compute.host.virt.libvirt.driver import LibvirtDriver
from deploy.images import markers
from tests.e2e.guests import Guest
from tests.e2e.libvirtd_gate import LibvirtdGate
from tests.harness import wait_until
from tests.hostile_images import hostile_images, make_canary

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT = 150.0
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2e e2e@stratus-test"
USER_DATA = b"#!/bin/sh\necho E2E-USERDATA-OK\n"


# ---------------------------------------------------------------------------------------------------------------
# Helpers: virsh as the witness, the console, timing.


def virsh(*args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"virsh {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def domstate(uuid: str) -> str:
    return virsh("domstate", f"stratus-{uuid}")


def all_domain_names() -> list[str]:
    return virsh("list", "--all", "--name").split()


def ready_count(console: str) -> int:
    return len(markers.READY_RE.findall(console))


def wait_for_ready(driver: LibvirtDriver, uuid: str, count: int = 1) -> float:
    """Wait until the console holds ``count`` ready lines (the log is appended to across boots); seconds taken."""
    started = time.monotonic()
    wait_until(
        lambda: driver.get_console_output(uuid),
        BOOT_TIMEOUT,
        interval=0.2,
        message=f"no ready line #{count} on the console",
        until=lambda console: ready_count(console) >= count,
    )
    return time.monotonic() - started


def wait_for_console(driver: LibvirtDriver, uuid: str, text: str, timeout: float = 30.0) -> None:
    wait_until(
        lambda: driver.get_console_output(uuid),
        timeout,
        interval=0.2,
        message=f"{text!r} did not appear on the console of {uuid}",
        until=lambda console: text in console,
    )


def type_on_console(driver: LibvirtDriver, uuid: str, command: str, expect: str) -> None:
    """Type ``command`` into the guest's root shell on its serial port (the TCP server ``get_console`` names,
    where the console proxy connects) and wait for ``expect`` in the console log, which records it all."""
    endpoint = driver.get_console(uuid, ConsoleKind.SERIAL)
    with socket.create_connection((endpoint.host, endpoint.port), timeout=10) as serial:
        serial.sendall(command.encode() + b"\n")
        wait_for_console(driver, uuid, expect)


def timed(label: str, timings: dict[str, float], action: Callable[..., object], *args: object, **kw: object) -> None:
    started = time.monotonic()
    action(*args, **kw)
    timings[label] = time.monotonic() - started


def qemu_img_info(path: Path) -> dict[str, object]:
    return json.loads(
        subprocess.run(
            ["qemu-img", "info", "-U", "--output", "json", "-f", "qcow2", str(path)],  # -U: the guest may hold it
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )


def make_persistent_tap(name: str) -> None:
    """A detached persistent tap, as a crash could leave behind (connected to nothing)."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, taps.TUNSETIFF, struct.pack("16sH", name.encode(), taps.IFF_TAP | taps.IFF_NO_PI))
        fcntl.ioctl(fd, taps.TUNSETPERSIST, 1)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------------------------
# Fixtures.


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="stratus-e2e-libvirt-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def base_image(tiny_image: Path, workdir: Path) -> Path:
    """The tiny image, copied where QEMU can read it, as the host's image cache would hold it."""
    cache = workdir / "image-cache"
    cache.mkdir(mode=0o755)
    copy = cache / "tiny.qcow2"
    shutil.copyfile(tiny_image, copy)
    return copy


@pytest.fixture
def created(libvirtd: str) -> Iterator[list[str]]:
    """Uuids of instances a test creates; their domains (and only theirs) are removed afterwards, whatever happened."""
    uuids: list[str] = []
    yield uuids
    for uuid in uuids:
        name = f"stratus-{uuid}"
        if name in all_domain_names():
            virsh("destroy", name, check=False)
            virsh("undefine", name, "--managed-save", "--snapshots-metadata", "--nvram", check=False)


@pytest.fixture
def driver(libvirtd: str, workdir: Path) -> LibvirtDriver:
    settings = Settings(libvirt_uri=libvirtd, instances_path=str(workdir / "instances"))
    driver = LibvirtDriver(settings, soft_reboot_timeout=60)
    driver.init_host("e2e")
    return driver


def new_spec(created: list[str], base: Path, hostname: str, nics: tuple[Nic, ...] = ()) -> InstanceSpec:
    uuid = str(uuidlib.uuid4())
    created.append(uuid)
    return InstanceSpec(
        uuid=uuid,
        name=hostname,
        vcpus=1,
        memory_mb=192,
        root_gb=1,
        base_image=base,
        base_image_format="qcow2",
        config_drive=ConfigDrive(
            meta_data={
                "uuid": uuid,
                "name": hostname,
                "hostname": hostname,
                "public_keys": {"e2e": PUBLIC_KEY + "\n"},
                "keys": [{"name": "e2e", "type": "ssh", "data": PUBLIC_KEY + "\n"}],
            },
            user_data=USER_DATA,
        ),
        nics=nics,
    )


# ---------------------------------------------------------------------------------------------------------------
# The lifecycle of one guest, and a clone of it from its snapshot.


def test_lifecycle_snapshot_and_clone(
    driver: LibvirtDriver, base_image: Path, workdir: Path, created: list[str]
) -> None:
    timings: dict[str, float] = {}
    assert driver.host.virt_type() == "qemu"  # MACHINE-NOTES: KVM guests hang on this host
    spec = new_spec(created, base_image, "e2e-guest")
    uuid = spec.uuid

    started = time.monotonic()
    driver.spawn(spec)
    timings["spawn call"] = time.monotonic() - started
    wait_for_ready(driver, uuid, 1)
    timings["spawn → ready"] = time.monotonic() - started
    console = driver.get_console_output(uuid)
    assert markers.ready_hostname(console) == "e2e-guest"
    assert "E2E-USERDATA-OK" in console
    assert driver.get_info(uuid).power_state == PowerState.RUNNING
    assert domstate(uuid) == "running"
    assert uuid in [info.uuid for info in driver.list_instances()]
    driver.spawn(spec)  # redelivered: left alone
    assert ready_count(driver.get_console_output(uuid)) == 1

    timed("power_off (ACPI)", timings, driver.power_off, uuid, timeout=60)
    assert driver.get_info(uuid).power_state == PowerState.SHUTDOWN
    assert domstate(uuid) == "shut off"
    assert "reboot: Power down" in driver.get_console_output(uuid)  # the guest shut itself down, no plug pulled
    driver.power_off(uuid)

    driver.power_on(uuid)
    assert driver.get_info(uuid).power_state == PowerState.RUNNING
    timings["power_on → ready"] = wait_for_ready(driver, uuid, 2)

    started = time.monotonic()
    driver.reboot(uuid, hard=False)
    assert driver.get_info(uuid).power_state == PowerState.RUNNING
    wait_for_ready(driver, uuid, 3)
    timings["soft reboot → ready"] = time.monotonic() - started
    assert driver.get_console_output(uuid).count("reboot: Power down") == 2

    started = time.monotonic()
    driver.reboot(uuid, hard=True)
    assert driver.get_info(uuid).power_state == PowerState.RUNNING
    wait_for_ready(driver, uuid, 4)
    timings["hard reboot → ready"] = time.monotonic() - started
    assert driver.get_console_output(uuid).count("reboot: Power down") == 2  # a reset, not a shutdown

    driver.pause(uuid)
    assert driver.get_info(uuid).power_state == PowerState.PAUSED
    assert domstate(uuid) == "paused"
    driver.unpause(uuid)
    assert driver.get_info(uuid).power_state == PowerState.RUNNING
    type_on_console(driver, uuid, "echo UNPAUSED-$((6*7))", "UNPAUSED-42")

    timed("suspend (managed save)", timings, driver.suspend, uuid)
    assert driver.get_info(uuid).power_state == PowerState.SUSPENDED
    assert domstate(uuid) == "shut off"
    assert re.search(r"Managed save:\s+yes", virsh("dominfo", f"stratus-{uuid}"))
    timed("resume", timings, driver.resume, uuid)
    assert driver.get_info(uuid).power_state == PowerState.RUNNING
    # the same shell, in the restored memory: no new boot
    type_on_console(driver, uuid, "echo RESTORED-$((6*7))", "RESTORED-42")
    assert ready_count(driver.get_console_output(uuid)) == 4

    snapshot = workdir / "snapshots" / "e2e-guest.qcow2"
    timed("snapshot (running guest)", timings, driver.snapshot, uuid, snapshot)
    assert driver.get_info(uuid).power_state == PowerState.RUNNING
    info = qemu_img_info(snapshot)
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert info["virtual-size"] == 1 << 30  # the root disk's size, flattened
    subprocess.run(["qemu-img", "check", "-q", str(snapshot)], check=True, timeout=60)

    # A second instance from the snapshot, with a NIC whose tap a crash left behind.
    tap = f"tap{uuidlib.uuid4().hex[:8]}"
    mac = "52:54:00:e2:e0:01"
    make_persistent_tap(tap)
    try:
        clone = new_spec(created, snapshot, "e2e-clone", nics=(Nic(mac=mac, tap=tap, mtu=1400),))
        started = time.monotonic()
        driver.spawn(clone)
        assert taps.exists(tap)
        wait_for_ready(driver, clone.uuid, 1)
        timings["clone spawn → ready (with a NIC, DHCP times out)"] = time.monotonic() - started
        console = driver.get_console_output(clone.uuid)
        assert markers.ready_hostname(console) == "e2e-clone"
        assert markers.nics(console) == {"eth0": markers.Nic("eth0", mac, None)}  # its tap is connected to nothing
        assert Path(f"/sys/class/net/{tap}/mtu").read_text().strip() == "1400"
        assert {info.uuid for info in driver.list_instances()} >= {uuid, clone.uuid}

        driver.destroy(uuid)
        driver.destroy(clone.uuid)
        driver.destroy(uuid)
        for gone in (uuid, clone.uuid):
            assert f"stratus-{gone}" not in all_domain_names()
            assert not driver.instance_dir(gone).exists()
            assert gone not in [info.uuid for info in driver.list_instances()]
        assert not taps.exists(tap)
    finally:
        taps.remove_leftover(tap)
    print("\n" + "\n".join(f"  {label}: {seconds:.1f} s" for label, seconds in timings.items()))


# ---------------------------------------------------------------------------------------------------------------
# Failure: a spawn that fails leaves nothing behind.


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"base_image": Path("/var/tmp/stratus-e2e-no-such-image.qcow2")}, "missing"),  # before the domain exists
        ({"memory_mb": 64 << 20}, "Cannot allocate memory"),  # 64 TiB: QEMU fails after the domain was defined
    ],
    ids=["missing-base-image", "absurd-memory"],
)
def test_failed_spawn_leaves_nothing_behind(
    driver: LibvirtDriver, base_image: Path, created: list[str], change: dict, message: str
) -> None:
    spec = dataclasses.replace(new_spec(created, base_image, "e2e-fail"), **change)
    with pytest.raises(DriverError, match=message):
        driver.spawn(spec)
    assert f"stratus-{spec.uuid}" not in all_domain_names()
    assert not driver.instance_dir(spec.uuid).exists()


@pytest.mark.parametrize(
    "label",
    ["qcow2 with a backing file", "qcow2 with an external data file", "descriptor after a blank line, as raw"],
)
def test_spawn_on_a_base_image_naming_a_host_file_is_refused_before_any_domain(
    driver: LibvirtDriver, workdir: Path, created: list[str], label: str
) -> None:
    # Issue 11: the base of a root disk is tenant data; QEMU would follow its backing or data file at boot and the
    # guest would read the host file. The driver inspects it and refuses before qemu-img or libvirt sees it.
    directory = Path(tempfile.mkdtemp(prefix="hostile-", dir=workdir))
    directory.chmod(0o755)
    canary = make_canary(directory)
    base, claim = hostile_images(directory, canary)[label]
    base.chmod(0o644)
    spec = dataclasses.replace(new_spec(created, base, "e2e-hostile"), base_image_format=claim)
    with pytest.raises(DriverError, match=r"self-contained|text descriptor"):
        driver.spawn(spec)
    assert f"stratus-{spec.uuid}" not in all_domain_names()
    assert not driver.instance_dir(spec.uuid).exists()


# ---------------------------------------------------------------------------------------------------------------
# libvirtd restarts under a running driver.


def libvirtd_pid() -> int | None:
    result = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True, timeout=10, check=False)
    pids = result.stdout.split()
    return int(pids[0]) if pids else None


def wait_for_libvirtd(timeout: float = 30.0) -> None:
    wait_until(
        lambda: subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True, timeout=30),
        timeout,
        interval=0.2,
        message="libvirtd did not answer after its start",
        until=lambda version: version.returncode == 0,
    )


@pytest.fixture
def restartable_libvirtd(libvirtd: str, libvirtd_gate: LibvirtdGate) -> Iterator[None]:
    """libvirtd to this test alone (no other worker's guests meanwhile), running again after the test, whatever
    the test did to it."""
    with libvirtd_gate.alone():
        yield
        if libvirtd_pid() is None:
            subprocess.run(["bash", str(REPO / "deploy" / "start-system-services.sh")], timeout=60, check=False)
        wait_for_libvirtd()


def restart_libvirtd() -> None:
    pid = libvirtd_pid()
    assert pid is not None, "libvirtd is not running"
    os.kill(pid, signal.SIGTERM)
    gone = lambda: not Path(f"/proc/{pid}").exists()  # noqa: E731
    try:
        wait_until(gone, 30, interval=0.05, message="libvirtd ignored SIGTERM")
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_until(gone, 30, interval=0.05, message="libvirtd outlived SIGKILL")
    subprocess.run(["libvirtd", "-d"], check=True, timeout=30)
    wait_for_libvirtd()


@pytest.mark.timeout(1200)  # it waits for the guest modules running on other workers
def test_driver_reconnects_after_libvirtd_restarts(
    driver: LibvirtDriver, base_image: Path, created: list[str], restartable_libvirtd: None
) -> None:
    spec = new_spec(created, base_image, "e2e-restart")
    driver.spawn(spec)  # running is enough; no need to wait for the guest's boot
    assert driver.get_info(spec.uuid).power_state == PowerState.RUNNING
    old_connection = driver.host.connection()

    restart_libvirtd()
    assert driver.get_info(spec.uuid).power_state == PowerState.RUNNING  # the guest outlived its manager
    assert spec.uuid in [info.uuid for info in driver.list_instances()]
    assert driver.host.connection() is not old_connection

    restart_libvirtd()
    driver.pause(spec.uuid)  # an action, too, on the new connection
    assert domstate(spec.uuid) == "paused"
    driver.destroy(spec.uuid)
    assert f"stratus-{spec.uuid}" not in all_domain_names()


# ---------------------------------------------------------------------------------------------------------------
# Resize in place (revert, then again and confirm) and rebuild, on one guest.


def domain_size(uuid: str) -> tuple[int, int]:
    """(vCPUs, MiB of memory) in the domain's persistent definition."""
    root = ET.fromstring(virsh("dumpxml", "--inactive", f"stratus-{uuid}"))
    memory = root.find("memory")
    assert memory is not None and memory.get("unit", "KiB") == "KiB"
    return int(root.findtext("vcpu") or 0), int(memory.text or 0) // 1024


def test_resize_revert_confirm_and_rebuild(driver: LibvirtDriver, base_image: Path, created: list[str]) -> None:
    spec = new_spec(created, base_image, "e2e-resize")
    uuid, disk = spec.uuid, driver.instance_dir(spec.uuid) / "disk"
    driver.spawn(spec)
    wait_for_ready(driver, uuid, 1)
    bigger = dataclasses.replace(spec, vcpus=2, memory_mb=256, root_gb=2)

    driver.resize(bigger)
    assert domain_size(uuid) == (2, 256) and qemu_img_info(disk)["virtual-size"] == 2 << 30
    assert domstate(uuid) == "running"
    assert "reboot: Power down" in driver.get_console_output(uuid)  # shut down by the guest, not cut off
    started = time.monotonic()
    driver.resize(bigger)  # redelivered: nothing more happens (no second shutdown)
    assert domain_size(uuid) == (2, 256) and time.monotonic() - started < 5
    wait_for_ready(driver, uuid, 2)

    driver.revert_resize(uuid)
    assert domain_size(uuid) == (1, 192) and qemu_img_info(disk)["virtual-size"] == 1 << 30
    assert domstate(uuid) == "running"
    assert not (driver.instance_dir(uuid) / "resize-backup").exists()
    driver.revert_resize(uuid)  # nothing pending: nothing happens

    wait_for_ready(driver, uuid, 3)  # booted again after the revert
    driver.resize(bigger)
    driver.confirm_resize(uuid)
    assert domain_size(uuid) == (2, 256) and qemu_img_info(disk)["virtual-size"] == 2 << 30
    assert sorted(p.name for p in driver.instance_dir(uuid).iterdir()) == ["console.log", "disk", "disk.config"]

    drive = dataclasses.replace(spec.config_drive, meta_data={**spec.config_drive.meta_data, "hostname": "e2e-rebuilt"})
    driver.rebuild(dataclasses.replace(bigger, config_drive=drive))
    assert domain_size(uuid) == (2, 256)
    wait_until(
        lambda: driver.get_console_output(uuid),
        BOOT_TIMEOUT,
        interval=0.2,
        message="the rebuilt guest did not come up with its new config drive",
        until=lambda console: markers.READY_RE.findall(console)[-1:] == ["e2e-rebuilt"],
    )
    assert qemu_img_info(disk)["backing-filename"] == str(base_image)  # a fresh overlay on the image
    driver.destroy(uuid)
    assert f"stratus-{uuid}" not in all_domain_names()


# ---------------------------------------------------------------------------------------------------------------
# A snapshot of an attached volume: the host's copy at one instant while the guest runs (libvirt's push backup).

VOLUME_ID = "5e1d7c3a-2b4f-4a6e-9c8d-0f1e2d3c4b5a"


def raw_head(image: Path, length: int = 512) -> bytes:
    """The first ``length`` bytes the guest sees of a qcow2 (read by qemu-img from a copy nobody holds)."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as scratch:
        raw = Path(scratch) / "head.raw"
        command = ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(image), str(raw)]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        with raw.open("rb") as data:
            return data.read(length)


def test_an_attached_volumes_snapshot_holds_the_write_before_it_and_not_the_one_after(
    libvirtd: str, base_image: Path, workdir: Path, created: list[str]
) -> None:
    volumes = workdir / "volumes"
    volumes.mkdir(mode=0o711)
    settings = Settings(libvirt_uri=libvirtd, instances_path=str(workdir / "instances"), volume_dir=str(volumes))
    driver = LibvirtDriver(settings, soft_reboot_timeout=60)
    driver.init_host("e2e")
    volume = volumes / f"volume-{VOLUME_ID}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(volume), "256M"], check=True, timeout=60)
    # Data beyond what the guest writes, so a copy takes long enough to be caught running.
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 255M", str(volume)], check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    spec = new_spec(created, base_image, "e2e-snap")
    uuid = spec.uuid
    driver.spawn(spec)
    shell = Guest("e2e-snap", uuid, "e2e", "", "", "", "", driver.instance_dir(uuid) / "console.log")
    shell.wait_for_shell(BOOT_TIMEOUT)
    driver.attach_volume(uuid, VolumeConnection("file", path=volume, format="qcow2"), "vdb", VOLUME_ID)
    wait_until(lambda: shell.run("test -b /dev/vdb")[0] == 0, 30, interval=1, message="the guest has no /dev/vdb")

    def guest_writes(pattern: str) -> None:
        rc, out = shell.run(f"echo {pattern} | dd of=/dev/vdb bs=512 count=1 conv=sync,fsync 2>&1")
        assert rc == 0, out

    def target(snapshot_id: str) -> VolumeConnection:
        return VolumeConnection("file", path=volumes / f"snapshot-{snapshot_id}.qcow2", format="qcow2")

    def leftovers() -> list[str]:
        return sorted(p.name for p in volumes.iterdir() if p.name != volume.name)

    guest_writes("BEFORE-SNAPSHOT")
    # A copy cut off by its time limit is cancelled and leaves no file; so does one the host must refuse.
    with pytest.raises(DriverError, match="did not finish within 0 s"):
        driver.snapshot_volume(uuid, "vdb", VOLUME_ID, target("00000000-0000-4000-8000-00000000000a"), timeout=0)
    with pytest.raises(InvalidConnection):
        outside = VolumeConnection("file", path=workdir / "snapshot-x.qcow2", format="qcow2")
        driver.snapshot_volume(uuid, "vdb", VOLUME_ID, outside)
    with pytest.raises(DriverError, match="has no volume"):
        driver.snapshot_volume(uuid, "vdb", "00000000-0000-4000-8000-00000000000b", target("b"))
    assert leftovers() == [] and not (workdir / "snapshot-x.qcow2").exists()

    snapshot_id = "00000000-0000-4000-8000-00000000000c"
    started = time.monotonic()
    driver.snapshot_volume(uuid, "vdb", VOLUME_ID, target(snapshot_id))
    took = time.monotonic() - started
    assert domstate(uuid) == "running"  # never paused: the guest wrote on
    guest_writes("AFTER-SNAPSHOT")
    copy = volumes / f"snapshot-{snapshot_id}.qcow2"
    driver.snapshot_volume(uuid, "vdb", VOLUME_ID, target(snapshot_id))  # redelivered: the finished copy stays

    assert leftovers() == [copy.name]
    info = qemu_img_info(copy)
    assert info["format"] == "qcow2" and "backing-filename" not in info and info["virtual-size"] == 256 << 20
    assert copy.stat().st_mode & 0o777 == 0o600
    head = raw_head(copy)
    assert head.startswith(b"BEFORE-SNAPSHOT\n") and b"AFTER" not in head
    rc, out = shell.run("dd if=/dev/vdb bs=512 count=1 2>/dev/null | head -n 1")
    assert (rc, out.strip()) == (0, "AFTER-SNAPSHOT")  # the volume itself went on
    driver.destroy(uuid)
    assert raw_head(volume).startswith(b"AFTER-SNAPSHOT\n")
    print(f"\n  snapshot of a 256 MiB volume (255 MiB of data) while the guest ran: {took:.1f} s")


# ---------------------------------------------------------------------------------------------------------------
# Rescue: the rescue disk boots first, the guest's own root disk is vdb; unrescue boots the own disk again.


def test_rescue_boots_the_rescue_disk_first_and_unrescue_the_own_disk_again(
    driver: LibvirtDriver, base_image: Path, created: list[str]
) -> None:
    spec = new_spec(created, base_image, "e2e-rescue")
    uuid, directory = spec.uuid, driver.instance_dir(spec.uuid)
    driver.spawn(spec)
    wait_for_ready(driver, uuid, 1)

    driver.rescue(spec, base_image, "qcow2")
    definition = virsh("dumpxml", "--inactive", f"stratus-{uuid}")
    assert config.disk_path(definition, "vda") == directory / "disk.rescue"
    assert config.disk_path(definition, "vdb") == directory / "disk"
    assert domstate(uuid) == "running"
    wait_for_ready(driver, uuid, 2)  # the rescue system booted
    driver.rescue(spec, base_image, "qcow2")  # redelivered: nothing more happens
    assert config.disk_path(virsh("dumpxml", "--inactive", f"stratus-{uuid}"), "vda") == directory / "disk.rescue"

    driver.unrescue(uuid)
    definition = virsh("dumpxml", "--inactive", f"stratus-{uuid}")
    assert config.disk_path(definition, "vda") == directory / "disk"
    assert config.disk_element(definition, "vdb") is None
    assert not (directory / "disk.rescue").exists() and not (directory / "unrescue.xml").exists()
    assert domstate(uuid) == "running"
    wait_for_ready(driver, uuid, 3)
    driver.unrescue(uuid)  # not rescued: nothing happens
    driver.destroy(uuid)


def test_a_nic_is_hot_plugged_counted_in_the_diagnostics_and_unplugged(
    driver: LibvirtDriver, base_image: Path, created: list[str]
) -> None:
    """os-interface's host side with a real guest: the NIC appears in the running guest and its definition, the
    diagnostics read its counters, and the unplug waits until the guest let it go."""
    spec = new_spec(created, base_image, "e2e-nic")
    uuid = spec.uuid
    driver.spawn(spec)
    shell = Guest("e2e-nic", uuid, "e2e", "", "", "", "", driver.instance_dir(uuid) / "console.log")
    shell.wait_for_shell(BOOT_TIMEOUT)
    nics_before = shell.run("ls /sys/class/net | wc -l")[1].strip()
    nic = Nic(mac="fa:16:3e:e2:e2:01", tap=f"tap{uuid[:11]}", mtu=1500, port_id="e2e-port")
    driver.attach_interface(uuid, nic)
    driver.attach_interface(uuid, nic)  # redelivered: still one NIC
    assert [m for m, _ in config.interfaces(virsh("dumpxml", "--inactive", f"stratus-{uuid}"))] == [nic.mac]
    wait_until(
        lambda: shell.run("ls /sys/class/net | wc -l")[1].strip(),
        30,
        interval=1,
        message="the guest never saw the new NIC",
        until=lambda count: count == str(int(nics_before) + 1),
    )
    diagnostics = driver.get_diagnostics(uuid)
    assert diagnostics.state == "running" and [n["mac_address"] for n in diagnostics.nic_details] == [nic.mac]
    assert diagnostics.nic_details[0]["rx_octets"] is not None and diagnostics.cpu_details[0]["time"] > 0
    driver.detach_interface(uuid, nic.mac, timeout=60)
    assert config.interfaces(virsh("dumpxml", f"stratus-{uuid}")) == []
    assert config.interfaces(virsh("dumpxml", "--inactive", f"stratus-{uuid}")) == []
    assert shell.run("ls /sys/class/net | wc -l")[1].strip() == nics_before
    driver.destroy(uuid)
