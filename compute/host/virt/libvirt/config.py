"""Domain XML, built from plain dataclasses: no libvirt import, no policy, no I/O.

The driver decides (domain type, cache mode, CPU model, buses); this module only spells its decisions in libvirt's
format. Golden files under ``tests/unit/compute/host/virt/libvirt/golden/`` pin the output.

Every value is checked against what its place allows when a config is built (a MAC, an interface name, a uuid,
one of libvirt's words), and the whole document once more when it is written: ElementTree escapes ``<&"`` but
writes control characters and non-characters as they are, which makes a document libvirt refuses (or, in a
name, a line break in the host's logs). ``InvalidDomainValue`` names the value; nothing is written.
"""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAMESPACE = "https://stratus.dev/xmlns/1"
"""XML namespace of the metadata element that marks a domain as a Stratus instance."""
NAME_PREFIX = "stratus-"

_NS_PREFIX = "stratus"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_IFNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
_WORD = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
_TARGET = re.compile(r"[a-z]{2,4}")
_RBD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}/[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
_MONITOR_HOST = re.compile(r"[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}")
_XML_TEXT = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
"""XML 1.0's ``Char`` production: no other control character, no surrogate, no U+FFFE/U+FFFF."""
_NO_CONTROL = re.compile("[\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


class InvalidDomainValue(ValueError):
    """A value outside the character set of its place in the domain XML; no document was made."""

    def __init__(self, what: str, value: Any) -> None:
        super().__init__(f"refusing to write {value!r} as {what} in domain XML")


def _check(pattern: re.Pattern[str], value: Any, what: str) -> None:
    if not isinstance(value, str | Path) or not pattern.fullmatch(str(value)):
        raise InvalidDomainValue(what, value)


def domain_name(uuid: str) -> str:
    """The libvirt name of an instance's domain: unique on the host because the uuid is."""
    return f"{NAME_PREFIX}{uuid}"


@dataclass(frozen=True)
class CpuConfig:
    """``mode`` is libvirt's: ``host-passthrough`` (no model) or ``custom`` (with ``model``)."""

    mode: str
    model: str = ""

    def __post_init__(self) -> None:
        _check(_WORD, self.mode, "a CPU mode")
        if self.model:
            _check(_WORD, self.model, "a CPU model")


@dataclass(frozen=True)
class RbdSource:
    """A Ceph RBD image QEMU opens itself (librbd): ``pool/image``, the monitors, and the cephx user whose key is
    the libvirt secret ``secret_uuid`` (no user: no auth element)."""

    name: str
    hosts: tuple[tuple[str, int], ...]
    auth_username: str = ""
    secret_uuid: str = ""

    def __post_init__(self) -> None:
        _check(_RBD_NAME, self.name, "an RBD image name")
        for host, port in self.hosts:
            _check(_MONITOR_HOST, host, "a Ceph monitor host")
            if not is_port(port):
                raise InvalidDomainValue("a Ceph monitor port", port)
        if self.auth_username or self.secret_uuid:
            _check(_WORD, self.auth_username, "a cephx user name")
            _check(_UUID, self.secret_uuid, "a libvirt secret uuid")


@dataclass(frozen=True)
class DiskConfig:
    path: Path | None
    """The file behind the disk; None for a network disk (``rbd``)."""
    target: str
    """Guest device name: ``vda``, ``hda`` ..."""
    bus: str
    """``virtio``, ``ide``, ``sata`` or ``scsi``."""
    device: str = "disk"
    """``disk`` or ``cdrom``."""
    format: str = "qcow2"
    cache: str = "none"
    readonly: bool = False
    serial: str = ""
    """What the guest reads as the disk's serial: a volume's id ("" for the instance's own disks)."""
    rbd: RbdSource | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.rbd is None):
            raise InvalidDomainValue("a disk source (a path or an RBD image, one of them)", self.path)
        if self.path is not None:
            _check(_NO_CONTROL, self.path, "a disk path")
        _check(_TARGET, self.target, "a disk target")
        if self.serial:
            _check(_UUID, self.serial, "a disk serial")
        for what, word in (("a bus", self.bus), ("a device", self.device), ("a format", self.format),
                           ("a cache mode", self.cache)):  # fmt: skip
            _check(_WORD, word, what)


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

    def __post_init__(self) -> None:
        _check(_MAC, self.mac, "a MAC address")
        _check(_IFNAME, self.tap, "a tap name")
        if self.bridge:
            _check(_IFNAME, self.bridge, "a bridge name")
        _check(_WORD, self.model, "a NIC model")
        if isinstance(self.mtu, bool) or not isinstance(self.mtu, int) or not 68 <= self.mtu <= 65535:
            raise InvalidDomainValue("an MTU", self.mtu)


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
    serial_port: int | None = None
    """TCP port of the serial console on ``console_listen`` (the console proxy connects there); None leaves it a
    pty that only ``virsh console`` reaches. Either way the console log is written."""
    console_listen: str = "127.0.0.1"
    """Address the serial port and the VNC display listen on: the host's loopback or management address, never a
    public one (the console proxy is the only client, after checking a token)."""
    incoming: bool = False
    """Defined on a live migration's target before the guest arrives (``pre_live_migration``): the host does not
    list it as its own until the migration replaced the definition with the guest's."""

    def __post_init__(self) -> None:
        _check(_UUID, self.uuid, "an instance uuid")
        if self.serial_port is not None and not is_port(self.serial_port):
            raise InvalidDomainValue("a serial TCP port", self.serial_port)
        if not is_ip_address(self.console_listen):
            raise InvalidDomainValue("a console listen address", self.console_listen)
        _check(_XML_TEXT, self.display_name, "an instance name")
        _check(_NO_CONTROL, self.host, "a host name")
        _check(_NO_CONTROL, self.console_log, "a console log path")
        for what, word in (("a domain type", self.virt_type), ("an architecture", self.arch),
                           ("a machine type", self.machine)):  # fmt: skip
            _check(_WORD, word, what)
        for what, number in (("a memory size", self.memory_mb), ("a vCPU count", self.vcpus)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise InvalidDomainValue(what, number)


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
    if config.incoming:
        _sub(instance, f"{_NS_PREFIX}:incoming")


SMBIOS_MANUFACTURER = "OpenStack Foundation"
SMBIOS_PRODUCT = "OpenStack Nova"
"""What the guest reads as its DMI system product. cloud-init's OpenStack datasource looks for this exact name
(Nova writes it) before it asks 169.254.169.254 for metadata: without it a guest with no config drive finds no
datasource at all."""


def _sysinfo(parent: ET.Element, config: DomainConfig) -> None:
    system = _sub(_sub(parent, "sysinfo", type="smbios"), "system")
    for name, value in (("manufacturer", SMBIOS_MANUFACTURER), ("product", SMBIOS_PRODUCT),
                        ("serial", config.uuid), ("uuid", config.uuid), ("family", "Virtual Machine")):  # fmt: skip
        _sub(system, "entry", value, name=name)


def _os(parent: ET.Element, config: DomainConfig) -> None:
    os_element = _sub(parent, "os")
    _sub(os_element, "type", "hvm", arch=config.arch, machine=config.machine)
    _sub(os_element, "boot", dev="hd")
    _sub(os_element, "smbios", mode="sysinfo")


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


def _disk(parent: ET.Element, disk: DiskConfig) -> ET.Element:
    element = _sub(parent, "disk", type="file" if disk.rbd is None else "network", device=disk.device)
    _sub(element, "driver", name="qemu", type=disk.format, cache=disk.cache)
    if disk.rbd is None:
        _sub(element, "source", file=str(disk.path))
    else:
        source = _sub(element, "source", protocol="rbd", name=disk.rbd.name)
        for host, port in disk.rbd.hosts:
            _sub(source, "host", name=host, port=str(port))
        if disk.rbd.auth_username:
            auth = _sub(element, "auth", username=disk.rbd.auth_username)
            _sub(auth, "secret", type="ceph", uuid=disk.rbd.secret_uuid)
    _sub(element, "target", dev=disk.target, bus=disk.bus)
    if disk.serial:
        _sub(element, "serial", disk.serial)
    if disk.readonly:
        _sub(element, "readonly")
    return element


def disk_xml(disk: DiskConfig) -> str:
    """One ``<disk>`` element on its own: what a hot-plug (``attachDeviceFlags``) or an unplug is given."""
    element = _disk(ET.Element("devices"), disk)
    _check_document(element)
    return ET.tostring(element, encoding="unicode") + "\n"


def interface_xml(nic: InterfaceConfig) -> str:
    """One ``<interface>`` element on its own: what a NIC hot-plug (``attachDeviceFlags``) is given."""
    parent = ET.Element("devices")
    _interface(parent, nic)
    element = parent[0]
    _check_document(element)
    return ET.tostring(element, encoding="unicode") + "\n"


def backup_xml(target: str, path: Path) -> str:
    """A push-mode backup (``virDomainBackupBegin``) of the one disk ``target`` into a new qcow2 file at ``path``,
    which libvirt creates (and removes again when the job fails); the domain's other disks take no part."""
    _check(_TARGET, target, "a disk target")
    _check(_NO_CONTROL, path, "a backup file")
    root = ET.Element("domainbackup", mode="push")
    disk = _sub(_sub(root, "disks"), "disk", name=target, backup="yes", type="file")
    _sub(disk, "driver", type="qcow2")
    _sub(disk, "target", file=str(path))
    _check_document(root)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


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


def is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def is_ip_address(value: object) -> bool:
    """An IPv4 or IPv6 literal (no host name, no zone): the only form a listen address takes here."""
    if not isinstance(value, str) or "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _serial(parent: ET.Element, config: DomainConfig) -> None:
    # QEMU logs what the guest writes through virtlogd, which keeps writing while nobody is attached, appends
    # across restarts and rotates the file. As a TCP server (raw bytes, no telnet negotiation, no TLS) that never
    # waits for a client, it lets the console proxy attach and detach at any time.
    if config.serial_port is None:
        serial = _sub(parent, "serial", type="pty")
    else:
        serial = _sub(parent, "serial", type="tcp")
        _sub(serial, "source", mode="bind", host=config.console_listen, service=str(config.serial_port), tls="no")
        _sub(serial, "protocol", type="raw")
    _sub(serial, "log", file=str(config.console_log), append="on")
    _sub(serial, "target", port="0")


def _graphics(parent: ET.Element, config: DomainConfig) -> None:
    # A VNC display on a port libvirt picks at each start (5900 and up), on the listen address only.
    graphics = _sub(parent, "graphics", type="vnc", autoport="yes", listen=config.console_listen)
    _sub(graphics, "listen", type="address", address=config.console_listen)
    _sub(_sub(parent, "video"), "model", type="vga", heads="1")


def _devices(parent: ET.Element, config: DomainConfig) -> None:
    devices = _sub(parent, "devices")
    for disk in config.disks:
        _disk(devices, disk)
    for nic in config.interfaces:
        _interface(devices, nic)
    # No USB: nothing we attach needs it (no tablet without graphics), and it is one emulated bus less to boot
    # through and to defend.
    _sub(devices, "controller", type="usb", model="none")
    _serial(devices, config)
    _graphics(devices, config)
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
    _sysinfo(domain, config)
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
    _check_document(domain)
    ET.indent(domain, space="  ")
    return ET.tostring(domain, encoding="unicode") + "\n"


def _check_document(root: ET.Element) -> None:
    """Every text and attribute of the document is XML 1.0 text, whatever reached it (defence in depth)."""
    for element in root.iter():
        for name, value in element.attrib.items():
            _check(_XML_TEXT, value, f"attribute {name!r} of <{element.tag}>")
        if element.text is not None:
            _check(_XML_TEXT, element.text, f"the text of <{element.tag}>")


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


def interfaces(xml: str) -> list[tuple[str, str]]:
    """Every NIC of a domain's XML as (MAC, tap name); the tap is "" when libvirt names none (a stopped domain)."""
    found = []
    for interface in ET.fromstring(xml).findall("./devices/interface"):
        mac, target = interface.find("mac"), interface.find("target")
        if mac is not None and mac.get("address"):
            found.append((mac.get("address", "").lower(), "" if target is None else target.get("dev", "")))
    return found


def interface_element(xml: str, mac: str) -> str | None:
    """The ``<interface>`` element with MAC ``mac`` as libvirt wrote it (what an unplug is given), or None."""
    for interface in ET.fromstring(xml).findall("./devices/interface"):
        found = interface.find("mac")
        if found is not None and (found.get("address") or "").lower() == mac.lower():
            return ET.tostring(interface, encoding="unicode")
    return None


def disk_targets(xml: str) -> list[str]:
    """The guest device names of a domain's disks (``vda``, ``vdb``...; the config drive's too), in order."""
    targets = (disk.find("target") for disk in ET.fromstring(xml).findall("./devices/disk"))
    return [t.get("dev", "") for t in targets if t is not None and t.get("dev")]


def serial_tcp_port(xml: str) -> int | None:
    """The TCP port the first serial port listens on, or None when it is no TCP server (a pty)."""
    source = ET.fromstring(xml).find("./devices/serial[@type='tcp']/source[@mode='bind']")
    return None if source is None else _port(source.get("service"))


def serial_log(xml: str) -> Path | None:
    """The file the serial console is logged to, None when the domain logs it nowhere."""
    log = ET.fromstring(xml).find("./devices/serial/log")
    return Path(log.get("file", "")) if log is not None and log.get("file") else None


def vnc_port(xml: str) -> int | None:
    """The VNC display's port in a running domain's XML (None when stopped, or defined without a display)."""
    graphics = ET.fromstring(xml).find("./devices/graphics[@type='vnc']")
    return None if graphics is None else _port(graphics.get("port"))


def console_listen(xml: str, kind: str) -> str | None:
    """The address the ``kind`` (``serial`` or ``vnc``) console listens on, as libvirt reports it."""
    root = ET.fromstring(xml)
    if kind == "serial":
        element = root.find("./devices/serial[@type='tcp']/source[@mode='bind']")
        address = None if element is None else element.get("host")
    else:
        element = root.find("./devices/graphics[@type='vnc']")
        address = None if element is None else element.get("listen")
    return address if is_ip_address(address) else None


def _port(text: str | None) -> int | None:
    try:
        port = int(text or "")
    except ValueError:
        return None
    return port if is_port(port) else None


def disk_path(xml: str, target: str) -> Path | None:
    """Source file of the disk with guest device name ``target``."""
    source = ET.fromstring(xml).find(f"./devices/disk/target[@dev='{target}']/../source")
    return None if source is None or source.get("file") is None else Path(source.get("file", ""))


def disk_format(xml: str, target: str) -> str:
    """The image format QEMU opens the disk ``target`` as (``raw`` when the definition does not say)."""
    driver = ET.fromstring(xml).find(f"./devices/disk/target[@dev='{target}']/../driver")
    fmt = "raw" if driver is None else driver.get("type", "raw")
    if fmt not in ("raw", "qcow2"):
        raise InvalidDomainValue("a volume format", fmt)
    return fmt


def disk_serials(xml: str) -> dict[str, str]:
    """Every disk's guest device name with its serial ("" when it has none)."""
    found = {}
    for disk in ET.fromstring(xml).findall("./devices/disk"):
        target = disk.find("target")
        if target is not None and target.get("dev"):
            found[target.get("dev", "")] = (disk.findtext("serial") or "").strip()
    return found


def disk_element(xml: str, target: str) -> str | None:
    """The ``<disk>`` element with guest device name ``target`` as libvirt wrote it (what an unplug is given),
    or None when the domain has no such disk."""
    for disk in ET.fromstring(xml).findall("./devices/disk"):
        found = disk.find("target")
        if found is not None and found.get("dev") == target:
            return ET.tostring(disk, encoding="unicode")
    return None


def backup_file(xml: str, target: str) -> Path | None:
    """The file a running backup job (``virDomainBackupGetXMLDesc``) writes the disk ``target`` to, or None when
    the job does not copy that disk into a file."""
    for disk in ET.fromstring(xml).findall("./disks/disk"):
        if disk.get("name") == target and disk.get("backup", "yes") == "yes":
            found = disk.find("target")
            return None if found is None or not found.get("file") else Path(found.get("file", ""))
    return None


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


def is_incoming(xml: str) -> bool:
    """Whether our metadata element marks a definition made for a live migration still to arrive."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return False
    return root.find(f"{{{NAMESPACE}}}incoming") is not None or root.find("incoming") is not None
