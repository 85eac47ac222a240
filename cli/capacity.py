"""What each compute host can hold, as the scheduler counts it: its size times its allocation ratio, read from the
Placement API's inventories (``VCPU`` and ``MEMORY_MB`` of the host's resource provider) when the cloud's catalog
has a ``placement`` endpoint. Without one, the compute API's sizes are all there is, and the ratios are the
defaults of Stratus's hosts (``DEFAULT_CPU_RATIO``, ``DEFAULT_RAM_RATIO``); either ratio may be overridden.
"""

from __future__ import annotations

from dataclasses import dataclass

from cli.client import Cloud

PLACEMENT = "placement 1.0"
"""Inventories and the provider listing's ``name`` filter are all 1.0 has, and all this needs."""
DEFAULT_CPU_RATIO, DEFAULT_RAM_RATIO = 4.0, 1.0
"""The allocation ratios of a Stratus host that no setting changed (the compute hosts' defaults)."""


@dataclass(frozen=True)
class Capacity:
    """A host's schedulable size: ``(total - reserved)`` of each resource and its allocation ratio."""

    vcpus: int
    cpu_ratio: float
    memory_mb: int
    ram_ratio: float

    @property
    def schedulable_vcpus(self) -> float:
        return self.vcpus * self.cpu_ratio

    @property
    def schedulable_memory_mb(self) -> float:
        return self.memory_mb * self.ram_ratio


def _usable(inventory: dict[str, object] | None) -> tuple[int, float] | None:
    if not inventory:
        return None
    return int(inventory["total"]) - int(inventory.get("reserved") or 0), float(inventory["allocation_ratio"])


def from_placement(cloud: Cloud) -> dict[str, Capacity] | None:
    """Each host's capacity from its resource provider's inventory, by the provider's (the host's) name; None when
    the cloud has no placement endpoint. A host without a ``VCPU`` or ``MEMORY_MB`` inventory counts 0 of it."""
    if not cloud.has_service("placement"):
        return None
    found: dict[str, Capacity] = {}
    for provider in cloud.call("GET", "placement", "/resource_providers", version=PLACEMENT)["resource_providers"]:
        path = f"/resource_providers/{provider['uuid']}/inventories"
        inventories = cloud.call("GET", "placement", path, version=PLACEMENT)["inventories"]
        vcpus, cpu_ratio = _usable(inventories.get("VCPU")) or (0, DEFAULT_CPU_RATIO)
        memory_mb, ram_ratio = _usable(inventories.get("MEMORY_MB")) or (0, DEFAULT_RAM_RATIO)
        found[provider["name"]] = Capacity(vcpus, cpu_ratio, memory_mb, ram_ratio)
    return found
