"""A thin wrapper around one libvirt domain, and how libvirt's states read as Nova power states.

``Guest`` holds the domain's uuid, not just a ``virDomain``: after libvirtd restarts the old handle is dead, so every
call goes through ``Host.call`` and looks the domain up again on the new connection. Methods map one-to-one onto
libvirt calls; deciding what to do (idempotency, time limits, fallbacks) is the driver's job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import libvirt

from compute.host.virt.base import PowerState
from compute.host.virt.libvirt.host import Host

T = TypeVar("T")

_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.SUSPENDED,
}

UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
)
UNDEFINE_FALLBACK_FLAGS = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA


def power_state(state: int, reason: int, has_managed_save: bool) -> PowerState:
    """The Nova power state of a domain in libvirt ``state`` (with its ``reason``).

    A stopped domain with a managed-save image is SUSPENDED (starting it restores the memory); one that stopped
    because the guest crashed (``on_crash=destroy``) is CRASHED; ``VIR_DOMAIN_SHUTDOWN`` (shutting down) already
    counts as SHUTDOWN, as in Nova.
    """
    if state == libvirt.VIR_DOMAIN_SHUTOFF:
        if has_managed_save:
            return PowerState.SUSPENDED
        if reason == libvirt.VIR_DOMAIN_SHUTOFF_CRASHED:
            return PowerState.CRASHED
    return _STATES.get(state, PowerState.NOSTATE)


def error_code(exc: libvirt.libvirtError) -> int:
    return exc.get_error_code() or 0


def _counters(read: Callable[[], Any]) -> tuple[int, ...] | None:
    try:
        return tuple(int(v) for v in read())
    except libvirt.libvirtError:
        return None


class Guest:
    def __init__(self, host: Host, uuid: str, dom: Any = None) -> None:
        self.host = host
        self.uuid = uuid
        self._dom = dom
        self._conn: Any = None if dom is None else dom.connect()

    @classmethod
    def lookup(cls, host: Host, uuid: str) -> Guest | None:
        """The domain with ``uuid``, or None when libvirt has no such domain."""

        def find(conn: Any) -> Any:
            try:
                return conn.lookupByUUIDString(uuid)
            except libvirt.libvirtError as exc:
                if error_code(exc) == libvirt.VIR_ERR_NO_DOMAIN:
                    return None
                raise

        dom = host.call(find)
        return None if dom is None else cls(host, uuid, dom)

    @classmethod
    def all(cls, host: Host) -> list[Guest]:
        """Every domain libvirt knows, running or not."""
        return [cls(host, dom.UUIDString(), dom) for dom in host.call(lambda conn: conn.listAllDomains(0))]

    def _call(self, fn: Callable[[Any], T]) -> T:
        def run(conn: Any) -> T:
            if self._dom is None or self._conn is not conn:
                self._dom, self._conn = conn.lookupByUUIDString(self.uuid), conn
            return fn(self._dom)

        return self.host.call(run)

    # -- reading ---------------------------------------------------------------------------------------------------

    def state(self) -> tuple[int, int]:
        state, reason = self._call(lambda dom: dom.state(0))
        return state, reason

    def is_active(self) -> bool:
        return bool(self._call(lambda dom: dom.isActive()))

    def has_managed_save(self) -> bool:
        return bool(self._call(lambda dom: dom.hasManagedSaveImage(0)))

    def power_state(self) -> PowerState:
        state, reason = self.state()
        return power_state(state, reason, state == libvirt.VIR_DOMAIN_SHUTOFF and self.has_managed_save())

    def name(self) -> str:
        return self._call(lambda dom: dom.name())

    def xml(self, inactive: bool = False) -> str:
        """The live definition, or with ``inactive`` the persistent one (what the next start uses)."""
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
        return self._call(lambda dom: dom.XMLDesc(flags))

    def block_capacity(self, target: str) -> int:
        """The size in bytes the guest sees of its disk ``target``."""
        return int(self._call(lambda dom: dom.blockInfo(target, 0))[0])

    def metadata(self, namespace: str) -> str | None:
        """Our metadata element as libvirt returns it, or None when the domain has none in ``namespace``."""
        try:
            return self._call(lambda dom: dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, namespace, 0))
        except libvirt.libvirtError as exc:
            if error_code(exc) == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
                return None
            raise

    def statistics(self, nics: list[str], disks: list[str]) -> dict[str, Any]:
        """The running domain's counters as libvirt gives them: ``info`` (state, max and current memory in KiB,
        vCPUs, CPU time), ``vcpus`` (per-vCPU CPU time), ``memory`` (balloon stats in KiB), each tap's
        ``interfaceStats`` and each disk's ``blockStats`` (None for a device that is gone meanwhile)."""

        def read(dom: Any) -> dict[str, Any]:
            info = dom.info()
            active = bool(dom.isActive())
            vcpus = dom.vcpus()[0] if active else []
            memory = dom.memoryStats() if active else {}
            return {
                "info": info,
                "vcpus": [(v[0], v[2]) for v in vcpus],
                "memory": dict(memory),
                "nics": {dev: _counters(lambda d=dev: dom.interfaceStats(d)) if active else None for dev in nics},
                "disks": {dev: _counters(lambda d=dev: dom.blockStats(d)) if active else None for dev in disks},
            }

        return self._call(read)

    # -- acting ----------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the domain; restores its managed-save image when there is one."""
        self._call(lambda dom: dom.create())

    def shutdown(self) -> None:
        """Press the ACPI power button; returns at once. A domain that stopped meanwhile is fine."""
        try:
            self._call(lambda dom: dom.shutdown())  # no guest agent channel, so QEMU uses ACPI
        except libvirt.libvirtError as exc:
            if error_code(exc) != libvirt.VIR_ERR_OPERATION_INVALID or self.is_active():
                raise

    def destroy(self) -> None:
        """Pull the plug. A domain that is not running is left alone; QEMU slow to die (heavy I/O) is retried."""
        for attempt in range(3):
            try:
                self._call(lambda dom: dom.destroy())
                return
            except libvirt.libvirtError as exc:
                if error_code(exc) == libvirt.VIR_ERR_OPERATION_INVALID and not self.is_active():
                    return
                if error_code(exc) != libvirt.VIR_ERR_SYSTEM_ERROR or attempt == 2:
                    raise
                time.sleep(1)

    def reset(self) -> None:
        """Reset the virtual machine, like its reset button: no guest cooperation."""
        self._call(lambda dom: dom.reset(0))

    def pause(self) -> None:
        self._call(lambda dom: dom.suspend())

    def unpause(self) -> None:
        self._call(lambda dom: dom.resume())

    def managed_save(self) -> None:
        """Save memory to libvirt's managed-save file and stop the process; ``start`` restores it."""
        self._call(lambda dom: dom.managedSave(0))

    def remove_managed_save(self) -> None:
        self._call(lambda dom: dom.managedSaveRemove(0))

    def attach_device(self, xml: str, live: bool) -> None:
        """Add the device: to the running guest (``live``) or to the persistent definition."""
        flags = libvirt.VIR_DOMAIN_AFFECT_LIVE if live else libvirt.VIR_DOMAIN_AFFECT_CONFIG
        self._call(lambda dom: dom.attachDeviceFlags(xml, flags))

    def detach_device(self, xml: str, live: bool) -> None:
        """Ask for the device's removal: from the running guest (``live``: returns once asked, the guest releases
        it when it will) or from the persistent definition (at once)."""
        flags = libvirt.VIR_DOMAIN_AFFECT_LIVE if live else libvirt.VIR_DOMAIN_AFFECT_CONFIG
        self._call(lambda dom: dom.detachDeviceFlags(xml, flags))

    def block_resize(self, target: str, size_bytes: int) -> None:
        """Grow the running guest's disk ``target`` (QEMU grows the image and tells the guest)."""
        self._call(lambda dom: dom.blockResize(target, size_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES))

    def backup_begin(self, xml: str) -> None:
        """Start the backup job ``xml`` describes (``virDomainBackupBegin``); it runs in QEMU until it ends, whether
        or not anyone waits for it."""
        self._call(lambda dom: dom.backupBegin(xml, None, 0))

    def backup_xml(self) -> str | None:
        """The running backup job's document, or None when the domain runs none."""
        try:
            return self._call(lambda dom: dom.backupGetXMLDesc(0))
        except libvirt.libvirtError as exc:
            if error_code(exc) == libvirt.VIR_ERR_NO_DOMAIN_BACKUP:
                return None
            raise

    def completed_job(self) -> dict[str, Any]:
        """The statistics of the domain's last finished job: ``type`` (completed, failed, cancelled),
        ``operation`` (a backup...), ``errmsg`` when it failed."""
        return dict(self._call(lambda dom: dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)))

    def abort_job(self) -> None:
        """Cancel the domain's running job (a backup: libvirt removes the file it was writing)."""
        self._call(lambda dom: dom.abortJob())

    def undefine(self) -> None:
        """Forget the domain, its managed-save image, snapshot/checkpoint metadata and NVRAM; gone already is fine."""
        try:
            try:
                self._call(lambda dom: dom.undefineFlags(UNDEFINE_FLAGS))
            except libvirt.libvirtError as exc:
                if error_code(exc) != libvirt.VIR_ERR_INVALID_ARG:
                    raise
                # hypervisor drivers without NVRAM or checkpoints reject those flags; nothing of the kind to remove
                self._call(lambda dom: dom.undefineFlags(UNDEFINE_FALLBACK_FLAGS))
        except libvirt.libvirtError as exc:
            if error_code(exc) != libvirt.VIR_ERR_NO_DOMAIN:
                raise

    # -- moving ----------------------------------------------------------------------------------------------------

    def migratable_xml(self, inactive: bool = False) -> str:
        """The definition as a migration sends it (``VIR_DOMAIN_XML_MIGRATABLE``: what libvirt added for this host
        alone left out), live or with ``inactive`` the persistent one."""
        flags = libvirt.VIR_DOMAIN_XML_MIGRATABLE | (libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0)
        return self._call(lambda dom: dom.XMLDesc(flags))

    def migrate(self, uri: str, params: dict[str, Any], flags: int) -> None:
        """``virDomainMigrateToURI3``: blocks until the migration ended. Never retried on a new connection, as
        other calls are: a lost connection fails the migration (libvirt then keeps the guest here)."""
        dom = self._call(lambda dom: dom)
        dom.migrateToURI3(uri, params, flags)

    def job_stats(self) -> dict[str, Any]:
        """The figures of the domain's running job (``type`` ``VIR_DOMAIN_JOB_NONE`` when there is none)."""
        return dict(self._call(lambda dom: dom.jobStats(0)))
