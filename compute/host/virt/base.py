"""The hypervisor driver contract: what a compute host agent asks of the machine it runs on.

The agent holds no database access; everything a driver needs arrives in an ``InstanceSpec``. Every method is
idempotent where the docstring says so, because Celery may redeliver a task: a second ``spawn`` of a running
instance, or a ``destroy`` of one that is gone, succeeds without doing anything.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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


@dataclass(frozen=True)
class InstanceSpec:
    """Everything a host needs to run one instance."""

    uuid: str
    name: str
    vcpus: int
    memory_mb: int
    root_gb: int
    """Size of the root disk; 0 means the image's virtual size."""
    base_image: Path
    """The cached base image on this host (see ``compute.host.imagecache``); the root disk is an overlay on it."""
    base_image_format: str
    config_drive: ConfigDrive | None = None
    nics: tuple[Nic, ...] = ()


@dataclass(frozen=True)
class InstanceInfo:
    uuid: str
    power_state: PowerState


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
    def get_console_output(self, uuid: str, max_bytes: int = 1 << 20) -> str:
        """The tail of the guest's serial console log."""

    @abstractmethod
    def get_console(self, uuid: str, kind: ConsoleKind) -> ConsoleEndpoint:
        """Where the running guest's ``kind`` console listens now. InstanceNotFound when the instance is not
        here; ConsoleUnavailable when it is not running or has no such console. Reads, changes nothing."""

    @abstractmethod
    def get_info(self, uuid: str) -> InstanceInfo:
        """InstanceNotFound when the instance is not on this host."""

    @abstractmethod
    def list_instances(self) -> list[InstanceInfo]:
        """Every Stratus instance on this host, with its power state (for the power-state sync)."""

    @abstractmethod
    def get_host_resources(self) -> HostResources: ...
