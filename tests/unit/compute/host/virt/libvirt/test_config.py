"""Domain XML against golden files, through the driver's policy (``LibvirtDriver.domain_config``) and the pure
builder (``config.domain_xml``). To change a golden file: change the code, look at the diff the failure prints,
and copy the new document in by hand; reviewing that diff is the point."""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from common.settings import Settings
from compute.host.virt.base import ConfigDrive, InstanceSpec, Nic
from compute.host.virt.libvirt import config
from compute.host.virt.libvirt.driver import LibvirtDriver
from compute.host.virt.libvirt.host import Host

GOLDEN = Path(__file__).parent / "golden"
INSTANCES = "/srv/stratus/instances"
UUID = "6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10"

SPEC = InstanceSpec(
    uuid=UUID,
    name="web-1 <&\"'>",  # escaped, not injected
    vcpus=2,
    memory_mb=256,
    root_gb=1,
    base_image=Path("/srv/stratus/image-cache/base"),
    base_image_format="qcow2",
    config_drive=ConfigDrive(meta_data={"hostname": "web-1"}),
    nics=(
        Nic(mac="fa:16:3e:00:00:01", tap="tap6f1c0f1e-01", mtu=1450, port_id="p1"),
        Nic(mac="fa:16:3e:00:00:02", tap="tap6f1c0f1e-02", mtu=9000, port_id="p2", bridge="qbr6f1c0f1e-02"),
    ),
)


def _never_connect(uri: str) -> None:
    raise AssertionError(f"the XML policy must not talk to libvirt ({uri})")


def driver(virt_type: str, cache_mode: str = "none", host_name: str = "") -> LibvirtDriver:
    host = Host("qemu:///system", virt_type=virt_type, opener=_never_connect)
    driver = LibvirtDriver(Settings(instances_path=INSTANCES), host, cache_mode=cache_mode)
    driver.host_name = host_name  # what init_host sets, without connecting
    return driver


def normalised(xml: str) -> str:
    return re.sub(r">\s+<", "><", xml.strip())


def assert_golden(xml: str, name: str) -> None:
    expected = (GOLDEN / name).read_text()
    if normalised(xml) != normalised(expected):
        diff = difflib.unified_diff(expected.splitlines(), xml.splitlines(), f"golden/{name}", "generated", lineterm="")
        pytest.fail("domain XML differs from the golden file:\n" + "\n".join(diff))


def test_qemu_domain_with_two_nics_and_a_config_drive() -> None:
    xml = config.domain_xml(driver("qemu", host_name="compute-2").domain_config(SPEC, serial_port=10042))
    assert_golden(xml, "qemu-two-nics-config-drive.xml")


def test_kvm_domain_without_nics_or_config_drive() -> None:
    spec = InstanceSpec(
        uuid=UUID.upper(),  # normalised to the lower-case form libvirt reports
        name="db",
        vcpus=4,
        memory_mb=4096,
        root_gb=20,
        base_image=Path("/srv/stratus/image-cache/base"),
        base_image_format="raw",
    )
    assert_golden(config.domain_xml(driver("kvm", cache_mode="writeback").domain_config(spec)), "kvm-minimal.xml")


def test_kvm_and_qemu_differ_only_in_domain_type_and_cpu() -> None:
    qemu = config.domain_xml(driver("qemu").domain_config(SPEC)).splitlines()
    kvm = config.domain_xml(driver("kvm").domain_config(SPEC)).splitlines()
    changed = {(line[0], line[2:].strip()) for line in difflib.ndiff(qemu, kvm) if line[:1] in "+-"}
    assert changed == {
        ("-", '<domain type="qemu">'),
        ("+", '<domain type="kvm">'),
        ("-", '<cpu mode="custom" match="exact" check="none">'),
        ("-", '<model fallback="forbid">qemu64</model>'),
        ("-", "</cpu>"),
        ("+", '<cpu mode="host-passthrough" check="none" migratable="on" />'),
    }


@pytest.mark.skipif(shutil.which("virt-xml-validate") is None, reason="virt-xml-validate (libvirt-clients) missing")
@pytest.mark.parametrize("virt_type", ["qemu", "kvm"])
def test_generated_xml_passes_libvirts_schema(virt_type: str, tmp_path: Path) -> None:
    document = tmp_path / "domain.xml"
    document.write_text(config.domain_xml(driver(virt_type).domain_config(SPEC)))
    result = subprocess.run(
        ["virt-xml-validate", str(document), "domain"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------------------------
# Reading back libvirt's own XML.

LIBVIRT_XML = """<domain type='qemu'>
  <name>stratus-6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10</name>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/srv/stratus/instances/6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10/disk'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/srv/stratus/instances/6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10/disk.config'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <interface type='ethernet'>
      <mac address='fa:16:3e:00:00:01'/>
      <target dev='tap6f1c0f1e-01' managed='yes'/>
    </interface>
    <interface type='bridge'>
      <source bridge='br0'/>
      <target dev='vnet3'/>
    </interface>
  </devices>
</domain>"""


def test_interface_taps_lists_only_ethernet_taps() -> None:
    assert config.interface_taps(LIBVIRT_XML) == ["tap6f1c0f1e-01"]


def test_disk_path_by_target() -> None:
    assert config.disk_path(LIBVIRT_XML, "vda") == Path(f"{INSTANCES}/{UUID}/disk")
    assert config.disk_path(LIBVIRT_XML, "vdb") is None


@pytest.mark.parametrize(
    ("metadata", "ours"),
    [
        ("<instance><name>x</name></instance>", True),  # what virDomainGetMetadata returns
        ('<s:instance xmlns:s="https://stratus.dev/xmlns/1"/>', True),
        ('<instance xmlns="https://example.org/other"/>', False),
        ("<other/>", False),
        ("not xml", False),
    ],
)
def test_stratus_metadata_is_recognised(metadata: str, ours: bool) -> None:
    assert config.is_stratus_metadata(metadata) is ours


@pytest.mark.parametrize(
    ("metadata", "host"),
    [
        ("<instance><name>x</name><host>compute-2</host></instance>", "compute-2"),
        ('<s:instance xmlns:s="https://stratus.dev/xmlns/1"><s:host>h1</s:host></s:instance>', "h1"),
        ("<instance><name>x</name></instance>", ""),  # defined before hosts were named
        ("not xml", ""),
    ],
)
def test_the_metadata_names_the_host_of_the_guest(metadata: str, host: str) -> None:
    assert config.metadata_host(metadata) == host


def test_the_host_in_generated_xml_reads_back() -> None:
    xml = config.domain_xml(driver("qemu", host_name="compute-2").domain_config(SPEC, serial_port=10042))
    element = ET.fromstring(xml).find("metadata")
    assert element is not None
    assert config.metadata_host(ET.tostring(element[0], encoding="unicode")) == "compute-2"


def test_domain_name_carries_the_uuid() -> None:
    assert config.domain_name(UUID) == f"stratus-{UUID}"


BACKUP = """<domainbackup mode="push">
  <disks>
    <disk name="vdb" backup="yes" type="file">
      <driver type="qcow2" />
      <target file="/srv/volumes/.snapshot-1.qcow2.partial" />
    </disk>
  </disks>
</domainbackup>
"""


def test_a_push_backup_names_only_the_one_disk_and_its_new_qcow2_file() -> None:
    assert config.backup_xml("vdb", Path("/srv/volumes/.snapshot-1.qcow2.partial")) == BACKUP
    for target, path in (("vdb'/>", "/v/x"), ("vdb", "/v/x\n<evil/>")):
        with pytest.raises(config.InvalidDomainValue):
            config.backup_xml(target, Path(path))


def test_the_file_a_running_backup_writes_a_disk_to_reads_back() -> None:
    running = """<domainbackup mode='push'><disks>
      <disk name='vda' backup='no'/>
      <disk name='vdb' backup='yes' type='file' backupmode='full' index='2'>
        <driver type='qcow2'/><target file='/srv/volumes/.snapshot-1.qcow2.partial'/></disk>
    </disks></domainbackup>"""
    assert config.backup_file(running, "vdb") == Path("/srv/volumes/.snapshot-1.qcow2.partial")
    assert config.backup_file(running, "vda") is None
    assert config.backup_file(running, "vdc") is None
