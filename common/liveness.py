"""The one rule that makes a host or a service down: no sign of life within the grace period, or an operator
forced it down. Compute hosts, network agents and the control-side services are judged alike, so a host is never
"up" for the scheduler and "down" for its DHCP servers at the same instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def alive(last_seen: datetime | None, grace: timedelta, now: datetime | None = None, forced_down: bool = False) -> bool:
    """Whether something last seen at ``last_seen`` (aware UTC; None: never) is up at ``now`` (default: now)."""
    if last_seen is None or forced_down:
        return False
    return (now or datetime.now(UTC)) - last_seen <= grace


def cutoff(grace: timedelta, now: datetime | None = None) -> datetime:
    """The oldest sign of life that still counts, for queries that judge many rows at once (``last_seen >= cutoff``)."""
    return (now or datetime.now(UTC)) - grace
