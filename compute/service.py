"""The compute service's public in-process interface: what ``api`` may call besides ``compute.client``.

Why a module of its own: the API process runs no compute worker, yet some of compute's rules must hold the same in
both processes. A host is "up" by one rule whether the scheduler moves its builds or ``os-hypervisors`` shows it;
a claim on a server is one compare-and-swap whether a user's action or a workflow takes it. Those rules live here,
the control side (``compute.control``) imports them from here, and ``api`` never imports ``compute.control``
(import-linter contracts in pyproject.toml hold both). Anything else the API needs from compute goes over
``compute.client`` as a task, or is a read-only query of ``compute.models``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.liveness import alive
from compute.models import ComputeHost, Instance, ServiceRecord, counted_resources

DEFAULT_GRACE = timedelta(seconds=60)


def now() -> datetime:
    """The one clock of compute's records (aware UTC), so API-written and worker-written times compare."""
    return datetime.now(UTC)


def _alive(last_seen: datetime | None, forced_down: bool, grace: timedelta) -> bool:
    return alive(last_seen, grace, now(), forced_down)


def host_is_up(host: ComputeHost | None, grace: timedelta = DEFAULT_GRACE) -> bool:
    """Whether a compute host counts as running: it heartbeat within ``grace`` (``compute_host_down_after``) and no
    operator forced it down. A missing host is down. The scheduler, the sweeper and the API's views all ask this."""
    return host is not None and _alive(host.last_heartbeat, host.forced_down, grace)


def service_is_up(record: ServiceRecord, grace: timedelta = DEFAULT_GRACE) -> bool:
    """The same rule for a control-side process's ``ServiceRecord`` (``os-services`` shows both)."""
    return _alive(record.last_seen, record.forced_down, grace)


def swap(session: Session, instance_id: str, expect: dict[str, Any], **values: Any) -> bool:
    """``UPDATE instances SET values WHERE id AND every expected column matches``; True if it won.

    The only way a server's state changes (STYLE.md point 9): a lost race leaves the row untouched and returns
    False, which the API answers with 409 and a workflow takes as "someone else moved it". A deleted server never
    matches. Writing ``flavor`` or ``old_flavor`` also rewrites the counted quota columns, in the same statement."""
    query = update(Instance).where(Instance.id == instance_id, Instance.deleted.is_(False))
    for column, expected in expect.items():
        attribute = getattr(Instance, column)
        query = query.where(attribute.is_(None) if expected is None else attribute == expected)
    if "flavor" in values or "old_flavor" in values:
        values = values | _counted_after(session, instance_id, values)
    return session.execute(query.values(updated_at=now(), **values)).rowcount == 1


def _counted_after(session: Session, instance_id: str, values: dict[str, Any]) -> dict[str, int]:
    """The quota columns once ``values`` change the flavors (the flavor not in ``values`` is read)."""
    row = session.execute(select(Instance.flavor, Instance.old_flavor).where(Instance.id == instance_id)).first()
    flavor, old_flavor = row if row is not None else (None, None)
    return counted_resources(values.get("flavor", flavor), values.get("old_flavor", old_flavor))
