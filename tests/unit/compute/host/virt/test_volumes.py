"""Volumes on a host: reading ``connection_info`` into the host's typed value, the volume directory rule, the
disk XML of file and rbd volumes, domains that keep their volumes, the fake driver's attach contract, and the copy
a host makes of an attached volume for a snapshot (where it may write, all or nothing, idempotent)."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from common.settings import Settings
from compute.host.virt.base import (
    AttachedVolume,
    DriverError,
    InstanceSpec,
    InvalidConnection,
    VolumeConnection,
    snapshot_target,
    volume_file,
)
from compute.host.virt.fake import FakeDriver
from compute.host.virt.libvirt import config
from compute.host.virt.libvirt.driver import LibvirtDriver
from compute.host.virt.libvirt.guest import Guest
from compute.host.virt.libvirt.host import Host

UUID = "0d8e5f2a-1c3b-4e6f-8a9b-7c6d5e4f3a21"
VOLUME = "5b3c9a10-7d2e-4f61-9c8b-1a2b3c4d5e6f"
SECRET = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
RBD = {
    "driver_volume_type": "rbd",
    "data": {
        "name": "volumes/volume-" + VOLUME,
        "hosts": ["127.0.0.1"],
        "ports": ["6789"],
        "auth_username": "stratus",
        "secret_uuid": SECRET,
    },
}


@pytest.fixture
def volume_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "volumes"
    directory.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(directory / VOLUME), "1G"], check=True)
    return directory


def file_connection(path: Path, fmt: str = "qcow2") -> VolumeConnection:
    return VolumeConnection.from_dict({"driver_volume_type": "file", "data": {"path": str(path), "format": fmt}})


def fake_spec(uuid: str) -> InstanceSpec:
    return InstanceSpec(uuid, "vm", 1, 64, 1, base_image=Path("/dev/null"), base_image_format="raw")


def libvirt_driver(tmp_path: Path, volume_dir: Path) -> LibvirtDriver:
    node = tmp_path / "node.xml"
    node.write_text("<node/>\n")
    settings = Settings(instances_path=str(tmp_path / "instances"), volume_dir=str(volume_dir))
    driver = LibvirtDriver(settings, Host(f"test://{node}", virt_type="qemu"), cache_mode="none")
    driver.init_host("unit")
    return driver


# -- connection_info ----------------------------------------------------------------------------------------------


def test_rbd_connection_is_read_into_typed_fields():
    connection = VolumeConnection.from_dict(RBD)
    assert connection.name == f"volumes/volume-{VOLUME}"
    assert connection.hosts == (("127.0.0.1", 6789),)
    assert (connection.auth_username, connection.secret_uuid) == ("stratus", SECRET)


@pytest.mark.parametrize(
    "change",
    [
        {"name": "volumes/a'/><disk"},
        {"name": "../etc/passwd"},
        {"name": "pool/image@snap"},
        {"name": "noslash"},
        {"hosts": ["127.0.0.1' evil='1"]},
        {"hosts": ["127.0.0.1"], "ports": ["99999"]},
        {"hosts": ["127.0.0.1", "127.0.0.2"], "ports": ["6789"]},
        {"auth_username": "stratus user"},
        {"secret_uuid": "not-a-uuid"},
        {"secret_uuid": ""},
    ],
)
def test_hostile_rbd_values_are_refused(change):
    info = {"driver_volume_type": "rbd", "data": {**RBD["data"], **change}}
    with pytest.raises(InvalidConnection):
        VolumeConnection.from_dict(info)


@pytest.mark.parametrize(
    "info",
    [
        None,
        {},
        {"driver_volume_type": "iscsi", "data": {}},
        {"driver_volume_type": "file", "data": {"path": "relative/path"}},
        {"driver_volume_type": "file", "data": {"path": "/a\x00b"}},
        {"driver_volume_type": "file", "data": {"path": "/v/x", "format": "vmdk"}},
    ],
)
def test_malformed_connections_are_refused(info):
    with pytest.raises(InvalidConnection):
        VolumeConnection.from_dict(info)  # type: ignore[arg-type]


def test_attached_volume_needs_a_volume_device_and_a_uuid_serial(volume_dir: Path):
    entry = {"device": "/dev/vdb", "serial": VOLUME, "connection_info": RBD}
    assert AttachedVolume.from_dict(entry).device == "vdb"
    for bad in ({"device": "/dev/sda"}, {"device": "vdb1"}, {"device": "../vdb"}, {"serial": "x'"}):
        with pytest.raises(InvalidConnection):
            AttachedVolume.from_dict({**entry, **bad})


# -- the volume directory -----------------------------------------------------------------------------------------


def test_a_file_below_the_volume_dir_is_accepted(volume_dir: Path):
    assert volume_file(file_connection(volume_dir / VOLUME), volume_dir) == (volume_dir / VOLUME).resolve()


def test_paths_out_of_the_volume_dir_are_refused(tmp_path: Path, volume_dir: Path):
    outside = tmp_path / "secret.img"
    outside.write_bytes(b"x")
    (volume_dir / "link").symlink_to(outside)
    for path in (outside, volume_dir / "link", volume_dir / ".." / "secret.img", volume_dir, volume_dir / "missing"):
        with pytest.raises(InvalidConnection):
            volume_file(file_connection(path), volume_dir)


# -- XML ----------------------------------------------------------------------------------------------------------


def test_file_volume_disk_xml(tmp_path: Path, volume_dir: Path):
    driver = libvirt_driver(tmp_path, volume_dir)
    disk = driver.volume_disk(AttachedVolume("vdb", VOLUME, file_connection(volume_dir / VOLUME)))
    element = ET.fromstring(config.disk_xml(disk))
    assert element.attrib == {"type": "file", "device": "disk"}
    assert element.find("driver").attrib["type"] == "qcow2"
    assert element.find("driver").attrib["cache"] in ("none", "writeback")
    assert element.find("source").attrib == {"file": str((volume_dir / VOLUME).resolve())}
    assert element.find("target").attrib == {"dev": "vdb", "bus": "virtio"}
    assert element.findtext("serial") == VOLUME


def test_rbd_volume_disk_xml(tmp_path: Path, volume_dir: Path):
    driver = libvirt_driver(tmp_path, volume_dir)
    disk = driver.volume_disk(AttachedVolume("vdc", VOLUME, VolumeConnection.from_dict(RBD)))
    element = ET.fromstring(config.disk_xml(disk))
    assert element.attrib == {"type": "network", "device": "disk"}
    assert element.find("driver").attrib == {"name": "qemu", "type": "raw", "cache": "none"}
    assert element.find("source").attrib == {"protocol": "rbd", "name": f"volumes/volume-{VOLUME}"}
    assert element.find("source/host").attrib == {"name": "127.0.0.1", "port": "6789"}
    assert element.find("auth").attrib == {"username": "stratus"}
    assert element.find("auth/secret").attrib == {"type": "ceph", "uuid": SECRET}
    assert element.findtext("serial") == VOLUME


def test_the_libvirt_driver_refuses_a_fake_volume(tmp_path: Path, volume_dir: Path):
    driver = libvirt_driver(tmp_path, volume_dir)
    fake = VolumeConnection.from_dict({"driver_volume_type": "fake", "data": {}})
    with pytest.raises(InvalidConnection):
        driver.volume_disk(AttachedVolume("vdb", VOLUME, fake))


def test_a_disk_needs_exactly_one_source():
    with pytest.raises(config.InvalidDomainValue):
        config.DiskConfig(None, "vdb", "virtio")
    with pytest.raises(config.InvalidDomainValue):
        config.DiskConfig(Path("/v/x"), "vdb", "virtio", serial="'/><evil")


def test_domains_defined_from_a_spec_keep_its_volumes(tmp_path: Path, volume_dir: Path):
    """Spawn, rebuild and resize all define the domain from the spec: the spec's volumes are in it."""
    driver = libvirt_driver(tmp_path, volume_dir)
    root = volume_dir / "root"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(root), "16M"], check=True)
    root_id = "11111111-2222-4333-8444-555555555555"
    spec = InstanceSpec(
        uuid=UUID,
        name="vm",
        vcpus=1,
        memory_mb=128,
        root_gb=0,
        base_image=None,
        base_image_format="raw",
        root_volume=AttachedVolume("vda", root_id, file_connection(root, "raw")),
        volumes=(AttachedVolume("vdb", VOLUME, file_connection(volume_dir / VOLUME)),),
    )
    driver.spawn(spec)
    disks = config.disk_serials(driver._guest(UUID).xml(inactive=True))
    assert disks == {"vda": root_id, "vdb": VOLUME}
    assert not (driver.instance_dir(UUID) / "disk").exists()  # no overlay: the volume is the root disk
    driver.destroy(UUID)
    assert root.exists() and (volume_dir / VOLUME).exists()  # destroying the guest leaves its volumes


def test_a_detach_of_a_missing_instance_succeeds(tmp_path: Path, volume_dir: Path):
    libvirt_driver(tmp_path, volume_dir).detach_volume(UUID, "vdb", timeout=1)


# -- the fake driver ----------------------------------------------------------------------------------------------


def test_fake_attach_is_idempotent_and_refuses_a_busy_device(volume_dir: Path):
    driver = FakeDriver(volume_dir=volume_dir)
    driver.spawn(fake_spec(UUID))
    connection = file_connection(volume_dir / VOLUME)
    driver.attach_volume(UUID, connection, "vdb", VOLUME)
    driver.attach_volume(UUID, connection, "vdb", VOLUME)
    with pytest.raises(DriverError):
        driver.attach_volume(UUID, connection, "vdb", "22222222-2222-4222-8222-222222222222")
    driver.extend_volume(UUID, "vdb", 2 << 30)
    assert driver.volumes_of(UUID)["vdb"].size_bytes == 2 << 30
    with pytest.raises(DriverError):
        driver.extend_volume(UUID, "vdb", 1 << 30)
    driver.detach_volume(UUID, "vdb")
    driver.detach_volume(UUID, "vdb")
    assert driver.volumes_of(UUID) == {}


def test_fake_attach_of_a_file_outside_the_volume_dir_fails(tmp_path: Path, volume_dir: Path):
    driver = FakeDriver(volume_dir=volume_dir)
    driver.spawn(fake_spec(UUID))
    with pytest.raises(InvalidConnection):
        driver.attach_volume(UUID, file_connection(tmp_path / "elsewhere"), "vdb", VOLUME)
    assert driver.volumes_of(UUID) == {}


# -- a host's copy of an attached volume, for a snapshot --------------------------------------------------------------

SNAPSHOT = "77777777-7777-4777-8777-777777777777"


def write_pattern(path: Path, byte: int) -> None:
    command = ["qemu-io", "-f", "qcow2", "-c", f"write -P {byte} 0 64k", str(path)]
    subprocess.run(command, check=True, capture_output=True)


def holds_pattern(path: Path, byte: int) -> bool:
    command = ["qemu-io", "-r", "-f", "qcow2", "-c", f"read -P {byte} 0 64k", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert "read 65536/65536" in result.stdout, result.stderr
    return "Pattern verification failed" not in result.stdout + result.stderr


def visible_files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def test_a_copy_is_written_only_as_a_plain_new_qcow2_file_directly_in_the_volume_dir(tmp_path: Path, volume_dir):
    target = volume_dir / f"snapshot-{SNAPSHOT}.qcow2"
    assert snapshot_target(file_connection(target), volume_dir) == target.resolve()
    (volume_dir / "sub").mkdir()
    (tmp_path / "outside").mkdir()
    (volume_dir / "link").symlink_to(tmp_path / "outside" / "x.qcow2")
    refused = [
        file_connection(tmp_path / "outside" / "x.qcow2"),
        file_connection(volume_dir / "sub" / "x.qcow2"),
        file_connection(volume_dir / "sub" / ".." / ".." / "outside" / "x.qcow2"),
        file_connection(volume_dir / ".hidden.qcow2"),
        file_connection(volume_dir / "link"),
        file_connection(volume_dir / "sub"),
        file_connection(target, "raw"),
        VolumeConnection.from_dict(RBD),
    ]
    for connection in refused:
        with pytest.raises(InvalidConnection):
            snapshot_target(connection, volume_dir)
    with pytest.raises(InvalidConnection):
        snapshot_target(file_connection(target), tmp_path / "no-such-dir")


def test_fake_copy_of_an_attached_volume_is_its_data_then_and_is_idempotent(volume_dir: Path):
    driver = FakeDriver(volume_dir=volume_dir)
    driver.spawn(fake_spec(UUID))
    driver.attach_volume(UUID, file_connection(volume_dir / VOLUME), "vdb", VOLUME)
    write_pattern(volume_dir / VOLUME, 0xA1)
    target = file_connection(volume_dir / f"snapshot-{SNAPSHOT}.qcow2")
    driver.snapshot_volume(UUID, "vdb", VOLUME, target)
    write_pattern(volume_dir / VOLUME, 0xB2)
    driver.snapshot_volume(UUID, "vdb", VOLUME, target)  # redelivered: the finished copy is left as it is
    copy = volume_dir / f"snapshot-{SNAPSHOT}.qcow2"
    assert holds_pattern(copy, 0xA1) and not holds_pattern(copy, 0xB2)
    assert copy.stat().st_mode & 0o777 == 0o600
    assert visible_files(volume_dir) == {VOLUME, copy.name}


def test_a_failed_fake_copy_leaves_no_file(tmp_path: Path, volume_dir: Path):
    driver = FakeDriver(volume_dir=volume_dir)
    driver.spawn(fake_spec(UUID))
    driver.attach_volume(UUID, file_connection(volume_dir / VOLUME), "vdb", VOLUME)
    target = file_connection(volume_dir / f"snapshot-{SNAPSHOT}.qcow2")
    with pytest.raises(DriverError):
        driver.snapshot_volume(UUID, "vdc", VOLUME, target)  # no volume there
    with pytest.raises(DriverError):
        driver.snapshot_volume(UUID, "vdb", SNAPSHOT, target)  # another volume's serial
    with pytest.raises(InvalidConnection):
        driver.snapshot_volume(UUID, "vdb", VOLUME, file_connection(tmp_path / "x.qcow2"))
    (volume_dir / VOLUME).rename(tmp_path / "moved")  # the volume's file went away behind the cloud's back
    with pytest.raises(InvalidConnection):
        driver.snapshot_volume(UUID, "vdb", VOLUME, target)
    assert visible_files(volume_dir) == set()
    assert not list(tmp_path.glob("*.qcow2"))


def test_libvirt_copy_of_a_stopped_guests_volume_is_a_standalone_qcow2_of_its_data(tmp_path: Path, volume_dir: Path):
    """A guest that is off holds no lock on its volume: the host copies the file (the running case, libvirt's
    backup job, is proven with a real guest in tests/e2e/test_libvirt_driver.py)."""
    driver = libvirt_driver(tmp_path, volume_dir)
    volume = volume_dir / "data.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(volume), "64M"], check=True)
    spec = InstanceSpec(UUID, "vm", 1, 128, 0, base_image=None, base_image_format="raw",
                        root_volume=AttachedVolume("vda", SNAPSHOT, file_connection(volume_dir / VOLUME)),
                        volumes=(AttachedVolume("vdb", VOLUME, file_connection(volume)),))  # fmt: skip
    driver.spawn(spec)
    driver.power_off(UUID, timeout=0)
    write_pattern(volume, 0xC3)
    target = file_connection(volume_dir / f"snapshot-{SNAPSHOT}.qcow2")
    with pytest.raises(DriverError):
        driver.snapshot_volume(UUID, "vdb", SNAPSHOT, target)  # the disk on vdb is another volume
    assert not (volume_dir / f"snapshot-{SNAPSHOT}.qcow2").exists()
    driver.snapshot_volume(UUID, "vdb", VOLUME, target)
    copy = volume_dir / f"snapshot-{SNAPSHOT}.qcow2"
    info = subprocess.run(["qemu-img", "info", "--output", "json", str(copy)], capture_output=True, text=True)
    assert '"backing-filename"' not in info.stdout and '"format": "qcow2"' in info.stdout
    assert holds_pattern(copy, 0xC3)
    assert not [p for p in volume_dir.iterdir() if p.name.startswith(".")]
    driver.destroy(UUID)


def test_a_volume_detach_sends_the_unplug_again_when_the_guest_missed_it(
    tmp_path: Path, volume_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    """A guest that is booting, or has just arrived by live migration, can miss the ACPI unplug event: Tempest's
    live migration with an attached volume then waited 60 s for a release that never came. The request is sent
    again, as Nova's libvirt driver does, until the guest lets go."""
    driver = libvirt_driver(tmp_path, volume_dir)
    driver.detach_retry_interval = 0.2
    base = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"], check=True)
    spec = InstanceSpec(uuid=UUID, name="vm", vcpus=1, memory_mb=128, root_gb=1, base_image=base,
                        base_image_format="qcow2",
                        volumes=(AttachedVolume("vdb", VOLUME, file_connection(volume_dir / VOLUME)),))  # fmt: skip
    driver.spawn(spec)
    live_xml, requests = Guest.xml, []

    def detach(guest: Guest, element: str, live: bool) -> None:  # the test hypervisor cannot unplug: pretend
        requests.append("live" if live else "config")

    def xml(guest: Guest, inactive: bool = False) -> str:
        found = live_xml(guest, inactive=inactive)
        if inactive or requests.count("live") < 2:  # the guest lets go at the second request only
            return found
        domain = ET.fromstring(found)
        devices = domain.find("devices")
        for disk in devices.findall("disk"):
            if disk.find("target").get("dev") == "vdb":
                devices.remove(disk)
        return ET.tostring(domain, encoding="unicode")

    monkeypatch.setattr(Guest, "detach_device", detach)
    monkeypatch.setattr(Guest, "xml", xml)
    driver.detach_volume(UUID, "vdb", timeout=5)

    assert requests == ["live", "live", "config"]
