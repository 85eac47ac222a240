"""The quota check: lock the project's quota row, count what it holds, compare with its limits, in the caller's
transaction, before the caller adds the new rows.

Why this is race-free: the lock serialises every check of one project until its transaction ends, and the
rows a check counts include everything committed by the transactions that held the lock before it. So two
requests for the last free instance cannot both see it free: the second counts the first's instance.

- PostgreSQL: ``SELECT ... FOR UPDATE`` on the project's ``quota_locks`` row (made on first need with
  ``INSERT ... ON CONFLICT DO NOTHING``, so two first checks agree on one row). Under READ COMMITTED each
  statement after the lock sees the latest commits. Checks of different projects do not wait for each other.
- SQLite: ``BEGIN IMMEDIATE`` (``common.db.begin_write``) takes the database's single write lock, which
  serialises all writers anyway; reads after it see every commit.

The check counts only what it needs (a resource whose limit is -1 is not counted at all), each counter in
one query over an index, so its cost stays flat with the number of resources a project has (bench/quota.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from common.db import begin_write, utcnow
from common.settings import Settings
from quota import limits, registry
from quota.exceptions import LimitBelowUsage, Overage, OverQuota
from quota.models import QuotaLock
from quota.registry import UNLIMITED, Scope


@dataclass(frozen=True)
class Usage:
    limit: int
    in_use: int


# Built once, as every statement a create's check runs: building one costs more than running it.
_LOCK = select(QuotaLock.key).where(QuotaLock.key == bindparam("key")).with_for_update()
_MAKE_LOCK = (
    postgresql.insert(QuotaLock)
    .values(key=bindparam("key"), created_at=bindparam("created_at"))
    .on_conflict_do_nothing()
)


def lock(session: Session, key: str) -> None:
    """Hold ``key``'s quota lock until the transaction ends (a project id, or ``user:<id>``)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        begin_write(session)
        return
    if connection.execute(_LOCK, {"key": key}).first() is None:
        connection.execute(_MAKE_LOCK, {"key": key, "created_at": utcnow()})
        connection.execute(_LOCK, {"key": key}).one()


def _lock_for(session: Session, project_id: str | None, names: Iterable[str], user_id: str | None) -> None:
    lock(session, project_id or "")
    if user_id and any(registry.resource(n).scope is Scope.USER for n in names):
        lock(session, f"user:{user_id}")


def count(session: Session, project_id: str | None, names: Iterable[str], user_id: str | None = None) -> dict[str, int]:
    """What the project holds of ``names`` now (per-user resources: what ``user_id`` holds; per-item: 0).
    Rows the caller's transaction added are counted too (they are flushed first)."""
    wanted = list(names)
    used = dict.fromkeys(wanted, 0)
    grouped = registry.counters_for(wanted)
    if grouped:
        session.flush()
    for path, group in grouped.items():
        counted = registry.counter(path)(session, project_id or "", user_id)
        used.update({name: int(counted.get(name, 0)) for name in group})
    return used


def usage(
    session: Session,
    project_id: str,
    user_id: str | None = None,
    names: Iterable[str] | None = None,
    settings: Settings | None = None,
) -> dict[str, Usage]:
    """Limit and usage of ``names`` (every resource when None), as the quota views and ``/limits`` show them."""
    found = limits.limits(session, project_id, names, settings)
    used = count(session, project_id, found, user_id)
    return {name: Usage(limit, used[name]) for name, limit in found.items()}


def enforce(
    session: Session,
    project_id: str | None,
    deltas: Mapping[str, int],
    *,
    user_id: str | None = None,
    settings: Settings | None = None,
) -> None:
    """Raise ``OverQuota`` unless the project may have ``deltas`` more of each resource; keeps the lock, so the
    caller's inserts in the same transaction are counted by the next check."""
    wanted = {name: delta for name, delta in deltas.items() if delta > 0}
    if not wanted:
        return
    _lock_for(session, project_id, wanted, user_id)
    found = limits.limits(session, project_id, wanted, settings)
    limited = [name for name in wanted if found[name] != UNLIMITED]
    if not limited:
        return
    used = count(session, project_id, limited, user_id)
    overs = [Overage(n, found[n], used[n], wanted[n]) for n in limited if used[n] + wanted[n] > found[n]]
    if overs:
        raise OverQuota(project_id, overs)


def allowed_count(
    session: Session,
    project_id: str,
    per_unit: Mapping[str, int],
    minimum: int,
    maximum: int,
    settings: Settings | None = None,
    items: Mapping[str, int] | None = None,
) -> int:
    """How many units of ``per_unit`` (one server: an instance, its cores, its RAM) the project may add, up to
    ``maximum``; ``OverQuota`` (for ``minimum`` units) when fewer than ``minimum`` fit. Nova's rule for
    ``min_count``/``max_count``: create as many as the quota allows. ``items`` are per-item totals checked
    with the same read of the limits (each server's ``metadata_items``), before anything is counted."""
    _lock_for(session, project_id, per_unit, None)
    found = limits.limits(session, project_id, [*per_unit, *(items or {})], settings)
    for name, total in (items or {}).items():
        if found[name] != UNLIMITED and total > found[name]:
            raise OverQuota(project_id, [Overage(name, found[name], 0, total)])
    limited = [name for name, unit in per_unit.items() if unit > 0 and found[name] != UNLIMITED]
    used = count(session, project_id, limited)
    fits = min([maximum, *((found[n] - used[n]) // per_unit[n] for n in limited)])
    if fits >= minimum:
        return fits
    overs = [
        Overage(n, found[n], used[n], per_unit[n] * minimum)
        for n in limited
        if used[n] + per_unit[n] * minimum > found[n]
    ]
    raise OverQuota(project_id, overs)


def check_item(
    session: Session,
    project_id: str | None,
    resource: str,
    in_use: int,
    requested: int,
    *,
    lock_project: bool = False,
    settings: Settings | None = None,
) -> None:
    """A per-item limit (``metadata_items`` of one server, ``server_group_members`` of one group): ``in_use``
    already there and ``requested`` more. ``lock_project`` when concurrent requests add to the same item."""
    if requested <= 0:
        return
    if lock_project:
        lock(session, project_id or "")
    limit = limits.limits(session, project_id, [resource], settings)[resource]
    if limit != UNLIMITED and in_use + requested > limit:
        raise OverQuota(project_id, [Overage(resource, limit, in_use, requested)])


def set_limits(
    session: Session, project_id: str, values: Mapping[str, object], *, force: bool = False
) -> dict[str, int]:
    """Set the project's own limits; a limit below what the project holds is refused unless ``force``d (it
    would not take anything away, only refuse every create until usage falls under it)."""
    checked = limits.validated(values)
    if not force:
        lock(session, project_id)
        summed = [n for n, v in checked.items() if v != UNLIMITED and registry.resource(n).scope is Scope.PROJECT]
        used = count(session, project_id, summed)
        for name in summed:
            if checked[name] < used[name]:
                raise LimitBelowUsage(limit=checked[name], resource=name, in_use=used[name])
    limits.set_project_limits(session, project_id, checked)
    return checked
