"""Which network agents are alive: the heartbeat of each host's network agent and the rule that makes a host down.

Why: a network's DHCP server runs on one host, and a server's ports are wired by its host's agent. When that agent
stops (its host died, or ``make up HOSTS=N`` retired it) nothing else notices: guests on the other hosts get no
address, and a build waiting for its ports waits for ever. Each agent's main process sends a heartbeat every
``host_heartbeat_interval`` (even while its pool applies a long state), and a host whose last sign of life is older
than ``compute_host_down_after`` is down, the same rule compute uses for its hosts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.liveness import alive, cutoff
from network.models import NetworkHost


def heartbeat(session: Session, hosts: Iterable[str]) -> int:
    """Record that the agents of ``hosts`` are alive; hosts that never registered are not created here (their
    agent's report registers them with their VTEP). Returns how many were known."""
    names = list(hosts)
    if not names:
        return 0
    result = session.execute(update(NetworkHost).where(NetworkHost.host.in_(names)).values(last_seen=datetime.now(UTC)))
    return result.rowcount


def is_live(record: NetworkHost | None, down_after: timedelta, now: datetime | None = None) -> bool:
    return record is not None and alive(record.last_seen, down_after, now)


def live_hosts(
    session: Session, down_after: timedelta, among: Iterable[str] | None = None, now: datetime | None = None
) -> set[str]:
    """Every host (of ``among``, when given) whose network agent gave a sign of life within ``down_after``; a host
    whose agent never registered is not live. ``now`` lets a caller judge many records at one instant."""
    query = select(NetworkHost.host).where(NetworkHost.last_seen >= cutoff(down_after, now))
    if among is not None:
        query = query.where(NetworkHost.host.in_(list(among)))
    return set(session.scalars(query))
