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
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import time
import uuid as uuidlib
from collections.abc import Iterator
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
from compute.host.virt.libvirt import ceph_secret, config, disks, rbd_disks, serial_ports, taps, volume_snapshots
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
CONSOLE_LISTEN = "127.0.0.1"
"""Consoles listen on the loopback: the console proxy runs on the same machine as the hosts here."""
RESIZE_BACKUP = "resize-backup"
RESCUE_DISK = "disk.rescue"
UNRESCUE_XML = "unrescue.xml"
"""The definition from before a rescue, in the instance directory while rescued (``unrescue`` puts it back)."""
RESIZE_STATE = "resize.json"
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
    def __init__(
        self,
        settings: HostSettings,
        host: Host | None = None,
        *,
        soft_reboot_timeout: float = 120.0,
        cache_mode: str = "",
    ) -> None:
        """``host`` defaults to a connection to ``settings.libvirt_uri``; ``cache_mode`` ("" = probe the instances
        filesystem for O_DIRECT) is the disk cache mode of new domains."""
        self.instances_path = settings.effective_instances_path
        self.volume_dir = settings.effective_volume_dir
        self._volume_cache_mode = ""
        self.host = host or Host(settings.libvirt_uri, settings.libvirt_virt_type)
        self.soft_reboot_timeout = soft_reboot_timeout
        self._cache_mode = cache_mode
        self.host_name = ""
        self.ceph_secret = ceph_secret.CephSecret.from_settings(settings)
        self.rbd_disks = rbd_disks.RbdDisks.from_settings(settings)

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
            console_listen=CONSOLE_LISTEN,
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

    def _define_with_serial_port(self, spec: InstanceSpec) -> None:
        """Define the domain with a serial port no other domain of this libvirtd holds, chosen and claimed under
        the machine-wide lock (several agents may share the daemon)."""
        with serial_ports.allocation_lock():
            with _translated(spec.uuid, "serial port allocation"):
                used = {port for guest in Guest.all(self.host) if (port := self._serial_port_of(guest)) is not None}
            port = serial_ports.choose(used, lambda p: serial_ports.port_is_free(CONSOLE_LISTEN, p))
            self.host.define(config.domain_xml(self.domain_config(spec, port)))

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
                self._unplug_live(guest, element, device)
                if not self._wait_released(guest, device, timeout):
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
