"""LibvirtDriver's orchestration (idempotency, state checks, cleanup) against libvirt's in-process test driver.

``test:///<node.xml>`` is a hypervisor simulated inside libvirt itself: domains are defined, started, paused and
managed-saved in memory, instantly, with no daemon and no QEMU. Disks and config drives are still real files.
What only a real QEMU can show (consoles, ACPI, taps, snapshots of a live guest) is in tests/e2e.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from common.settings import Settings
from compute.host.virt.base import (
    ConfigDrive,
    ConsoleKind,
    ConsoleUnavailable,
    DriverError,
    InstanceNotFound,
    InstanceSpec,
    PowerState,
)
from compute.host.virt.libvirt import config
from compute.host.virt.libvirt.driver import LibvirtDriver, canonical_uuid
from compute.host.virt.libvirt.host import Host

UUID = "0d8e5f2a-1c3b-4e6f-8a9b-7c6d5e4f3a21"
OTHER = "9f0e1d2c-3b4a-4958-8776-655443322110"


@pytest.fixture
def base(tmp_path: Path) -> Path:
    image = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True, timeout=60)
    return image


@pytest.fixture
def driver(tmp_path: Path) -> LibvirtDriver:
    node = tmp_path / "node.xml"
    node.write_text("<node/>\n")  # an empty simulated host; each test gets its own
    host = Host(f"test://{node}", virt_type="qemu")
    driver = LibvirtDriver(Settings(instances_path=str(tmp_path / "instances")), host, soft_reboot_timeout=5)
    driver.init_host("unit")
    return driver


def spec(base: Path, uuid: str = UUID, **changes: object) -> InstanceSpec:
    values: dict[str, object] = {
        "uuid": uuid,
        "name": "vm",
        "vcpus": 1,
        "memory_mb": 128,
        "root_gb": 1,
        "base_image": base,
        "base_image_format": "qcow2",
        "config_drive": ConfigDrive(meta_data={"hostname": "vm"}),
    }
    values.update(changes)
    return InstanceSpec(**values)  # type: ignore[arg-type]


def state(driver: LibvirtDriver, uuid: str = UUID) -> PowerState:
    return driver.get_info(uuid).power_state


def test_spawn_creates_files_and_a_running_domain(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    assert state(driver) == PowerState.RUNNING
    directory = driver.instance_dir(UUID)
    assert sorted(p.name for p in directory.iterdir()) == ["disk", "disk.config"]
    assert directory.stat().st_mode & 0o777 == 0o755
    assert driver.list_instances()[0].uuid == UUID


def test_spawn_is_idempotent(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    disk = driver.instance_dir(UUID) / "disk"
    before = disk.stat().st_mtime_ns
    driver.spawn(spec(base))  # running: left alone
    assert state(driver) == PowerState.RUNNING and disk.stat().st_mtime_ns == before
    driver.power_off(UUID, timeout=0)
    driver.spawn(spec(base))  # defined but stopped: started
    assert state(driver) == PowerState.RUNNING


def test_failed_spawn_leaves_nothing(driver: LibvirtDriver, base: Path, tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="missing"):
        driver.spawn(spec(base, base_image=tmp_path / "gone.qcow2"))
    big = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), "3G"], check=True, timeout=60)
    with pytest.raises(DriverError, match="smaller than the image"):
        driver.spawn(spec(big, root_gb=1))
    assert driver.list_instances() == []
    assert list(driver.instances_path.iterdir()) == []


def test_destroy_is_idempotent_and_removes_everything(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    driver.suspend(UUID)  # a managed-save image must not block undefine
    driver.destroy(UUID)
    driver.destroy(UUID)
    assert driver.list_instances() == []
    assert not driver.instance_dir(UUID).exists()
    with pytest.raises(InstanceNotFound):
        driver.get_info(UUID)


def test_destroy_removes_a_directory_left_without_a_domain(driver: LibvirtDriver) -> None:
    directory = driver.instance_dir(UUID)
    directory.mkdir(parents=True)
    (directory / "disk").write_bytes(b"half made")
    driver.destroy(UUID)
    assert not directory.exists()


def test_power_cycle_pause_and_suspend(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    driver.power_off(UUID, timeout=5)
    driver.power_off(UUID, timeout=5)
    assert state(driver) == PowerState.SHUTDOWN
    driver.power_on(UUID)
    driver.power_on(UUID)
    assert state(driver) == PowerState.RUNNING
    driver.pause(UUID)
    driver.pause(UUID)
    assert state(driver) == PowerState.PAUSED
    driver.unpause(UUID)
    driver.unpause(UUID)
    assert state(driver) == PowerState.RUNNING
    driver.suspend(UUID)
    driver.suspend(UUID)
    assert state(driver) == PowerState.SUSPENDED
    driver.resume(UUID)
    driver.resume(UUID)
    assert state(driver) == PowerState.RUNNING


def test_reboots_end_running(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    driver.reboot(UUID, hard=False)
    assert state(driver) == PowerState.RUNNING
    driver.pause(UUID)
    driver.reboot(UUID, hard=True)
    assert state(driver) == PowerState.RUNNING
    driver.suspend(UUID)
    driver.reboot(UUID, hard=True)  # the saved memory is discarded: a fresh boot
    assert state(driver) == PowerState.RUNNING


def test_power_off_discards_a_suspended_guests_memory(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    driver.suspend(UUID)
    driver.power_off(UUID)
    assert state(driver) == PowerState.SHUTDOWN


def test_operations_that_do_not_fit_the_state_are_refused(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    driver.power_off(UUID, timeout=0)
    for operation in (driver.pause, driver.unpause, driver.suspend, driver.resume):
        with pytest.raises(DriverError, match="SHUTDOWN"):
            operation(UUID)


def test_missing_instances_are_not_found(driver: LibvirtDriver) -> None:
    for operation in (driver.power_on, driver.pause, driver.get_info, driver.get_console_output):
        with pytest.raises(InstanceNotFound):
            operation(UUID)
    with pytest.raises(InstanceNotFound):
        driver.snapshot(UUID, driver.instances_path / "snap.qcow2")


def test_snapshot_of_a_stopped_guest(driver: LibvirtDriver, base: Path, tmp_path: Path) -> None:
    driver.spawn(spec(base))
    driver.power_off(UUID, timeout=0)
    driver.snapshot(UUID, tmp_path / "out" / "snap.qcow2")
    assert (tmp_path / "out" / "snap.qcow2").is_file()
    assert state(driver) == PowerState.SHUTDOWN


FOREIGN = (
    "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory>1024</memory><os><type>hvm</type></os></domain>"
)


def test_list_instances_ignores_foreign_domains(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    # one named like ours but without our metadata element, one named otherwise: neither is ours
    driver.host.call(lambda conn: conn.defineXML(FOREIGN.format(name=config.domain_name(OTHER), uuid=OTHER)))
    driver.host.call(lambda conn: conn.defineXML(FOREIGN.format(name="unrelated", uuid=OTHER[:-1] + "1")))
    assert [info.uuid for info in driver.list_instances()] == [UUID]


def test_console_output_is_the_tail(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    assert driver.get_console_output(UUID) == ""  # the test hypervisor writes no console
    (driver.instance_dir(UUID) / "console.log").write_bytes(b"boot\nSTRATUS-READY hostname=vm\r\n\xff")
    assert driver.get_console_output(UUID, max_bytes=10) == "name=vm\r\n\ufffd"  # bytes, not characters


@pytest.mark.parametrize("bad", ["../../etc", "", "0d8e5f2a", f"{UUID}/..", None])
def test_instance_uuids_are_checked(bad: object) -> None:
    with pytest.raises(DriverError, match="invalid instance uuid"):
        canonical_uuid(bad)  # type: ignore[arg-type]


def test_uuids_are_canonicalised(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base, uuid=UUID.upper()))
    assert driver.get_info(UUID.upper()).uuid == UUID
    assert driver.instance_dir(UUID.upper()).name == UUID


def test_host_resources(driver: LibvirtDriver) -> None:
    resources = driver.get_host_resources()
    assert resources.vcpus > 0 and resources.memory_mb > 0 and resources.disk_gb > 0
    assert resources.hypervisor_type == "QEMU"


def test_each_guest_gets_its_own_serial_port_read_back_by_get_console(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    driver.spawn(spec(base, OTHER))
    first = driver.get_console(UUID, ConsoleKind.SERIAL)
    second = driver.get_console(OTHER, ConsoleKind.SERIAL)
    assert first.host == second.host == "127.0.0.1"
    assert first.port != second.port
    assert {first.port, second.port} <= set(range(10000, 20001))
    assert first.kind is ConsoleKind.SERIAL


def test_a_new_guest_never_takes_a_stopped_guests_serial_port(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    port = driver.get_console(UUID, ConsoleKind.SERIAL).port
    driver.power_off(UUID, timeout=0)
    taken = [config.serial_tcp_port(driver._guest(UUID).xml())]
    for _ in range(3):
        other = spec(base, str(uuid.uuid4()))
        driver.spawn(other)
        taken.append(driver.get_console(other.uuid, ConsoleKind.SERIAL).port)
    assert taken[0] == port and len(set(taken)) == len(taken)


def test_a_stopped_guest_has_no_console(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    driver.power_off(UUID, timeout=0)
    with pytest.raises(ConsoleUnavailable, match="not running"):
        driver.get_console(UUID, ConsoleKind.SERIAL)
    with pytest.raises(InstanceNotFound):
        driver.get_console(OTHER, ConsoleKind.VNC)


def test_resize_keeps_the_serial_port(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base))
    port = driver.get_console(UUID, ConsoleKind.SERIAL).port
    driver.resize(spec(base, memory_mb=256, root_gb=2))
    assert driver.get_console(UUID, ConsoleKind.SERIAL).port == port


def test_rescue_boots_the_rescue_disk_first_and_unrescue_restores_the_definition(
    driver: LibvirtDriver, base: Path
) -> None:
    driver.spawn(spec(base))
    directory = driver.instance_dir(UUID)
    before = driver._guest(UUID).xml(inactive=True)
    driver.rescue(spec(base), base, "qcow2")
    rescued = driver._guest(UUID).xml(inactive=True)
    assert config.disk_path(rescued, "vda") == directory / "disk.rescue"
    assert config.disk_path(rescued, "vdb") == directory / "disk"
    assert config.disk_path(rescued, "hda") == directory / "disk.config"
    assert config.serial_tcp_port(rescued) == config.serial_tcp_port(before)
    assert state(driver) == PowerState.RUNNING
    driver.rescue(spec(base), base, "qcow2")  # redelivered: the same rescue, nothing lost
    assert (directory / "unrescue.xml").read_text() == before

    driver.unrescue(UUID)
    after = driver._guest(UUID).xml(inactive=True)
    assert config.disk_path(after, "vda") == directory / "disk" and config.disk_element(after, "vdb") is None
    assert not (directory / "disk.rescue").exists() and not (directory / "unrescue.xml").exists()
    assert state(driver) == PowerState.RUNNING
    driver.unrescue(UUID)  # not rescued: nothing happens
    with pytest.raises(InstanceNotFound):
        driver.unrescue(OTHER)


def test_a_failed_rescue_leaves_the_guest_as_it_was(driver: LibvirtDriver, base: Path, tmp_path: Path) -> None:
    driver.spawn(spec(base))
    before = driver._guest(UUID).xml(inactive=True)
    with pytest.raises(DriverError):
        driver.rescue(spec(base), tmp_path / "no-such-image.qcow2", "qcow2")
    assert config.disk_path(driver._guest(UUID).xml(inactive=True), "vda") == config.disk_path(before, "vda")
    assert not (driver.instance_dir(UUID) / "unrescue.xml").exists()
    assert state(driver) == PowerState.RUNNING
