"""The rebalance planner: which live migrations even out CPU and RAM allocation across the hosts. Pure: it
reads the hosts and servers it is given and asks the cloud nothing (``stratus rebalance`` does the asking).

The imbalance of the cloud is the spread of the hosts' loads: for vCPUs and for RAM, the population standard
deviation over the hosts of the fraction of the host's schedulable capacity that is allocated, the two summed.
A host's load is its fuller resource. The plan is greedy, as VMware DRS's is: take the most loaded host that
has a move worth making, move from it the server whose move lowers the imbalance most (to whichever host
that is: usually the least loaded), and repeat while a move lowers the imbalance by at least ``min_gain`` and
fewer than ``max_moves`` are planned. Each move lowers the imbalance strictly, so the plan never cycles.

Only hosts that are up and enabled take part (a disabled host is being drained or repaired; a down host runs
nothing that can move), and only servers that can move live (ACTIVE or PAUSED, no task in flight). A move
never takes a target past its schedulable capacity, in vCPUs or in RAM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from math import sqrt

MIN_GAIN = 0.01
"""A move must lower the imbalance by at least this (one point of spread): smaller gains are not worth a move."""


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


def _best_move(loads: dict[str, HostLoad], guests: dict[str, Guest], min_gain: float) -> tuple[Guest, str] | None:
    current = imbalance(loads.values())
    eligible = sorted((h for h in loads.values() if h.eligible), key=lambda h: (-h.load, h.name))
    targets = sorted(eligible, key=lambda h: (h.load, h.name))  # on a tie, the least loaded first, then by name
    for source in eligible:
        best: tuple[float, Guest, str] | None = None
        here = sorted((g for g in guests.values() if g.host == source.name and g.movable), key=lambda g: (g.name, g.id))
        for guest in here:
            for target in targets:
                if target.name == source.name or not target.fits(guest.vcpus, guest.memory_mb):
                    continue
                trial = loads | {
                    source.name: source.moved(-guest.vcpus, -guest.memory_mb),
                    target.name: target.moved(guest.vcpus, guest.memory_mb),
                }
                after = imbalance(trial.values())
                if after <= current - min_gain and (best is None or after < best[0] - 1e-12):
                    best = (after, guest, target.name)
        if best is not None:
            return best[1], best[2]
    return None


def plan(hosts: Sequence[HostLoad], guests: Sequence[Guest], max_moves: int = 5, min_gain: float = MIN_GAIN) -> Plan:
    """The moves (at most ``max_moves``, in order) that even out allocation, and the loads before and after."""
    loads = {h.name: h for h in hosts}
    placed = {g.id: g for g in guests if g.host in loads}
    before = dict(loads)
    moves: list[Move] = []
    while len(moves) < max_moves:
        found = _best_move(loads, placed, min_gain)
        if found is None:
            break
        guest, target = found
        source = loads[guest.host]
        loads[source.name] = source.moved(-guest.vcpus, -guest.memory_mb)
        loads[target] = loads[target].moved(guest.vcpus, guest.memory_mb)
        placed[guest.id] = replace(guest, host=target, movable=False)  # one move per server and run
        moves.append(Move(guest.id, guest.name, source.name, target, guest.vcpus, guest.memory_mb))
    return Plan(moves, before, loads, imbalance(before.values()), imbalance(loads.values()))
