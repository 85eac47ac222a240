"""Domain XML, built from plain dataclasses: no libvirt import, no policy, no I/O.

The driver decides (domain type, cache mode, CPU model, buses); this module only spells its decisions in libvirt's
format. Golden files under ``tests/unit/compute/virt/libvirt/golden/`` pin the output.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

NAMESPACE = "https://stratus.dev/xmlns/1"
"""XML namespace of the metadata element that marks a domain as a Stratus instance."""
NAME_PREFIX = "stratus-"

_NS_PREFIX = "stratus"


def domain_name(uuid: str) -> str:
    """The libvirt name of an instance's domain: unique on the host because the uuid is."""
    return f"{NAME_PREFIX}{uuid}"


@dataclass(frozen=True)
class CpuConfig:
    """``mode`` is libvirt's: ``host-passthrough`` (no model) or ``custom`` (with ``model``)."""

    mode: str
    model: str = ""


@dataclass(frozen=True)
class DiskConfig:
    path: Path
    target: str
    """Guest device name: ``vda``, ``hda`` ..."""
    bus: str
    """``virtio``, ``ide``, ``sata`` or ``scsi``."""
    device: str = "disk"
    """``disk`` or ``cdrom``."""
    format: str = "qcow2"
    cache: str = "none"
    readonly: bool = False


@dataclass(frozen=True)
class InterfaceConfig:
    """A tap the domain creates and owns: libvirt makes it at every start and deletes it at stop. With ``bridge``
    libvirt also adds it to that (existing) bridge each time, so the NIC is connected from the guest's first
    packet on; without, it is a plain tap (``managed='yes'``) connected to nothing."""

    mac: str
    tap: str
    mtu: int
    model: str = "virtio"
    bridge: str = ""


@dataclass(frozen=True)
class DomainConfig:
    uuid: str
    display_name: str
    """The instance's user-visible name, kept in the Stratus metadata element (the domain is named by uuid)."""
    virt_type: str
    """``kvm`` or ``qemu`` (software emulation)."""
    memory_mb: int
    vcpus: int
    console_log: Path
    """Serial console log; written by virtlogd, appended to across restarts of the domain."""
    host: str = ""
    """The compute host the instance belongs to, kept in the metadata: several hosts may share one libvirtd."""
    disks: tuple[DiskConfig, ...] = ()
    interfaces: tuple[InterfaceConfig, ...] = ()
    cpu: CpuConfig | None = None
    """None leaves the CPU to the hypervisor's default (``qemu64`` under TCG)."""
    arch: str = "x86_64"
    machine: str = "pc"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _metadata(parent: ET.Element, config: DomainConfig) -> None:
    # ElementTree writes "prefix:tag" names verbatim; declaring the namespace on the element itself (not on <domain>)
    # is how libvirt keeps and returns custom metadata.
    instance = _sub(_sub(parent, "metadata"), f"{_NS_PREFIX}:instance", **{f"xmlns:{_NS_PREFIX}": NAMESPACE})
    _sub(instance, f"{_NS_PREFIX}:name", config.display_name)
    if config.host:
        _sub(instance, f"{_NS_PREFIX}:host", config.host)


def _os(parent: ET.Element, config: DomainConfig) -> None:
    os_element = _sub(parent, "os")
    _sub(os_element, "type", "hvm", arch=config.arch, machine=config.machine)
    _sub(os_element, "boot", dev="hd")


def _cpu(parent: ET.Element, cpu: CpuConfig | None) -> None:
    if cpu is None:
        return
    if cpu.mode == "host-passthrough":
        _sub(parent, "cpu", mode="host-passthrough", check="none", migratable="on")
    else:
        element = _sub(parent, "cpu", mode=cpu.mode, match="exact", check="none")
        _sub(element, "model", cpu.model, fallback="forbid")


def _clock(parent: ET.Element) -> None:
    clock = _sub(parent, "clock", offset="utc")
    _sub(clock, "timer", name="pit", tickpolicy="delay")
    _sub(clock, "timer", name="rtc", tickpolicy="catchup")
    _sub(clock, "timer", name="hpet", present="no")


def _disk(parent: ET.Element, disk: DiskConfig) -> None:
    element = _sub(parent, "disk", type="file", device=disk.device)
    _sub(element, "driver", name="qemu", type=disk.format, cache=disk.cache)
    _sub(element, "source", file=str(disk.path))
    _sub(element, "target", dev=disk.target, bus=disk.bus)
    if disk.readonly:
        _sub(element, "readonly")


def _interface(parent: ET.Element, nic: InterfaceConfig) -> None:
    element = _sub(parent, "interface", type="bridge" if nic.bridge else "ethernet")
    _sub(element, "mac", address=nic.mac)
    if nic.bridge:
        _sub(element, "source", bridge=nic.bridge)
        _sub(element, "target", dev=nic.tap)
    else:
        _sub(element, "target", dev=nic.tap, managed="yes")
    _sub(element, "model", type=nic.model)
    _sub(element, "mtu", size=str(nic.mtu))


def _serial(parent: ET.Element, console_log: Path) -> None:
    # A pty (for `virsh console`) whose output QEMU also logs through virtlogd, which keeps writing while nobody is
    # attached, appends across restarts and rotates the file.
    serial = _sub(parent, "serial", type="pty")
    _sub(serial, "log", file=str(console_log), append="on")
    _sub(serial, "target", port="0")


def _devices(parent: ET.Element, config: DomainConfig) -> None:
    devices = _sub(parent, "devices")
    for disk in config.disks:
        _disk(devices, disk)
    for nic in config.interfaces:
        _interface(devices, nic)
    # No USB: nothing we attach needs it (no tablet without graphics), and it is one emulated bus less to boot
    # through and to defend.
    _sub(devices, "controller", type="usb", model="none")
    _serial(devices, config.console_log)
    _sub(devices, "memballoon", model="virtio")
    rng = _sub(devices, "rng", model="virtio")
    _sub(rng, "backend", "/dev/urandom", model="random")


def domain_xml(config: DomainConfig) -> str:
    """The ``<domain>`` document for ``config``, indented by two spaces."""
    domain = ET.Element("domain", type=config.virt_type)
    _sub(domain, "name", domain_name(config.uuid))
    _sub(domain, "uuid", config.uuid)
    _metadata(domain, config)
    _sub(domain, "memory", str(config.memory_mb), unit="MiB")
    _sub(domain, "vcpu", str(config.vcpus), placement="static")
    _os(domain, config)
    features = _sub(domain, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    _cpu(domain, config.cpu)
    _clock(domain)
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "destroy")
    _devices(domain, config)
    ET.indent(domain, space="  ")
    return ET.tostring(domain, encoding="unicode") + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Reading back what libvirt returns (XMLDesc): the few facts the driver needs.


def interface_taps(xml: str) -> list[str]:
    """Names of the ethernet taps in a domain's XML."""
    root = ET.fromstring(xml)
    taps = []
    for target in root.findall("./devices/interface[@type='ethernet']/target"):
        if target.get("dev"):
            taps.append(target.get("dev", ""))
    return taps


def disk_path(xml: str, target: str) -> Path | None:
    """Source file of the disk with guest device name ``target``."""
    source = ET.fromstring(xml).find(f"./devices/disk/target[@dev='{target}']/../source")
    return None if source is None or source.get("file") is None else Path(source.get("file", ""))


def is_stratus_metadata(xml: str) -> bool:
    """Whether ``xml`` (what ``virDomain.metadata`` returns for our namespace) is a Stratus instance element."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return False
    return root.tag in (f"{{{NAMESPACE}}}instance", "instance")


def metadata_host(xml: str) -> str:
    """The host named in our metadata element ("" when it names none: domains defined before hosts were named)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return ""
    element = root.find(f"{{{NAMESPACE}}}host")
    if element is None:
        element = root.find("host")
    return (element.text or "").strip() if element is not None else ""
