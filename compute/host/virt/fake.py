"""An in-memory hypervisor, shipped in the product: fast functional tests and scale runs use it.

It keeps instances and their power states in a dict, honours the same idempotency rules as libvirt, and can
pretend to be slow (``delay``) or broken (``FailingDriver``). It never replaces libvirt in end-to-end tests.
Volumes are plugged in as records (device → serial, connection, size); given a ``volume_dir`` it checks a file
volume's path as the libvirt driver does, so a volume file removed behind the cloud's back fails an attach, and
it copies a file volume for a snapshot (``snapshot_volume``: no guest writes to it, so a plain copy is the disk at
that instant), so the file backend makes volumes from it as from a real host's copy.
One agent process can run many fake hosts: each host gets its own driver object, and they find each other by name
(``fake_migration``): a live migration moves the fake guest from one host's driver to the other's, with progress,
abort, force-complete, and failures injected by the server's name.
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from compute.host.virt import fake_migration
from compute.host.virt.base import (
    ComputeDriver,
    ConsoleEndpoint,
    ConsoleKind,
    ConsoleUnavailable,
    Diagnostics,
    DriverError,
    HostResources,
    InstanceInfo,
    InstanceNotFound,
    InstanceSpec,
    MigrationTarget,
    Nic,
    PowerState,
    VolumeConnection,
    snapshot_target,
    volume_file,
)
from compute.host.virt.fake_console import RFB_GREETING, EchoConsole

READY_MARKER = "STRATUS-READY hostname={hostname}"
_QCOW2_HEADER = struct.Struct(">4sIQIIQIIQQIIQQQQII")  # version 2 fields, then version 3's (docs/interop/qcow2.txt)
_CLUSTER_BITS = 16


def empty_qcow2(size: int) -> bytes:
    """A qcow2 (version 3, 64 KiB clusters) of ``size`` bytes with no data, as ``qemu-img create`` makes it, without
    running qemu-img: header, refcount table, one refcount block counting these four clusters, and the L1 table."""
    cluster = 1 << _CLUSTER_BITS
    l1_size = -(-size // (cluster * (cluster // 8)))  # each L1 entry maps an L2 table of cluster/8 clusters
    if l1_size * 8 > cluster:
        raise ValueError(f"{size} bytes need an L1 table larger than one cluster")
    header = _QCOW2_HEADER.pack(
        b"QFI\xfb", 3, 0, 0, _CLUSTER_BITS, size, 0, l1_size, 3 * cluster, cluster, 1, 0, 0, 0, 0, 0, 4, 104
    )
    refcount_table = struct.pack(">Q", 2 * cluster)
    refcount_block = struct.pack(">4H", 1, 1, 1, 1)
    return b"".join(part.ljust(cluster, b"\0") for part in (header, refcount_table, refcount_block, b""))


@dataclass
class FakeVolume:
    serial: str
    connection: VolumeConnection
    size_bytes: int = 0


@dataclass
class _CopiedDisks:
    """What a cold move's disk copy brings to the target: the guest's record as the source had it."""

    flavor: tuple[int, int, int]
    volumes: dict[str, FakeVolume]
    console: list[str]


MOVE_STEPS = (
    "migrate_disk_and_power_off",
    "finish_migration",
    "confirm_migration",
    "finish_revert_migration",
    "destroy_moved",
)
"""The cold move's driver calls a fake host can be told to fail (``compute_fake_failing_moves``)."""
_HOSTS: dict[str, FakeDriver] = {}
"""Every fake host this process serves, by name: the 'network' a simulated disk copy crosses (fake hosts served by
different agent processes cannot reach each other, as hosts without a hypervisor channel cannot)."""


class FakeDriver(fake_migration.FakeLiveMigration, ComputeDriver):
    def __init__(
        self,
        vcpus: int = 16,
        memory_mb: int = 65536,
        disk_gb: int = 1000,
        delay: float = 0.0,
        volume_dir: Path | None = None,
        failing_moves: frozenset[str] = frozenset(),
    ) -> None:
        self.resources = HostResources(
            vcpus=vcpus,
            memory_mb=memory_mb,
            disk_gb=disk_gb,
            hypervisor_type="fake",
            hypervisor_version=1,
            cpu_arch="x86_64",
        )
        self.delay = delay
        self.host = ""
        self._instances: dict[str, PowerState] = {}
        self._consoles: dict[str, list[str]] = {}
        self._flavors: dict[str, tuple[int, int, int]] = {}
        self._resizes: dict[str, tuple[PowerState, tuple[int, int, int]]] = {}
        self._rescues: dict[str, str] = {}
        self._endpoints: dict[tuple[str, ConsoleKind], EchoConsole] = {}
        self._lock = threading.Lock()
        self.volume_dir = volume_dir
        self._volumes: dict[str, dict[str, FakeVolume]] = {}
        self._nics: dict[str, dict[str, Nic]] = {}  # the guest's NICs by MAC
        self.failing_moves = failing_moves
        self._incoming: dict[str, _CopiedDisks] = {}  # cold moves: disks copied here, no guest defined yet
        self._outgoing: dict[str, PowerState] = {}  # cold moves: guests kept here (off) for a revert, as they were
        self._names: dict[str, str] = {}  # the guest's name (failures are injected by name: fake_migration)
        self._migration_init()

    def _pause_for_effect(self) -> None:
        if self.delay:
            time.sleep(self.delay)

    def _state(self, uuid: str) -> PowerState:
        try:
            return self._instances[uuid]
        except KeyError:
            raise InstanceNotFound(uuid=uuid) from None

    def _set(self, uuid: str, state: PowerState, allowed_from: tuple[PowerState, ...] | None = None) -> None:
        with self._lock:
            current = self._state(uuid)
            if allowed_from is not None and current not in allowed_from and current is not state:
                raise DriverError(reason=f"instance {uuid} is {current.name.lower()}")
            self._instances[uuid] = state

    def init_host(self, host: str) -> None:
        self.host = host
        _HOSTS[host] = self
        fake_migration.register(self)

    def spawn(self, spec: InstanceSpec) -> None:
        self._pause_for_effect()
        hostname = spec.config_drive.meta_data.get("hostname", spec.name) if spec.config_drive else spec.name
        for volume in (spec.root_volume, *spec.volumes):
            if volume is not None:
                self._check_connection(volume.connection)
        with self._lock:
            if spec.uuid in self._instances:
                self._instances[spec.uuid] = PowerState.RUNNING
                return
            self._instances[spec.uuid] = PowerState.RUNNING
            self._volumes[spec.uuid] = {
                v.device: FakeVolume(v.serial, v.connection) for v in (spec.root_volume, *spec.volumes) if v
            }
            self._flavors[spec.uuid] = (spec.vcpus, spec.memory_mb, spec.root_gb)
            self._nics[spec.uuid] = {nic.mac: nic for nic in spec.nics}
            self._names[spec.uuid] = spec.name
            self._consoles[spec.uuid] = [f"fake console of {spec.name}", READY_MARKER.format(hostname=hostname)]

    def destroy(self, uuid: str) -> None:
        self._pause_for_effect()
        with self._lock:
            self._instances.pop(uuid, None)
            self._consoles.pop(uuid, None)
            self._flavors.pop(uuid, None)
            self._resizes.pop(uuid, None)
            self._rescues.pop(uuid, None)
            self._volumes.pop(uuid, None)
            self._nics.pop(uuid, None)
            self._incoming.pop(uuid, None)
            self._outgoing.pop(uuid, None)
            self._names.pop(uuid, None)
        self._close_consoles(uuid)

    def rescue(self, spec: InstanceSpec, rescue_image: Path | None, rescue_format: str) -> None:
        self._pause_for_effect()
        with self._lock:
            self._state(spec.uuid)
            self._rescues.setdefault(spec.uuid, str(rescue_image or ""))
            self._instances[spec.uuid] = PowerState.RUNNING
            self._consoles.setdefault(spec.uuid, []).append(f"fake rescue boot of {spec.name}")

    def unrescue(self, uuid: str) -> None:
        self._pause_for_effect()
        with self._lock:
            self._state(uuid)
            if self._rescues.pop(uuid, None) is not None:
                self._instances[uuid] = PowerState.RUNNING

    def rescued(self, uuid: str) -> bool:
        """Test hook: whether the instance runs from its rescue disk now."""
        with self._lock:
            return uuid in self._rescues

    def _close_consoles(self, uuid: str) -> None:
        """A guest that stops takes its console servers with it (QEMU's process ends)."""
        with self._lock:
            endpoints = [self._endpoints.pop(key) for key in list(self._endpoints) if key[0] == uuid]
        for endpoint in endpoints:
            endpoint.close()

    def resize(self, spec: InstanceSpec) -> None:
        self._pause_for_effect()
        with self._lock:
            state = self._state(spec.uuid)
            old = self._flavors.get(spec.uuid, (0, 0, 0))
            if spec.root_gb and spec.root_gb < old[2]:
                raise DriverError(reason=f"the root disk of {spec.uuid} cannot shrink from {old[2]} GiB")
            if spec.uuid not in self._resizes:
                self._resizes[spec.uuid] = (state, old)
            was = self._resizes[spec.uuid][0]
            self._flavors[spec.uuid] = (spec.vcpus, spec.memory_mb, spec.root_gb)
            self._instances[spec.uuid] = PowerState.RUNNING if was == PowerState.RUNNING else PowerState.SHUTDOWN

    def confirm_resize(self, uuid: str) -> None:
        with self._lock:
            self._state(uuid)
            self._resizes.pop(uuid, None)

    def revert_resize(self, uuid: str) -> None:
        with self._lock:
            self._state(uuid)
            pending = self._resizes.pop(uuid, None)
            if pending is not None:
                self._instances[uuid], self._flavors[uuid] = pending

    def flavor_of(self, uuid: str) -> tuple[int, int, int]:
        """Test hook: (vcpus, memory_mb, root_gb) the instance has now."""
        with self._lock:
            self._state(uuid)
            return self._flavors[uuid]

    def power_on(self, uuid: str) -> None:
        self._set(uuid, PowerState.RUNNING, (PowerState.SHUTDOWN, PowerState.CRASHED))

    def power_off(self, uuid: str, timeout: float = 60) -> None:
        self._set(uuid, PowerState.SHUTDOWN)
        self._close_consoles(uuid)

    def reboot(self, uuid: str, hard: bool) -> None:
        self._set(uuid, PowerState.RUNNING)
        self._consoles[uuid].append("fake reboot" + (" (hard)" if hard else ""))

    def pause(self, uuid: str) -> None:
        self._set(uuid, PowerState.PAUSED, (PowerState.RUNNING,))

    def unpause(self, uuid: str) -> None:
        self._set(uuid, PowerState.RUNNING, (PowerState.PAUSED,))

    def suspend(self, uuid: str) -> None:
        self._set(uuid, PowerState.SUSPENDED, (PowerState.RUNNING, PowerState.PAUSED))

    def resume(self, uuid: str) -> None:
        self._set(uuid, PowerState.RUNNING, (PowerState.SUSPENDED,))

    def snapshot(self, uuid: str, target: Path) -> None:
        with self._lock:
            self._state(uuid)
            root_gb = self._flavors.get(uuid, (0, 0, 0))[2]
        # A real, empty qcow2 of the root disk's size: the upload is inspected as the qcow2 it claims to be.
        target.write_bytes(empty_qcow2(min(max(root_gb, 1), 4096) << 30))

    def _check_connection(self, connection: VolumeConnection) -> None:
        if connection.driver_volume_type == "file" and self.volume_dir is not None:
            volume_file(connection, self.volume_dir)

    def attach_volume(self, uuid: str, connection: VolumeConnection, device: str, serial: str) -> None:
        self._pause_for_effect()
        self._check_connection(connection)
        with self._lock:
            self._state(uuid)
            disks = self._volumes.setdefault(uuid, {})
            present = disks.get(device)
            if present is not None and present.serial != serial:
                raise DriverError(reason=f"/dev/{device} of instance {uuid} holds another disk")
            if present is None:
                disks[device] = FakeVolume(serial, connection)

    def attach_interface(self, uuid: str, nic: Nic) -> None:
        self._pause_for_effect()
        with self._lock:
            self._state(uuid)
            self._nics.setdefault(uuid, {}).setdefault(nic.mac, nic)

    def detach_interface(self, uuid: str, mac: str, timeout: float = 60) -> None:
        self._pause_for_effect()
        with self._lock:
            self._nics.get(uuid, {}).pop(mac, None)

    def detach_volume(self, uuid: str, device: str, timeout: float = 60) -> None:
        self._pause_for_effect()
        with self._lock:
            self._volumes.get(uuid, {}).pop(device, None)

    def extend_volume(self, uuid: str, device: str, new_size_bytes: int) -> None:
        with self._lock:
            self._state(uuid)
            volume = self._volumes.get(uuid, {}).get(device)
            if volume is None:
                raise DriverError(reason=f"instance {uuid} has no volume on /dev/{device}")
            if new_size_bytes < volume.size_bytes:
                raise DriverError(reason=f"the volume on /dev/{device} cannot shrink")
            volume.size_bytes = new_size_bytes

    def snapshot_volume(
        self, uuid: str, device: str, serial: str, target: VolumeConnection, timeout: float = 1800
    ) -> None:
        self._pause_for_effect()
        with self._lock:
            self._state(uuid)
            volume = self._volumes.get(uuid, {}).get(device)
        if volume is None or volume.serial != serial:
            raise DriverError(reason=f"instance {uuid} has no volume {serial} on /dev/{device}")
        if self.volume_dir is None:
            raise DriverError(reason="this host has no volume directory to copy a volume into")
        final = snapshot_target(target, self.volume_dir)
        if final.exists():
            return
        source = volume_file(volume.connection, self.volume_dir)
        partial = final.with_name(f".{final.name}.partial")
        try:
            shutil.copyfile(source, partial)
            os.chmod(partial, 0o600)
            partial.replace(final)
        except OSError as exc:
            raise DriverError(reason=f"the copy of the volume on /dev/{device} failed: {exc.strerror}") from None
        finally:
            partial.unlink(missing_ok=True)

    def volumes_of(self, uuid: str) -> dict[str, FakeVolume]:
        """Test hook: the volumes plugged into the instance, by device."""
        with self._lock:
            return dict(self._volumes.get(uuid, {}))

    def get_console_output(self, uuid: str, max_bytes: int = 1 << 20) -> str:
        self._state(uuid)
        return ("\n".join(self._consoles.get(uuid, [])) + "\n")[-max_bytes:]

    def get_console(self, uuid: str, kind: ConsoleKind) -> ConsoleEndpoint:
        """A loopback TCP server standing for the guest's console (``fake_console``), opened on first use."""
        kind = ConsoleKind(kind)
        with self._lock:
            if self._state(uuid) not in (PowerState.RUNNING, PowerState.PAUSED):
                raise ConsoleUnavailable(kind=kind, uuid=uuid, reason="the guest is not running")
            endpoint = self._endpoints.get((uuid, kind))
            if endpoint is None:
                if kind is ConsoleKind.SERIAL:
                    endpoint = EchoConsole(lambda: self.get_console_output(uuid).encode())
                else:
                    endpoint = EchoConsole(lambda: RFB_GREETING)
                self._endpoints[(uuid, kind)] = endpoint
        return ConsoleEndpoint(host="127.0.0.1", port=endpoint.port, kind=kind)

    def get_info(self, uuid: str) -> InstanceInfo:
        return InstanceInfo(uuid, self._state(uuid))

    def get_diagnostics(self, uuid: str) -> Diagnostics:
        """Plausible, steady numbers for the guest's flavor (as Nova's fake does), one NIC per plugged port."""
        with self._lock:
            state = self._state(uuid)
            vcpus, memory_mb, _ = self._flavors.get(uuid, (1, 512, 1))
            devices = sorted(self._volumes.get(uuid, {}))
            nics = list(self._nics.get(uuid, {}).values())
        states = {PowerState.RUNNING: "running", PowerState.PAUSED: "paused", PowerState.SUSPENDED: "suspended"}
        zero_disk = {"read_bytes": 0, "read_requests": 0, "write_bytes": 0, "write_requests": 0, "errors_count": 0}
        counters = [f"{way}_{count}" for way in ("rx", "tx") for count in ("octets", "errors", "drop", "packets")]
        rates = {"rx_rate": None, "tx_rate": None}
        return Diagnostics(
            state=states.get(state, "shutdown"),
            driver="libvirt",  # what the fake stands in for (as Nova's fake): Nova's API names only real drivers
            hypervisor="fake",
            hypervisor_os="linux",
            memory_maximum_mb=memory_mb,
            memory_used_mb=memory_mb if state is PowerState.RUNNING else 0,
            cpu_details=[{"id": i, "time": 0, "utilisation": None} for i in range(vcpus)],
            nic_details=[{"device": n.tap, "mac_address": n.mac, **dict.fromkeys(counters, 0), **rates} for n in nics],
            disk_details=[{"device": d, **zero_disk} for d in ["vda", *[d for d in devices if d != "vda"]]],
        )

    def list_instances(self) -> list[InstanceInfo]:
        with self._lock:
            return [InstanceInfo(uuid, state) for uuid, state in self._instances.items()]

    def get_host_resources(self) -> HostResources:
        return self.resources

    # Cold moves between fake hosts of this process: the disk copy hands the guest's record to the target.

    def _fail_if_told(self, step: str, uuid: str) -> None:
        if step in self.failing_moves:
            raise DriverError(reason=f"{step} of {uuid} failed on {self.host} (injected failure)")

    def migrate_disk_and_power_off(self, uuid: str, target: MigrationTarget) -> None:
        self._pause_for_effect()
        with self._lock:
            state = self._state(uuid)
            self._outgoing.setdefault(uuid, state)
            flavor, volumes = self._flavors.get(uuid, (0, 0, 0)), dict(self._volumes.get(uuid, {}))
            copied = _CopiedDisks(flavor, volumes, list(self._consoles.get(uuid, [])))
        peer = _HOSTS.get(target.host)
        if peer is None or peer is self:
            raise DriverError(reason=f"host {target.host} cannot be reached from {self.host} to copy disks")
        peer._receive(uuid, copied)
        # An injected failure comes after the copy landed: the target holds a partial copy the roll-back must remove.
        self._fail_if_told("migrate_disk_and_power_off", uuid)
        self._set(uuid, PowerState.SHUTDOWN)
        self._close_consoles(uuid)

    def _receive(self, uuid: str, copied: _CopiedDisks) -> None:
        with self._lock:
            if uuid not in self._instances:
                self._incoming[uuid] = copied

    def finish_migration(self, spec: InstanceSpec, power_on: bool) -> None:
        self._pause_for_effect()
        self._fail_if_told("finish_migration", spec.uuid)
        with self._lock:
            copied = self._incoming.pop(spec.uuid, None)
            if copied is None and spec.uuid not in self._instances:
                raise DriverError(reason=f"no disks of {spec.uuid} were copied to {self.host}")
            if copied is not None:
                if spec.root_gb < copied.flavor[2]:
                    raise DriverError(reason=f"the root disk of {spec.uuid} cannot shrink from {copied.flavor[2]} GiB")
                self._volumes[spec.uuid] = copied.volumes
                self._consoles[spec.uuid] = [*copied.console, f"fake boot of {spec.name} on {self.host}"]
                self._nics[spec.uuid] = {nic.mac: nic for nic in spec.nics}
            self._flavors[spec.uuid] = (spec.vcpus, spec.memory_mb, spec.root_gb)
            self._instances[spec.uuid] = PowerState.RUNNING if power_on else PowerState.SHUTDOWN

    def confirm_migration(self, uuid: str) -> None:
        self._fail_if_told("confirm_migration", uuid)
        self.destroy(uuid)

    def finish_revert_migration(self, uuid: str, power_on: bool) -> None:
        self._fail_if_told("finish_revert_migration", uuid)
        with self._lock:
            self._state(uuid)
            self._outgoing.pop(uuid, None)
            if power_on:
                self._instances[uuid] = PowerState.RUNNING

    def destroy_moved(self, uuid: str) -> None:
        self._fail_if_told("destroy_moved", uuid)
        self.destroy(uuid)

    def crash(self, uuid: str) -> None:
        """Test hook: the guest dies behind the control plane's back (the power-state sync must notice)."""
        self._set(uuid, PowerState.SHUTDOWN)


class FailingDriver(FakeDriver):
    """A host whose spawns always fail: the scheduler must retry elsewhere, and the failure must clean up."""

    def spawn(self, spec: InstanceSpec) -> None:
        raise DriverError(reason=f"spawn of {spec.uuid} failed on this host (injected failure)")
