"""The hypervisor driver contract: what a compute host agent asks of the machine it runs on.

The agent holds no database access; everything a driver needs arrives in an ``InstanceSpec``. Every method is
idempotent where the docstring says so, because Celery may redeliver a task: a second ``spawn`` of a running
instance, or a ``destroy`` of one that is gone, succeeds without doing anything.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from common.exceptions import StratusError
from compute.states import PowerState  # the state axis hosts report; declared with the others


class DriverError(StratusError):
    """The hypervisor refused or failed an operation; the message is shown to the user as the fault."""

    msg_fmt = "{reason}"
    code = 500
    title = "Compute Error"


class InstanceNotFound(DriverError):
    msg_fmt = "Instance {uuid} is not on this host."
    code = 404


class ConsoleUnavailable(DriverError):
    """The instance has no console of that kind right now (stopped, suspended, or defined without one)."""

    msg_fmt = "The {kind} console of instance {uuid} is not available: {reason}"
    code = 409


class ConsoleKind(StrEnum):
    """The interactive consoles a guest offers; each is a TCP endpoint on its host that only the console proxy
    reaches (it listens on the host's loopback, never on a public address)."""

    SERIAL = "serial"
    """The first serial port, raw bytes both ways (what the guest also logs to its console log)."""
    VNC = "vnc"
    """The graphical display, spoken as RFB (VNC)."""


@dataclass(frozen=True)
class ConsoleEndpoint:
    """Where a running guest's console listens on its host, read from the hypervisor at the moment it is asked
    (a VNC port is chosen again at every start of the guest)."""

    host: str
    port: int
    kind: ConsoleKind


@dataclass(frozen=True)
class Nic:
    """One guest network interface: a tap named ``tap`` with this MAC, added to ``bridge`` whenever the guest
    starts. The network agent makes that bridge before the guest is built (a per-port bridge wired to the tenant
    network, Nova's "hybrid plug"), so the NIC is connected from the first packet. Without a bridge the tap is
    connected to nothing."""

    mac: str
    tap: str
    mtu: int = 1500
    port_id: str = ""
    bridge: str = ""


@dataclass(frozen=True)
class ConfigDrive:
    """Contents of the ISO 9660 config drive (label ``config-2``), laid out as OpenStack's ``openstack/latest/``."""

    meta_data: dict[str, Any]
    network_data: dict[str, Any] = field(default_factory=dict)
    user_data: bytes | None = None
    vendor_data: dict[str, Any] = field(default_factory=dict)


VOLUME_DEVICE = re.compile(r"vd[b-z]")
"""Guest device names a volume may take (``vda`` is the root disk): what the API hands out as ``/dev/vdX``."""
_RBD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}/[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
_HOST_NAME = re.compile(r"[A-Za-z0-9:](?:[A-Za-z0-9.:-]{0,252})")
"""A monitor's host name or IP literal (IPv6 without brackets, as Ceph's monmap prints it)."""
_USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_FORMATS = ("raw", "qcow2")


class InvalidConnection(DriverError):
    """A ``connection_info`` this host will not plug in: malformed, of an unknown type, or pointing somewhere a
    volume may not be (the message says which; no document or command was made of it)."""

    msg_fmt = "Cannot attach the volume: {reason}"
    code = 400


@dataclass(frozen=True)
class VolumeConnection:
    """How to reach one volume from this host: the host's own typed reading of Cinder's ``connection_info``
    (``{"driver_volume_type": ..., "data": {...}}``, made by the volume service's backend).

    ``file``: ``path`` (absolute; the driver also requires it below its volume directory) and ``format``.
    ``fake``: the fake volume backend's, with no data (only the fake driver takes them).
    ``rbd``: ``name`` (``pool/image``), monitor ``hosts`` with their ``ports``, the cephx ``auth_username`` and the
    uuid of the libvirt secret holding its key (``secret_uuid``); the key itself never travels.
    Every value is checked against a strict pattern when read (``from_dict``): nothing else reaches a driver.
    """

    driver_volume_type: str
    path: Path | None = None
    format: str = "raw"
    name: str = ""
    hosts: tuple[tuple[str, int], ...] = ()
    auth_username: str = ""
    secret_uuid: str = ""

    @classmethod
    def from_dict(cls, info: Mapping[str, Any]) -> VolumeConnection:
        """Read ``connection_info``; InvalidConnection names what is wrong."""
        if not isinstance(info, Mapping) or not isinstance(info.get("data"), Mapping):
            raise InvalidConnection(reason="connection_info must be an object with 'driver_volume_type' and 'data'")
        kind, data = info.get("driver_volume_type"), info["data"]
        if kind == "file":
            return cls._file(data)
        if kind == "rbd":
            return cls._rbd(data)
        if kind == "fake":  # the fake volume backend's volumes: only the fake driver plugs them in
            return cls("fake")
        raise InvalidConnection(reason=f"unsupported volume type {kind!r} (file, rbd)")

    @classmethod
    def _file(cls, data: Mapping[str, Any]) -> VolumeConnection:
        path, fmt = data.get("path"), data.get("format", "raw")
        if not isinstance(path, str) or not path.startswith("/") or "\x00" in path or len(path) > 4096:
            raise InvalidConnection(reason="a file volume needs an absolute 'path'")
        if fmt not in _FORMATS:
            raise InvalidConnection(reason=f"unsupported volume format {fmt!r} (raw, qcow2)")
        return cls("file", path=Path(path), format=fmt)

    @classmethod
    def _rbd(cls, data: Mapping[str, Any]) -> VolumeConnection:
        name, hosts, ports = data.get("name"), data.get("hosts") or [], data.get("ports") or []
        user, secret = data.get("auth_username") or "", data.get("secret_uuid") or ""
        if not isinstance(name, str) or not _RBD_NAME.fullmatch(name):
            raise InvalidConnection(reason="an rbd volume needs a 'name' of the form pool/image")
        if not isinstance(hosts, list) or not isinstance(ports, list) or len(hosts) != len(ports) or len(hosts) > 16:
            raise InvalidConnection(reason="'hosts' and 'ports' must be lists of the same length")
        monitors = []
        for host, port in zip(hosts, ports, strict=True):
            number = int(port) if isinstance(port, int | str) and str(port).isdigit() else 0
            if not isinstance(host, str) or not _HOST_NAME.fullmatch(host) or not 1 <= number <= 65535:
                raise InvalidConnection(reason=f"invalid monitor address {host!r}:{port!r}")
            monitors.append((host, number))
        if user and not (isinstance(user, str) and _USER_NAME.fullmatch(user)):
            raise InvalidConnection(reason="invalid 'auth_username'")
        if secret and not (isinstance(secret, str) and _UUID.fullmatch(secret)):
            raise InvalidConnection(reason="'secret_uuid' must be a lower-case uuid")
        if bool(user) != bool(secret):
            raise InvalidConnection(reason="'auth_username' and 'secret_uuid' go together")
        return cls("rbd", name=name, hosts=tuple(monitors), auth_username=user, secret_uuid=secret)


def volume_file(connection: VolumeConnection, volume_dir: Path) -> Path:
    """The real path of a ``file`` volume, which must be a regular file below ``volume_dir`` once every symlink
    is resolved (a link out of the directory, or ``..``, is refused). InvalidConnection otherwise."""
    if connection.driver_volume_type != "file" or connection.path is None:
        raise InvalidConnection(reason="not a file volume")
    try:
        real, root = connection.path.resolve(strict=True), volume_dir.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InvalidConnection(reason="the volume file does not exist on this host") from None
    if not real.is_relative_to(root) or real == root or not real.is_file():
        raise InvalidConnection(reason="the volume file is not in this host's volume directory")
    return real


_NEW_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")


def snapshot_target(connection: VolumeConnection, volume_dir: Path) -> Path:
    """Where a copy of a volume may be written: a qcow2 file named plainly (no hidden name, no separator) directly
    in ``volume_dir``, which must exist. A file already there is returned too (the copy finished earlier: the
    caller never writes over it); a link, or anything that is no regular file, is refused. InvalidConnection
    otherwise, and nothing is made."""
    if connection.driver_volume_type != "file" or connection.path is None or connection.format != "qcow2":
        raise InvalidConnection(reason="a volume copy is written as a qcow2 file")
    path = connection.path
    if not _NEW_FILE_NAME.fullmatch(path.name):
        raise InvalidConnection(reason="the copy's file name is not a plain name")
    try:
        parent, root = path.parent.resolve(strict=True), volume_dir.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InvalidConnection(reason="this host has no volume directory for the copy") from None
    if parent != root:
        raise InvalidConnection(reason="the copy's file is not in this host's volume directory")
    target = root / path.name
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise InvalidConnection(reason="the copy's file name is taken by something that is no file")
    return target


@dataclass(frozen=True)
class AttachedVolume:
    """A volume an instance has as one of its disks: every (re)definition of the guest keeps it there."""

    device: str
    """Guest device name without ``/dev/`` (``vdb``; ``vda`` for a root volume)."""
    serial: str
    """The volume's id, which the guest reads as the disk's serial (``/dev/disk/by-id/virtio-<first 20>``)."""
    connection: VolumeConnection

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> AttachedVolume:
        """``{"device": "/dev/vdb" | "vdb", "serial": volume id, "connection_info": {...}}``."""
        device = str(entry.get("device") or "").removeprefix("/dev/")
        serial = entry.get("serial")
        if not (VOLUME_DEVICE.fullmatch(device) or device == "vda"):
            raise InvalidConnection(reason=f"invalid device name {entry.get('device')!r}")
        if not isinstance(serial, str) or not _UUID.fullmatch(serial):
            raise InvalidConnection(reason="the serial must be the volume's id")
        return cls(device, serial, VolumeConnection.from_dict(entry.get("connection_info") or {}))


@dataclass(frozen=True)
class InstanceSpec:
    """Everything a host needs to run one instance."""

    uuid: str
    name: str
    vcpus: int
    memory_mb: int
    root_gb: int
    """Size of the root disk; 0 means the image's virtual size."""
    base_image: Path | None
    """The cached base image on this host (see ``compute.host.imagecache``); the root disk is an overlay on it.
    None for an instance that boots from a volume (``root_volume``) or from ``base_rbd_snapshot``."""
    base_image_format: str
    config_drive: ConfigDrive | None = None
    nics: tuple[Nic, ...] = ()
    root_volume: AttachedVolume | None = None
    """The volume the instance boots from, as ``vda``, instead of an overlay on ``base_image``."""
    volumes: tuple[AttachedVolume, ...] = ()
    """Volumes attached to the instance (``vdb`` ...): every definition of the domain carries them, so they
    survive a stop and start, a hard reboot, a rebuild and a resize."""
    base_rbd_snapshot: str | None = None
    """``pool/image@snap``: the raw image's protected snapshot in Ceph, given only to a host whose root disks are
    RBD images (``images_type = "rbd"``). The root disk is then a clone of it and nothing is downloaded."""


@dataclass(frozen=True)
class InstanceInfo:
    uuid: str
    power_state: PowerState


@dataclass(frozen=True)
class Diagnostics:
    """What the hypervisor says of a guest now, in the fields of Nova's standard diagnostics (2.48): counters are
    cumulative since the guest started, None where the hypervisor cannot tell. Plain data: it crosses the broker.

    ``cpu_details``: ``{"id", "time" (ns), "utilisation"}``; ``nic_details``: ``{"device", "mac_address", "rx_octets",
    "rx_errors", "rx_drop", "rx_packets", "rx_rate", "tx_...": ...}``; ``disk_details``: ``{"device",
    "read_bytes", "read_requests", "write_bytes", "write_requests", "errors_count"}``."""

    state: str
    """``pending``, ``running``, ``paused``, ``shutdown``, ``crashed`` or ``suspended``."""
    driver: str
    hypervisor: str | None
    hypervisor_os: str | None
    memory_maximum_mb: int | None
    memory_used_mb: int | None
    cpu_details: list[dict[str, Any]] = field(default_factory=list)
    nic_details: list[dict[str, Any]] = field(default_factory=list)
    disk_details: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class HostResources:
    """What a host offers, reported to the scheduler."""

    vcpus: int
    memory_mb: int
    disk_gb: int
    hypervisor_type: str
    hypervisor_version: int
    cpu_arch: str
    cpu_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MigrationTarget:
    """Where a guest moves to, as the source host's driver reaches it. Plain data from the control side (which
    reads it from the target's own report), checked before use: no string of a user's ever gets here."""

    host: str
    """The target host's name (as it reports itself)."""
    address: str
    """The target's underlay address: the hypervisors' authenticated channel and the migration streams go there,
    never anywhere else."""
    instances_path: str = ""
    """Where the target keeps instance directories, when not where this host keeps them ("": the same path, as
    every host of a cloud has by default). A cold move writes the disks it copies there."""


@dataclass(frozen=True)
class MigrationStats:
    """A live migration's progress as the hypervisor's job reports it (bytes), and at the end its downtime."""

    memory_total: int = 0
    memory_processed: int = 0
    memory_remaining: int = 0
    disk_total: int = 0
    disk_processed: int = 0
    disk_remaining: int = 0
    elapsed_ms: int = 0
    downtime_ms: int | None = None
    """The guest's pause at the switch; None until the migration completed."""


class MigrationAborted(DriverError):
    """The live migration was cancelled (an abort asked for it): the guest still runs on the source."""

    msg_fmt = "The live migration of {uuid} was aborted."


class ComputeDriver(ABC):
    @abstractmethod
    def init_host(self, host: str) -> None:
        """Connect to the hypervisor; called once when the agent starts."""

    @abstractmethod
    def spawn(self, spec: InstanceSpec) -> None:
        """Create the root disk (an overlay of ``spec.base_image`` sized to ``root_gb``), the config drive and the
        domain, and start it. Idempotent: an instance already defined is started if stopped, else left alone.
        A failed spawn leaves no domain, disk, config drive or tap behind, then raises DriverError."""

    @abstractmethod
    def destroy(self, uuid: str) -> None:
        """Stop the guest and remove its domain, disks, config drive, console log and taps. Destroying a missing
        instance succeeds."""

    @abstractmethod
    def power_on(self, uuid: str) -> None:
        """Start a stopped guest; a running one is left alone. InstanceNotFound when it is not here."""

    @abstractmethod
    def power_off(self, uuid: str, timeout: float = 60) -> None:
        """Ask the guest to shut down (ACPI), and pull the plug after ``timeout`` seconds. Idempotent."""

    @abstractmethod
    def reboot(self, uuid: str, hard: bool) -> None:
        """Soft: ACPI reboot (falls back to hard if the guest ignores it); hard: reset. Ends running."""

    @abstractmethod
    def pause(self, uuid: str) -> None: ...

    @abstractmethod
    def unpause(self, uuid: str) -> None: ...

    @abstractmethod
    def suspend(self, uuid: str) -> None:
        """Save the guest's memory to disk and stop its process (libvirt managed save)."""

    @abstractmethod
    def resume(self, uuid: str) -> None: ...

    @abstractmethod
    def snapshot(self, uuid: str, target: Path) -> None:
        """Write the root disk, flattened (no backing file), as a qcow2 at ``target``. The guest keeps its state."""

    def rebuild(self, spec: InstanceSpec, power_on: bool = True) -> None:
        """Recreate the instance from ``spec`` (another image, name, metadata): a new root disk and config drive,
        the same uuid, host and NICs. Ends running when ``power_on``, else stopped. Everything the old disk held is
        lost, as in Nova. The default destroys and spawns again; drivers may do better."""
        self.destroy(spec.uuid)
        self.spawn(spec)
        if not power_on:
            self.power_off(spec.uuid, timeout=0)

    @abstractmethod
    def rescue(self, spec: InstanceSpec, rescue_image: Path | None, rescue_format: str) -> None:
        """Boot the instance from a fresh disk made of ``rescue_image`` (an overlay, as a root disk is made) as its
        first disk, with its own root disk as the second (``vdb``) and its config drive, volumes left out (Nova's
        rescue). What ``unrescue`` needs is kept first. Ends running. Idempotent: a rescued instance is only
        started if it is off. A failure puts the instance back as it was, then raises DriverError."""

    @abstractmethod
    def unrescue(self, uuid: str) -> None:
        """Back to the definition from before ``rescue`` (the rescue disk is removed), running. Idempotent: an
        instance that is not rescued is left as it is. InstanceNotFound when it is not here."""

    @abstractmethod
    def resize(self, spec: InstanceSpec) -> None:
        """Give the instance ``spec``'s vCPUs, memory and root disk on this host, keeping what ``revert_resize``
        needs: the guest is shut down, its root disk grown (never shrunk: DriverError), and started again if it
        was running. Idempotent: a redelivered call finds the pending resize and completes it. A failure puts the
        instance back as it was, then raises DriverError."""

    @abstractmethod
    def confirm_resize(self, uuid: str) -> None:
        """Forget what ``revert_resize`` needs. Idempotent; without a pending resize nothing happens."""

    @abstractmethod
    def revert_resize(self, uuid: str) -> None:
        """Back to the root disk and size from before ``resize``, in the power state the guest had then.
        Idempotent; without a pending resize nothing happens."""

    @abstractmethod
    def attach_volume(self, uuid: str, connection: VolumeConnection, device: str, serial: str) -> None:
        """Plug the volume into the instance as ``device`` (``vdb``...), a virtio disk whose serial is ``serial``:
        into the running guest at once (hot-plug) when it runs, and into its persistent definition always, so it
        stays through a stop and start or a hard reboot. Idempotent: the same volume already on ``device``
        succeeds. DriverError when ``device`` holds another disk; InvalidConnection when ``connection`` points
        where this host does not attach volumes from; InstanceNotFound when the instance is not here. A failure
        leaves the disk unplugged."""

    @abstractmethod
    def detach_volume(self, uuid: str, device: str, timeout: float = 60) -> None:
        """Unplug the disk on ``device``: the running guest is asked to release it, and this waits until it did,
        at most ``timeout`` seconds; then the persistent definition forgets it. A guest that does not release the
        disk in time is DriverError ("The guest did not release /dev/vdb within N s") and keeps the disk,
        attached and usable, live and in its definition. Idempotent: no disk on ``device`` succeeds, and so does
        a missing instance (its disks are gone with it)."""

    @abstractmethod
    def extend_volume(self, uuid: str, device: str, new_size_bytes: int) -> None:
        """The volume on ``device`` was asked to grow to ``new_size_bytes``: a running guest sees the new size at
        once (a block resize, which also grows the volume's storage); a stopped one has its volume file grown
        and sees it at next start. Never shrinks (DriverError); the same size succeeds. DriverError when
        ``device`` holds no volume."""

    def snapshot_volume(
        self, uuid: str, device: str, serial: str, target: VolumeConnection, timeout: float = 1800
    ) -> None:
        """Write a copy of the volume on ``device`` (whose serial must be ``serial``) to ``target``, a new qcow2
        file in this host's volume directory (``snapshot_target``), for a snapshot its backend cannot take beside
        the guest: consistent at one instant while a running guest keeps running (like a power cut at that
        instant: what the guest had not written out is not in it), a plain copy of a stopped guest's. Idempotent:
        a complete target succeeds at once. A copy that fails, or runs longer than ``timeout`` seconds, leaves no
        file and raises DriverError (InvalidConnection for a target this host will not write, InstanceNotFound
        when the instance is not here). The default: this hypervisor cannot."""
        raise DriverError(reason="this host cannot copy an attached volume")

    @abstractmethod
    def get_console_output(self, uuid: str, max_bytes: int = 1 << 20) -> str:
        """The tail of the guest's serial console log."""

    @abstractmethod
    def get_console(self, uuid: str, kind: ConsoleKind) -> ConsoleEndpoint:
        """Where the running guest's ``kind`` console listens now. InstanceNotFound when the instance is not
        here; ConsoleUnavailable when it is not running or has no such console. Reads, changes nothing."""

    @abstractmethod
    def attach_interface(self, uuid: str, nic: Nic) -> None:
        """Plug a NIC into the guest: live when it runs, and into its definition so it stays across a stop and
        start. The network agent made ``nic.bridge`` first (the port is wired). Idempotent: a NIC with this MAC
        already plugged is left as it is. All or nothing: a failed attach leaves no half-plugged NIC."""

    @abstractmethod
    def detach_interface(self, uuid: str, mac: str, timeout: float = 60) -> None:
        """Unplug the NIC with ``mac``: from the running guest, waiting up to ``timeout`` seconds for the guest to
        release it (DriverError when it does not), then from the definition. A NIC or instance already gone is
        detached (idempotent)."""

    @abstractmethod
    def get_diagnostics(self, uuid: str) -> Diagnostics:
        """The guest's live statistics (CPU time, memory, each NIC's and disk's counters). InstanceNotFound when
        the instance is not here. Reads, changes nothing."""

    @abstractmethod
    def get_info(self, uuid: str) -> InstanceInfo:
        """InstanceNotFound when the instance is not on this host."""

    @abstractmethod
    def list_instances(self) -> list[InstanceInfo]:
        """Every Stratus instance on this host, with its power state (for the power-state sync)."""

    @abstractmethod
    def get_host_resources(self) -> HostResources: ...

    # Moves between hosts. The names are Nova's driver calls, so the workflows read like Nova's; a driver that
    # cannot move guests keeps these defaults and every move fails cleanly with its reason.

    def pre_live_migration(self, spec: InstanceSpec, block_migration: bool) -> None:
        """Target side, before a live migration: everything the incoming guest needs here except the domain (the
        cached base image and an empty root disk of the same size for a block migration, the config drive).
        Idempotent."""
        raise DriverError(reason=f"{type(self).__name__} cannot receive a live migration")

    def live_migration(
        self,
        uuid: str,
        target: MigrationTarget,
        block_migration: bool,
        progress: Callable[[MigrationStats], None],
    ) -> MigrationStats:
        """Source side: move the running guest to ``target`` while it runs (``progress`` called with the job's
        figures every second or so). Returns the final figures, with the downtime. On any failure the guest still
        runs here and DriverError is raised (MigrationAborted after ``live_migration_abort``)."""
        raise DriverError(reason=f"{type(self).__name__} cannot live-migrate")

    def live_migration_abort(self, uuid: str) -> None:
        """Source side: cancel the live migration of ``uuid`` in flight. Nothing happens when none is."""
        raise DriverError(reason=f"{type(self).__name__} cannot live-migrate")

    def live_migration_force_complete(self, uuid: str) -> None:
        """Source side: let the migration in flight converge now (the guest is paused on the source until it
        resumes on the target). Nothing happens when none is."""
        raise DriverError(reason=f"{type(self).__name__} cannot live-migrate")

    def rollback_live_migration_at_destination(self, uuid: str) -> None:
        """Target side, after a failed or aborted live migration: remove what ``pre_live_migration`` made and any
        domain the migration left, never a disk shared with the source (Ceph, volumes). Idempotent."""
        raise DriverError(reason=f"{type(self).__name__} cannot live-migrate")

    def post_live_migration_at_source(self, uuid: str) -> None:
        """Source side, after the guest runs on the target: remove what is left here (local disks, console log),
        never a disk the target now uses (Ceph, volumes). Idempotent."""
        raise DriverError(reason=f"{type(self).__name__} cannot live-migrate")

    def migrate_disk_and_power_off(self, uuid: str, target: MigrationTarget) -> None:
        """Source side of a cold move: power the guest off here, keep its definition and disks for a revert, and
        copy its local disks to ``target`` over the hypervisors' authenticated channel (nothing to copy for
        shared ones). Idempotent. DriverError leaves the guest here in the power state it had."""
        raise DriverError(reason=f"{type(self).__name__} cannot migrate")

    def finish_migration(self, spec: InstanceSpec, power_on: bool) -> None:
        """Target side of a cold move: define the guest from the disks copied here with ``spec``'s (possibly new)
        flavor, the root disk grown to it, and start it if ``power_on``. Idempotent."""
        raise DriverError(reason=f"{type(self).__name__} cannot migrate")

    def confirm_migration(self, uuid: str) -> None:
        """Source side after a confirmed cold move: remove the powered-off copy (definition and local disks, not
        shared ones). Idempotent."""
        raise DriverError(reason=f"{type(self).__name__} cannot migrate")

    def finish_revert_migration(self, uuid: str, power_on: bool) -> None:
        """Source side of a reverted cold move: start the kept copy again if ``power_on``. Idempotent."""
        raise DriverError(reason=f"{type(self).__name__} cannot migrate")

    def destroy_moved(self, uuid: str) -> None:
        """Remove this host's copy of a guest that now lives elsewhere (the target after a revert, a fenced
        source after an evacuation): the domain and local disks, never shared ones. Idempotent."""
        raise DriverError(reason=f"{type(self).__name__} cannot migrate")
