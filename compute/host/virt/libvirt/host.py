"""The connection to libvirtd, and what the host offers.

``Host`` opens its connection on first use and reopens it when libvirtd has gone away (restarted, upgraded): a call
that fails with a connection error is retried once on a fresh connection. The driver receives a ``Host`` through
its constructor, so tests can hand it one pointed elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import libvirt

from compute.host.virt.base import DriverError, HostResources

LOG = logging.getLogger(__name__)
T = TypeVar("T")

VIRT_TYPES = ("kvm", "qemu")
GiB = 1 << 30

# libvirt-python prints every error to stderr unless a handler is set; we report errors through exceptions.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def probe_virt_type(cpuinfo: str, kvm_usable: bool) -> str:
    """``kvm`` when the CPU advertises hardware virtualisation (vmx or svm) and /dev/kvm can be opened, else
    ``qemu`` (TCG software emulation). ``cpuinfo`` is the text of /proc/cpuinfo."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return "kvm" if kvm_usable and flags & {"vmx", "svm"} else "qemu"


def _kvm_usable(device: str = "/dev/kvm") -> bool:
    try:
        os.close(os.open(device, os.O_RDWR | os.O_CLOEXEC))
    except OSError:
        return False
    return True


def is_connection_error(exc: libvirt.libvirtError) -> bool:
    """Errors that mean the connection to libvirtd is gone (not that the operation failed)."""
    code, domain = exc.get_error_code(), exc.get_error_domain()
    if code in (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN):
        return True
    return code in (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_INTERNAL_ERROR) and domain in (
        libvirt.VIR_FROM_REMOTE,
        libvirt.VIR_FROM_RPC,
    )


def cpu_info(capabilities_xml: str) -> dict[str, Any]:
    """Nova's ``cpu_info`` shape (arch, model, vendor, topology, features) from the capabilities XML."""
    cpu = ET.fromstring(capabilities_xml).find("./host/cpu")
    if cpu is None:
        return {}
    topology = cpu.find("topology")
    return {
        "arch": cpu.findtext("arch", ""),
        "model": cpu.findtext("model", ""),
        "vendor": cpu.findtext("vendor", ""),
        "topology": {
            key: int(topology.get(key, "1")) if topology is not None else 1 for key in ("sockets", "cores", "threads")
        },
        "features": sorted(f.get("name", "") for f in cpu.findall("feature")),
    }


class Host:
    """One libvirt connection, opened lazily and reopened after libvirtd restarts; thread-safe."""

    def __init__(
        self,
        uri: str,
        virt_type: str = "",
        opener: Callable[[str], Any] = libvirt.open,
        cpuinfo_path: Path = Path("/proc/cpuinfo"),
    ) -> None:
        if virt_type and virt_type not in VIRT_TYPES:
            raise DriverError(reason=f"libvirt_virt_type must be one of {', '.join(VIRT_TYPES)}, not {virt_type!r}")
        self.uri = uri
        self._virt_type = virt_type
        self._opener = opener
        self._cpuinfo_path = cpuinfo_path
        self._lock = threading.Lock()
        self._conn: Any = None
        self._closed = False

    # -- connection ------------------------------------------------------------------------------------------------

    def _on_close(self, _conn: Any, reason: int, _opaque: Any) -> None:
        LOG.warning("libvirt connection to %s closed (reason %d); it is reopened on next use", self.uri, reason)
        self._closed = True

    def _open(self) -> Any:
        try:
            conn = self._opener(self.uri)
        except libvirt.libvirtError as exc:
            raise DriverError(reason=f"cannot connect to libvirt at {self.uri}: {exc}") from exc
        with contextlib.suppress(libvirt.libvirtError):  # some drivers (test:///) cannot report closing
            conn.registerCloseCallback(self._on_close, None)
        LOG.info("connected to libvirt at %s", self.uri)
        return conn

    def connection(self) -> Any:
        """The open ``virConnect``, reconnecting first if the previous one is known to be dead."""
        with self._lock:
            if self._conn is not None and (self._closed or not self._conn.isAlive()):
                self._drop_locked()
            if self._conn is None:
                self._conn = self._open()
                self._closed = False
            return self._conn

    def _drop_locked(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(libvirt.libvirtError):
            conn.unregisterCloseCallback()
        with contextlib.suppress(libvirt.libvirtError):  # a dead connection may complain; it is closed anyway
            conn.close()

    def _drop(self, conn: Any) -> None:
        with self._lock:
            if self._conn is conn:
                self._drop_locked()

    def call(self, fn: Callable[[Any], T]) -> T:
        """``fn(connection)``, retried once on a new connection if the first attempt lost the old one."""
        conn = self.connection()
        try:
            return fn(conn)
        except libvirt.libvirtError as exc:
            if not is_connection_error(exc):
                raise
            LOG.warning("lost the libvirt connection (%s); reconnecting to %s", exc, self.uri)
            self._drop(conn)
        return fn(self.connection())

    def close(self) -> None:
        with self._lock:
            self._drop_locked()

    def define(self, xml: str) -> None:
        """Define (or redefine) a persistent domain; libvirt validates ``xml`` against its schema first."""
        self.call(lambda conn: conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE))

    # -- facts -----------------------------------------------------------------------------------------------------

    def virt_type(self) -> str:
        """The configured domain type, else the probed one (cached)."""
        if not self._virt_type:
            try:
                cpuinfo = self._cpuinfo_path.read_text()
            except OSError:
                cpuinfo = ""
            self._virt_type = probe_virt_type(cpuinfo, _kvm_usable())
            LOG.info("domain type %s (probed)", self._virt_type)
        return self._virt_type

    def resources(self, instances_path: Path) -> HostResources:
        """CPUs, memory and architecture as libvirt sees them; disk from the filesystem of ``instances_path``.

        Memory is the node's total from libvirt's memory stats (/proc/meminfo): ``getInfo`` sums the NUMA cells,
        which undercounts on hosts with hot-plugged memory, as on some microVMs."""

        def read(conn: Any) -> tuple[list[Any], dict[str, int], int, str]:
            try:
                stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                    raise
                stats = {}
            return conn.getInfo(), stats, conn.getVersion(), conn.getCapabilities()

        info, memory_stats, version, capabilities = self.call(read)
        memory_mb = memory_stats["total"] // 1024 if "total" in memory_stats else info[1]
        stat = os.statvfs(instances_path)
        return HostResources(
            vcpus=info[2],
            memory_mb=memory_mb,
            disk_gb=stat.f_blocks * stat.f_frsize // GiB,
            hypervisor_type="QEMU",
            hypervisor_version=version,
            cpu_arch=info[0],
            cpu_info=cpu_info(capabilities),
        )
