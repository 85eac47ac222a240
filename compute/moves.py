"""The record of a server's move between hosts, shared by every kind of move and by the API that lists them.

Why one module: cold migration, resize to another host, live migration and evacuation are separate workflows
(``compute.control.*``), but they write the same ``migrations`` row with Nova's vocabulary, the API lists and
filters those rows (``os-migrations``, ``servers/{id}/migrations``), and the sweeper and the host reports must know
which rows are still in flight. The words live here once.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from compute import service
from compute.models import Instance, Migration

__all__ = ["IN_FLIGHT", "MigrationType", "Status", "end_with_server", "handed", "in_flight", "settled", "start"]


class MigrationType(StrEnum):
    MIGRATION = "migration"
    """Cold migration: same flavor, another host."""
    RESIZE = "resize"
    """Another flavor (on another host, or the same one where that is allowed)."""
    LIVE_MIGRATION = "live-migration"
    EVACUATION = "evacuation"


class Status(StrEnum):
    """Nova's migration statuses (each kind of move uses some of them, in this order)."""

    ACCEPTED = "accepted"
    """Asked for; no host picked yet (live migration, evacuation)."""
    PRE_MIGRATING = "pre-migrating"
    """Target claimed; preparing (cold move, evacuation)."""
    QUEUED = "queued"
    """Live migration: target claimed, waiting for its preparation."""
    PREPARING = "preparing"
    """Live migration: the target prepares disks and network."""
    RUNNING = "running"
    """Live migration: memory (and disks) being copied."""
    MIGRATING = "migrating"
    """Cold move: disks being copied."""
    POST_MIGRATING = "post-migrating"
    """Cold move: the target defines the guest."""
    FINISHED = "finished"
    """Cold move: waiting for confirm or revert."""
    CONFIRMING = "confirming"
    CONFIRMED = "confirmed"
    REVERTING = "reverting"
    REVERTED = "reverted"
    COMPLETED = "completed"
    """Live migration done; an evacuation whose source host came back and dropped its stale copy."""
    DONE = "done"
    """Evacuation: rebuilt on the target."""
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    """Live migration aborted by the user: the guest runs where it was."""
    FAILED = "failed"
    """Ended without moving: the server is where it was (the fault says why)."""
    ERROR = "error"


IN_FLIGHT: frozenset[Status] = frozenset(
    {
        Status.ACCEPTED,
        Status.PRE_MIGRATING,
        Status.QUEUED,
        Status.PREPARING,
        Status.RUNNING,
        Status.MIGRATING,
        Status.POST_MIGRATING,
        Status.FINISHED,
        Status.CONFIRMING,
        Status.REVERTING,
        Status.CANCELLING,
    }
)
"""A move in these holds the server: no second move starts, and ``servers/{id}/migrations`` lists it (live)."""

ABORTED_BEFORE_COPY = "Aborted before the copy began."
"""The ``error`` of a live migration the user aborted while it was queued or preparing (2.65): the control side
ends it at the target's next report, which it must not do for one aborted while running (the source's copy says
how that one ended: it may have completed)."""


def start(
    session: Session,
    instance: Instance,
    migration_type: MigrationType,
    status: Status,
    request_id: str,
    user_id: str,
    project_id: str,
    **values: object,
) -> Migration:
    """Record a move that begins now, from the host ``instance`` runs on (flavors as they are)."""
    flavor_id = str((instance.flavor or {}).get("id") or "") or None
    old_flavor_id = str((instance.old_flavor or {}).get("id") or "") or flavor_id
    row = Migration(
        instance_id=instance.id,
        migration_type=migration_type.value,
        status=status.value,
        source_compute=instance.host,
        old_flavor_id=old_flavor_id,
        new_flavor_id=flavor_id,
        request_id=request_id,
        user_id=user_id,
        project_id=project_id,
        **values,
    )
    session.add(row)
    session.flush()
    return row


def end_with_server(session: Session, instance: Instance) -> list[str]:
    """The server is deleted while a cold move had not ended: the move ends in ``error``. Returns the other hosts that
    may hold a copy of a cold move's (the source's kept for a revert, the target's copied disks), which are told
    to remove it (``destroy_moved``); the host the server was on destroys its own with the delete."""
    migration = in_flight(session, instance.id)
    if migration is not None and migration.migration_type == MigrationType.EVACUATION:
        # Nothing to tell: the target (the server's host once claimed) destroys its copy with the delete, and a
        # fenced source that comes back destroys the guest of a deleted server as any orphan.
        migration.status, migration.error = Status.ERROR.value, migration.error or "the server was deleted"
        return []
    if migration is None or migration.migration_type not in (MigrationType.MIGRATION, MigrationType.RESIZE):
        return []  # a live migration's end is its own workflow's
    migration.status, migration.error = Status.ERROR.value, migration.error or "the server was deleted"
    hosts = {migration.source_compute, migration.dest_compute} - {instance.host, None}
    return sorted(h for h in hosts if h)


def in_flight(session: Session, instance_id: str) -> Migration | None:
    """The server's move that has not ended, if any (newest first)."""
    query = (
        select(Migration)
        .where(Migration.instance_id == instance_id, Migration.status.in_([s.value for s in IN_FLIGHT]))
        .order_by(Migration.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def handed(migration: Migration, step: str, host: str) -> None:
    """Record, in the caller's transaction, that ``step`` (one of ``compute.client.ACKNOWLEDGED_STEPS``) is being
    sent to ``host``, once more when it was the last step sent there; the caller sends it once this commits, and
    ``compute.control.move_steps`` sends it again while ``host`` does not acknowledge it."""
    again = migration.step == step and migration.step_host == host
    migration.step, migration.step_host = step, host
    migration.step_sends = (migration.step_sends or 0) + 1 if again else 1
    migration.step_sent_at = service.now()


def settled(migration: Migration) -> None:
    """The move has ended, or gone past its step: nothing awaits an acknowledgement any more."""
    migration.step_sent_at = None
