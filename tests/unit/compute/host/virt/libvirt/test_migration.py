"""Moves between hosts in the libvirt driver: the migration's flags and parameters, the destination XML, and the
driver's move calls against libvirt's in-process test driver (two ``test:///`` hypervisors stand for two hosts).

The test driver migrates nothing and uploads nothing, which is what the failure tests need: libvirt refusing a
step must come back as a DriverError with the guest still running where it was. Real migrations between two
libvirtds are in tests/e2e/compute/test_libvirt_migration.py.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import libvirt
import pytest

from common.settings import Settings
from compute.host.virt.base import (
    ConfigDrive,
    DriverError,
    InstanceNotFound,
    InstanceSpec,
    MigrationAborted,
    MigrationStats,
    MigrationTarget,
    PowerState,
)
from compute.host.virt.libvirt import config, migration, peers
from compute.host.virt.libvirt.ceph_secret import CephSecret
from compute.host.virt.libvirt.driver import RBD_MARKER, LibvirtDriver
from compute.host.virt.libvirt.guest import Guest
from compute.host.virt.libvirt.host import Host
from tests.unit.compute.host.virt.libvirt.test_rbd_root import PARENT, SECRET, RecordingDisks

UUID = "0d8e5f2a-1c3b-4e6f-8a9b-7c6d5e4f3a21"
TARGET = MigrationTarget(host="host-b", address="198.18.0.12")


# ---------------------------------------------------------------------------------------------------------------
# Flags, URIs and parameters.


def test_a_live_migration_is_peer_to_peer_and_persistent_and_forgets_the_source() -> None:
    flags = migration.live_flags(copy_disks=False, native_tls=False)
    for flag in (libvirt.VIR_MIGRATE_LIVE, libvirt.VIR_MIGRATE_PEER2PEER, libvirt.VIR_MIGRATE_PERSIST_DEST,
                 libvirt.VIR_MIGRATE_UNDEFINE_SOURCE):  # fmt: skip
        assert flags & flag
    assert not flags & (libvirt.VIR_MIGRATE_NON_SHARED_INC | libvirt.VIR_MIGRATE_NON_SHARED_DISK)
    assert not flags & (libvirt.VIR_MIGRATE_TLS | libvirt.VIR_MIGRATE_UNSAFE | libvirt.VIR_MIGRATE_TUNNELLED)


def test_local_disks_are_copied_incrementally_over_their_base() -> None:
    flags = migration.live_flags(copy_disks=True, native_tls=False)
    assert flags & libvirt.VIR_MIGRATE_NON_SHARED_INC
    assert not flags & libvirt.VIR_MIGRATE_NON_SHARED_DISK  # the target has the base: only the overlay travels


def test_only_volumes_of_the_shared_file_store_opened_without_cache_make_a_migration_unsafe(tmp_path: Path) -> None:
    store = tmp_path / "volumes"
    disk = "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='{cache}'/><source file='{path}'/>" \
           "<target dev='{dev}' bus='virtio'/>{ro}</disk>"  # fmt: skip
    disks = [
        disk.format(cache="none", path=store / "volume-1", dev="vdb", ro=""),
        disk.format(cache="writeback", path=store / "volume-2", dev="vdc", ro=""),  # cached: never declared safe
        disk.format(cache="none", path=tmp_path / "instances" / "disk", dev="vda", ro=""),  # local: copied
        disk.format(cache="none", path=store / "volume-3", dev="vdd", ro="<readonly/>"),
    ]
    xml = f"<domain><devices>{''.join(disks)}</devices></domain>"
    assert migration.shared_file_volumes(xml, store) == ["vdb"]
    assert migration.live_flags(False, False, shared_files=True) & libvirt.VIR_MIGRATE_UNSAFE


def test_native_tls_is_on_by_default_and_asks_libvirt_for_qemus_tls() -> None:
    assert Settings().live_migration_with_native_tls and Settings().qemu_tls_dir == "/etc/pki/qemu"
    assert migration.live_flags(copy_disks=True, native_tls=True) & libvirt.VIR_MIGRATE_TLS
    assert not migration.live_flags(copy_disks=True, native_tls=False) & libvirt.VIR_MIGRATE_TLS


def test_qemus_tls_files_are_checked_one_by_one(tmp_path: Path) -> None:
    for name in migration.QEMU_TLS_FILES:
        (tmp_path / name).write_text("x")
    migration.check_native_tls(tmp_path, "host-a")
    (tmp_path / "client-key.pem").unlink()
    (tmp_path / "ca-cert.pem").unlink()
    (tmp_path / "ca-cert.pem").mkdir()  # not a file QEMU can read
    with pytest.raises(migration.NativeTlsUnavailable, match=r"missing on host-a \(ca-cert.pem, client-key.pem in"):
        migration.check_native_tls(tmp_path, "host-a")


def test_a_tls_refusal_of_libvirt_gets_a_hint_and_other_failures_do_not() -> None:
    refused = "internal error: unable to execute QEMU command 'object-add': Unable to access credentials"
    assert "live_migration_with_native_tls = false" in migration.tls_failure_hint(refused)
    assert migration.tls_failure_hint("operation failed: migration out job: unexpectedly failed") == ""


def test_uris_name_the_targets_underlay_address() -> None:
    assert migration.connection_uri("qemu+tls://{address}/system", TARGET) == "qemu+tls://198.18.0.12/system"
    assert migration.stream_uri(TARGET) == "tcp://198.18.0.12"
    v6 = MigrationTarget("host-c", "fd00::c")
    assert migration.connection_uri("qemu+tcp://{address}/system", v6) == "qemu+tcp://[fd00::c]/system"
    assert migration.stream_uri(v6) == "tcp://[fd00::c]"


@pytest.mark.parametrize("address", ["host-b", "198.18.0.12/system?x=1", "", "1.2.3.4 --evil", "[fd00::1]"])
def test_a_target_address_must_be_an_ip_literal(address: str) -> None:
    with pytest.raises(migration.InvalidTarget):
        migration.connection_uri("qemu+tls://{address}/system", MigrationTarget("h", address))


def test_parameters_send_both_streams_to_the_target_and_copy_only_the_named_disks() -> None:
    params = migration.live_params(TARGET, "<live/>", "<persistent/>", ["vda"])
    assert params == {
        libvirt.VIR_MIGRATE_PARAM_URI: "tcp://198.18.0.12",
        libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS: "198.18.0.12",
        libvirt.VIR_MIGRATE_PARAM_DEST_XML: "<live/>",
        libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: "<persistent/>",
        libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: ["vda"],
    }
    assert libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS not in migration.live_params(TARGET, "<l/>", "<p/>", [])


def test_job_figures_and_the_downtime_of_a_completed_job() -> None:
    running = {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED, "memory_total": 100, "memory_processed": 40,
               "memory_remaining": 60, "disk_total": 10, "disk_processed": 5, "disk_remaining": 5,
               "time_elapsed": 1500, "downtime": 300}  # fmt: skip
    assert migration.job_stats(running) == MigrationStats(100, 40, 60, 10, 5, 5, 1500, None)  # expected, not yet
    assert migration.job_stats(running, completed=True).downtime_ms == 300
    assert migration.job_stats({}) == MigrationStats()


def test_only_an_outgoing_migration_is_a_migration_job() -> None:
    out = {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED, "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT}
    backup = {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED, "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP}
    assert migration.is_outgoing_migration(out)
    assert not migration.is_outgoing_migration(backup)  # a volume snapshot's copy is never aborted by a move
    assert not migration.is_outgoing_migration({"type": libvirt.VIR_DOMAIN_JOB_NONE})


# ---------------------------------------------------------------------------------------------------------------
# The destination XML.


def _domain(directory: Path, host: str, port: int, incoming: bool = False, listen: str = "127.0.0.1") -> str:
    return config.domain_xml(
        config.DomainConfig(
            uuid=UUID,
            display_name="vm",
            virt_type="qemu",
            memory_mb=128,
            vcpus=1,
            console_log=directory / "console.log",
            host=host,
            disks=(
                config.DiskConfig(directory / "disk", "vda", "virtio"),
                config.DiskConfig(directory / "disk.config", "hda", "ide", "cdrom", "raw", readonly=True),
                config.DiskConfig(
                    Path("/srv/volumes/v1"), "vdb", "virtio", serial="9f0e1d2c-3b4a-4958-8776-655443322110"
                ),
            ),
            interfaces=(config.InterfaceConfig("52:54:00:00:00:01", "tap1", 1450, bridge="qbr1"),),
            serial_port=port,
            console_listen=listen,
            incoming=incoming,
        )
    )


def _without(xml: str) -> str:
    """The document with what a migration may change blanked out."""
    root = ET.fromstring(xml)
    for element in root.iter():
        for name in ("file", "service", "host", "listen", "address"):
            if name in element.attrib:
                element.set(name, "-")
        if element.tag == f"{{{config.NAMESPACE}}}host":
            element.text = "-"
    return ET.tostring(root, encoding="unicode")


def test_the_destination_xml_takes_only_ports_paths_and_host_from_the_target() -> None:
    source = _domain(Path("/a/instances") / UUID, "host-a", 10001)
    target = _domain(Path("/b/instances") / UUID, "host-b", 10002, incoming=True)
    moved = migration.destination_xml(source, target)
    assert config.serial_tcp_port(moved) == 10002
    assert config.disk_path(moved, "vda") == Path("/b/instances") / UUID / "disk"
    assert config.disk_path(moved, "hda") == Path("/b/instances") / UUID / "disk.config"
    assert config.disk_path(moved, "vdb") == Path("/srv/volumes/v1")
    assert ET.fromstring(moved).find("./devices/serial/log").get("file") == f"/b/instances/{UUID}/console.log"
    metadata = ET.tostring(ET.fromstring(moved).find("./metadata")[0], encoding="unicode")
    assert config.metadata_host(metadata) == "host-b"
    assert not config.is_incoming(metadata)  # the guest's own definition: listed on the target once it is there
    assert _without(moved) == _without(source)  # nothing else: the guest's ABI is the same


def test_consoles_listen_on_the_targets_address_in_the_destination_xml() -> None:
    source = _domain(Path("/a") / UUID, "host-a", 10001, listen="198.18.0.11")  # each host's own address
    moved = migration.destination_xml(source, _domain(Path("/b") / UUID, "host-b", 10002, listen="198.18.0.12"))
    assert config.console_listen(moved, "serial") == "198.18.0.12"
    assert config.console_listen(moved, "vnc") == "198.18.0.12"
    listen = ET.fromstring(moved).find("./devices/graphics/listen")
    assert listen is not None and listen.get("address") == "198.18.0.12"
    assert "198.18.0.11" not in moved


def test_the_live_xmls_console_mirror_of_the_serial_port_moves_with_it() -> None:
    root = ET.fromstring(_domain(Path("/a") / UUID, "host-a", 10001))
    devices = root.find("devices")
    console = ET.SubElement(devices, "console", type="tcp")
    ET.SubElement(console, "source", mode="bind", host="127.0.0.1", service="10001")
    ET.SubElement(console, "log", file=f"/a/{UUID}/console.log")
    moved = migration.destination_xml(ET.tostring(root, encoding="unicode"), _domain(Path("/b") / UUID, "b", 10002))
    mirror = ET.fromstring(moved).find("./devices/console")
    assert mirror.find("source").get("service") == "10002"
    assert mirror.find("log").get("file") == f"/b/{UUID}/console.log"


def test_a_destination_xml_is_refused_for_another_guest_or_a_missing_disk() -> None:
    source = _domain(Path("/a") / UUID, "host-a", 10001)
    other = _domain(Path("/b") / UUID, "host-b", 10002).replace(UUID, "9f0e1d2c-3b4a-4958-8776-655443322110")
    with pytest.raises(DriverError, match="another guest"):
        migration.destination_xml(source, other)
    root = ET.fromstring(_domain(Path("/b") / UUID, "host-b", 10002))
    devices = root.find("devices")
    devices.remove(devices.find("disk"))
    with pytest.raises(DriverError, match="no file for the guest's disk vda"):
        migration.destination_xml(source, ET.tostring(root, encoding="unicode"))


def test_only_the_writable_disks_of_the_instance_directory_are_copied() -> None:
    directory = Path("/a/instances") / UUID
    assert migration.local_disks(_domain(directory, "a", 10001), directory) == ["vda"]
    assert migration.local_disks(_domain(directory, "a", 10001), Path("/elsewhere")) == []


# ---------------------------------------------------------------------------------------------------------------
# The driver's move calls: two test:/// hypervisors.


class Borrowed(Host):
    """The target's own connection, as the source's agent would open one of its own (closing it keeps it open:
    a test:/// hypervisor lives only as long as its connection)."""

    def __init__(self, other: Host) -> None:
        super().__init__(other.uri, "qemu", opener=lambda _uri: other.connection())

    def close(self) -> None:
        pass


def _settings(tmp_path: Path, name: str, **changes: Any) -> Settings:
    """A host's settings, its QEMU TLS files in place (the test hypervisor reads none: their presence is checked)."""
    qemu = tmp_path / name / "pki-qemu"
    qemu.mkdir(parents=True, exist_ok=True)
    for file in migration.QEMU_TLS_FILES:
        (qemu / file).write_text("x")
    return Settings(instances_path=str(tmp_path / name / "instances"), qemu_tls_dir=str(qemu), **changes)


def _driver(tmp_path: Path, name: str, **changes: Any) -> LibvirtDriver:
    node = tmp_path / f"{name}.xml"
    node.write_text("<node/>\n")
    settings = _settings(tmp_path, name, **changes)
    driver = LibvirtDriver(settings, Host(f"test://{node}", virt_type="qemu"), soft_reboot_timeout=1,
                           migration_uri="qemu+tcp://{address}/system", migration_poll_interval=0.05)  # fmt: skip
    driver.init_host(name)
    return driver


@pytest.fixture
def base(tmp_path: Path) -> Path:
    image = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True, timeout=60)
    return image


@pytest.fixture
def hosts(tmp_path: Path) -> tuple[LibvirtDriver, LibvirtDriver]:
    source, target = _driver(tmp_path, "host-a"), _driver(tmp_path, "host-b")
    source._target_host = lambda _t: Borrowed(target.host)  # type: ignore[method-assign]
    target._target_host = lambda _t: Borrowed(source.host)  # type: ignore[method-assign]
    return source, target


def spec(base: Path, **changes: Any) -> InstanceSpec:
    values: dict[str, Any] = {"uuid": UUID, "name": "vm", "vcpus": 1, "memory_mb": 128, "root_gb": 1,
                              "base_image": base, "base_image_format": "qcow2",
                              "config_drive": ConfigDrive(meta_data={"hostname": "vm"})}  # fmt: skip
    values.update(changes)
    return InstanceSpec(**values)


def _state(driver: LibvirtDriver) -> PowerState:
    return driver.get_info(UUID).power_state


def test_pre_live_migration_prepares_files_and_a_hidden_incoming_definition(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    _, target = hosts
    target.pre_live_migration(spec(base), block_migration=True)
    directory = target.instance_dir(UUID)
    assert sorted(p.name for p in directory.iterdir()) == ["disk", "disk.config"]
    info = json.loads(subprocess.run(["qemu-img", "info", "--output", "json", str(directory / "disk")],
                                     capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert info["backing-filename"] == str(base) and info["virtual-size"] == 1 << 30  # empty, the flavor's size
    guest = Guest.lookup(target.host, UUID)
    assert guest is not None and not guest.is_active()
    assert config.serial_tcp_port(guest.xml()) is not None  # a port of this host's, for the destination XML
    assert target.list_instances() == []  # not the host's guest until it arrived
    target.pre_live_migration(spec(base), block_migration=True)  # redelivered: prepared already


def test_pre_live_migration_without_block_migration_makes_no_disk(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    _, target = hosts
    target.pre_live_migration(spec(base), block_migration=False)
    assert sorted(p.name for p in target.instance_dir(UUID).iterdir()) == ["disk.config"]


def test_pre_live_migration_refuses_a_guest_that_is_here_already(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    source, _ = hosts
    source.spawn(spec(base))
    with pytest.raises(DriverError, match="already on this host"):
        source.pre_live_migration(spec(base), block_migration=True)
    assert _state(source) == PowerState.RUNNING and (source.instance_dir(UUID) / "disk").exists()


def test_a_failed_pre_live_migration_leaves_nothing(hosts: tuple[LibvirtDriver, LibvirtDriver], tmp_path: Path) -> None:
    _, target = hosts
    with pytest.raises(DriverError, match="missing"):
        target.pre_live_migration(spec(tmp_path / "no-such-base.qcow2"), block_migration=True)
    assert not target.instance_dir(UUID).exists()
    assert Guest.lookup(target.host, UUID) is None


def test_rollback_at_destination_removes_the_prepared_guest_and_is_idempotent(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    _, target = hosts
    target.pre_live_migration(spec(base), block_migration=True)
    target.rollback_live_migration_at_destination(UUID)
    assert Guest.lookup(target.host, UUID) is None and not target.instance_dir(UUID).exists()
    target.rollback_live_migration_at_destination(UUID)


def test_rollback_at_destination_never_removes_a_guest_that_runs_there(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    _, target = hosts
    target.spawn(spec(base))  # the guest did arrive (or lives here): it may be the only copy
    with pytest.raises(DriverError, match="runs on this host"):
        target.rollback_live_migration_at_destination(UUID)
    target.power_off(UUID, timeout=0)
    with pytest.raises(DriverError, match="is defined on this host"):
        target.rollback_live_migration_at_destination(UUID)
    assert (target.instance_dir(UUID) / "disk").exists()


def test_a_refused_live_migration_is_a_driver_error_and_the_guest_still_runs_here(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    source, target = hosts
    source.spawn(spec(base))
    target.pre_live_migration(spec(base), block_migration=True)
    seen: list[MigrationStats] = []
    with pytest.raises(DriverError, match=r"failed .*the guest still runs on host-a") as raised:
        source.live_migration(UUID, TARGET, True, seen.append)  # the test hypervisor cannot migrate
    assert not isinstance(raised.value, MigrationAborted)
    assert _state(source) == PowerState.RUNNING
    assert (source.instance_dir(UUID) / "disk").exists()
    assert [i.uuid for i in source.list_instances()] == [UUID]


def _recording(monkeypatch: pytest.MonkeyPatch, message: str = "refused") -> dict[str, Any]:
    """What the driver asks libvirt to migrate with (libvirt then refuses with ``message``)."""
    asked: dict[str, Any] = {}

    def refused(guest: Guest, uri: str, params: dict[str, Any], flags: int) -> None:
        asked.update(uri=uri, params=params, flags=flags)
        raise _libvirt_error(libvirt.VIR_ERR_OPERATION_FAILED, message)

    monkeypatch.setattr(Guest, "migrate", refused)
    return asked


def test_a_live_migration_asks_for_qemus_tls_unless_the_setting_is_off(
    tmp_path: Path, base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _recording(monkeypatch)
    for native_tls in (True, False):
        source = _driver(tmp_path, f"tls-{native_tls}-a", live_migration_with_native_tls=native_tls)
        target = _driver(tmp_path, f"tls-{native_tls}-b", live_migration_with_native_tls=native_tls)
        source._target_host = lambda _t, target=target: Borrowed(target.host)  # type: ignore[method-assign]
        source.spawn(spec(base))
        target.pre_live_migration(spec(base), block_migration=True)
        with pytest.raises(DriverError, match="still runs"):
            source.live_migration(UUID, TARGET, True, lambda _s: None)
        assert bool(asked["flags"] & libvirt.VIR_MIGRATE_TLS) is native_tls
        assert asked["params"][libvirt.VIR_MIGRATE_PARAM_URI] == "tcp://198.18.0.12"  # the address QEMU's TLS checks


def test_a_source_without_qemus_tls_files_refuses_the_live_migration_and_sends_nothing(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = hosts
    asked = _recording(monkeypatch)
    source.spawn(spec(base))
    target.pre_live_migration(spec(base), block_migration=True)
    (source.qemu_tls_dir / "server-key.pem").unlink()
    with pytest.raises(
        migration.NativeTlsUnavailable,
        match=r"missing on host-a \(server-key.pem in .*refused rather than sent in clear",
    ):
        source.live_migration(UUID, TARGET, True, lambda _s: None)
    assert asked == {}  # libvirt was never asked: no migration in clear instead
    assert _state(source) == PowerState.RUNNING


def test_a_target_without_qemus_tls_files_refuses_to_prepare_and_makes_nothing(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    _, target = hosts
    (target.qemu_tls_dir / "ca-cert.pem").unlink()
    with pytest.raises(migration.NativeTlsUnavailable, match="missing on host-b") as raised:
        target.pre_live_migration(spec(base), block_migration=True)
    assert raised.value.code == 409 and "live_migration_with_native_tls = false" in raised.value.message
    assert not target.instance_dir(UUID).exists() and Guest.lookup(target.host, UUID) is None


def test_libvirt_refusing_qemus_tls_is_a_driver_error_that_says_what_to_check(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = hosts
    _recording(monkeypatch, "internal error: unable to execute QEMU command 'object-add': Unable to access "
                            "credentials /etc/pki/qemu/ca-cert.pem: No such file or directory")  # fmt: skip
    source.spawn(spec(base))
    target.pre_live_migration(spec(base), block_migration=True)
    with pytest.raises(DriverError, match=r"still runs on host-a\. QEMU's native TLS failed: check") as raised:
        source.live_migration(UUID, TARGET, True, lambda _s: None)
    assert not isinstance(raised.value, MigrationAborted)
    assert _state(source) == PowerState.RUNNING


def _libvirt_error(code: int, message: str) -> libvirt.libvirtError:
    exc = libvirt.libvirtError(message)
    exc.err = (code, libvirt.VIR_FROM_QEMU, message, 2, None, None, None, 0, 0)
    return exc


def test_an_aborted_live_migration_is_migration_aborted_and_a_paused_guest_runs_again(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = hosts
    source.spawn(spec(base))
    target.pre_live_migration(spec(base), block_migration=True)

    def aborted(guest: Guest, uri: str, params: dict[str, Any], flags: int) -> None:
        guest.pause()  # as a force-complete does, before the abort came
        raise _libvirt_error(libvirt.VIR_ERR_OPERATION_ABORTED, "operation aborted: canceled by client")

    monkeypatch.setattr(Guest, "migrate", aborted)
    with pytest.raises(MigrationAborted):
        source.live_migration(UUID, TARGET, True, lambda _s: None)
    assert _state(source) == PowerState.RUNNING


def test_a_live_migration_that_never_completes_is_aborted_after_the_timeout(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = hosts
    source.live_migration_timeout = 0.2
    source.spawn(spec(base))
    target.pre_live_migration(spec(base), block_migration=True)
    job = {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED, "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT,
           "memory_total": 100, "memory_processed": 10}  # fmt: skip
    aborted = []

    def slow(guest: Guest, uri: str, params: dict[str, Any], flags: int) -> None:
        while not aborted:
            __import__("time").sleep(0.02)
        raise _libvirt_error(libvirt.VIR_ERR_OPERATION_ABORTED, "operation aborted")

    monkeypatch.setattr(Guest, "migrate", slow)
    monkeypatch.setattr(Guest, "job_stats", lambda guest: job)
    monkeypatch.setattr(Guest, "abort_job", lambda guest: aborted.append(True))
    seen: list[MigrationStats] = []
    with pytest.raises(DriverError, match=r"did not complete within 0\.2 s and was aborted; the guest still runs"):
        source.live_migration(UUID, TARGET, True, seen.append)
    assert seen and seen[0].memory_total == 100 and seen[0].memory_processed == 10  # progress while it ran
    assert _state(source) == PowerState.RUNNING


def test_a_live_migration_needs_a_prepared_target(hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path) -> None:
    source, _ = hosts
    source.spawn(spec(base))
    with pytest.raises(DriverError, match="host-b is not prepared"):
        source.live_migration(UUID, TARGET, True, lambda _s: None)
    assert _state(source) == PowerState.RUNNING


def test_a_local_root_disk_moves_live_only_by_block_migration(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    source, target = hosts
    source.spawn(spec(base))
    target.pre_live_migration(spec(base), block_migration=False)
    with pytest.raises(DriverError, match="only a block migration"):
        source.live_migration(UUID, TARGET, False, lambda _s: None)
    assert _state(source) == PowerState.RUNNING


def test_abort_and_force_complete_without_a_migration_do_nothing(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    source, _ = hosts
    source.live_migration_abort(UUID)  # no such guest
    source.spawn(spec(base))
    source.live_migration_abort(UUID)
    source.live_migration_force_complete(UUID)
    assert _state(source) == PowerState.RUNNING


def test_force_complete_pauses_a_migrating_guest(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = hosts
    source.spawn(spec(base))
    job = {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED, "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT}
    monkeypatch.setattr(Guest, "job_stats", lambda guest: job)
    source.live_migration_force_complete(UUID)
    assert _state(source) == PowerState.PAUSED


def test_post_live_migration_at_source_keeps_a_guest_that_still_runs_here(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    source, _ = hosts
    source.spawn(spec(base))
    with pytest.raises(DriverError, match="still runs on this host"):
        source.post_live_migration_at_source(UUID)
    assert (source.instance_dir(UUID) / "disk").exists()
    Guest.lookup(source.host, UUID).destroy()  # as libvirt leaves it after the switch: gone from here
    Guest.lookup(source.host, UUID).undefine()
    source.post_live_migration_at_source(UUID)
    assert not source.instance_dir(UUID).exists()
    source.post_live_migration_at_source(UUID)


def test_a_failed_disk_copy_is_a_driver_error_and_the_guest_runs_here_again(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    source, target = hosts
    source.spawn(spec(base))
    with pytest.raises(DriverError, match="copying the disk to host-b"):
        source.migrate_disk_and_power_off(UUID, TARGET)  # the test hypervisor takes no uploads
    assert _state(source) == PowerState.RUNNING
    assert (source.instance_dir(UUID) / "disk").exists()
    assert Guest.lookup(target.host, UUID) is None


def test_a_stopped_guest_stays_stopped_after_a_failed_disk_copy(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    source, _ = hosts
    source.spawn(spec(base))
    source.power_off(UUID, timeout=0)
    with pytest.raises(DriverError):
        source.migrate_disk_and_power_off(UUID, TARGET)
    assert _state(source) == PowerState.SHUTDOWN


def test_finish_migration_puts_the_copied_overlay_on_this_hosts_base_and_grows_it(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path, tmp_path: Path
) -> None:
    _, target = hosts
    elsewhere = tmp_path / "source-cache" / "base.qcow2"  # the base's path on the source host
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(base.read_bytes())
    directory = target.instance_dir(UUID)
    directory.mkdir(parents=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(elsewhere),
                    str(directory / "disk"), "1G"], check=True)  # fmt: skip
    target.finish_migration(spec(base, memory_mb=256, root_gb=2), power_on=True)
    info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output", "json", str(directory / "disk")],
                                     capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert info["backing-filename"] == str(base) and info["virtual-size"] == 2 << 30
    assert (directory / "disk.config").exists()
    assert _state(target) == PowerState.RUNNING
    assert [i.uuid for i in target.list_instances()] == [UUID]
    target.finish_migration(spec(base, memory_mb=256, root_gb=2), power_on=True)  # redelivered


def test_finish_migration_without_the_copied_disk_defines_nothing(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    _, target = hosts
    with pytest.raises(DriverError, match="was not copied to this host"):
        target.finish_migration(spec(base), power_on=True)
    assert Guest.lookup(target.host, UUID) is None


def test_confirm_and_revert_of_a_cold_move(hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path) -> None:
    source, _ = hosts
    source.spawn(spec(base))
    source.power_off(UUID, timeout=0)  # as migrate_disk_and_power_off leaves it
    source.finish_revert_migration(UUID, power_on=True)
    assert _state(source) == PowerState.RUNNING
    source.finish_revert_migration(UUID, power_on=True)
    source.power_off(UUID, timeout=0)
    source.confirm_migration(UUID)
    assert Guest.lookup(source.host, UUID) is None and not source.instance_dir(UUID).exists()
    source.confirm_migration(UUID)
    with pytest.raises(InstanceNotFound):
        source.finish_revert_migration(UUID, power_on=True)


def test_destroy_moved_never_touches_a_root_disk_in_ceph(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    source, _ = hosts
    source.spawn(spec(base))
    (source.instance_dir(UUID) / RBD_MARKER).write_text("ceph's\n")  # the other copy's disk, in Ceph
    with pytest.raises(DriverError, match="Ceph"):
        source.destroy(UUID)  # a plain destroy would remove the RBD image (this host cannot: no Ceph here)
    source.destroy_moved(UUID)  # the copy here goes; Ceph is never asked
    assert Guest.lookup(source.host, UUID) is None and not source.instance_dir(UUID).exists()
    source.destroy_moved(UUID)


def test_a_cold_move_writes_into_the_instance_directory_the_target_announces(
    hosts: tuple[LibvirtDriver, LibvirtDriver], tmp_path: Path
) -> None:
    source, target = hosts
    conn = target.host.connection()
    assert peers.pool_path(conn, "stratus-instances-host-b") == target.instances_path  # made by its init_host
    assert source._target_dir(conn, UUID, TARGET) == target.instances_path / UUID
    named = MigrationTarget("host-b", "198.18.0.12", instances_path=str(tmp_path / "named"))
    assert source._target_dir(conn, UUID, named) == tmp_path / "named" / UUID  # what the move names wins
    silent = MigrationTarget("host-c", "198.18.0.13")  # announces nothing: the same path as here
    assert source._target_dir(conn, UUID, silent) == source.instances_path / UUID
    target.init_host("host-b")  # again: the same pool, left as it is
    assert peers.pool_path(conn, "stratus-instances-host-b") == target.instances_path


@pytest.mark.parametrize("name", ["", "../x", "a/b", "x" * 80, "-x"])
def test_only_plain_namespace_names_are_entered(name: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        peers.in_namespace(name, lambda: None)
    assert peers.instances_pool("a/b") is None


# ---------------------------------------------------------------------------------------------------------------
# Root disks in Ceph: shared by both hosts, never copied, never removed by a move.


class CephDisks(RecordingDisks):
    def exists(self, uuid: str) -> bool:
        return uuid in self.disks

    def size(self, uuid: str) -> int:
        return self.disks[uuid]["size"]


@pytest.fixture
def ceph_hosts(hosts: tuple[LibvirtDriver, LibvirtDriver], tmp_path: Path) -> tuple[LibvirtDriver, LibvirtDriver]:
    disks = CephDisks()  # one cluster for both hosts
    for driver in hosts:
        driver.rbd_disks = disks  # type: ignore[assignment]
        driver.ceph_secret = CephSecret(SECRET, "stratus", tmp_path / "keyring")
    return hosts


def ceph_spec(**changes: Any) -> InstanceSpec:
    return spec(Path("/nonexistent"), base_image=None, base_image_format="raw", base_rbd_snapshot=PARENT, **changes)


def test_a_root_disk_in_ceph_moves_live_without_a_copy(
    ceph_hosts: tuple[LibvirtDriver, LibvirtDriver], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = ceph_hosts
    source.spawn(ceph_spec())
    target.pre_live_migration(ceph_spec(), block_migration=True)
    assert sorted(p.name for p in target.instance_dir(UUID).iterdir()) == ["disk.config", RBD_MARKER]
    asked: dict[str, Any] = {}

    def refused(guest: Guest, uri: str, params: dict[str, Any], flags: int) -> None:
        asked.update(uri=uri, params=params, flags=flags)
        raise _libvirt_error(libvirt.VIR_ERR_OPERATION_FAILED, "refused")

    monkeypatch.setattr(Guest, "migrate", refused)
    with pytest.raises(DriverError, match="still runs"):
        source.live_migration(UUID, TARGET, True, lambda _s: None)
    assert asked["uri"] == "qemu+tcp://198.18.0.12/system"
    assert not asked["flags"] & libvirt.VIR_MIGRATE_NON_SHARED_INC
    assert libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS not in asked["params"]
    destination = asked["params"][libvirt.VIR_MIGRATE_PARAM_DEST_XML]
    assert 'protocol="rbd"' in destination and config.disk_path(destination, "vda") is None
    assert ("remove", UUID) not in source.rbd_disks.calls  # type: ignore[union-attr]
    target.rollback_live_migration_at_destination(UUID)
    assert source.rbd_disks.exists(UUID)  # type: ignore[union-attr]


def test_a_root_disk_in_ceph_needs_a_target_that_keeps_them_there(
    ceph_hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path
) -> None:
    source, target = ceph_hosts
    source.spawn(ceph_spec())
    target.pre_live_migration(spec(base), block_migration=True)  # a local root disk prepared
    with pytest.raises(DriverError, match="does not keep root disks in Ceph"):
        source.live_migration(UUID, TARGET, True, lambda _s: None)
    assert _state(source) == PowerState.RUNNING


def test_a_cold_move_of_a_root_disk_in_ceph_snapshots_it_and_a_revert_rolls_it_back(
    ceph_hosts: tuple[LibvirtDriver, LibvirtDriver],
) -> None:
    source, target = ceph_hosts
    disks: CephDisks = source.rbd_disks  # type: ignore[assignment]
    source.spawn(ceph_spec())
    source._target_host = lambda _t: pytest.fail("nothing to copy: no connection to the target")  # type: ignore[method-assign]
    source.migrate_disk_and_power_off(UUID, TARGET)
    assert _state(source) == PowerState.SHUTDOWN and "move-backup" in disks.disks[UUID]["snapshots"]
    target.finish_migration(ceph_spec(root_gb=2), power_on=True)
    assert disks.size(UUID) == 2 << 30 and _state(target) == PowerState.RUNNING
    assert config.disk_path(Guest.lookup(target.host, UUID).xml(), "vda") is None  # the same RBD image
    target.destroy_moved(UUID)  # the revert: the target's copy goes, the disk stays
    source.finish_revert_migration(UUID, power_on=True)
    assert disks.size(UUID) == 1 << 30 and "move-backup" not in disks.disks[UUID]["snapshots"]
    assert _state(source) == PowerState.RUNNING
    source.power_off(UUID, timeout=0)
    source.confirm_migration(UUID)
    assert disks.exists(UUID) and ("remove", UUID) not in disks.calls


def test_a_user_paused_guest_stays_paused_on_the_target() -> None:
    assert migration.live_flags(copy_disks=True, native_tls=False, paused=True) & libvirt.VIR_MIGRATE_PAUSED
    assert not migration.live_flags(copy_disks=True, native_tls=False) & libvirt.VIR_MIGRATE_PAUSED


def _sharing(tmp_path: Path) -> tuple[LibvirtDriver, LibvirtDriver]:
    source = _driver(tmp_path, "host-a")
    target = LibvirtDriver(_settings(tmp_path, "host-b"), source.host)
    target.init_host("host-b")  # announces its directory on the daemon both use
    return source, target


def _copy_files(conn: object, uuid: str, directory: Path, files: list[tuple[Path, str]]) -> None:
    """What the upload writes, for the test hypervisor, which takes none."""
    directory.mkdir(parents=True, exist_ok=True)
    for path, name in files:
        (directory / name).write_bytes(path.read_bytes())


def test_a_cold_move_between_hosts_that_share_a_libvirtd_hands_the_definition_over(
    tmp_path: Path, base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = _sharing(tmp_path)
    monkeypatch.setattr(LibvirtDriver, "_upload", staticmethod(_copy_files))
    source.spawn(spec(base))
    (source.instance_dir(UUID) / "console.log").write_text("booted on A\n")
    source.migrate_disk_and_power_off(UUID, TARGET)
    assert (target.instance_dir(UUID) / "console.log.0").read_text() == "booted on A\n"  # the history goes along
    assert Guest.lookup(source.host, UUID) is None  # one definition per guest on a daemon: now none, then B's
    assert (source.instance_dir(UUID) / "move-source.xml").exists() and (target.instance_dir(UUID) / "disk").exists()
    source.migrate_disk_and_power_off(UUID, TARGET)  # redelivered: handed over already
    target.finish_migration(spec(base, root_gb=2), power_on=True)
    assert [i.uuid for i in target.list_instances()] == [UUID] and source.list_instances() == []
    with pytest.raises(DriverError, match="still defined on this libvirtd"):
        source.finish_revert_migration(UUID, power_on=True)  # the target's copy must go first
    target.destroy_moved(UUID)  # the revert
    source.finish_revert_migration(UUID, power_on=True)
    assert _state(source) == PowerState.RUNNING and not (source.instance_dir(UUID) / "move-source.xml").exists()
    assert source.list_instances()[0].uuid == UUID and not target.instance_dir(UUID).exists()

    source.migrate_disk_and_power_off(UUID, TARGET)  # and again, confirmed this time
    target.finish_migration(spec(base, root_gb=2), power_on=True)
    source.confirm_migration(UUID)  # B's domain on the shared daemon is left alone
    assert _state(target) == PowerState.RUNNING and not source.instance_dir(UUID).exists()
    with pytest.raises(DriverError, match="another host"):
        source.finish_migration(spec(base), power_on=True)


def test_a_cold_move_between_hosts_that_share_a_libvirtd_copies_through_it(tmp_path: Path, base: Path) -> None:
    source, _ = _sharing(tmp_path)
    source._target_host = lambda _t: pytest.fail("no connection to the target's address")  # type: ignore[method-assign]
    source.spawn(spec(base))
    with pytest.raises(DriverError, match="copying the disk to host-b"):  # the test hypervisor takes no upload
        source.migrate_disk_and_power_off(UUID, TARGET)
    assert _state(source) == PowerState.RUNNING


def test_hosts_that_share_a_libvirtd_cannot_move_a_guest_live_between_them(tmp_path: Path, base: Path) -> None:
    source, target = _sharing(tmp_path)
    source.spawn(spec(base))
    with pytest.raises(DriverError, match="shares this libvirtd: it cannot move live"):
        target.pre_live_migration(spec(base), block_migration=True)
    target.rollback_live_migration_at_destination(UUID)  # the control side's roll-back: the source's guest stays
    assert _state(source) == PowerState.RUNNING and (source.instance_dir(UUID) / "disk").exists()


def test_a_live_migration_whose_source_qemu_crashed_says_the_guest_is_off_not_that_it_still_runs(
    hosts: tuple[LibvirtDriver, LibvirtDriver], base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QEMU 7.2 aborts when a paused guest that arrived paused leaves again (its disks were never activated):
    libvirt reports 'domain is not running', and the guest, whose definition stays, is off."""
    source, target = hosts
    source.spawn(spec(base))
    target.pre_live_migration(spec(base), block_migration=True)

    def crashed(guest: Guest, uri: str, params: dict[str, Any], flags: int) -> None:
        guest._call(lambda dom: dom.destroy())  # QEMU's assertion killed the process
        raise _libvirt_error(libvirt.VIR_ERR_OPERATION_FAILED, "operation failed: domain is not running")

    monkeypatch.setattr(Guest, "migrate", crashed)
    with pytest.raises(DriverError, match=r"QEMU ended on host-a: the guest is off there") as raised:
        source.live_migration(UUID, TARGET, True, lambda _s: None)
    assert "still runs" not in raised.value.message
    assert _state(source) == PowerState.SHUTDOWN
