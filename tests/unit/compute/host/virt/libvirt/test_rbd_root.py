"""Root disks in Ceph (``images_type = "rbd"``): what LibvirtDriver asks of its RBD disks and writes in the domain,
against libvirt's in-process test driver and a small recording stand-in for Ceph. The real clone, resize, snapshot
and boot through librbd are in tests/e2e/test_rbd_root_disks.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from common.settings import Settings
from compute.host.virt.base import ConfigDrive, DriverError, InstanceSpec, PowerState
from compute.host.virt.libvirt.ceph_secret import CephSecret
from compute.host.virt.libvirt.driver import RBD_MARKER, LibvirtDriver
from compute.host.virt.libvirt.host import Host
from compute.host.virt.libvirt.rbd_disks import RbdDisks

UUID = "0d8e5f2a-1c3b-4e6f-8a9b-7c6d5e4f3a21"
PARENT = "images/5b0c1f3e-9d1a-4f55-8a63-2f0b7e0d4c11@snap"
SECRET = "6c1f8a52-3d4e-4b6f-9a7c-8e9d0f1a2b3c"
GiB = 1 << 30


class RecordingDisks:
    """Stands for Ceph: disks by uuid with their size and snapshots, and every call in order."""

    pool = "vms"
    disk_name = staticmethod(RbdDisks.disk_name)

    def __init__(self) -> None:
        self.disks: dict[str, dict] = {}
        self.calls: list[tuple] = []

    def monitors(self) -> tuple[tuple[str, int], ...]:
        return (("127.0.0.1", 6789),)

    def clone(self, uuid: str, parent: str, size_bytes: int) -> None:
        self.calls.append(("clone", uuid, parent, size_bytes))
        self.disks.setdefault(uuid, {"size": size_bytes, "snapshots": {}})

    def grow(self, uuid: str, size_bytes: int) -> None:
        self.calls.append(("grow", uuid, size_bytes))
        self.disks[uuid]["size"] = size_bytes

    def create_snapshot(self, uuid: str, snapshot: str) -> None:
        self.calls.append(("create_snapshot", uuid, snapshot))
        self.disks[uuid]["snapshots"].setdefault(snapshot, self.disks[uuid]["size"])

    def rollback(self, uuid: str, snapshot: str) -> None:
        self.calls.append(("rollback", uuid, snapshot))
        self.disks[uuid]["size"] = self.disks[uuid]["snapshots"][snapshot]

    def remove_snapshot(self, uuid: str, snapshot: str) -> None:
        self.calls.append(("remove_snapshot", uuid, snapshot))
        self.disks.get(uuid, {"snapshots": {}})["snapshots"].pop(snapshot, None)

    def remove(self, uuid: str) -> None:
        self.calls.append(("remove", uuid))
        self.disks.pop(uuid, None)


@pytest.fixture
def disks() -> RecordingDisks:
    return RecordingDisks()


@pytest.fixture
def driver(tmp_path: Path, disks: RecordingDisks) -> LibvirtDriver:
    node = tmp_path / "node.xml"
    node.write_text("<node/>\n")
    driver = LibvirtDriver(Settings(instances_path=str(tmp_path / "instances")), Host(f"test://{node}", "qemu"),
                           soft_reboot_timeout=5)  # fmt: skip
    driver.init_host("unit")
    driver.rbd_disks = disks  # type: ignore[assignment]
    driver.ceph_secret = CephSecret(SECRET, "stratus", tmp_path / "keyring")
    return driver


@pytest.fixture
def base(tmp_path: Path) -> Path:
    image = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True, timeout=60)
    return image


def spec(**changes: object) -> InstanceSpec:
    values: dict[str, object] = {
        "uuid": UUID, "name": "vm", "vcpus": 1, "memory_mb": 128, "root_gb": 1, "base_image": None,
        "base_image_format": "raw", "config_drive": ConfigDrive(meta_data={"hostname": "vm"}),
        "base_rbd_snapshot": PARENT,
    }  # fmt: skip
    values.update(changes)
    return InstanceSpec(**values)  # type: ignore[arg-type]


def test_a_spawn_clones_the_image_and_the_domain_opens_the_clone_through_librbd(driver, disks):
    driver.spawn(spec())
    assert disks.calls == [("clone", UUID, PARENT, GiB)]
    directory = driver.instance_dir(UUID)
    assert sorted(p.name for p in directory.iterdir()) == ["disk.config", RBD_MARKER], "no local root disk"
    xml = driver._guest(UUID).xml(inactive=True)
    assert f"<source protocol='rbd' name='vms/{UUID}_disk'>" in xml
    assert "<host name='127.0.0.1' port='6789'/>" in xml and f"<secret type='ceph' uuid='{SECRET}'/>" in xml
    assert driver.get_info(UUID).power_state == PowerState.RUNNING


def test_destroy_removes_the_clone_once_and_only_for_instances_that_have_one(driver, disks, base):
    driver.spawn(spec())
    driver.destroy(UUID)
    driver.destroy(UUID)
    assert disks.calls[1:] == [("remove", UUID)] and not disks.disks
    other = "9f0e1d2c-3b4a-4958-8776-655443322110"
    driver.spawn(spec(uuid=other, base_image=base, base_image_format="qcow2", base_rbd_snapshot=None))
    assert (driver.instance_dir(other) / "disk").exists()
    driver.destroy(other)
    assert [call[0] for call in disks.calls] == ["clone", "remove"], "a qcow2 instance never reaches Ceph"


def test_resize_grows_the_clone_after_a_snapshot_revert_rolls_back_confirm_drops_it(driver, disks):
    driver.spawn(spec())
    driver.resize(spec(root_gb=2, vcpus=2))
    assert disks.disks[UUID] == {"size": 2 * GiB, "snapshots": {"resize-backup": GiB}}
    driver.revert_resize(UUID)
    assert disks.disks[UUID] == {"size": GiB, "snapshots": {}}
    assert driver.get_info(UUID).power_state == PowerState.RUNNING
    driver.resize(spec(root_gb=3))
    driver.confirm_resize(UUID)
    assert disks.disks[UUID] == {"size": 3 * GiB, "snapshots": {}}
    assert "name='vms/" in driver._guest(UUID).xml(inactive=True)


def test_a_rebuild_from_a_qcow2_image_replaces_the_clone_with_a_local_disk(driver, disks, base):
    driver.spawn(spec())
    driver.rebuild(spec(base_image=base, base_image_format="qcow2", base_rbd_snapshot=None))
    assert UUID not in disks.disks and (driver.instance_dir(UUID) / "disk").exists()
    assert not (driver.instance_dir(UUID) / RBD_MARKER).exists()
    assert "protocol='rbd'" not in driver._guest(UUID).xml(inactive=True)


def test_a_host_without_root_disks_in_ceph_refuses_to_guess(tmp_path, driver, disks):
    driver.spawn(spec())
    driver.rbd_disks = None
    with pytest.raises(DriverError, match="images_type 'qcow2'"):
        driver.destroy(UUID)
    assert (driver.instance_dir(UUID) / RBD_MARKER).exists(), "the marker stays until the disk is really gone"


@pytest.mark.parametrize("parent", ["images/x@snap;rm", "images/../x@snap", "x@snap", "images/x"])
def test_a_parent_that_is_no_rbd_snapshot_name_is_refused_before_librbd(parent):
    disks = RbdDisks("vms", Path("/nowhere/ceph.conf"), "stratus", Path("/nowhere/keyring"))
    with pytest.raises(DriverError, match="invalid name"):
        disks.clone(UUID, parent, GiB)
    with pytest.raises(DriverError, match="UUID"):
        RbdDisks.disk_name("../x")
