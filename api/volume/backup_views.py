"""Cinder's shapes of a backup, field for field per microversion: the summary (``id``, ``links``, ``name``) a
listing, a create and an update answer with, and the detail of a show and a detailed listing.

The detail adds ``metadata`` from 3.43 and ``encryption_key_id`` from 3.64 (always null: no volume here is
encrypted); ``os-backup-project-attr:project_id`` (3.18) and ``user_id`` (3.56) go to admins only, as Cinder's
default ``backup:backup_project_attribute`` policy has it. ``has_dependent_backups`` says whether an incremental
backup not deleted names the backup as its parent (Cinder's ``num_dependent_backups``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.volume.microversions import at_least
from api.volume.routing import resource_links
from api.volume.views import timestamp
from volume.models import VolumeBackup


def with_dependents(session: Session, backups: Sequence[VolumeBackup]) -> set[str]:
    """The ids among ``backups`` that incremental backups depend on, in one query."""
    ids = [b.id for b in backups]
    if not ids:
        return set()
    query = select(VolumeBackup.parent_id).where(VolumeBackup.parent_id.in_(ids), VolumeBackup.deleted.is_(False))
    return {parent for parent in session.scalars(query.distinct()) if parent}


def backup_summary(backup: VolumeBackup) -> dict[str, Any]:
    return {
        "id": backup.id,
        "links": resource_links("backups", backup.id, backup.project_id),
        "name": backup.name,
    }


def backup_view(backup: VolumeBackup, has_dependents: bool) -> dict[str, Any]:
    """A backup in detail, as ``GET /backups/{id}`` and ``GET /backups/detail`` show it at this microversion."""
    view: dict[str, Any] = {
        "id": backup.id,
        "name": backup.name,
        "description": backup.description,
        "status": backup.status,
        "availability_zone": backup.availability_zone,
        "container": backup.container,
        "created_at": timestamp(backup.created_at),
        "updated_at": timestamp(backup.updated_at),
        "volume_id": backup.volume_id,
        "snapshot_id": backup.snapshot_id,
        "size": backup.size,
        "object_count": backup.object_count,
        "is_incremental": backup.is_incremental,
        "has_dependent_backups": has_dependents,
        "fail_reason": backup.fail_reason,
        "data_timestamp": timestamp(backup.data_timestamp),
        "links": resource_links("backups", backup.id, backup.project_id),
    }
    if at_least("3.43"):
        view["metadata"] = dict(backup.properties or {})
    owner_fields = policy.allowed("volume:backups:project_attribute", {"project_id": backup.project_id})
    if at_least("3.18") and owner_fields:
        view["os-backup-project-attr:project_id"] = backup.project_id
    if at_least("3.56") and owner_fields:
        view["user_id"] = backup.user_id
    if at_least("3.64"):
        view["encryption_key_id"] = None
    return view


def backup_views(session: Session, backups: Sequence[VolumeBackup]) -> list[dict[str, Any]]:
    depended_on = with_dependents(session, backups)
    return [backup_view(b, b.id in depended_on) for b in backups]


def restore_view(backup_id: str, volume_id: str, volume_name: str | None) -> dict[str, Any]:
    return {"restore": {"backup_id": backup_id, "volume_id": volume_id, "volume_name": volume_name}}


def summaries(backups: Iterable[VolumeBackup]) -> list[dict[str, Any]]:
    return [backup_summary(b) for b in backups]
