"""What a live migration between two hosts' libvirtds is made of: flags, parameters, the destination's domain XML and
the job's figures. Plain functions, no I/O: the driver decides when, this module spells it in libvirt's terms.

The migration is peer to peer: the source's libvirtd opens its own connection to the target's (``connection_uri``,
``qemu+tls://<address>/system`` by default: TLS with the hosts' certificates, on the underlay only) and runs the
whole protocol itself, so it survives the agent that asked for it and needs no credentials in the agent. QEMU's
migration stream, and the NBD stream of a block migration, go to the target's underlay address too
(``stream_uri``), encrypted by QEMU's own TLS (``VIR_MIGRATE_TLS``, the setting ``live_migration_with_native_tls``)
with each host's QEMU certificates (``qemu_tls_dir``, where its qemu.conf's ``migrate_tls_x509_cert_dir`` points).
Without them the migration is refused (:func:`check_native_tls`, and libvirt itself): never sent in clear instead.

The guest moves with a destination XML (``destination_xml``): the source's live definition, ABI untouched, with
what differs on the target taken from the definition the target made for it in ``pre_live_migration``: the
serial console's TCP port (chosen free on the target), the disk files' and console log's paths (the target's
instance directory) and the host named in the Stratus metadata.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import libvirt

from compute.host.virt.base import DriverError, MigrationStats, MigrationTarget
from compute.host.virt.libvirt import config

QEMU_TLS_FILES = ("ca-cert.pem", "server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem")
"""What QEMU's ``tls-creds-x509`` reads from its directory: the source's QEMU is a client, the target's a server
that also checks the client's certificate (``migrate_tls_x509_verify``)."""

LIVE_FLAGS = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PEER2PEER
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    | libvirt.VIR_MIGRATE_ABORT_ON_ERROR
)
"""Always: the guest keeps running while its memory is copied, the source's libvirtd drives the migration, the
target keeps the definition (a persistent domain) and the source forgets it once the guest runs there; a disk
error during the copy aborts the migration instead of pausing the guest."""

ET.register_namespace("stratus", config.NAMESPACE)  # our metadata keeps its prefix when a document is rewritten


class InvalidTarget(DriverError):
    msg_fmt = "Cannot migrate to {host!r}: {reason}"
    code = 400


def checked_address(target: MigrationTarget) -> str:
    """The target's underlay address, which must be an IP literal: it becomes part of URIs."""
    try:
        return str(ipaddress.ip_address(target.address))
    except ValueError:
        raise InvalidTarget(host=target.host, reason=f"{target.address!r} is not an IP address") from None


def _host_part(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def connection_uri(template: str, target: MigrationTarget) -> str:
    """The libvirt URI of the target's libvirtd: ``template`` (``libvirt_migration_uri``) with ``{address}``."""
    return template.replace("{address}", _host_part(checked_address(target)))


def stream_uri(target: MigrationTarget) -> str:
    """Where QEMU sends the migration stream: straight to the target's underlay address."""
    return f"tcp://{_host_part(checked_address(target))}"


class NativeTlsUnavailable(DriverError):
    msg_fmt = (
        "QEMU's TLS files for encrypted migration streams are missing on {host} ({missing} in {directory}): the "
        "live migration is refused rather than sent in clear. Install them (`stratus-manage host setup` with a new "
        "bundle from `stratus-manage host join`), or set live_migration_with_native_tls = false."
    )
    code = 409


def check_native_tls(directory: Path, host: str) -> None:
    """NativeTlsUnavailable unless ``directory`` holds QEMU's five files (each a file this process can see; whether
    QEMU can read them, libvirt finds out)."""
    missing = [name for name in QEMU_TLS_FILES if not (directory / name).is_file()]
    if missing:
        raise NativeTlsUnavailable(host=host, missing=", ".join(missing), directory=directory)


TLS_FAILURE_WORDS = ("tls", "x509", "certificate", "credentials", "gnutls")
"""What libvirt's or QEMU's message says when a migration failed on QEMU's TLS (a file libvirtd's QEMU cannot
read, a certificate the other side refuses)."""


def tls_failure_hint(message: str) -> str:
    """A sentence for a migration with ``VIR_MIGRATE_TLS`` that libvirt refused in words of TLS, else ""."""
    lowered = message.lower()
    if not any(word in lowered for word in TLS_FAILURE_WORDS):
        return ""
    return (
        " QEMU's native TLS failed: check the QEMU TLS files of both hosts (qemu.conf's migrate_tls_x509_cert_dir, "
        "readable by QEMU's group) or set live_migration_with_native_tls = false to migrate in clear."
    )


def live_flags(copy_disks: bool, native_tls: bool, paused: bool = False, shared_files: bool = False) -> int:
    """``LIVE_FLAGS``, plus ``NON_SHARED_INC`` when local disks are copied (only the top of each disk: the target
    has the same base image below an empty overlay of its own), ``TLS`` for QEMU's encrypted streams, and
    ``PAUSED`` for a guest its user paused (it stays so on the target; one paused by a force-complete runs on).
    ``shared_files``: the guest has volumes in the file volume store, which every host mounts at the same path (the
    operator's shared store, NFS on real hosts) and which are opened with cache ``none``: libvirt cannot tell such a
    store is shared unless its filesystem is one it knows, so ``UNSAFE`` says so."""
    flags = LIVE_FLAGS | (libvirt.VIR_MIGRATE_PAUSED if paused else 0)
    if shared_files:
        flags |= libvirt.VIR_MIGRATE_UNSAFE
    if copy_disks:
        flags |= libvirt.VIR_MIGRATE_NON_SHARED_INC
    if native_tls:
        flags |= libvirt.VIR_MIGRATE_TLS
    return flags


def live_params(target: MigrationTarget, destination_xml: str, persistent_xml: str, disks: list[str]) -> dict[str, Any]:
    """``virDomainMigrateToURI3``'s typed parameters: the stream and NBD listen on the target's address; the
    target's live and persistent definitions; the disks to copy (none: no storage migration)."""
    address = checked_address(target)
    params: dict[str, Any] = {
        libvirt.VIR_MIGRATE_PARAM_URI: stream_uri(target),
        libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS: address,
        libvirt.VIR_MIGRATE_PARAM_DEST_XML: destination_xml,
        libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: persistent_xml,
    }
    if disks:
        params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = list(disks)
    return params


def _file_disks(root: ET.Element) -> dict[str, ET.Element]:
    """Each file-backed disk's ``<source>`` element by its guest device name."""
    found = {}
    for disk in root.findall("./devices/disk[@type='file']"):
        target, source = disk.find("target"), disk.find("source")
        if target is not None and source is not None and target.get("dev") and source.get("file"):
            found[target.get("dev", "")] = source
    return found


def _serial_sources(root: ET.Element) -> list[ET.Element]:
    """The serial port's TCP server, and the ``<console>`` libvirt's live XML mirrors it as."""
    return root.findall("./devices/serial[@type='tcp']/source[@mode='bind']") + root.findall(
        "./devices/console[@type='tcp']/source[@mode='bind']"
    )


def _serial_logs(root: ET.Element) -> list[ET.Element]:
    return root.findall("./devices/serial/log") + root.findall("./devices/console/log")


def _metadata_host(root: ET.Element) -> ET.Element | None:
    return root.find(f"./metadata/{{{config.NAMESPACE}}}instance/{{{config.NAMESPACE}}}host")


def destination_xml(source_xml: str, target_xml: str) -> str:
    """``source_xml`` (the guest's definition here, as libvirt gives it for a migration) with, from ``target_xml``
    (the definition the target made for the guest): the source file of every file disk the target defines under
    the same device name, the serial console's TCP port, address and log file, the display's address, and the host
    in our metadata. Nothing else changes: libvirt checks that the guest's ABI (devices, addresses, CPU) is the
    same on both sides.

    DriverError when the two do not describe the same guest (another uuid) or the target left out a local disk."""
    source, target = ET.fromstring(source_xml), ET.fromstring(target_xml)
    if (source.findtext("uuid") or "").strip() != (target.findtext("uuid") or "").strip():
        raise DriverError(reason="the target's definition is of another guest")
    target_disks = _file_disks(target)
    for device, element in _file_disks(source).items():
        if device not in target_disks:
            raise DriverError(reason=f"the target has no file for the guest's disk {device}")
        element.set("file", target_disks[device].get("file", ""))
    port = config.serial_tcp_port(target_xml)
    listen_there = next((e.get("host") for e in _serial_sources(target) if e.get("host")), None)
    for element in _serial_sources(source):
        if port is None:
            raise DriverError(reason="the target chose no serial console port for the guest")
        element.set("service", str(port))
        if listen_there:  # the console listens where the target's console proxy reaches it (its own address)
            element.set("host", listen_there)
    log_there = target.find("./devices/serial/log")
    for element in _serial_logs(source):
        if log_there is not None and log_there.get("file"):
            element.set("file", log_there.get("file", ""))
    _graphics_listen(source, target)
    host_here, host_there = _metadata_host(source), _metadata_host(target)
    if host_here is not None and host_there is not None:
        host_here.text = host_there.text
    return ET.tostring(source, encoding="unicode") + "\n"


def _graphics_listen(source: ET.Element, target: ET.Element) -> None:
    """The display listens on the target's console address: the source's may not exist there (a host's own
    address), and QEMU would not start on the target. Its port is chosen again there (``autoport``)."""
    there = target.find("./devices/graphics[@type='vnc']")
    address = None if there is None else there.get("listen")
    if not address:
        return
    for graphics in source.findall("./devices/graphics[@type='vnc']"):
        if graphics.get("listen"):
            graphics.set("listen", address)
        for listen in graphics.findall("listen[@type='address']"):
            listen.set("address", address)


def local_disks(xml: str, instance_dir: Path) -> list[str]:
    """Guest device names of the writable file disks in ``instance_dir`` (the root overlay): what a block
    migration copies. Read-only ones (the config drive) the target makes itself; volumes are shared storage."""
    found = []
    for disk in ET.fromstring(xml).findall("./devices/disk[@type='file']"):
        target, source = disk.find("target"), disk.find("source")
        if target is None or source is None or disk.find("readonly") is not None:
            continue
        path = Path(source.get("file", ""))
        if path.parent == instance_dir and target.get("dev"):
            found.append(target.get("dev", ""))
    return found


def shared_file_volumes(xml: str, volume_dir: Path) -> list[str]:
    """Guest device names of the writable file disks below ``volume_dir`` opened with cache ``none``: volumes of the
    file store every host shares, which a live migration neither copies nor may leave in a host's page cache."""
    found = []
    root = volume_dir.resolve()
    for disk in ET.fromstring(xml).findall("./devices/disk[@type='file']"):
        target, source, driver = disk.find("target"), disk.find("source"), disk.find("driver")
        if target is None or source is None or disk.find("readonly") is not None:
            continue
        if Path(source.get("file", "")).is_relative_to(root) and driver is not None and driver.get("cache") == "none":
            found.append(target.get("dev", ""))
    return found


def _int(stats: Mapping[str, Any], key: str) -> int:
    value = stats.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def job_stats(stats: Mapping[str, Any], completed: bool = False) -> MigrationStats:
    """``virDomainGetJobStats``' figures as MigrationStats; the downtime only from a completed job's."""
    downtime = stats.get(libvirt.VIR_DOMAIN_JOB_DOWNTIME)
    return MigrationStats(
        memory_total=_int(stats, libvirt.VIR_DOMAIN_JOB_MEMORY_TOTAL),
        memory_processed=_int(stats, libvirt.VIR_DOMAIN_JOB_MEMORY_PROCESSED),
        memory_remaining=_int(stats, libvirt.VIR_DOMAIN_JOB_MEMORY_REMAINING),
        disk_total=_int(stats, libvirt.VIR_DOMAIN_JOB_DISK_TOTAL),
        disk_processed=_int(stats, libvirt.VIR_DOMAIN_JOB_DISK_PROCESSED),
        disk_remaining=_int(stats, libvirt.VIR_DOMAIN_JOB_DISK_REMAINING),
        elapsed_ms=_int(stats, libvirt.VIR_DOMAIN_JOB_TIME_ELAPSED),
        downtime_ms=int(downtime) if completed and isinstance(downtime, int) else None,
    )


def is_outgoing_migration(stats: Mapping[str, Any]) -> bool:
    """Whether a domain's current job (``jobStats()``) is an outgoing migration (not a backup, a save...)."""
    return stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) != libvirt.VIR_DOMAIN_JOB_NONE and stats.get(
        libvirt.VIR_DOMAIN_JOB_OPERATION
    ) in (libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT, None)


def pool_xml(name: str, directory: Path) -> str:
    """A transient directory storage pool at ``directory`` (made if missing, mode 0755: QEMU passes through).
    Both come from this host's own values (an instance uuid, a path from the settings)."""
    if not directory.is_absolute() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in str(directory)):
        raise DriverError(reason=f"cannot write to {directory!r} on the target")
    root = ET.Element("pool", type="dir")
    ET.SubElement(root, "name").text = name
    target = ET.SubElement(root, "target")
    ET.SubElement(target, "path").text = str(directory)
    ET.SubElement(ET.SubElement(target, "permissions"), "mode").text = "0755"
    return ET.tostring(root, encoding="unicode") + "\n"


def volume_xml(name: str, size: int) -> str:
    """A plain file ``name`` of ``size`` bytes in a directory pool, its bytes to be uploaded as they are."""
    root = ET.Element("volume")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "capacity", unit="bytes").text = str(size)
    ET.SubElement(root, "allocation", unit="bytes").text = "0"
    target = ET.SubElement(root, "target")
    ET.SubElement(target, "format", type="raw")
    ET.SubElement(ET.SubElement(target, "permissions"), "mode").text = "0644"
    return ET.tostring(root, encoding="unicode") + "\n"
