"""``/backups``: create (202; an in-use volume needs ``force``), list (summary and detail, filters and pages), show,
update (3.9; metadata 3.43), delete, restore (to a volume given or a new one), and the admins' actions
``os-reset_status`` and ``os-force_delete``.

The records are ``volume.backups``'s, made and changed in the request's transaction; the copying is the volume
service's, sent after the commit. A backup belongs to its volume's project, as a snapshot does, and a volume a
restore makes to the backup's. Another project's backup is a 404, never a 403.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.broker import require_broker, send_after_commit
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import json_body, query_bool, validate, validated_body
from api.volume import listing, lookups, routing, schemas
from api.volume.backup_views import backup_summary, backup_views, restore_view, summaries
from api.volume.microversions import as_text, at_least
from api.volume.microversions import current as current_version
from common.exceptions import BadRequest, Forbidden, NotFound
from compute import volumes as compute_volumes
from volume import backups, client, service
from volume.exceptions import BackupNotFound, InvalidInput
from volume.models import VolumeBackup

bp = Blueprint("volume_backups", __name__)

NAME = {"type": ["string", "null"], "maxLength": 255}
"""Cinder's ``name_allow_zero_min_length``, ``description`` and ``container``."""
CREATE_FIELDS = {
    "volume_id": schemas.UUID,
    "container": NAME,
    "description": NAME,
    "incremental": schemas.BOOLEAN,
    "force": schemas.BOOLEAN,
    "name": NAME,
    "snapshot_id": schemas.NULLABLE_UUID,
}
METADATA_FIELD = {"metadata": schemas.NULLABLE_METADATA}
ZONE_FIELD = {"availability_zone": NAME}
UPDATE_FIELDS = {"name": NAME, "description": NAME}
RESTORE = {
    "type": "object",
    "properties": {
        "restore": {
            "type": ["object", "null"],
            "properties": {"name": NAME, "volume_id": schemas.NULLABLE_UUID},
            "additionalProperties": False,
        }
    },
    "required": ["restore"],
    "additionalProperties": False,
}
RESET_STATUS = schemas.action_schema("os-reset_status", {"status": schemas.STATUS}, ("status",))
FORCE_DELETE = {
    "type": "object",
    "properties": {"os-force_delete": schemas.NO_ARGUMENTS},
    "required": ["os-force_delete"],
    "additionalProperties": False,
}
RESETTABLE = ("available", "error")
"""Cinder's ``BackupAdminController.valid_status``."""


def _create_schema() -> dict[str, Any]:
    """Cinder's ``create``, with ``metadata`` from 3.43 and ``availability_zone`` from 3.51."""
    fields = {
        **CREATE_FIELDS,
        **(METADATA_FIELD if at_least("3.43") else {}),
        **(ZONE_FIELD if at_least("3.51") else {}),
    }
    return schemas.wrapped("backup", fields, required=("volume_id",))


def _update_schema() -> dict[str, Any]:
    """Cinder's ``update`` (the backup may be null: nothing to change), with ``metadata`` from 3.43."""
    fields = {**UPDATE_FIELDS, **({"metadata": schemas.METADATA} if at_least("3.43") else {})}
    inner = {"type": ["object", "null"], "properties": fields, "additionalProperties": False}
    return {"type": "object", "properties": {"backup": inner}, "required": ["backup"], "additionalProperties": False}


def _resource() -> listing.Resource:
    """What a listing filters on (Cinder lets projects filter on ``name``, ``status`` and ``volume_id``) and sorts
    on (``name`` from 3.37, before which only the column's own ``display_name`` names it)."""
    by_name = {"name": VolumeBackup.name} if at_least("3.37") else {}
    return listing.Resource(
        columns={"name": VolumeBackup.name, "status": VolumeBackup.status, "volume_id": VolumeBackup.volume_id},
        sort_keys={
            "id": VolumeBackup.id,
            "display_name": VolumeBackup.name,
            **by_name,
            "status": VolumeBackup.status,
            "size": VolumeBackup.size,
            "volume_id": VolumeBackup.volume_id,
            "container": VolumeBackup.container,
            "created_at": VolumeBackup.created_at,
            "updated_at": VolumeBackup.updated_at,
            "data_timestamp": VolumeBackup.data_timestamp,
        },
        like=("name",),
        times=(),
        ignored=("project_id",),
    )


def _find(session: Session, ctx: RequestContext, backup_id: str) -> VolumeBackup:
    """The backup as the caller may see it: another project's is Cinder's 404, as a missing one."""
    if len(backup_id) > lookups.MAX_ID:
        raise BackupNotFound(backup_id=backup_id[: lookups.MAX_ID])
    return backups.get_backup(session, backup_id, None if ctx.is_admin else ctx.project_id)


def _project_scoped() -> RequestContext:
    ctx = current()
    if ctx.authenticated and ctx.project_id is None:
        raise Forbidden("Backups belong to projects: use a project-scoped token.")
    return ctx


def _listed(session: Session, ctx: RequestContext) -> tuple[list[VolumeBackup], list[dict[str, str]], int]:
    query = select(VolumeBackup).where(VolumeBackup.deleted.is_(False))
    if ctx.is_admin and query_bool("all_tenants", False):
        if request.args.get("project_id"):
            query = query.where(VolumeBackup.project_id == request.args["project_id"])
    else:
        query_bool("all_tenants", False)  # a value that is no boolean is a 400 for everyone, as in Cinder
        query = query.where(VolumeBackup.project_id == ctx.project_id)
    resource = _resource()
    query = listing.sorted_by(listing.filtered(query, resource), resource, VolumeBackup.id)
    found = list(session.scalars(query))
    chosen, links = listing.page(found, key=lambda b: b.id)
    return chosen, links, len(found)


def _listing(detail: bool) -> Response:
    ctx = policy.enforce("volume:backups:read")
    with runtime().db.session() as session:
        chosen, links, total = _listed(session, ctx)
        body: dict[str, Any] = {"backups": backup_views(session, chosen) if detail else summaries(chosen)}
    if links:
        body["backups_links"] = links
    return jsonify(listing.with_count(body, total))


@routing.get(bp, "/backups")
def list_backups() -> Response:
    return _listing(detail=False)


@routing.get(bp, "/backups/detail")
def list_backups_detail() -> Response:
    return _listing(detail=True)


@routing.get(bp, "/backups/<backup_id>")
def show_backup(backup_id: str) -> Response:
    ctx = current()
    with runtime().db.session() as session:
        backup = _find(session, ctx, backup_id)
        policy.enforce("volume:backups:read", {"project_id": backup.project_id})
        return jsonify({"backup": backup_views(session, [backup])[0]})


def _zone(body: dict[str, Any]) -> None:
    zone = body.get("availability_zone")
    if zone is not None and zone not in service.AVAILABILITY_ZONES:
        raise InvalidInput(reason=f"Availability zone '{zone[:255]}' is invalid.")


@routing.post(bp, "/backups")
def create_backup() -> tuple[Response, int]:
    ctx = _project_scoped()
    body = validated_body(_create_schema())["backup"]
    _zone(body)
    rt = runtime()
    with rt.db.session() as session:
        volume = lookups.volume(session, ctx, body["volume_id"], for_update=True)
        policy.enforce("volume:backups:create", {"project_id": volume.project_id})
        snapshot = lookups.snapshot(session, ctx, body["snapshot_id"]) if body.get("snapshot_id") else None
        require_broker("volume")
        force = schemas.as_bool(body.get("force", False))
        temp, work = None, None
        if force and snapshot is None:
            # An in-use volume its backend cannot read beside the guest is read from a snapshot its host takes.
            temp = backups.temporary_snapshot(
                session, rt.settings, volume, project_id=volume.project_id, user_id=str(ctx.user_id)
            )
            if temp is not None:
                work = compute_volumes.snapshot_attached_volume(
                    session, rt.settings, volume, temp, ctx.request_id, ctx.user_id
                )
        backup = backups.create_backup(
            session,
            rt.settings,
            volume=volume,
            project_id=volume.project_id,
            user_id=str(ctx.user_id),
            name=body.get("name"),
            description=body.get("description"),
            incremental=schemas.as_bool(body.get("incremental", False)),
            force=force,
            snapshot=snapshot,
            container=body.get("container"),
            metadata=body.get("metadata") or {},
            temp_snapshot=temp,
        )
        view = backup_summary(backup)
    if work is not None:
        send_after_commit(work.send, rt.celery)
    elif temp is not None:
        send_after_commit(client.create_snapshot, rt.celery, temp.id, ctx.request_id)
    send_after_commit(client.create_backup, rt.celery, view["id"], ctx.request_id)
    return jsonify({"backup": view}), 202


@routing.put(bp, "/backups/<backup_id>")
def update_backup(backup_id: str) -> Response:
    ctx = current()
    if not at_least("3.9"):
        raise NotFound(f"API version {as_text(current_version())} is not supported on this method.")
    body = validated_body(_update_schema())["backup"] or {}
    with runtime().db.session() as session:
        backup = _find(session, ctx, backup_id)
        policy.enforce("volume:backups:update", {"project_id": backup.project_id})
        backups.update_backup(session, backup, **body)
        session.flush()
        return jsonify({"backup": backup_summary(backup)})


@routing.delete(bp, "/backups/<backup_id>")
def delete_backup(backup_id: str) -> Response:
    return _delete(backup_id, force=False)


def _delete(backup_id: str, *, force: bool) -> Response:
    ctx = current()
    rt = runtime()
    with rt.db.session() as session:
        backup = _find(session, ctx, backup_id)
        policy.enforce("volume:backups:delete", {"project_id": backup.project_id})
        if force:
            policy.enforce("volume:backups:force_delete", {"project_id": backup.project_id})
        require_broker("volume")
        backups.delete_backup(session, backup, force=force)
    send_after_commit(client.delete_backup, rt.celery, backup_id, ctx.request_id)
    return Response(status=202)


@routing.post(bp, "/backups/<backup_id>/restore")
def restore_backup(backup_id: str) -> tuple[Response, int]:
    ctx = _project_scoped()
    body = validated_body(RESTORE)["restore"] or {}
    rt = runtime()
    with rt.db.session() as session:
        backup = _find(session, ctx, backup_id)
        policy.enforce("volume:backups:restore", {"project_id": backup.project_id})
        target = lookups.volume(session, ctx, body["volume_id"], for_update=True) if body.get("volume_id") else None
        require_broker("volume")
        volume = backups.restore_backup(
            session,
            rt.settings,
            backup,
            project_id=backup.project_id,
            user_id=str(ctx.user_id),
            volume=target,
            name=body.get("name"),
        )
        answer = restore_view(backup.id, volume.id, volume.name)
    send_after_commit(client.restore_backup, rt.celery, backup_id, answer["restore"]["volume_id"], ctx.request_id)
    return jsonify(answer), 202


@routing.post(bp, "/backups/<backup_id>/action")
def backup_action(backup_id: str) -> Response:
    body = json_body()
    name = next(iter(body), "") if isinstance(body, dict) and len(body) == 1 else ""
    if name == "os-force_delete":
        validate(body, FORCE_DELETE)
        return _delete(backup_id, force=True)
    if name == "os-reset_status":
        return _reset_status(backup_id, validate(body, RESET_STATUS)["os-reset_status"]["status"])
    shown = next(iter(body), "") if isinstance(body, dict) and body else ""
    raise BadRequest(f"There is no such action: {str(shown)[:100]}")


def _reset_status(backup_id: str, status: str) -> Response:
    """Cinder's admin ``os-reset_status``: only ``available`` or ``error``, whatever the backup's status."""
    if status.lower() not in RESETTABLE:
        raise BadRequest("Must specify a valid status")
    ctx = current()
    with runtime().db.session() as session:
        backup = _find(session, ctx, backup_id)
        policy.enforce("volume:backups:reset_status", {"project_id": backup.project_id})
        backups.reset_backup_status(session, backup, status.lower())
    return Response(status=202)


@routing.get(bp, "/backups/<backup_id>/export_record")
def export_backup_record(backup_id: str) -> Response:
    raise NotFound("Exporting backup records is not offered by this cloud.")


@routing.post(bp, "/backups/import_record")
def import_backup_record() -> Response:
    raise NotFound("Importing backup records is not offered by this cloud.")
