"""The scheduler's picture of every host, kept between decisions instead of read anew for each one.

Why: reading 1,000 host rows and summing their allocations is most of a placement decision's cost, and the
picture barely changes between two decisions. The cache is reloaded when older than ``ttl`` seconds, and each
claim this process makes updates it at once. It may be stale in two ways, both safe: another scheduler's claims
(the claim re-checks capacity in the database under the host's row lock, a lost claim invalidates the cache and
the next host is tried) and freed resources or newly registered hosts (a decision that finds no host is made
again from a fresh load before the build fails). Server group members are request-specific and always read.
The picture stays in ``host_states``'s order, best first for spreading, which ``select_hosts`` relies on.
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
import time
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compute.control.scheduler import RANK, HostState, Request, host_states
from compute.models import Instance, ServerGroupMember


class HostStateCache:
    def __init__(self, ttl: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._states: list[HostState] = []
        self._by_name: dict[str, HostState] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def states(self, session: Session, group_id: str | None = None) -> tuple[list[HostState], bool]:
        """Every host's state, and whether it came from the cache (then a decision that finds no host is worth
        making again from a fresh load)."""
        with self._lock:
            cached = self._clock() - self._loaded_at <= self.ttl
            if not cached:
                self._states = host_states(session)
                self._by_name = {state.host.name: state for state in self._states}
                self._loaded_at = self._clock()
            states = list(self._states)
        if not group_id:
            return states, cached
        members = _group_members(session, group_id)
        return [dataclasses.replace(s, group_members_here=members.get(s.host.name, 0)) for s in states], cached

    def claimed(self, host: str, request: Request) -> None:
        """This process claimed ``request`` on ``host``: count it now, without waiting for the next load."""
        with self._lock:
            state = self._by_name.get(host)
            if state is None:
                return
            updated = dataclasses.replace(
                state,
                used_vcpus=state.used_vcpus + request.vcpus,
                used_memory_mb=state.used_memory_mb + request.memory_mb,
                used_disk_gb=state.used_disk_gb + request.disk_gb,
                instances=state.instances + 1,
            )
            self._by_name[host] = updated
            # Kept in select_hosts's order by moving the one host (the name in the rank makes it unique), not by
            # rebuilding a list of every host for each claim.
            del self._states[bisect.bisect_left(self._states, state.rank, key=RANK)]
            bisect.insort(self._states, updated, key=RANK)

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")


def _group_members(session: Session, group_id: str) -> dict[str, int]:
    rows = session.execute(
        select(Instance.host, func.count())
        .join(ServerGroupMember, ServerGroupMember.instance_id == Instance.id)
        .where(ServerGroupMember.group_id == group_id, Instance.deleted.is_(False), Instance.host.is_not(None))
        .group_by(Instance.host)
    )
    return {host: count for host, count in rows}
