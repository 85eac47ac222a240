"""The resource providers, their inventories, usages and allocations, as read from the compute hosts' records.

One provider per compute host: its uuid is the host's id (the hypervisor id of ``os-hypervisors`` from 2.53, as
Nova's compute node uuid is), its name the host's name, its generation the host's ``claim_generation`` (bumped by
every claim, which is what Placement's generation guards). Its inventory is what the scheduler places against
(``compute.control.scheduler.HostState``): ``VCPU``, ``MEMORY_MB`` and ``DISK_GB`` with the host's size as
``total``, nothing ``reserved`` (the scheduler keeps nothing back) and the host's allocation ratio; ``max_unit`` is
the most one allocation can take, the whole of ``total`` times the ratio, since the scheduler has no smaller cap.
A resource the host reports none of has no inventory (Placement refuses a total of 0).

Consumers follow Nova: a server's allocation is held by the server, and while a migration, resize or live migration
is under way the source's (the server's ``instance`` allocation) is held by the migration record's uuid and the
target's claim by the server. An evacuation's server holds both, as Nova's does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compute.models import Allocation, ComputeHost, Instance, Migration
from compute.moves import IN_FLIGHT, MigrationType

VCPU, MEMORY_MB, DISK_GB = "VCPU", "MEMORY_MB", "DISK_GB"
RESOURCE_CLASSES = (VCPU, MEMORY_MB, DISK_GB)
INSTANCE = "instance"
"""The purpose of a server's own allocation (``compute.models.Allocation``); any other is a move's claim."""


@dataclass(frozen=True)
class Inventory:
    total: int
    allocation_ratio: float
    reserved: int = 0
    min_unit: int = 1
    step_size: int = 1

    @property
    def max_unit(self) -> int:
        return max(1, math.floor(self.total * self.allocation_ratio))

    def view(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "reserved": self.reserved,
            "min_unit": self.min_unit,
            "max_unit": self.max_unit,
            "step_size": self.step_size,
            "allocation_ratio": self.allocation_ratio,
        }


@dataclass(frozen=True)
class Provider:
    uuid: str
    name: str
    generation: int
    inventories: dict[str, Inventory]


def _provider(host: ComputeHost) -> Provider:
    sizes = (
        (VCPU, host.vcpus, host.cpu_allocation_ratio),
        (MEMORY_MB, host.memory_mb, host.ram_allocation_ratio),
        (DISK_GB, host.disk_gb, host.disk_allocation_ratio),
    )
    inventories = {rc: Inventory(total, float(ratio)) for rc, total, ratio in sizes if total > 0}
    return Provider(host.id, host.name, host.claim_generation, inventories)


def providers(session: Session, name: str | None = None, uuid: str | None = None) -> list[Provider]:
    """Every provider (matching ``name`` and ``uuid`` when given), ordered by name."""
    query = select(ComputeHost).order_by(ComputeHost.name)
    if name is not None:
        query = query.where(ComputeHost.name == name)
    if uuid is not None:
        query = query.where(ComputeHost.id == uuid)
    return [_provider(h) for h in session.scalars(query)]


def provider(session: Session, uuid: str) -> tuple[Provider, str] | None:
    """The provider ``uuid`` and its host's name; None when there is none."""
    host = session.scalars(select(ComputeHost).where(ComputeHost.id == uuid)).first()
    return None if host is None else (_provider(host), host.name)


def _resources(row: Allocation) -> dict[str, int]:
    amounts = {VCPU: row.vcpus, MEMORY_MB: row.memory_mb, DISK_GB: row.disk_gb}
    return {rc: amount for rc, amount in amounts.items() if amount}


def usages_by_host(session: Session) -> dict[str, dict[str, int]]:
    """What every host's allocations use, by host name and resource class (classes in use only)."""
    query = select(
        Allocation.host, func.sum(Allocation.vcpus), func.sum(Allocation.memory_mb), func.sum(Allocation.disk_gb)
    ).group_by(Allocation.host)
    return {
        host: {rc: int(amount) for rc, amount in zip(RESOURCE_CLASSES, sums, strict=True) if amount}
        for host, *sums in session.execute(query)
    }


def has_room(provider_: Provider, used: dict[str, int], wanted: dict[str, int]) -> bool:
    """Whether one allocation of ``wanted`` fits on the provider, as Placement decides it: an inventory of each
    class, the amount within ``min_unit``..``max_unit`` and a multiple of ``step_size``, and no more than
    ``(total - reserved) * allocation_ratio`` less what is used."""
    for rc, amount in wanted.items():
        inventory = provider_.inventories.get(rc)
        if inventory is None or not inventory.min_unit <= amount <= inventory.max_unit:
            return False
        if amount % inventory.step_size:
            return False
        if used.get(rc, 0) + amount > (inventory.total - inventory.reserved) * inventory.allocation_ratio:
            return False
    return True


def project_usages(session: Session, project_id: str, user_id: str | None) -> dict[str, int]:
    """What the servers of a project (and user) hold on every provider, by class (classes in use only): every
    consumer of theirs, a move's as well as a server's, as Placement counts a project's usages."""
    query = (
        select(func.sum(Allocation.vcpus), func.sum(Allocation.memory_mb), func.sum(Allocation.disk_gb))
        .join(Instance, Instance.id == Allocation.instance_id)
        .where(Instance.project_id == project_id)
    )
    if user_id is not None:
        query = query.where(Instance.user_id == user_id)
    sums = session.execute(query).one()
    return {rc: int(amount) for rc, amount in zip(RESOURCE_CLASSES, sums, strict=True) if amount}


def usages(session: Session, provider_: Provider, host: str) -> dict[str, int]:
    """What the host's allocations use of each class it has inventory of (0 for one unused)."""
    used = dict.fromkeys(provider_.inventories, 0)
    for row in session.scalars(select(Allocation).where(Allocation.host == host)):
        for rc, amount in _resources(row).items():
            used[rc] = used.get(rc, 0) + amount
    return used


@dataclass(frozen=True)
class Held:
    """One consumer's resources on one provider."""

    consumer: str
    host: str
    resources: dict[str, int]


def _moves(session: Session, instance_ids: Iterable[str]) -> dict[str, str]:
    """The uuid of each server's move that holds its source allocation (not an evacuation's), by server id."""
    ids = list(set(instance_ids))
    if not ids:
        return {}
    query = (
        select(Migration.instance_id, Migration.uuid)
        .where(
            Migration.instance_id.in_(ids),
            Migration.status.in_([s.value for s in IN_FLIGHT]),
            Migration.migration_type != MigrationType.EVACUATION.value,
        )
        .order_by(Migration.id)
    )
    return {instance_id: uuid for instance_id, uuid in session.execute(query)}


def held(session: Session, rows: list[Allocation]) -> list[Held]:
    """The allocation rows by consumer and host (a consumer's rows on one host summed)."""
    claiming = {r.instance_id for r in rows if r.purpose != INSTANCE}
    moving = _moves(session, claiming)
    found: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        consumer = row.instance_id
        if row.instance_id in moving and row.purpose == INSTANCE:
            consumer = moving[row.instance_id]
        for rc, amount in _resources(row).items():
            found[(consumer, row.host)][rc] += amount
    return [Held(consumer, host, dict(resources)) for (consumer, host), resources in found.items()]


def on_host(session: Session, host: str) -> list[Held]:
    """Every consumer's resources on ``host``. A server moving off the host holds its claim elsewhere, so its
    rows everywhere are read to tell which consumer holds the one here."""
    here = list(session.scalars(select(Allocation).where(Allocation.host == host)))
    servers = {r.instance_id for r in here}
    rows = list(session.scalars(select(Allocation).where(Allocation.instance_id.in_(servers)))) if servers else []
    return [h for h in held(session, rows) if h.host == host]


def of_consumer(session: Session, consumer: str) -> list[Held]:
    """What ``consumer`` holds: a server, or a move under way (by its migration uuid)."""
    move = session.execute(select(Migration.instance_id).where(Migration.uuid == consumer)).first()
    server = move[0] if move else consumer
    rows = list(session.scalars(select(Allocation).where(Allocation.instance_id == server)))
    return [h for h in held(session, rows) if h.consumer == consumer]


def hosts_by_name(session: Session, names: Iterable[str]) -> dict[str, Provider]:
    wanted = list(set(names))
    if not wanted:
        return {}
    return {h.name: _provider(h) for h in session.scalars(select(ComputeHost).where(ComputeHost.name.in_(wanted)))}
