"""``LibvirtDriver``: the ``ComputeDriver`` that runs instances as libvirt/QEMU domains.

Each instance has a directory ``<instances_path>/<uuid>/`` holding ``disk`` (a qcow2 overlay on the cached base
image), ``disk.config`` (the config drive) and ``console.log`` (the serial console, written by virtlogd), and one
persistent domain named ``stratus-<uuid>`` carrying a Stratus metadata element. Choices, and why:

- Disk cache ``none`` (O_DIRECT, safe for the host's page cache and for migration) where the instances filesystem
  supports O_DIRECT, else ``writeback``; probed once.
- Soft reboot is Nova's: ACPI power button, wait for the guest to stop, start it again; a guest that ignores the
  button within ``soft_reboot_timeout`` is reset instead. Hard reboot is a reset (a stopped guest is started).
- Suspend is a libvirt managed save; resume (or power on) starts the domain, which restores the memory.
- Resize stays on the host: the guest is shut down, its disk and domain are kept in ``resize-backup/`` (with the
  power state it had in ``resize.json``), the disk is grown and the domain redefined with the new size. Confirm
  drops the backup; revert puts it back. A qcow2 overlay is only the guest's own writes, so the copy is small.
- Consoles: the serial port is a raw TCP server on the host's loopback (a port from ``serial_ports``, fixed for
  the domain's life, its output still logged to ``console.log``) and the display a VNC server there on a port
  libvirt picks at each start; ``get_console`` reads both from the live XML. Only the console proxy connects.
- Volumes are virtio disks ``vdb``... whose serial is the volume id: a file below ``volume_dir`` (resolved, so no
  link leads out of it) or an RBD image QEMU opens through librbd with the cephx secret libvirt holds. They are
  plugged into the running guest and into the persistent definition, and every definition made from a spec
  (spawn, rebuild, resize) lists the spec's volumes, so they survive any restart. A detach unplugs the live disk
  first and waits for the guest to release it (polling the live XML), and only then edits the definition, so a
  guest that holds on keeps the disk everywhere. A server booted from a volume has it as ``vda``.
- A volume's snapshot its backend cannot take beside the guest is a copy the host makes (``volume_snapshots``):
  libvirt's push-mode backup of that one disk, consistent at one instant while the guest keeps running.
- Snapshot of a running guest pauses it for the copy (QEMU flushes its disk caches when vCPUs stop), reads the
  disk with ``qemu-img convert -U`` and resumes it: consistent like a power cut, with a pause as long as the copy.
- With ``images_type = "rbd"`` (Nova's rbd image backend), the root disk of an instance of a raw image stored in
  Ceph is the RBD image ``<images_rbd_pool>/<uuid>_disk``, a clone of the image's snapshot (``rbd_disks``), opened
  by QEMU through librbd like an RBD volume (cache ``writeback``: librbd's cache, as Ceph advises); the file
  ``disk.rbd`` in the instance directory says so, so that destroy, rebuild, resize and snapshot touch Ceph only
  for such instances. A resize's backup is an RBD snapshot of the disk (rolled back on revert); a server snapshot
  pauses the guest only for an RBD snapshot and copies from it while the guest runs again.
- Moves between hosts (``migration``, ``peers``): a live migration is libvirt's peer to peer between the hosts'
  libvirtds over TLS, with only the root overlay copied (the target puts an empty one on its own cached base
  image) and nothing for disks in Ceph or volumes; the target prepares an "incoming" definition whose serial port,
  paths and host name the destination XML takes. A cold move copies the powered-off guest's root overlay through
  the target's libvirtd (a storage volume upload) and the target defines it anew with the new flavor. The agent
  reaches a peer's libvirtd from its host's network namespace. No clean-up of a move removes a disk in Ceph.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import logging
import shutil
import tempfile
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt

from common.settings import HostSettings
from compute.host.virt import base
from compute.host.virt.base import (
    VOLUME_DEVICE,
    AttachedVolume,
    ConsoleEndpoint,
    ConsoleKind,
    ConsoleUnavailable,
    Diagnostics,
    DriverError,
    InstanceInfo,
    InstanceNotFound,
    InstanceSpec,
    InvalidConnection,
    Nic,
    PowerState,
    VolumeConnection,
    snapshot_target,
    volume_file,
)
from compute.host.virt.libvirt import (
    ceph_secret,
    config,
    disks,
    migration,
    peers,
    rbd_disks,
    serial_ports,
    taps,
    volume_snapshots,
)
from compute.host.virt.libvirt.guest import Guest
from compute.host.virt.libvirt.host import Host

LOG = logging.getLogger(__name__)

DISK = "disk"
RBD_MARKER = "disk.rbd"
"""In the instance directory when the root disk is an RBD image (``rbd_disks``), not the file ``disk``."""
RESIZE_SNAPSHOT = "resize-backup"
SERVER_SNAPSHOT = "server-snapshot"
CONFIG_DRIVE = "disk.config"
CONSOLE_LOG = "console.log"
RESIZE_BACKUP = "resize-backup"
RESCUE_DISK = "disk.rescue"
UNRESCUE_XML = "unrescue.xml"
"""The definition from before a rescue, in the instance directory while rescued (``unrescue`` puts it back)."""
RESIZE_STATE = "resize.json"
MOVE_SNAPSHOT = "move-backup"
"""The RBD snapshot of a root disk in Ceph taken when a cold move begins: a revert rolls the disk back to it."""
MOVE_SOURCE_XML = "move-source.xml"
"""The source's definition, kept in its instance directory during a cold move to a host that shares its libvirtd
(which holds one definition per guest: the target's, until a revert puts this one back)."""
MOVE_POOL_PREFIX = "stratus-move-"
CONSOLE_HISTORY = 1 << 20
"""Bytes of a guest's console log that move with it to its new host."""
"""Transient storage pools a cold move makes on the target's libvirtd to write the copied disk into."""
ROOT_TARGET = "vda"
POLL_INTERVAL = 0.5
GiB = 1 << 30


def canonical_uuid(value: str) -> str:
    """The lower-case hyphenated form; anything else (path tricks included) is refused."""
    try:
        return str(uuidlib.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise DriverError(reason=f"invalid instance uuid {value!r}") from None


@contextlib.contextmanager
def _translated(uuid: str, action: str) -> Iterator[None]:
    """libvirt's errors as DriverError (InstanceNotFound when the domain vanished meanwhile)."""
    try:
        yield
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            raise InstanceNotFound(uuid=uuid) from exc
        raise DriverError(reason=f"{action} of instance {uuid} failed: {exc}") from exc


class LibvirtDriver(base.ComputeDriver):
    detach_retry_interval: float = 20.0
    """Seconds a volume detach waits for the guest before it sends the unplug request again (Nova's
    ``device_detach_timeout``)."""

    def __init__(
        self,
        settings: HostSettings,
        host: Host | None = None,
        *,
        soft_reboot_timeout: float = 120.0,
        cache_mode: str = "",
        migration_uri: str = "",
        live_migration_timeout: float = 800.0,
        migration_poll_interval: float = 0.5,
    ) -> None:
        """``host`` defaults to a connection to ``settings.libvirt_uri``; ``cache_mode`` ("" = probe the instances
        filesystem for O_DIRECT) is the disk cache mode of new domains. ``migration_uri`` (default the setting
        ``libvirt_migration_uri``) is how a host's libvirtd reaches another's, ``{address}`` standing for the
        target's underlay address; a live migration that has not completed after ``live_migration_timeout``
        seconds is aborted (Nova's live_migration_completion_timeout, whose default this is)."""
        self.instances_path = settings.effective_instances_path
        self.volume_dir = settings.effective_volume_dir
        self._volume_cache_mode = ""
        self.host = host or Host(settings.libvirt_uri, settings.libvirt_virt_type)
        self.soft_reboot_timeout = soft_reboot_timeout
        self._cache_mode = cache_mode
        self.host_name = ""
        self.ceph_secret = ceph_secret.CephSecret.from_settings(settings)
        self.rbd_disks = rbd_disks.RbdDisks.from_settings(settings)
        self.migration_uri = migration_uri or settings.libvirt_migration_uri
        self.native_tls = settings.live_migration_with_native_tls  # QEMU's streams encrypted, or refused
        self.qemu_tls_dir = Path(settings.qemu_tls_dir)
        self.live_migration_timeout = live_migration_timeout
        self.network_namespace = settings.network_namespace
        self.console_listen = settings.console_listen  # where the console proxy reaches this host's guests
        self.migration_poll_interval = migration_poll_interval

    # -- helpers ---------------------------------------------------------------------------------------------------

    def instance_dir(self, uuid: str) -> Path:
        return self.instances_path / canonical_uuid(uuid)

    def _guest(self, uuid: str) -> Guest:
        with _translated(uuid, "lookup"):
            guest = Guest.lookup(self.host, uuid)
        if guest is None:
            raise InstanceNotFound(uuid=uuid)
        return guest

    def cache_mode(self) -> str:
        if not self._cache_mode:
            self.instances_path.mkdir(parents=True, exist_ok=True)
            self._cache_mode = "none" if disks.supports_direct_io(self.instances_path) else "writeback"
            LOG.info("disk cache mode %s for %s", self._cache_mode, self.instances_path)
        return self._cache_mode

    def domain_config(
        self, spec: InstanceSpec, serial_port: int | None = None, root_in_ceph: bool | None = None
    ) -> config.DomainConfig:
        """The policy: which devices, buses, CPU and cache mode an instance gets on this host; ``serial_port`` is
        the serial console's TCP port (None: not chosen yet, a pty); ``root_in_ceph`` whether the root disk is an
        RBD image (None: as the spec makes it)."""
        uuid = canonical_uuid(spec.uuid)
        directory = self.instance_dir(uuid)
        virt_type, cache = self.host.virt_type(), self.cache_mode()
        if root_in_ceph is None:
            root_in_ceph = self._clones_root(spec)
        if spec.root_volume is not None:
            devices = [self.volume_disk(spec.root_volume)]
        elif root_in_ceph:
            devices = [self.rbd_root_disk(uuid)]
        else:
            devices = [config.DiskConfig(directory / DISK, ROOT_TARGET, "virtio", cache=cache)]
        if spec.config_drive is not None:
            # IDE: the pc (i440fx) machine has it built in, and every guest kernel drives it.
            drive = config.DiskConfig(directory / CONFIG_DRIVE, "hda", "ide", "cdrom", "raw", cache, readonly=True)
            devices.append(drive)
        devices.extend(self.volume_disk(volume) for volume in spec.volumes)
        return config.DomainConfig(
            uuid=uuid,
            display_name=spec.name,
            virt_type=virt_type,
            memory_mb=spec.memory_mb,
            vcpus=spec.vcpus,
            console_log=directory / CONSOLE_LOG,
            host=self.host_name,
            disks=tuple(devices),
            interfaces=tuple(config.InterfaceConfig(nic.mac, nic.tap, nic.mtu, bridge=nic.bridge) for nic in spec.nics),
            # TCG emulates a stable qemu64 CPU; KVM gives the guest the host's CPU.
            cpu=config.CpuConfig("host-passthrough") if virt_type == "kvm" else config.CpuConfig("custom", "qemu64"),
            serial_port=serial_port,
            console_listen=self.console_listen,
        )

    def _clones_root(self, spec: InstanceSpec) -> bool:
        """Whether a new root disk for ``spec`` is a clone in Ceph: an image's snapshot there, a host that does so."""
        return spec.root_volume is None and spec.base_rbd_snapshot is not None and self.rbd_disks is not None

    def _root_in_ceph(self, uuid: str) -> bool:
        """Whether the instance's root disk, as it was made, is an RBD image."""
        return (self.instance_dir(uuid) / RBD_MARKER).exists()

    def rbd_root_disk(self, uuid: str) -> config.DiskConfig:
        if self.rbd_disks is None or self.ceph_secret is None:
            raise DriverError(reason="root disks in Ceph need images_type 'rbd' and ceph_secret_uuid on this host")
        name = f"{self.rbd_disks.pool}/{self.rbd_disks.disk_name(uuid)}"
        source = config.RbdSource(name, self.rbd_disks.monitors(), self.ceph_secret.user, self.ceph_secret.uuid)
        return config.DiskConfig(None, ROOT_TARGET, "virtio", format="raw", cache="writeback", rbd=source)

    def volume_disk(self, volume: AttachedVolume) -> config.DiskConfig:
        """The policy for a volume: a virtio disk with the volume id as serial, cache ``none`` where the volume
        directory takes O_DIRECT; a file volume only from below ``volume_dir`` (InvalidConnection otherwise)."""
        connection = volume.connection
        if connection.driver_volume_type == "file":
            path = volume_file(connection, self.volume_dir)
            cache = self.volume_cache_mode()
            return config.DiskConfig(path, volume.device, "virtio", format=connection.format, cache=cache,
                                     serial=volume.serial)  # fmt: skip
        if connection.driver_volume_type == "rbd":
            source = config.RbdSource(
                connection.name, connection.hosts, connection.auth_username, connection.secret_uuid
            )
            return config.DiskConfig(None, volume.device, "virtio", format="raw", cache="none", serial=volume.serial,
                                     rbd=source)  # fmt: skip
        raise InvalidConnection(reason=f"this host does not attach {connection.driver_volume_type} volumes")

    def volume_cache_mode(self) -> str:
        if not self._volume_cache_mode:
            self.volume_dir.mkdir(parents=True, exist_ok=True)
            self._volume_cache_mode = "none" if disks.supports_direct_io(self.volume_dir) else "writeback"
        return self._volume_cache_mode

    def _define_with_serial_port(self, spec: InstanceSpec, incoming: bool = False) -> None:
        """Define the domain with a serial port no other domain of this libvirtd holds, chosen and claimed under
        the machine-wide lock (several agents may share the daemon). ``incoming``: the definition a live
        migration's target makes before the guest arrives (see ``pre_live_migration``)."""
        with serial_ports.allocation_lock():
            with _translated(spec.uuid, "serial port allocation"):
                used = {port for guest in Guest.all(self.host) if (port := self._serial_port_of(guest)) is not None}
            port = serial_ports.choose(used, self._serial_port_free)
            domain = dataclasses.replace(self.domain_config(spec, port), incoming=incoming)
            self.host.define(config.domain_xml(domain))

    def _serial_port_free(self, port: int) -> bool:
        """Whether QEMU could listen on ``port`` at the console address: checked inside this host's network
        namespace when the address is one of its own there (a host machine's underlay address, which its agent
        may not have where it runs); a loopback address is checked here, as before."""
        check = lambda: serial_ports.port_is_free(self.console_listen, port)  # noqa: E731
        if not self.network_namespace or ipaddress.ip_address(self.console_listen).is_loopback:
            return check()
        try:
            return peers.in_namespace(self.network_namespace, check)
        except OSError:  # the namespace is not to be entered from here: the agent runs inside it already
            return check()

    @staticmethod
    def _serial_port_of(guest: Guest) -> int | None:
        try:
            return config.serial_tcp_port(guest.xml())
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:  # undefined while we looked
                return None
            raise

    def _wait_stopped(self, guest: Guest, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while guest.is_active():
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL)
        return True

    # -- ComputeDriver ---------------------------------------------------------------------------------------------

    def init_host(self, host: str) -> None:
        self.host_name = host
        missing = [d for d in (self.instances_path, *self.instances_path.parents) if not d.exists()]
        self.instances_path.mkdir(parents=True, exist_ok=True)
        for directory in missing:  # made under our umask: QEMU passes through, it may not list them
            directory.chmod(0o711)
        self.instances_path.chmod(0o711)  # QEMU passes through; it may not list other instances
        for directory in (self.instances_path, *self.instances_path.parents):
            if not directory.stat().st_mode & 0o001:
                # QEMU runs as its own user (libvirt-qemu); it needs to pass through every parent directory
                LOG.warning("%s is not searchable by other users; QEMU may fail to open instance disks", directory)
        self.host.connection()
        ceph_secret.ensure(self.host.connection(), self.ceph_secret)
        try:  # for the cold moves of other hosts: where to write the disks they copy here
            self.host.call(lambda conn: peers.announce_instances(conn, host, self.instances_path))
        except libvirt.libvirtError as exc:
            LOG.warning("this host cannot name its instance directory to other hosts: %s", exc)
        LOG.info(
            "libvirt driver on %s: %s, domain type %s, instances in %s, cache %s",
            host,
            self.host.uri,
            self.host.virt_type(),
            self.instances_path,
            self.cache_mode(),
        )

    def spawn(self, spec: InstanceSpec) -> None:
        uuid = canonical_uuid(spec.uuid)
        started = time.monotonic()
        try:
            with _translated(uuid, "spawn"):
                guest = Guest.lookup(self.host, uuid)
                if guest is None:
                    self._build(spec, uuid)
                elif (state := guest.power_state()) in (PowerState.SHUTDOWN, PowerState.CRASHED):
                    LOG.info("instance %s: already defined, starting it", uuid)
                    guest.start()
                else:
                    LOG.info("instance %s: already defined and %s", uuid, state.name)
                    return
        except Exception as exc:
            LOG.warning("instance %s: spawn failed, cleaning up: %s", uuid, exc)
            self._cleanup(uuid)
            if isinstance(exc, DriverError):
                raise
            raise DriverError(reason=f"spawn of instance {uuid} failed: {exc}") from exc
        LOG.info("instance %s: spawned in %.1f s", uuid, time.monotonic() - started)

    def _build(self, spec: InstanceSpec, uuid: str, start: bool = True) -> None:
        # First, before anything is made: a value that cannot be written in domain XML refuses the build here.
        config.domain_xml(self.domain_config(spec))
        directory = self.instance_dir(uuid)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)  # QEMU runs as its own user and must reach the files
        for nic in spec.nics:
            if not taps.remove_leftover(nic.tap):
                raise DriverError(reason=f"network device {nic.tap} already exists and is in use")
        disk = directory / DISK
        disk.unlink(missing_ok=True)  # left by an earlier attempt that never got as far as defining the domain
        if self._clones_root(spec):
            assert self.rbd_disks is not None and spec.base_rbd_snapshot is not None
            (directory / RBD_MARKER).write_text(self.rbd_disks.disk_name(uuid) + "\n")  # first: destroy removes it
            self.rbd_disks.clone(uuid, spec.base_rbd_snapshot, spec.root_gb * GiB)
        elif spec.root_volume is None:
            if spec.base_image is None:
                raise DriverError(reason=f"instance {uuid} has neither an image nor a root volume")
            disks.create_root_disk(disk, spec.base_image, spec.base_image_format, spec.root_gb)
        if spec.config_drive is not None:
            disks.build_config_drive(spec.config_drive, directory / CONFIG_DRIVE)
        self._define_with_serial_port(spec)
        if start:
            LOG.info("instance %s: defined %s, starting", uuid, config.domain_name(uuid))
            self._guest(uuid).start()

    def _cleanup(self, uuid: str) -> None:
        """Best-effort destroy after a failed spawn: the original error is the one to report."""
        try:
            self.destroy(uuid)
        except Exception:
            LOG.exception("instance %s: cleanup after failed spawn failed", uuid)

    def destroy(self, uuid: str) -> None:
        uuid = canonical_uuid(uuid)
        leftover: list[str] = []
        try:
            with _translated(uuid, "destroy"):
                guest = Guest.lookup(self.host, uuid)
                if guest is not None:
                    leftover = config.interface_taps(guest.xml())
                    guest.destroy()
                    guest.undefine()
                    LOG.info("instance %s: domain destroyed and undefined", uuid)
        except InstanceNotFound:
            pass  # undefined by someone else meanwhile: what we wanted
        self._remove_rbd_root(uuid)
        shutil.rmtree(self.instance_dir(uuid), ignore_errors=True)
        if self.instance_dir(uuid).exists():
            raise DriverError(reason=f"could not remove {self.instance_dir(uuid)}")
        for tap in leftover:
            if not taps.remove_leftover(tap):
                LOG.warning("instance %s: tap %s is still there", uuid, tap)

    def _remove_rbd_root(self, uuid: str) -> None:
        """The instance's root disk in Ceph, if it has one, then its marker (so a failure is retried)."""
        marker = self.instance_dir(uuid) / RBD_MARKER
        if not marker.exists():
            return
        if self.rbd_disks is None:
            raise DriverError(reason=f"instance {uuid} has its root disk in Ceph; this host has images_type 'qcow2'")
        self.rbd_disks.remove(uuid)
        marker.unlink()
        LOG.info("instance %s: root disk removed from Ceph", uuid)

    def power_on(self, uuid: str) -> None:
        """Start a stopped guest; a suspended one is restored. Running or paused guests are left alone."""
        uuid = canonical_uuid(uuid)
        guest = self._guest(uuid)
        with _translated(uuid, "power on"):
            if not guest.is_active():
                guest.start()
                LOG.info("instance %s: powered on", uuid)

    def power_off(self, uuid: str, timeout: float = 60) -> None:
        """ACPI shutdown, hard off after ``timeout``. A paused guest cannot react and goes off at once; a suspended
        one loses its saved memory and ends SHUTDOWN."""
        uuid = canonical_uuid(uuid)
        guest = self._guest(uuid)
        with _translated(uuid, "power off"):
            if not guest.is_active():
                if guest.has_managed_save():
                    guest.remove_managed_save()
                return
            state = guest.power_state()  # SHUTDOWN while active: the guest is already on its way down
            if state in (PowerState.RUNNING, PowerState.SHUTDOWN) and timeout > 0:
                if state == PowerState.RUNNING:
                    guest.shutdown()
                if self._wait_stopped(guest, timeout):
                    LOG.info("instance %s: shut down by the guest", uuid)
                    return
                LOG.warning("instance %s: guest did not shut down within %.0f s; pulling the plug", uuid, timeout)
            guest.destroy()
            LOG.info("instance %s: powered off (hard)", uuid)

    def reboot(self, uuid: str, hard: bool) -> None:
        uuid = canonical_uuid(uuid)
        guest = self._guest(uuid)
        with _translated(uuid, "reboot"):
            if not hard and guest.power_state() == PowerState.RUNNING:
                guest.shutdown()
                if self._wait_stopped(guest, self.soft_reboot_timeout):
                    guest.start()
                    LOG.info("instance %s: rebooted (soft)", uuid)
                    return
                LOG.warning("instance %s: guest ignored the ACPI shutdown; resetting it", uuid)
            if guest.is_active():
                guest.reset()
                if guest.power_state() == PowerState.PAUSED:
                    guest.unpause()
            else:
                if guest.has_managed_save():
                    guest.remove_managed_save()
                guest.start()
            LOG.info("instance %s: rebooted (hard)", uuid)

    def pause(self, uuid: str) -> None:
        uuid = canonical_uuid(uuid)
        guest = self._guest(uuid)
        with _translated(uuid, "pause"):
            state = guest.power_state()
            if state == PowerState.RUNNING:
                guest.pause()
            elif state != PowerState.PAUSED:
                raise DriverError(reason=f"instance {uuid} cannot be paused: it is {state.name}")

    def unpause(self, uuid: str) -> None:
        uuid = canonical_uuid(uuid)
        guest = self._guest(uuid)
        with _translated(uuid, "unpause"):
            state = guest.power_state()
            if state == PowerState.PAUSED:
                guest.unpause()
            elif state != PowerState.RUNNING:
                raise DriverError(reason=f"instance {uuid} cannot be unpaused: it is {state.name}")

    def suspend(self, uuid: str) -> None:
        uuid = canonical_uuid(uuid)
        guest = self._guest(uuid)
        with _translated(uuid, "suspend"):
            state = guest.power_state()
            if state in (PowerState.RUNNING, PowerState.PAUSED):
                guest.managed_save()
                LOG.info("instance %s: suspended (managed save)", uuid)
            elif state != PowerState.SUSPENDED:
                raise DriverError(reason=f"instance {uuid} cannot be suspended: it is {state.name}")

    def resume(self, uuid: str) -> None:
        """Restore a suspended guest; ends RUNNING (a paused guest is unpaused)."""
        uuid = canonical_uuid(uuid)
        guest = self._guest(uuid)
        with _translated(uuid, "resume"):
            state = guest.power_state()
            if state == PowerState.SUSPENDED:
                guest.start()
                state = guest.power_state()
                LOG.info("instance %s: resumed from managed save", uuid)
            if state == PowerState.PAUSED:
                guest.unpause()
            elif state not in (PowerState.RUNNING, PowerState.PAUSED):
                raise DriverError(reason=f"instance {uuid} cannot be resumed: it is {state.name}")

    def snapshot(self, uuid: str, target: Path) -> None:
        uuid = canonical_uuid(uuid)
        guest = self._guest(uuid)
        if self._root_in_ceph(uuid):
            self._snapshot_rbd_root(uuid, guest, target)
            return
        with _translated(uuid, "snapshot"):
            disk = config.disk_path(guest.xml(), ROOT_TARGET) or self.instance_dir(uuid) / DISK
            paused_here = guest.power_state() == PowerState.RUNNING
            if paused_here:
                guest.pause()
            started = time.monotonic()
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                disks.flatten(disk, target, force_share=guest.is_active())
            finally:
                if paused_here:
                    guest.unpause()
        LOG.info("instance %s: snapshot to %s in %.1f s", uuid, target, time.monotonic() - started)

    def _snapshot_rbd_root(self, uuid: str, guest: Guest, target: Path) -> None:
        """Pause for an RBD snapshot of the root disk only, then copy from it while the guest runs again."""
        assert self.rbd_disks is not None
        started = time.monotonic()
        with _translated(uuid, "snapshot"):
            paused_here = guest.power_state() == PowerState.RUNNING
            if paused_here:
                guest.pause()
            try:
                self.rbd_disks.remove_snapshot(uuid, SERVER_SNAPSHOT)  # left by a copy that died: not this instant
                self.rbd_disks.create_snapshot(uuid, SERVER_SNAPSHOT)
            finally:
                if paused_here:
                    guest.unpause()
        paused = time.monotonic() - started
        target.parent.mkdir(parents=True, exist_ok=True)
        raw = target.with_name(f".{target.name}.raw")
        try:
            self.rbd_disks.export(uuid, SERVER_SNAPSHOT, raw)
            disks.convert_to_qcow2(raw, target)
        finally:
            raw.unlink(missing_ok=True)
            self.rbd_disks.remove_snapshot(uuid, SERVER_SNAPSHOT)
        LOG.info("instance %s: snapshot from Ceph in %.1f s (paused %.2f s)", uuid, time.monotonic() - started, paused)

    def rebuild(self, spec: InstanceSpec, power_on: bool = True) -> None:
        """A new root disk and config drive from ``spec``; the console log is kept (it is the guest's history)."""
        uuid = canonical_uuid(spec.uuid)
        directory = self.instance_dir(uuid)
        with _translated(uuid, "rebuild"):
            guest = Guest.lookup(self.host, uuid)
            if guest is not None:
                guest.destroy()
                guest.undefine()
            for leftover in (directory / DISK, directory / CONFIG_DRIVE):
                leftover.unlink(missing_ok=True)
            self._remove_rbd_root(uuid)
            shutil.rmtree(directory / RESIZE_BACKUP, ignore_errors=True)
            (directory / RESIZE_STATE).unlink(missing_ok=True)
            try:
                self._build(spec, uuid, start=power_on)
            except Exception as exc:
                self._cleanup(uuid)
                if isinstance(exc, DriverError):
                    raise
                raise DriverError(reason=f"rebuild of instance {uuid} failed: {exc}") from exc
        LOG.info("instance %s: rebuilt from image %s", uuid, spec.base_image.name if spec.base_image else "-")

    def resize(self, spec: InstanceSpec) -> None:
        uuid = canonical_uuid(spec.uuid)
        directory = self.instance_dir(uuid)
        guest = self._guest(uuid)
        state_file, backup = directory / RESIZE_STATE, directory / RESIZE_BACKUP
        with _translated(uuid, "resize"):
            if not state_file.exists():  # first delivery: remember how the guest was, before touching it
                running = guest.power_state() in (PowerState.RUNNING, PowerState.PAUSED)
                state_file.write_text(json.dumps({"was_running": running}))
            state = json.loads(state_file.read_text())
            if state.get("resized"):  # redelivered after it was done: only make sure the guest runs as it should
                if state["was_running"] and not guest.is_active():
                    guest.start()
                return
            self.power_off(uuid, timeout=self.soft_reboot_timeout)
            in_ceph = self._root_in_ceph(uuid)
            if not backup.exists():
                partial = directory / f".{RESIZE_BACKUP}.partial"
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir()
                (partial / "domain.xml").write_text(guest.xml())
                if (directory / DISK).exists():
                    shutil.copyfile(directory / DISK, partial / DISK)
                if in_ceph and self.rbd_disks is not None:
                    self.rbd_disks.create_snapshot(uuid, RESIZE_SNAPSHOT)
                partial.rename(backup)
            try:
                if spec.root_volume is None and in_ceph:
                    if self.rbd_disks is None:
                        raise DriverError(reason="the root disk is in Ceph; this host has images_type 'qcow2'")
                    if spec.root_gb > 0:
                        self.rbd_disks.grow(uuid, spec.root_gb * GiB)
                elif spec.root_volume is None:  # a root volume is grown by the volume service, not here
                    disks.grow(directory / DISK, spec.root_gb)
                # the same serial port: the guest keeps its console address across a resize
                port = config.serial_tcp_port((backup / "domain.xml").read_text())
                self.host.define(config.domain_xml(self.domain_config(spec, port, root_in_ceph=in_ceph)))
                if state["was_running"]:
                    guest.start()
                state_file.write_text(json.dumps(state | {"resized": True}))
            except Exception:
                LOG.warning("instance %s: resize failed; putting it back as it was", uuid)
                self.revert_resize(uuid)
                raise
        LOG.info("instance %s: resized to %d vCPUs, %d MiB, %d GiB", uuid, spec.vcpus, spec.memory_mb, spec.root_gb)

    def rescue(self, spec: InstanceSpec, rescue_image: Path | None, rescue_format: str) -> None:
        """The rescue domain: ``disk.rescue`` (an overlay of the rescue image) as ``vda``, the root disk as ``vdb``,
        the config drive; the old definition waits in ``unrescue.xml``. The serial port stays the same."""
        uuid = canonical_uuid(spec.uuid)
        directory = self.instance_dir(uuid)
        guest = self._guest(uuid)
        saved = directory / UNRESCUE_XML
        with _translated(uuid, "rescue"):
            if saved.exists():  # redelivered: already rescued
                if not guest.is_active():
                    guest.start()
                return
            if rescue_image is None:
                raise DriverError(reason=f"instance {uuid}: no rescue image")
            original = guest.xml(inactive=True)
            self.power_off(uuid, timeout=self.soft_reboot_timeout)
            try:
                disks.create_root_disk(directory / RESCUE_DISK, rescue_image, rescue_format, spec.root_gb)
                normal = self.domain_config(spec, config.serial_tcp_port(original), self._root_in_ceph(uuid))
                root, *rest = normal.disks
                own_disks = [d for d in rest if d.serial == ""]  # the config drive; volumes stay out
                rescue_disk = config.DiskConfig(directory / RESCUE_DISK, ROOT_TARGET, "virtio", cache=self.cache_mode())
                rescue_disks = (rescue_disk, dataclasses.replace(root, target="vdb"), *own_disks)
                xml = config.domain_xml(dataclasses.replace(normal, disks=rescue_disks))
                partial = directory / f".{UNRESCUE_XML}.partial"
                partial.write_text(original)
                partial.replace(saved)
                self.host.define(xml)
                guest.start()
            except Exception:
                LOG.warning("instance %s: rescue failed; putting it back as it was", uuid)
                self.unrescue(uuid)
                raise
        LOG.info("instance %s: rescued", uuid)

    def unrescue(self, uuid: str) -> None:
        uuid = canonical_uuid(uuid)
        directory = self.instance_dir(uuid)
        guest = self._guest(uuid)
        saved = directory / UNRESCUE_XML
        with _translated(uuid, "unrescue"):
            if saved.exists():
                if guest.is_active():
                    guest.destroy()  # the rescue system has nothing to save
                self.host.define(saved.read_text())
                saved.unlink()
            (directory / RESCUE_DISK).unlink(missing_ok=True)
            if not guest.is_active():
                guest.start()
        LOG.info("instance %s: unrescued", uuid)

    def confirm_resize(self, uuid: str) -> None:
        uuid = canonical_uuid(uuid)
        directory = self.instance_dir(uuid)
        if self._root_in_ceph(uuid) and self.rbd_disks is not None:
            self.rbd_disks.remove_snapshot(uuid, RESIZE_SNAPSHOT)
        shutil.rmtree(directory / RESIZE_BACKUP, ignore_errors=True)
        (directory / RESIZE_STATE).unlink(missing_ok=True)

    def revert_resize(self, uuid: str) -> None:
        uuid = canonical_uuid(uuid)
        directory = self.instance_dir(uuid)
        state_file, backup = directory / RESIZE_STATE, directory / RESIZE_BACKUP
        if not state_file.exists():
            return
        was_running = json.loads(state_file.read_text())["was_running"]
        guest = self._guest(uuid)
        with _translated(uuid, "revert resize"):
            if backup.exists():
                self.power_off(uuid, timeout=0)  # its disk is about to be replaced: no need to shut down cleanly
                self.host.define((backup / "domain.xml").read_text())
                if (backup / DISK).exists():
                    (backup / DISK).replace(directory / DISK)
                if self._root_in_ceph(uuid) and self.rbd_disks is not None:
                    self.rbd_disks.rollback(uuid, RESIZE_SNAPSHOT)
                    self.rbd_disks.remove_snapshot(uuid, RESIZE_SNAPSHOT)
                shutil.rmtree(backup)
            if was_running and not guest.is_active():
                guest.start()
        state_file.unlink()
        LOG.info("instance %s: resize reverted", uuid)

    # -- moves between hosts ---------------------------------------------------------------------------------------
    #
    # Live: the target makes the guest's files and an "incoming" definition of its own (its serial port, its paths,
    # its host name), the source's libvirtd migrates peer to peer with a destination XML taken from both, copying
    # the root overlay (block migration) when it is local. Cold: the source powers the guest off and writes its
    # root overlay into the target's instance directory through the target's libvirtd (a storage volume upload
    # over the hypervisors' authenticated channel), the target puts it on its own copy of the base image and
    # defines the guest with the new flavor. Disks in Ceph and volumes are never copied, and never removed by a
    # move's clean-up: the other copy uses them.

    def _target_host(self, target: base.MigrationTarget) -> Host:
        """A connection of this agent's own to the target's libvirtd, through the channel its libvirtd migrates
        over (``migration_uri``: TLS with the host's certificate by default), from this host's underlay (its
        network namespace, when it is simulated)."""
        uri = migration.connection_uri(self.migration_uri, target)
        return Host(uri, self.host.virt_type(), opener=peers.opener(self.network_namespace))

    def _target_dir(self, conn: libvirt.virConnect, uuid: str, target: base.MigrationTarget) -> Path:
        """The instance directory on the target: below the instances path the move names, else the one the target
        announces on its libvirtd (``peers``), else this host's own path (the same on every host by default)."""
        root = Path(target.instances_path) if target.instances_path else None
        if root is None and (pool := peers.instances_pool(target.host)) is not None:
            root = peers.pool_path(conn, pool)
        root = root or self.instances_path
        if not root.is_absolute():
            raise migration.InvalidTarget(host=target.host, reason="its instances path is not absolute")
        return root / uuid

    def _remove_copy(self, uuid: str) -> None:
        """This host's copy of a guest that lives (or will live) elsewhere: the domain stopped and undefined, its
        taps, the instance directory. Never the root disk in Ceph (only its marker file goes) nor a volume."""
        leftover: list[str] = []
        with _translated(uuid, "removal of this host's copy"):
            guest = Guest.lookup(self.host, uuid)
            if guest is not None and not self._own(guest):
                LOG.info("instance %s: its domain is another host's on this libvirtd; left alone", uuid)
            elif guest is not None:
                leftover = config.interface_taps(guest.xml())
                guest.destroy()
                guest.undefine()
        directory = self.instance_dir(uuid)
        shutil.rmtree(directory, ignore_errors=True)
        if directory.exists():
            raise DriverError(reason=f"could not remove {directory}")
        for tap in leftover:
            if not taps.remove_leftover(tap):
                LOG.warning("instance %s: tap %s is still there", uuid, tap)

    def _own(self, guest: Guest) -> bool:
        """Whether the domain is this host's (our metadata names it, or no host): hosts that share a libvirtd
        never touch each other's."""
        metadata = guest.metadata(config.NAMESPACE)
        return metadata is None or config.metadata_host(metadata) in ("", self.host_name)

    def _is_incoming(self, guest: Guest) -> bool:
        metadata = guest.metadata(config.NAMESPACE)
        return metadata is not None and config.is_incoming(metadata)

    def pre_live_migration(self, spec: InstanceSpec, block_migration: bool) -> None:
        """The instance directory, an empty overlay on this host's base image for a block migration (the source
        copies its own into it), the config drive made from the spec, and an incoming definition holding a serial
        port free here. The definition is how the source learns this host's port and paths (it reads it through
        its connection here); it is replaced by the guest's own when the migration completes, and hidden from
        ``list_instances`` until then. A failure removes what was made."""
        uuid = canonical_uuid(spec.uuid)
        directory = self.instance_dir(uuid)
        if self.native_tls:  # this host's QEMU will be the TLS server of the streams: refuse before anything is made
            migration.check_native_tls(self.qemu_tls_dir, self.host_name)
        with _translated(uuid, "preparing a live migration"):
            guest = Guest.lookup(self.host, uuid)
            if guest is not None and not self._own(guest):
                raise DriverError(
                    reason=f"instance {uuid} runs on a host that shares this libvirtd: it cannot move live"
                )
            if guest is not None:
                if guest.is_active() or not self._is_incoming(guest):
                    raise DriverError(reason=f"instance {uuid} is already on this host")
                LOG.info("instance %s: prepared for the incoming migration already", uuid)
                return
        try:
            config.domain_xml(self.domain_config(spec))  # a value that cannot be written refuses before anything
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o755)
            for nic in spec.nics:
                if not taps.remove_leftover(nic.tap):
                    raise DriverError(reason=f"network device {nic.tap} already exists and is in use")
            if self._clones_root(spec):
                assert self.rbd_disks is not None
                (directory / RBD_MARKER).write_text(self.rbd_disks.disk_name(uuid) + "\n")
            elif spec.root_volume is None and block_migration:
                if spec.base_image is None:
                    raise DriverError(reason=f"instance {uuid} has neither an image nor a root volume")
                (directory / DISK).unlink(missing_ok=True)
                disks.create_root_disk(directory / DISK, spec.base_image, spec.base_image_format, spec.root_gb)
            if spec.config_drive is not None:
                (directory / CONFIG_DRIVE).unlink(missing_ok=True)
                disks.build_config_drive(spec.config_drive, directory / CONFIG_DRIVE)
            with _translated(uuid, "preparing a live migration"):
                self._define_with_serial_port(spec, incoming=True)
        except Exception as exc:
            LOG.warning("instance %s: preparing the incoming migration failed, cleaning up: %s", uuid, exc)
            with contextlib.suppress(Exception):
                self._remove_copy(uuid)
            if isinstance(exc, DriverError):
                raise
            raise DriverError(reason=f"preparing the live migration of {uuid} failed: {exc}") from exc
        LOG.info("instance %s: ready for an incoming live migration (block: %s)", uuid, block_migration)

    def live_migration(
        self,
        uuid: str,
        target: base.MigrationTarget,
        block_migration: bool,
        progress: Callable[[base.MigrationStats], None],
    ) -> base.MigrationStats:
        uuid = canonical_uuid(uuid)
        uri = migration.connection_uri(self.migration_uri, target)
        guest = self._guest(uuid)
        remote = self._target_host(target)
        try:
            with _translated(uuid, f"live migration to {target.host}"):
                state = guest.power_state()
                if state not in (PowerState.RUNNING, PowerState.PAUSED):
                    raise DriverError(reason=f"instance {uuid} is {state.name}: only a running guest moves live")
                prepared = Guest.lookup(remote, uuid)
                if prepared is None or prepared.is_active() or not self._is_incoming(prepared):
                    raise DriverError(reason=f"{target.host} is not prepared for instance {uuid}")
                prepared_xml = prepared.xml(inactive=True)
                live, persistent = guest.migratable_xml(), guest.migratable_xml(inactive=True)
                copy = migration.local_disks(live, self.instance_dir(uuid))
                if copy and not block_migration:
                    raise DriverError(reason=f"instance {uuid} has local disks: only a block migration moves them")
                if self._root_in_ceph(uuid) and config.disk_path(prepared_xml, ROOT_TARGET) is not None:
                    raise DriverError(reason=f"{target.host} does not keep root disks in Ceph")
                shared = bool(migration.shared_file_volumes(live, self.volume_dir))
                if self.native_tls:
                    migration.check_native_tls(self.qemu_tls_dir, self.host_name)
                flags = migration.live_flags(
                    bool(copy), self.native_tls, state == PowerState.PAUSED, shared_files=shared
                )
                params = migration.live_params(
                    target,
                    migration.destination_xml(live, prepared_xml),
                    migration.destination_xml(persistent, prepared_xml),
                    copy,
                )
            LOG.info("instance %s: live migration to %s (%s) begins, copying %s", uuid, target.host, uri, copy or "-")
            final = self._migrate(uuid, guest, remote, target, uri, params, flags, progress, state)
            if (log_there := config.serial_log(prepared_xml)) is not None:
                try:
                    remote.call(lambda conn: self._carry_console_log(conn, uuid, log_there.parent))
                except (DriverError, libvirt.libvirtError) as exc:  # the guest moved: that is what counts
                    LOG.warning("instance %s: its console history stays behind: %s", uuid, exc)
            return final
        finally:
            remote.close()

    def _migrate(
        self,
        uuid: str,
        guest: Guest,
        remote: Host,
        target: base.MigrationTarget,
        uri: str,
        params: dict[str, object],
        flags: int,
        progress: Callable[[base.MigrationStats], None],
        state_before: PowerState,
    ) -> base.MigrationStats:
        """Run the migration in a thread (libvirt's call blocks until it ended) while this one reports its job's
        figures and aborts it after ``live_migration_timeout``."""
        failure: list[BaseException] = []

        def run() -> None:
            try:
                guest.migrate(uri, params, flags)
            except BaseException as exc:  # reported by the caller's thread
                failure.append(exc)

        worker = threading.Thread(target=run, name=f"migrate-{uuid}", daemon=True)
        started = time.monotonic()
        timed_out = False
        last = base.MigrationStats()
        worker.start()
        while worker.is_alive():
            worker.join(self.migration_poll_interval)
            if not worker.is_alive():
                break
            try:
                stats = guest.job_stats()
            except libvirt.libvirtError:
                continue  # the domain left this host meanwhile
            if migration.is_outgoing_migration(stats):
                last = migration.job_stats(stats)
                try:
                    progress(last)
                except Exception:
                    LOG.exception("instance %s: the migration's progress could not be reported", uuid)
            if not timed_out and time.monotonic() - started > self.live_migration_timeout:
                timed_out = True
                LOG.warning("instance %s: not migrated after %.0f s; aborting", uuid, self.live_migration_timeout)
                with contextlib.suppress(libvirt.libvirtError):
                    guest.abort_job()
        if failure:
            return self._migration_failed(uuid, remote, target, failure[0], timed_out, state_before, last)
        final = self._completed_stats(remote, uuid, last)
        LOG.info(
            "instance %s: now runs on %s (%.1f s, downtime %s ms)",
            uuid,
            target.host,
            time.monotonic() - started,
            final.downtime_ms,
        )
        return final

    def _completed_stats(self, remote: Host, uuid: str, last: base.MigrationStats) -> base.MigrationStats:
        """The completed job's figures, downtime included, as the target keeps them (the source forgot the
        domain); the last figures seen here when the target cannot say."""
        try:
            moved = Guest.lookup(remote, uuid)
            if moved is not None:
                final = migration.job_stats(moved.completed_job(), completed=True)
                if not final.disk_total and last.disk_total:  # the target's figures leave the disks' copy out
                    final = dataclasses.replace(final, disk_total=last.disk_total, disk_processed=last.disk_total,
                                                disk_remaining=0)  # fmt: skip
                return final
        except libvirt.libvirtError as exc:
            LOG.warning("instance %s: the migration's final figures are unknown: %s", uuid, exc)
        return last

    def _migration_failed(
        self,
        uuid: str,
        remote: Host,
        target: base.MigrationTarget,
        exc: BaseException,
        timed_out: bool,
        state_before: PowerState,
        last: base.MigrationStats,
    ) -> base.MigrationStats:
        """libvirt keeps (or puts back) the guest here when a migration fails; make sure it runs as it did (a
        force-complete paused it) and say why. A guest that is gone from here and runs on the target did move
        (only the last step's report failed): that is a success."""
        with _translated(uuid, f"live migration to {target.host} ({exc}), then looking for the guest,"):
            guest = Guest.lookup(self.host, uuid)
            if guest is None:
                moved = Guest.lookup(remote, uuid)
                if moved is not None and moved.is_active():
                    LOG.warning("instance %s: the migration reported %s, but the guest runs on %s", uuid, exc,
                                target.host)  # fmt: skip
                    return self._completed_stats(remote, uuid, last)
                raise DriverError(reason=f"live migration of {uuid} to {target.host} failed, the guest is lost: {exc}")
            if not guest.is_active():  # its QEMU ended (crashed) here: the guest does not run anywhere
                raise DriverError(
                    reason=f"live migration of {uuid} to {target.host} failed ({exc}) and the guest's QEMU ended on "
                    f"{self.host_name}: the guest is off there"
                ) from exc
        try:
            if guest.power_state() == PowerState.PAUSED and state_before == PowerState.RUNNING:
                guest.unpause()
        except libvirt.libvirtError:
            LOG.exception("instance %s: could not resume the guest after the failed migration", uuid)
        if isinstance(exc, libvirt.libvirtError) and exc.get_error_code() == libvirt.VIR_ERR_OPERATION_ABORTED:
            if timed_out:
                raise DriverError(
                    reason=f"live migration of {uuid} to {target.host} did not complete within "
                    f"{self.live_migration_timeout:g} s and was aborted; the guest still runs on {self.host_name}"
                ) from exc
            raise base.MigrationAborted(uuid=uuid) from exc
        hint = migration.tls_failure_hint(str(exc)) if self.native_tls else ""
        raise DriverError(
            reason=f"live migration of {uuid} to {target.host} failed ({exc}); the guest still runs on "
            f"{self.host_name}.{hint}"
        ) from exc

    def _outgoing_migration(self, uuid: str) -> Guest | None:
        """The guest when it has an outgoing migration in flight here, else None."""
        guest = Guest.lookup(self.host, uuid)
        if guest is None:
            return None
        try:
            return guest if migration.is_outgoing_migration(guest.job_stats()) else None
        except libvirt.libvirtError as exc:
            if exc.get_error_code() in (
                libvirt.VIR_ERR_NO_DOMAIN,
                libvirt.VIR_ERR_OPERATION_INVALID,
                libvirt.VIR_ERR_NO_SUPPORT,  # a hypervisor that keeps no jobs migrates nothing
            ):
                return None
            raise

    def live_migration_abort(self, uuid: str) -> None:
        uuid = canonical_uuid(uuid)
        with _translated(uuid, "aborting the live migration"):
            guest = self._outgoing_migration(uuid)
            if guest is None:
                return
            try:
                guest.abort_job()
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:  # no job any more: it just ended
                    raise
        LOG.info("instance %s: live migration abort requested", uuid)

    def live_migration_force_complete(self, uuid: str) -> None:
        """Pause the guest: its memory stops changing, so the copy converges; it resumes on the target (or here,
        should the migration fail after all)."""
        uuid = canonical_uuid(uuid)
        with _translated(uuid, "forcing the live migration to complete"):
            guest = self._outgoing_migration(uuid)
            if guest is None or guest.power_state() != PowerState.RUNNING:
                return
            guest.pause()
        LOG.info("instance %s: paused so that its live migration completes", uuid)

    def rollback_live_migration_at_destination(self, uuid: str) -> None:
        """Only what ``pre_live_migration`` made, or a guest still arriving, is removed: a guest that runs here, or
        a definition that is not the incoming one, refuses (it may be the only copy)."""
        uuid = canonical_uuid(uuid)
        with _translated(uuid, "rolling back the incoming migration"):
            guest = Guest.lookup(self.host, uuid)
            if guest is not None and self._own(guest):  # another host's on a shared libvirtd is left alone
                state, reason = guest.state()
                arriving = state == libvirt.VIR_DOMAIN_PAUSED and reason == libvirt.VIR_DOMAIN_PAUSED_MIGRATION
                if guest.is_active() and not arriving:
                    raise DriverError(reason=f"instance {uuid} runs on this host: it is not rolled back")
                if not guest.is_active() and not self._is_incoming(guest):
                    raise DriverError(reason=f"instance {uuid} is defined on this host: it is not rolled back")
        self._remove_copy(uuid)
        LOG.info("instance %s: incoming live migration rolled back", uuid)

    def post_live_migration_at_source(self, uuid: str) -> None:
        """The guest left (libvirt undefined it here at the switch); its local files go. A guest still running
        here refuses: then it did not move."""
        uuid = canonical_uuid(uuid)
        with _translated(uuid, "cleaning up after the live migration"):
            guest = Guest.lookup(self.host, uuid)
            if guest is not None and self._own(guest) and guest.is_active():
                raise DriverError(reason=f"instance {uuid} still runs on this host: its files are kept")
        self._remove_copy(uuid)
        LOG.info("instance %s: source copy removed after the live migration", uuid)

    def migrate_disk_and_power_off(self, uuid: str, target: base.MigrationTarget) -> None:
        """Power off, keep the definition and disks for a revert, and write the root overlay (only the guest's own
        writes: the target has the base image from its own cache) into the target's instance directory through
        its libvirtd. A root disk in Ceph is not copied: it gets a snapshot a revert rolls back to. The config
        drive is made again on the target from the spec. A failure starts the guest again if it ran.

        A target whose agent shares this host's libvirtd (hosts simulated on one machine) is reached through it;
        as the daemon holds one definition per guest, this one is then kept in ``move-source.xml`` and undefined,
        for the target to define its own (a revert defines it again)."""
        uuid = canonical_uuid(uuid)
        migration.checked_address(target)
        saved = self.instance_dir(uuid) / MOVE_SOURCE_XML
        shared = self._shares_libvirtd(target)
        with _translated(uuid, "cold migration"):
            found = Guest.lookup(self.host, uuid)
            if (found is None or not self._own(found)) and saved.exists():
                LOG.info("instance %s: handed over to %s already", uuid, target.host)  # redelivered
                return
        guest = self._guest(uuid)
        with _translated(uuid, "cold migration"):
            was_running = guest.power_state() in (PowerState.RUNNING, PowerState.PAUSED)
        try:
            self.power_off(uuid, timeout=self.soft_reboot_timeout)
            if self._root_in_ceph(uuid):
                if self.rbd_disks is None:
                    raise DriverError(reason="the root disk is in Ceph; this host has images_type 'qcow2'")
                self.rbd_disks.create_snapshot(uuid, MOVE_SNAPSHOT)
            elif (disk := self.instance_dir(uuid) / DISK).exists():
                started = time.monotonic()
                remote = self.host if shared else self._target_host(target)
                try:
                    with _translated(uuid, f"copying the disk to {target.host}"):
                        remote.call(lambda conn: self._copy_to(conn, uuid, self._target_dir(conn, uuid, target), disk))
                finally:
                    if not shared:
                        remote.close()
                LOG.info(
                    "instance %s: root disk (%d bytes) copied to %s in %.1f s",
                    uuid,
                    disk.stat().st_size,
                    target.host,
                    time.monotonic() - started,
                )
            if shared:  # one definition per guest on that daemon: the target's from now on, this one kept aside
                with _translated(uuid, "handing the definition over"):
                    partial = saved.with_name(f".{saved.name}.partial")
                    partial.write_text(guest.xml(inactive=True))
                    partial.replace(saved)
                    guest.undefine()
        except Exception as exc:
            LOG.warning("instance %s: cold migration to %s failed: %s", uuid, target.host, exc)
            if was_running:
                with contextlib.suppress(Exception):
                    self.power_on(uuid)
            if isinstance(exc, DriverError):
                raise
            raise DriverError(reason=f"cold migration of {uuid} to {target.host} failed: {exc}") from exc

    def _copy_to(self, conn: libvirt.virConnect, uuid: str, directory: Path, disk: Path) -> None:
        self._upload(conn, uuid, directory, [(disk, DISK)])
        self._carry_console_log(conn, uuid, directory)

    def _carry_console_log(self, conn: libvirt.virConnect, uuid: str, directory: Path) -> None:
        """The guest's console history (its last MiB) written to the target as the rotated log, which
        ``get_console_output`` reads before the current one: the user's console log goes on where it was. Best
        effort: a history that cannot be written is no reason to fail a move."""
        log = self.instance_dir(uuid) / CONSOLE_LOG
        history = disks.read_tail([log.with_name(f"{CONSOLE_LOG}.0"), log], CONSOLE_HISTORY)
        if not history:
            return
        try:
            with tempfile.NamedTemporaryFile(dir=self.instance_dir(uuid), prefix=".console-history.") as copy:
                copy.write(history)
                copy.flush()
                self._upload(conn, uuid, directory, [(Path(copy.name), f"{CONSOLE_LOG}.0")])
        except (libvirt.libvirtError, OSError) as exc:
            LOG.warning("instance %s: its console history stays behind: %s", uuid, exc)

    def _shares_libvirtd(self, target: base.MigrationTarget) -> bool:
        """Whether the target's agent uses this host's libvirtd (hosts simulated on one machine without machines
        of their own): it announced its instance directory here. The copy then goes through that daemon, which
        listens on no address of the target's."""
        pool = peers.instances_pool(target.host)
        with _translated("*", "looking for the target's instance directory"):
            return pool is not None and self.host.call(lambda conn: peers.pool_path(conn, pool)) is not None

    @staticmethod
    def _upload(conn: libvirt.virConnect, uuid: str, directory: Path, files: list[tuple[Path, str]]) -> None:
        """Write each (file, name) of ``files`` as ``name`` into ``directory`` on the other end of ``conn``: a
        transient directory pool there (made if missing), one volume per file, its bytes streamed
        (``virStorageVolUpload``). A file that fails is removed there; the pool is always stopped (its files
        stay)."""
        name = MOVE_POOL_PREFIX + uuid
        with contextlib.suppress(libvirt.libvirtError):  # left by an attempt that died
            conn.storagePoolLookupByName(name).destroy()
        pool = conn.storagePoolCreateXML(
            migration.pool_xml(name, directory), libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD
        )
        try:
            for path, file_name in files:
                with contextlib.suppress(libvirt.libvirtError):  # a copy from an earlier attempt
                    pool.storageVolLookupByName(file_name).delete(0)
                size = path.stat().st_size
                volume = pool.createXML(migration.volume_xml(file_name, size), 0)
                stream = conn.newStream(0)
                try:
                    volume.upload(stream, 0, size, 0)
                    with path.open("rb") as source:
                        stream.sendAll(lambda _stream, nbytes, handle: handle.read(nbytes), source)
                    stream.finish()
                except BaseException:
                    with contextlib.suppress(libvirt.libvirtError):
                        stream.abort()
                    with contextlib.suppress(libvirt.libvirtError):
                        volume.delete(0)
                    raise
        finally:
            with contextlib.suppress(libvirt.libvirtError):
                pool.destroy()

    def finish_migration(self, spec: InstanceSpec, power_on: bool) -> None:
        """Define the guest from the copied overlay, put on this host's base image and grown to the flavor (or
        from its disk in Ceph, grown), with a new config drive and a serial port free here. Idempotent: a guest
        defined here already is only started if it should run. A failure leaves no domain (the copied disk stays
        for a retry; ``destroy_moved`` removes it)."""
        uuid = canonical_uuid(spec.uuid)
        directory = self.instance_dir(uuid)
        with _translated(uuid, "finishing the migration"):
            guest = Guest.lookup(self.host, uuid)
            if guest is not None and not self._own(guest):
                raise DriverError(reason=f"instance {uuid} is still defined for another host on this libvirtd")
            if guest is not None:
                if power_on and not guest.is_active():
                    guest.start()
                return
        try:
            config.domain_xml(self.domain_config(spec))
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o755)
            for nic in spec.nics:
                if not taps.remove_leftover(nic.tap):
                    raise DriverError(reason=f"network device {nic.tap} already exists and is in use")
            if self._clones_root(spec):
                assert self.rbd_disks is not None
                (directory / RBD_MARKER).write_text(self.rbd_disks.disk_name(uuid) + "\n")
                if not self.rbd_disks.exists(uuid):
                    raise DriverError(reason=f"the root disk of instance {uuid} is not in Ceph")
                if spec.root_gb > 0 and self.rbd_disks.size(uuid) < spec.root_gb * GiB:
                    self.rbd_disks.grow(uuid, spec.root_gb * GiB)
            elif spec.root_volume is None:
                disk = directory / DISK
                if not disk.is_file():
                    raise DriverError(reason=f"the root disk of instance {uuid} was not copied to this host")
                if spec.base_image is None:
                    raise DriverError(reason=f"instance {uuid} has no base image on this host")
                disks.adopt_overlay(disk, spec.base_image, spec.base_image_format)
                disks.grow(disk, spec.root_gb)
            if spec.config_drive is not None:
                (directory / CONFIG_DRIVE).unlink(missing_ok=True)
                disks.build_config_drive(spec.config_drive, directory / CONFIG_DRIVE)
            with _translated(uuid, "finishing the migration"):
                self._define_with_serial_port(spec)
                if power_on:
                    self._guest(uuid).start()
        except Exception as exc:
            LOG.warning("instance %s: finishing the migration failed: %s", uuid, exc)
            with contextlib.suppress(Exception):
                if (defined := Guest.lookup(self.host, uuid)) is not None:
                    defined.destroy()
                    defined.undefine()
            if isinstance(exc, DriverError):
                raise
            raise DriverError(reason=f"finishing the migration of {uuid} failed: {exc}") from exc
        LOG.info("instance %s: migrated here (%d vCPUs, %d MiB, %d GiB)", uuid, spec.vcpus, spec.memory_mb,
                 spec.root_gb)  # fmt: skip

    def confirm_migration(self, uuid: str) -> None:
        uuid = canonical_uuid(uuid)
        if self._root_in_ceph(uuid) and self.rbd_disks is not None:
            self.rbd_disks.remove_snapshot(uuid, MOVE_SNAPSHOT)
        self._remove_copy(uuid)
        LOG.info("instance %s: source copy removed after the confirmed migration", uuid)

    def finish_revert_migration(self, uuid: str, power_on: bool) -> None:
        """The kept copy again: a root disk in Ceph rolled back to the move's snapshot (the target's copy must be
        gone: ``destroy_moved`` there first), then started if ``power_on``."""
        uuid = canonical_uuid(uuid)
        saved = self.instance_dir(uuid) / MOVE_SOURCE_XML
        with _translated(uuid, "reverting the migration"):
            found = Guest.lookup(self.host, uuid)
            if found is not None and not self._own(found):
                raise DriverError(reason=f"the target's copy of {uuid} is still defined on this libvirtd")
            if found is None and saved.exists():  # handed over to a host sharing the daemon: take it back
                self.host.define(saved.read_text())
            saved.unlink(missing_ok=True)
        guest = self._guest(uuid)
        with _translated(uuid, "reverting the migration"):
            if self._root_in_ceph(uuid) and self.rbd_disks is not None and not guest.is_active():
                self.rbd_disks.rollback(uuid, MOVE_SNAPSHOT)
                self.rbd_disks.remove_snapshot(uuid, MOVE_SNAPSHOT)
            if power_on and not guest.is_active():
                guest.start()
        LOG.info("instance %s: migration reverted, the guest is back here", uuid)

    def destroy_moved(self, uuid: str) -> None:
        self._remove_copy(canonical_uuid(uuid))
        LOG.info("instance %s: this host's copy removed (the guest lives elsewhere)", uuid)

    # -- interfaces ------------------------------------------------------------------------------------------------

    def attach_interface(self, uuid: str, nic: Nic) -> None:
        """Hot-plug the NIC into the running guest and add it to the definition (all or nothing); a NIC with this
        MAC already there is left as it is (a redelivered attach)."""
        uuid = canonical_uuid(uuid)
        xml = config.interface_xml(config.InterfaceConfig(nic.mac, nic.tap, nic.mtu, bridge=nic.bridge))
        guest = self._guest(uuid)
        with _translated(uuid, "interface attach"):
            active = guest.is_active()
            plugged_here = False
            try:
                if active and config.interface_element(guest.xml(), nic.mac) is None:
                    guest.attach_device(xml, live=True)
                    plugged_here = True
                if config.interface_element(guest.xml(inactive=True), nic.mac) is None:
                    guest.attach_device(xml, live=False)
            except libvirt.libvirtError:
                if plugged_here:  # a NIC only in the running guest would vanish at its next start
                    with contextlib.suppress(libvirt.libvirtError):
                        guest.detach_device(xml, live=True)
                raise
        LOG.info("instance %s: interface %s (%s) attached", uuid, nic.port_id, nic.mac)

    def detach_interface(self, uuid: str, mac: str, timeout: float = 60) -> None:
        """Unplug the NIC from the running guest, wait until the guest released it, then drop it from the
        definition; a NIC (or a domain) already gone is detached."""
        uuid = canonical_uuid(uuid)
        with _translated(uuid, "interface detach"):
            guest = Guest.lookup(self.host, uuid)
            if guest is None:
                return
            if guest.is_active() and (element := config.interface_element(guest.xml(), mac)) is not None:
                try:
                    guest.detach_device(element, live=True)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() != libvirt.VIR_ERR_DEVICE_MISSING and "unplug" not in str(exc).lower():
                        raise
                deadline = time.monotonic() + timeout
                while guest.is_active() and config.interface_element(guest.xml(), mac) is not None:
                    if time.monotonic() >= deadline:
                        raise DriverError(reason=f"The guest did not release the interface {mac} within {timeout:g} s")
                    time.sleep(POLL_INTERVAL)
            element = config.interface_element(guest.xml(inactive=True), mac)
            if element is not None:
                guest.detach_device(element, live=False)
        LOG.info("instance %s: interface %s detached", uuid, mac)

    # -- volumes ---------------------------------------------------------------------------------------------------

    def attach_volume(self, uuid: str, connection: VolumeConnection, device: str, serial: str) -> None:
        uuid = canonical_uuid(uuid)
        if not VOLUME_DEVICE.fullmatch(device):
            raise DriverError(reason=f"a volume cannot be attached as {device!r}")
        xml = config.disk_xml(self.volume_disk(AttachedVolume(device, serial, connection)))
        guest = self._guest(uuid)
        with _translated(uuid, "volume attach"):
            active = guest.is_active()
            persistent = config.disk_serials(guest.xml(inactive=True))
            live = config.disk_serials(guest.xml()) if active else {}
            for disks_now in (persistent, live):
                if disks_now.get(device, serial) != serial:
                    raise DriverError(reason=f"/dev/{device} of instance {uuid} holds another disk")
            plugged_here = False
            try:
                if active and device not in live:
                    guest.attach_device(xml, live=True)
                    plugged_here = True
                if device not in persistent:
                    guest.attach_device(xml, live=False)
            except libvirt.libvirtError:
                if plugged_here:  # all or nothing: a disk only in the running guest would vanish at next start
                    with contextlib.suppress(libvirt.libvirtError):
                        guest.detach_device(xml, live=True)
                raise
        LOG.info("instance %s: volume %s attached as /dev/%s", uuid, serial, device)

    def detach_volume(self, uuid: str, device: str, timeout: float = 60) -> None:
        uuid = canonical_uuid(uuid)
        with _translated(uuid, "volume detach"):
            guest = Guest.lookup(self.host, uuid)
            if guest is None:
                return  # its disks went with it
            if guest.is_active() and (element := config.disk_element(guest.xml(), device)) is not None:
                deadline = time.monotonic() + timeout
                # The request is sent again until the guest lets go, as Nova's libvirt driver does: a guest that
                # is booting (or has just arrived by migration) can miss the ACPI unplug event for good.
                while True:
                    self._unplug_live(guest, element, device)
                    left = deadline - time.monotonic()
                    if self._wait_released(guest, device, min(self.detach_retry_interval, max(left, 0))):
                        break
                    if time.monotonic() >= deadline:
                        raise DriverError(reason=f"The guest did not release /dev/{device} within {timeout:g} s")
            element = config.disk_element(guest.xml(inactive=True), device)
            if element is not None:
                guest.detach_device(element, live=False)
        LOG.info("instance %s: volume on /dev/%s detached", uuid, device)

    @staticmethod
    def _unplug_live(guest: Guest, element: str, device: str) -> None:
        try:
            guest.detach_device(element, live=True)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_DEVICE_MISSING:
                return
            # an unplug asked for earlier (a redelivered detach) is still waiting for the guest: wait with it
            if "unplug" not in str(exc).lower() or config.disk_element(guest.xml(), device) is None:
                raise

    @staticmethod
    def _wait_released(guest: Guest, device: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while guest.is_active() and config.disk_element(guest.xml(), device) is not None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL)
        return True

    def extend_volume(self, uuid: str, device: str, new_size_bytes: int) -> None:
        uuid = canonical_uuid(uuid)
        guest = self._guest(uuid)
        with _translated(uuid, "volume extend"):
            if device not in config.disk_serials(guest.xml(inactive=True)) or not VOLUME_DEVICE.fullmatch(device):
                raise DriverError(reason=f"instance {uuid} has no volume on /dev/{device}")
            if guest.is_active():
                current = guest.block_capacity(device)
                if new_size_bytes < current:
                    raise DriverError(reason=f"the volume on /dev/{device} cannot shrink from {current} bytes")
                if new_size_bytes > current:
                    guest.block_resize(device, new_size_bytes)
            else:
                path = config.disk_path(guest.xml(inactive=True), device)
                if path is None:
                    raise DriverError(reason=f"the volume on /dev/{device} can only grow while the guest runs")
                real = volume_file(VolumeConnection("file", path=path), self.volume_dir)
                disks.grow_volume(real, config.disk_format(guest.xml(inactive=True), device), new_size_bytes)
        LOG.info("instance %s: volume on /dev/%s grown to %d bytes", uuid, device, new_size_bytes)

    def snapshot_volume(
        self, uuid: str, device: str, serial: str, target: VolumeConnection, timeout: float = 1800
    ) -> None:
        uuid = canonical_uuid(uuid)
        path = snapshot_target(target, self.volume_dir)
        guest = self._guest(uuid)
        if path.exists():
            LOG.info("instance %s: the copy of /dev/%s for %s is there already", uuid, device, path.name)
            return
        with _translated(uuid, "volume snapshot"):
            volume_snapshots.take(guest, device, serial, path, self.volume_dir, timeout)

    def get_console_output(self, uuid: str, max_bytes: int = 1 << 20) -> str:
        """The tail of the console log, including virtlogd's last rotated file when the current one is short."""
        uuid = canonical_uuid(uuid)
        self._guest(uuid)
        log = self.instance_dir(uuid) / CONSOLE_LOG
        data = disks.read_tail([log.with_name(f"{CONSOLE_LOG}.0"), log], max_bytes)
        return data.decode("utf-8", errors="replace")

    def get_console(self, uuid: str, kind: ConsoleKind) -> ConsoleEndpoint:
        uuid = canonical_uuid(uuid)
        kind = ConsoleKind(kind)
        guest = self._guest(uuid)
        with _translated(uuid, "console lookup"):
            if not guest.is_active():
                raise ConsoleUnavailable(kind=kind, uuid=uuid, reason="the guest is not running")
            xml = guest.xml()  # the live XML: the VNC port changes at every start
        port = config.serial_tcp_port(xml) if kind is ConsoleKind.SERIAL else config.vnc_port(xml)
        address = config.console_listen(xml, kind)
        if port is None or address is None:
            raise ConsoleUnavailable(kind=kind, uuid=uuid, reason="the guest was defined without one")
        return ConsoleEndpoint(host=address, port=port, kind=kind)

    def get_info(self, uuid: str) -> InstanceInfo:
        uuid = canonical_uuid(uuid)
        guest = self._guest(uuid)
        with _translated(uuid, "get_info"):
            return InstanceInfo(uuid=uuid, power_state=guest.power_state())

    def get_diagnostics(self, uuid: str) -> Diagnostics:
        """From the live domain: ``virDomainGetInfo``, per-vCPU times, balloon memory stats and each tap's and
        disk's counters (a stopped domain has only its definition: no counters, ``shutdown``)."""
        uuid = canonical_uuid(uuid)
        guest = self._guest(uuid)
        with _translated(uuid, "diagnostics"):
            xml = guest.xml()
            nics = config.interfaces(xml)
            targets = config.disk_targets(xml)
            raw = guest.statistics([tap for _, tap in nics if tap], targets)
            state = guest.power_state()
        info = raw["info"]
        memory = raw["memory"]
        used_kib = memory.get("rss") or (memory.get("actual", 0) - memory.get("unused", 0)) or None
        names = {
            PowerState.RUNNING: "running",
            PowerState.PAUSED: "paused",
            PowerState.SUSPENDED: "suspended",
            PowerState.CRASHED: "crashed",
            PowerState.NOSTATE: "pending",
        }
        nic_keys = (
            "rx_octets",
            "rx_packets",
            "rx_errors",
            "rx_drop",
            "tx_octets",
            "tx_packets",
            "tx_errors",
            "tx_drop",
        )
        nic_details = []
        for mac, tap in nics:
            counts = raw["nics"].get(tap) if tap else None  # virDomainInterfaceStats: rx then tx, in nic_keys' order
            values = dict(zip(nic_keys, counts[:8], strict=True)) if counts and len(counts) >= 8 else {}
            nic_details.append(
                {
                    "device": tap,
                    "mac_address": mac,
                    **dict.fromkeys(nic_keys),
                    **values,
                    "rx_rate": None,
                    "tx_rate": None,
                }
            )
        disk_details = []
        for target in targets:
            counts = raw["disks"].get(target)
            keys = ("read_requests", "read_bytes", "write_requests", "write_bytes", "errors_count")
            values = dict(zip(keys, counts[:5], strict=True)) if counts and len(counts) >= 5 else dict.fromkeys(keys)
            disk_details.append({"device": target, **values})
        return Diagnostics(
            state=names.get(state, "shutdown"),
            driver="libvirt",
            hypervisor=self.host.virt_type(),
            hypervisor_os="linux",
            memory_maximum_mb=int(info[1]) // 1024,
            memory_used_mb=None if used_kib is None else int(used_kib) // 1024,
            cpu_details=[{"id": number, "time": int(time_ns), "utilisation": None} for number, time_ns in raw["vcpus"]],
            nic_details=nic_details,
            disk_details=disk_details,
        )

    def list_instances(self) -> list[InstanceInfo]:
        """Domains named ``stratus-<uuid>`` that carry our metadata element naming this host (or none); others on
        the machine are ignored."""
        found = []
        with _translated("*", "list"):
            for guest in Guest.all(self.host):
                try:
                    if not guest.name().startswith(config.NAME_PREFIX):
                        continue
                    metadata = guest.metadata(config.NAMESPACE)
                    if metadata is None or not config.is_stratus_metadata(metadata):
                        continue
                    if config.is_incoming(metadata):
                        continue  # made for a live migration still to arrive: the guest is not here yet
                    if config.metadata_host(metadata) not in ("", self.host_name):
                        continue  # another host's guest on a libvirtd the hosts of this machine share
                    found.append(InstanceInfo(uuid=guest.uuid, power_state=guest.power_state()))
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:  # undefined while we looked
                        raise
        return found

    def get_host_resources(self) -> base.HostResources:
        self.instances_path.mkdir(parents=True, exist_ok=True)
        with _translated("*", "host resources"):
            return self.host.resources(self.instances_path)
