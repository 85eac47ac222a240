"""The rebalance planner: which live migrations even out CPU and RAM allocation across the hosts. Pure: it
reads the hosts and servers it is given and asks the cloud nothing (``stratus rebalance`` does the asking).

The imbalance of the cloud is the spread of the hosts' loads: for vCPUs and for RAM, the population standard
deviation over the hosts of the fraction of the host's schedulable capacity that is allocated, the two summed
(what the plan shows). A host's load is its fuller resource. The plan is greedy, as VMware DRS's is: take the
most loaded host that has a move worth making, move from it the server whose move lowers the imbalance most (to
whichever host that is: usually the least loaded), and repeat while fewer than ``max_moves`` are planned.

A move is worth making when it lowers the sum over the hosts of the squared deviations of their fractions from
the mean (the variance times the number of hosts, CPU and RAM added) by at least ``min_gain``. That sum, unlike
the deviation itself, falls by the same amount for the same move whatever the number of hosts: moving a server
of d (a fraction of a host) from a host at a to one at b lowers it by 2d(a - b - d). Each move lowers it, so the
plan never cycles.

Only hosts that are up and enabled take part (a disabled host is being drained or repaired; a down host runs
nothing that can move), and only servers that can move live (ACTIVE or PAUSED, no task in flight). A move
never takes a target past its schedulable capacity, in vCPUs or in RAM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from math import sqrt

MIN_GAIN = 0.001
"""The least fall of the squared deviations a move must bring. A server of 1/16 of a host, moved between two hosts
3/16 apart, brings 2 * 1/16 * 2/16 = 0.016 for that resource; one of 1/64 between hosts 2/64 apart brings
0.0005: not worth a live migration."""


@dataclass(frozen=True)
class HostLoad:
    """A host's schedulable capacity (physical size times the allocation ratio) and what is allocated on it."""

    name: str
    vcpus: float
    memory_mb: float
    vcpus_used: int
    memory_mb_used: int
    eligible: bool = True
    """Up and enabled: it may give and take servers."""

    @property
    def cpu(self) -> float:
        return self.vcpus_used / self.vcpus if self.vcpus > 0 else 1.0

    @property
    def ram(self) -> float:
        return self.memory_mb_used / self.memory_mb if self.memory_mb > 0 else 1.0

    @property
    def load(self) -> float:
        return max(self.cpu, self.ram)

    def fits(self, vcpus: int, memory_mb: int) -> bool:
        return self.vcpus_used + vcpus <= self.vcpus and self.memory_mb_used + memory_mb <= self.memory_mb

    def moved(self, vcpus: int, memory_mb: int) -> HostLoad:
        """The host with a server of this size added (negative sizes: taken away)."""
        return replace(self, vcpus_used=self.vcpus_used + vcpus, memory_mb_used=self.memory_mb_used + memory_mb)


@dataclass(frozen=True)
class Guest:
    id: str
    name: str
    host: str
    vcpus: int
    memory_mb: int
    movable: bool = True


@dataclass(frozen=True)
class Move:
    server_id: str
    name: str
    source: str
    target: str
    vcpus: int
    memory_mb: int


@dataclass(frozen=True)
class Plan:
    moves: list[Move]
    before: dict[str, HostLoad]
    after: dict[str, HostLoad]
    imbalance_before: float
    imbalance_after: float


def _spread(values: Sequence[float]) -> float:
    """Population standard deviation, in floats (``statistics.pstdev`` is exact and a hundred times slower)."""
    mean = sum(values) / len(values)
    return sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def imbalance(loads: Iterable[HostLoad]) -> float:
    """The spread of the eligible hosts' CPU and RAM fractions (0 is perfectly even)."""
    taking_part = [h for h in loads if h.eligible]
    if len(taking_part) < 2:
        return 0.0
    return _spread([h.cpu for h in taking_part]) + _spread([h.ram for h in taking_part])


def _deviation(cpu: float, cpu_squares: float, ram: float, ram_squares: float, n: int) -> float:
    """The squared deviations from the mean (CPU and RAM added) of ``n`` fractions, from their sums and the sums
    of their squares: a trial move changes two hosts, so it changes each sum by two terms, where recomputing
    the deviations reads every host (a plan tries thousands of moves)."""
    return max(cpu_squares - cpu * cpu / n, 0.0) + max(ram_squares - ram * ram / n, 0.0)


def _best_move(
    loads: dict[str, HostLoad], movable: dict[str, list[Guest]], min_gain: float
) -> tuple[Guest, str] | None:
    eligible = sorted((h for h in loads.values() if h.eligible), key=lambda h: (-h.load, h.name))
    n = len(eligible)
    if n < 2:
        return None
    targets = sorted(eligible, key=lambda h: (h.load, h.name))  # on a tie, the least loaded first, then by name
    cpu, ram = sum(h.cpu for h in eligible), sum(h.ram for h in eligible)
    cpu_sq, ram_sq = sum(h.cpu**2 for h in eligible), sum(h.ram**2 for h in eligible)
    wanted = _deviation(cpu, cpu_sq, ram, ram_sq, n) - min_gain
    for source in eligible:
        best: tuple[float, Guest, str] | None = None
        for guest in movable.get(source.name, []):
            left = source.moved(-guest.vcpus, -guest.memory_mb)
            # The sums without the source's old fractions and with its new ones; each target then swaps its own.
            base_cpu, base_ram = cpu - source.cpu + left.cpu, ram - source.ram + left.ram
            base_cpu_sq = cpu_sq - source.cpu**2 + left.cpu**2
            base_ram_sq = ram_sq - source.ram**2 + left.ram**2
            for target in targets:
                if target.name == source.name or not target.fits(guest.vcpus, guest.memory_mb):
                    continue
                new_cpu = (target.vcpus_used + guest.vcpus) / target.vcpus
                new_ram = (target.memory_mb_used + guest.memory_mb) / target.memory_mb
                after = _deviation(
                    base_cpu - target.cpu + new_cpu,
                    base_cpu_sq - target.cpu**2 + new_cpu**2,
                    base_ram - target.ram + new_ram,
                    base_ram_sq - target.ram**2 + new_ram**2,
                    n,
                )
                if after <= wanted and (best is None or after < best[0] - 1e-12):
                    best = (after, guest, target.name)
        if best is not None:
            return best[1], best[2]
    return None


def plan(hosts: Sequence[HostLoad], guests: Sequence[Guest], max_moves: int = 5, min_gain: float = MIN_GAIN) -> Plan:
    """The moves (at most ``max_moves``, in order) that even out allocation, and the loads before and after."""
    loads = {h.name: h for h in hosts}
    movable: dict[str, list[Guest]] = {}
    for guest in sorted(guests, key=lambda g: (g.name, g.id)):
        if guest.movable and guest.host in loads:
            movable.setdefault(guest.host, []).append(guest)
    before = dict(loads)
    moves: list[Move] = []
    while len(moves) < max_moves:
        found = _best_move(loads, movable, min_gain)
        if found is None:
            break
        guest, target = found
        source = loads[guest.host]
        loads[source.name] = source.moved(-guest.vcpus, -guest.memory_mb)
        loads[target] = loads[target].moved(guest.vcpus, guest.memory_mb)
        movable[source.name].remove(guest)  # one move per server and run
        moves.append(Move(guest.id, guest.name, source.name, target, guest.vcpus, guest.memory_mb))
    return Plan(moves, before, loads, imbalance(before.values()), imbalance(loads.values()))
