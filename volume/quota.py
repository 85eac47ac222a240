"""Volume quotas (Cinder's ``volumes``, ``gigabytes``, ``snapshots``, ``backups``, ``backup_gigabytes``): how
usage is counted (named by ``quota.registry``, called by the quota engine) and the check every create calls.

Counted as Cinder counts by default: every volume not deleted (error ones too) that consumes quota, and
``gigabytes`` is the volumes' sizes plus their snapshots' (``no_snapshot_gb_quota`` off). A volume or snapshot
whose delete was accepted no longer counts: a delete always ends with it gone (a failed one is retried), so its
quota is free as soon as the delete is accepted, as the compute counters free a server being deleted. A volume
being extended counts at the size asked for (``extending_to``) from the moment the extend is accepted. Each
counter is one statement on the session's connection (Core: the engine flushed the session) over the
``ix_*_project_usage`` indexes.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import bindparam, false, func, select, true
from sqlalchemy.orm import Session

from common.settings import Settings
from quota import engine
from volume.models import Volume, VolumeBackup, VolumeSnapshot
from volume.states import SnapshotStatus, VolumeStatus

RESOURCES = ("volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes")
_FREED = (VolumeStatus.DELETING.value, VolumeStatus.ERROR_DELETING.value)
_SNAPSHOTS_FREED = (SnapshotStatus.DELETING.value, SnapshotStatus.ERROR_DELETING.value)

_VOLUMES = (
    Volume.project_id == bindparam("project_id"),
    Volume.deleted == false(),  # not ``IS false``: PostgreSQL seeks an index on the one, not on the other
    Volume.consumes_quota == true(),
    Volume.status.not_in(_FREED),
)
_SNAPSHOTS = (
    VolumeSnapshot.project_id == bindparam("project_id"),
    VolumeSnapshot.deleted == false(),
    VolumeSnapshot.status.not_in(_SNAPSHOTS_FREED),
)

# Built once: building a statement costs more than running it (they run in every create's check).
_VOLUME_USAGE = select(
    select(func.count()).select_from(Volume).where(*_VOLUMES).scalar_subquery(),
    select(func.coalesce(func.sum(func.coalesce(Volume.extending_to, Volume.size)), 0))
    .where(*_VOLUMES)
    .scalar_subquery()
    + select(func.coalesce(func.sum(VolumeSnapshot.size), 0)).where(*_SNAPSHOTS).scalar_subquery(),
)
"""Volumes, and the GiB of volumes and snapshots, in one statement."""
_SNAPSHOT_COUNT = select(func.count()).select_from(VolumeSnapshot).where(*_SNAPSHOTS)
_BACKUP_USAGE = select(func.count(), func.coalesce(func.sum(VolumeBackup.size), 0)).where(
    VolumeBackup.project_id == bindparam("project_id"),
    VolumeBackup.deleted == false(),
    VolumeBackup.status != "deleting",
)


def count_volumes(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    volumes, gigabytes = session.connection().execute(_VOLUME_USAGE, {"project_id": project_id}).one()
    return {"volumes": int(volumes), "gigabytes": int(gigabytes)}


def count_snapshots(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    return {"snapshots": int(session.connection().scalar(_SNAPSHOT_COUNT, {"project_id": project_id}) or 0)}


def count_backups(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    backups, gigabytes = session.connection().execute(_BACKUP_USAGE, {"project_id": project_id}).one()
    return {"backups": int(backups), "backup_gigabytes": int(gigabytes)}


def check(session: Session, settings: Settings | None, project_id: str, deltas: Mapping[str, int]) -> None:
    """Raise ``quota.exceptions.OverQuota`` unless ``project_id`` may have ``deltas`` more (``{"volumes": 1,
    "gigabytes": 10}``); takes the project's quota lock for the rest of the caller's transaction, so the rows it
    adds next are counted by the next check."""
    unknown = set(deltas) - set(RESOURCES)
    if unknown:
        raise ValueError(f"unknown volume quota resources {sorted(unknown)}")
    engine.enforce(session, project_id, deltas, settings=settings)
