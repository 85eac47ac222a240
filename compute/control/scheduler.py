"""Placement: which host runs an instance, decided by filters and weighers and made binding by a claim.

Filters remove hosts that cannot take the instance, each with a reason that ends up in the fault when no host
is left ("No valid host: 3 hosts; ComputeFilter removed 1 (disabled), RamFilter removed 2 (...)"), because
"No valid host was found" with nothing else is the most hated error in OpenStack. Weighers order the rest
(spread by default). The claim then writes an Allocation inside a transaction that first bumps the host's
``claim_generation``: that UPDATE locks the host row on every database, so two concurrent claims on one host
are serialised and the second sees the first's allocation; a host that no longer fits is skipped for the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from common.exceptions import StratusError
from compute.models import Allocation, ComputeHost, Instance, ServerGroup, ServerGroupMember


class NoValidHost(StratusError):
    msg_fmt = "No valid host was found. {reason}"
    code = 500
    title = "No Valid Host"


@dataclass(frozen=True)
class Request:
    """What one instance needs, in the terms filters and claims use."""

    instance_id: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    zone: str | None = None
    forced_host: str | None = None
    arch: str | None = None
    group_policy: str | None = None
    group_hosts: frozenset[str] = frozenset()
    group_max_per_host: int = 1
    excluded: frozenset[str] = frozenset()
    down_after: timedelta = timedelta(seconds=60)


HOST_COLUMNS = (
    ComputeHost.name,
    ComputeHost.availability_zone,
    ComputeHost.enabled,
    ComputeHost.forced_down,
    ComputeHost.last_heartbeat,
    ComputeHost.vcpus,
    ComputeHost.memory_mb,
    ComputeHost.disk_gb,
    ComputeHost.cpu_arch,
    ComputeHost.cpu_allocation_ratio,
    ComputeHost.ram_allocation_ratio,
    ComputeHost.disk_allocation_ratio,
)


@dataclass
class HostState:
    host: Any  # a ComputeHost, or a row of HOST_COLUMNS
    used_vcpus: int = 0
    used_memory_mb: int = 0
    used_disk_gb: int = 0
    instances: int = 0
    group_members_here: int = 0
    free_vcpus: float = field(init=False)
    free_memory_mb: float = field(init=False)
    free_disk_gb: float = field(init=False)
    spread_key: tuple[float, float, int] = field(init=False)
    """Higher is better when spreading: most free RAM, then vCPUs, then fewest instances."""
    rank: tuple[float, float, int, str] = field(init=False)
    """Lower is better when spreading, ties broken by name: the order the scheduler's picture keeps its hosts in."""

    def __post_init__(self) -> None:
        # Computed once: every filter and weigher reads them, for every host, on every decision (and the
        # scheduler's cache keeps a state across decisions).
        self.free_vcpus = self.host.vcpus * self.host.cpu_allocation_ratio - self.used_vcpus
        self.free_memory_mb = self.host.memory_mb * self.host.ram_allocation_ratio - self.used_memory_mb
        self.free_disk_gb = self.host.disk_gb * self.host.disk_allocation_ratio - self.used_disk_gb
        self.spread_key = (self.free_memory_mb, self.free_vcpus, -self.instances)
        self.rank = (-self.free_memory_mb, -self.free_vcpus, self.instances, self.host.name)


@dataclass(frozen=True)
class Filter:
    name: str
    passes: Callable[[HostState, Request, datetime], bool]
    """(host, request, the oldest heartbeat of a live host) → whether the host may take the request."""
    why: str
    applies: Callable[[Request], bool] = lambda request: True
    """Whether the filter can remove any host for this request; filters that cannot are not run."""


FILTERS: Sequence[Filter] = (
    Filter(
        "RetryFilter",
        lambda h, r, alive: h.host.name not in r.excluded,
        "a build already failed there",
        lambda r: bool(r.excluded),
    ),
    Filter(
        "ComputeFilter",
        lambda h, r, alive: (
            h.host.enabled
            and not h.host.forced_down
            and h.host.last_heartbeat is not None
            and h.host.last_heartbeat >= alive
        ),
        "disabled or not reporting",
    ),
    Filter(
        "HostFilter",
        lambda h, r, alive: h.host.name == r.forced_host,
        "not the requested host",
        lambda r: r.forced_host is not None,
    ),
    Filter(
        "AvailabilityZoneFilter",
        lambda h, r, alive: h.host.availability_zone == r.zone,
        "in another availability zone",
        lambda r: r.zone is not None,
    ),
    Filter(
        "ImagePropertiesFilter",
        lambda h, r, alive: h.host.cpu_arch == r.arch,
        "wrong CPU architecture",
        lambda r: r.arch is not None,
    ),
    Filter("VCPUFilter", lambda h, r, alive: h.free_vcpus >= r.vcpus, "not enough free vCPUs"),
    Filter("RamFilter", lambda h, r, alive: h.free_memory_mb >= r.memory_mb, "not enough free RAM"),
    Filter("DiskFilter", lambda h, r, alive: h.free_disk_gb >= r.disk_gb, "not enough free disk"),
    Filter(
        "ServerGroupAntiAffinityFilter",
        lambda h, r, alive: h.group_members_here < r.group_max_per_host,
        "already runs a member of the server group (anti-affinity)",
        lambda r: r.group_policy == "anti-affinity",
    ),
    Filter(
        "ServerGroupAffinityFilter",
        lambda h, r, alive: h.host.name in r.group_hosts,
        "does not run the server group's members (affinity)",
        lambda r: r.group_policy == "affinity" and bool(r.group_hosts),
    ),
)


def _weight(state: HostState, request: Request, strategy: str) -> tuple[float, ...]:
    """Higher is better. Spread prefers free RAM (then free vCPUs); pack prefers the opposite; soft group
    policies weigh before resources."""
    soft = 0.0
    if request.group_policy == "soft-anti-affinity":
        soft = -state.group_members_here
    elif request.group_policy == "soft-affinity":
        soft = state.group_members_here
    resources = (state.free_memory_mb, state.free_vcpus, -state.instances)
    if strategy == "pack":
        resources = tuple(-x for x in resources)
    return (soft, *resources)


def host_states(session: Session) -> list[HostState]:
    """Every host with its usage (the sum of its allocations), best first for spreading (``RANK``), the order
    ``select_hosts`` needs; server group members are the caller's to add."""
    usage = {
        row.host: row
        for row in session.execute(
            select(
                Allocation.host,
                func.sum(Allocation.vcpus).label("vcpus"),
                func.sum(Allocation.memory_mb).label("memory_mb"),
                func.sum(Allocation.disk_gb).label("disk_gb"),
                func.count().label("instances"),
            ).group_by(Allocation.host)
        )
    }
    states = []
    # Plain rows, not ORM objects: a decision reads every host, and identity-mapping thousands of them is the
    # bulk of its cost. The rows carry the same attribute names the filters and weighers use.
    for host in session.execute(select(*HOST_COLUMNS).order_by(ComputeHost.name)):
        used = usage.get(host.name)
        states.append(
            HostState(
                host,
                used_vcpus=int(used.vcpus) if used else 0,
                used_memory_mb=int(used.memory_mb) if used else 0,
                used_disk_gb=int(used.disk_gb) if used else 0,
                instances=int(used.instances) if used else 0,
            )
        )
    states.sort(key=RANK)
    return states


SOFT_POLICIES = ("soft-affinity", "soft-anti-affinity")
RANK = attrgetter("rank")


@dataclass
class Decision:
    """The filters and weighers applied to a picture of the hosts, lazily.

    Why lazily: over 10,000 hosts, running every filter on every host and weighing them all took about 20 ms a
    decision, and a claim almost always succeeds on the first host. The picture is kept best first for spreading
    (``host_states``), so a spreading decision walks it from the top and stops at the first host every filter
    passes: a few hosts' worth of work, whatever the cloud's size. Other strategies filter everything and sort.
    Why each filter removed hosts is counted only when it must be told (``explain``: no host was found)."""

    states: Sequence[HostState]
    request: Request
    strategy: str
    alive: datetime

    @property
    def total(self) -> int:
        return len(self.states)

    def _checks(self) -> list[Callable[[HostState, Request, datetime], bool]]:
        return [step.passes for step in FILTERS if step.applies(self.request)]

    def ranked(self) -> Iterator[HostState]:
        """Hosts that pass every filter, best first (ties: the first by name)."""
        request, alive, checks = self.request, self.alive, self._checks()
        passing = (s for s in self.states if all(check(s, request, alive) for check in checks))
        if self.strategy == "spread" and request.group_policy not in SOFT_POLICIES:
            yield from passing  # the picture's own order
            return
        yield from sorted(passing, key=lambda s: (*(-w for w in _weight(s, request, self.strategy)), s.host.name))

    def explain(self) -> str:
        removed, candidates = [], list(self.states)
        for step in FILTERS:
            if not step.applies(self.request):
                continue
            kept = [s for s in candidates if step.passes(s, self.request, self.alive)]
            if len(kept) != len(candidates):
                removed.append(f"{step.name} removed {len(candidates) - len(kept)} ({step.why})")
            candidates = kept
        return f"{self.total} hosts considered; {'; '.join(removed) or 'no host is registered'}."


def select_hosts(states: Sequence[HostState], request: Request, strategy: str = "spread") -> Decision:
    """The decision over ``states``, which must be in ``host_states``'s order (best first for spreading)."""
    return Decision(states, request, strategy, datetime.now(UTC) - request.down_after)


def _used(column: Any) -> Any:
    return select(func.coalesce(func.sum(column), 0)).where(Allocation.host == bindparam("host")).scalar_subquery()


# Built once: constructing statements is most of a claim's Python cost.
_CAPACITY = select(
    *HOST_COLUMNS,
    _used(Allocation.vcpus).label("used_vcpus"),
    _used(Allocation.memory_mb).label("used_memory_mb"),
    _used(Allocation.disk_gb).label("used_disk_gb"),
).where(ComputeHost.name == bindparam("host"))
_LOCK = (
    update(ComputeHost)
    .where(ComputeHost.name == bindparam("host"))
    .values(claim_generation=ComputeHost.claim_generation + 1)
)
_LOCK_ENABLED = _LOCK.where(ComputeHost.enabled.is_(True), ComputeHost.forced_down.is_(False))
_ALLOCATE = insert(Allocation)


def fits(session: Session, host: str, request: Request) -> bool:
    """Re-check capacity for one host inside the claiming transaction (after its row is locked): one query for
    the host's capacity and its allocations' sums."""
    row = session.execute(_CAPACITY, {"host": host}).one_or_none()
    if row is None:
        return False
    state = HostState(row, int(row.used_vcpus), int(row.used_memory_mb), int(row.used_disk_gb))
    return (
        state.free_vcpus >= request.vcpus
        and state.free_memory_mb >= request.memory_mb
        and state.free_disk_gb >= request.disk_gb
    )


def claim(
    session: Session, host: str, request: Request, purpose: str = "instance", require_enabled: bool = True
) -> bool:
    """Atomically take the request's resources on ``host``; False if they are no longer there, or (with
    ``require_enabled``) the host was disabled or forced down since the decision was made."""
    locked = session.execute(_LOCK_ENABLED if require_enabled else _LOCK, {"host": host})
    if locked.rowcount != 1 or not fits(session, host, request):
        return False
    session.execute(
        _ALLOCATE,
        {
            "instance_id": request.instance_id,
            "purpose": purpose,
            "host": host,
            "vcpus": request.vcpus,
            "memory_mb": request.memory_mb,
            "disk_gb": request.disk_gb,
        },
    )
    return True


def group_request_fields(session: Session, group_id: str | None) -> dict[str, object]:
    if not group_id:
        return {}
    group = session.get(ServerGroup, group_id)
    if group is None:
        return {}
    hosts = session.scalars(
        select(Instance.host)
        .join(ServerGroupMember, ServerGroupMember.instance_id == Instance.id)
        .where(ServerGroupMember.group_id == group_id, Instance.deleted.is_(False), Instance.host.is_not(None))
    )
    return {
        "group_policy": group.policy,
        "group_hosts": frozenset(hosts),
        "group_max_per_host": int((group.rules or {}).get("max_server_per_host", 1)),
    }
