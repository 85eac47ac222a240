"""Hypervisor drivers, chosen by the ``compute_driver`` setting: ``libvirt`` (the real one) or ``fake``.

Run by the compute host agent (``stratus-compute``) alone. ``base`` is the contract; ``fake`` ships in the product
for fast functional tests and scale runs. Only ``virt/libvirt`` imports ``libvirt``, and it runs commands
(``qemu-img``, ``genisoimage``) only through its ``runner``; nothing here imports the database or another driver.
"""

from __future__ import annotations

from common.exceptions import ConfigError
from common.settings import HostSettings
from compute.host.virt.base import ComputeDriver


def driver_for(settings: HostSettings, host: str) -> ComputeDriver:
    """A new driver instance for one of the hosts the agent serves."""
    if settings.compute_driver == "fake":
        from compute.host.virt.fake import FailingDriver, FakeDriver

        failing = {name.strip() for name in settings.compute_fake_failing_hosts.split(",") if name.strip()}
        kind = FailingDriver if host in failing else FakeDriver
        pairs = (pair.strip().rpartition(":") for pair in settings.compute_fake_failing_moves.split(","))
        failing_moves = frozenset(step for name, _, step in pairs if name == host)
        return kind(
            delay=settings.compute_fake_delay, volume_dir=settings.effective_volume_dir, failing_moves=failing_moves
        )
    if settings.compute_driver == "libvirt":
        from compute.host.virt.libvirt.driver import LibvirtDriver  # only this path imports libvirt

        return LibvirtDriver(settings)
    raise ConfigError(setting="compute_driver", reason=f"unknown driver {settings.compute_driver!r} (libvirt, fake)")
