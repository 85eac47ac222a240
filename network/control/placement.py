"""Which network host runs a router: the one it runs on while that host is live, else the live host running the
fewest routers (ties by name), as Neutron's least-routers scheduler chooses an L3 agent.

Why keep the current host: moving a router re-creates its namespace elsewhere, which breaks every connection
through it (its connection tracking stays behind). So a router moves only when its host is down
(``network.liveness``); ``network.control.relocation`` finds those in its periodic pass.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from network.models import Router


def choose_host(session: Session, current: str, live: set[str]) -> str:
    """The host for a router now on ``current`` ("" for none); "" when no network host is live."""
    if current in live:
        return current
    if not live:
        return ""
    rows = session.execute(select(Router.host, func.count()).where(Router.host.in_(sorted(live))).group_by(Router.host))
    load = Counter({host: count for host, count in rows})
    return min(sorted(live), key=lambda host: load[host])
