"""``/snapshots``: create (202; an in-use volume needs ``force`` before 3.66), list (summary and detail, filters
and pages), show, update (name and description), delete, and the admins' ``os-reset_status`` action.
Their metadata is ``api.volume.metadata``.

A snapshot is taken by ``stratus-volume``, except of a volume plugged into a server whose backend cannot read it
beside the guest (the file backend: QEMU holds the qcow2 locked): the server's host copies the disk at one instant
while the guest runs (``compute.volumes.snapshot_attached_volume``, in the same transaction), as Cinder's
remotefs drivers ask Nova to."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from api import policy
from api.broker import require_broker, send_after_commit
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import json_body, query_bool, validate, validated_body
from api.volume import listing, lookups, routing, schemas
from api.volume.listing import json_contains, parse_dict
from api.volume.microversions import at_least
from api.volume.views import snapshot_view
from common.exceptions import BadRequest, Forbidden
from compute import volumes as compute_volumes
from volume import client, service
from volume.models import VolumeSnapshot
from volume.states import SnapshotStatus

bp = Blueprint("volume_snapshots", __name__)

SNAPSHOTS = listing.Resource(
    columns={
        "name": VolumeSnapshot.name,
        "display_name": VolumeSnapshot.name,
        "description": VolumeSnapshot.description,
        "status": VolumeSnapshot.status,
        "volume_id": VolumeSnapshot.volume_id,
        "user_id": VolumeSnapshot.user_id,
        "created_at": VolumeSnapshot.created_at,
        "updated_at": VolumeSnapshot.updated_at,
    },
    sort_keys={
        "id": VolumeSnapshot.id,
        "name": VolumeSnapshot.name,
        "display_name": VolumeSnapshot.name,
        "status": VolumeSnapshot.status,
        "size": VolumeSnapshot.size,
        "volume_id": VolumeSnapshot.volume_id,
        "created_at": VolumeSnapshot.created_at,
        "updated_at": VolumeSnapshot.updated_at,
    },
    special={
        "metadata": lambda raw: (
            json_contains(VolumeSnapshot.properties, parse_dict(raw, "metadata")) if at_least("3.22") else None
        ),
        "availability_zone": lambda raw: None,  # one zone: every snapshot is in it
    },
    ignored=("project_id",),
)


def _listed(ctx: RequestContext) -> tuple[list[VolumeSnapshot], list[dict[str, str]], int]:
    query = select(VolumeSnapshot).where(VolumeSnapshot.deleted.is_(False))
    if ctx.is_admin and query_bool("all_tenants", False):
        if request.args.get("project_id"):
            query = query.where(VolumeSnapshot.project_id == request.args["project_id"])
    else:
        query = query.where(VolumeSnapshot.project_id == ctx.project_id)
    query = listing.sorted_by(listing.filtered(query, SNAPSHOTS), SNAPSHOTS, VolumeSnapshot.id)
    with runtime().db.session() as session:
        found = list(session.scalars(query))
    chosen, links = listing.page(found, key=lambda s: s.id)
    return chosen, links, len(found)


def _listing(detail: bool) -> Response:
    ctx = policy.enforce("volume:get")
    chosen, links, total = _listed(ctx)
    body: dict[str, Any] = {"snapshots": [snapshot_view(s, detail=detail, extended=detail) for s in chosen]}
    if links:
        body["snapshots_links"] = links
    return jsonify(listing.with_count(body, total))


@routing.get(bp, "/snapshots")
def list_snapshots() -> Response:
    return _listing(detail=False)


@routing.get(bp, "/snapshots/detail")
def list_snapshots_detail() -> Response:
    return _listing(detail=True)


@routing.get(bp, "/snapshots/<snapshot_id>")
def show_snapshot(snapshot_id: str) -> Response:
    ctx = current()
    with runtime().db.session() as session:
        snapshot = lookups.snapshot(session, ctx, snapshot_id)
        policy.enforce("volume:get", {"project_id": snapshot.project_id})
        return jsonify({"snapshot": snapshot_view(snapshot, extended=True)})


def _force(body: dict[str, Any]) -> bool:
    """Before 3.66 an in-use volume is snapshotted only with ``force``; from 3.66 always, and ``force`` may only
    be true (Cinder's rule)."""
    given = schemas.as_bool(body["force"]) if "force" in body else None
    if at_least("3.66"):
        if given is False:
            raise BadRequest(
                "Since microversion 3.66 'force' is not needed to snapshot an in-use volume, and if given must be true."
            )
        return True
    return bool(given)


@routing.post(bp, "/snapshots")
def create_snapshot() -> tuple[Response, int]:
    ctx = current()
    if ctx.authenticated and ctx.project_id is None:
        raise Forbidden("Snapshots belong to projects: use a project-scoped token.")
    body = validated_body(schemas.SNAPSHOT_CREATE)["snapshot"]
    force = _force(body)
    rt = runtime()
    with rt.db.session() as session:
        volume = lookups.volume(session, ctx, body["volume_id"], for_update=True)
        policy.enforce("volume:create", {"project_id": volume.project_id})
        require_broker("volume")
        snapshot = service.create_snapshot(
            session,
            volume=volume,
            project_id=volume.project_id,
            user_id=str(ctx.user_id),
            name=schemas.text(body, "name"),
            description=schemas.text(body, "description"),
            force=force,
            metadata=body.get("metadata") or {},
        )
        work = compute_volumes.snapshot_attached_volume(
            session, rt.settings, volume, snapshot, ctx.request_id, ctx.user_id
        )
        view = snapshot_view(snapshot)
    if work is not None:
        send_after_commit(work.send, rt.celery)
    else:
        send_after_commit(client.create_snapshot, rt.celery, view["id"], ctx.request_id)
    return jsonify({"snapshot": view}), 202


@routing.put(bp, "/snapshots/<snapshot_id>")
def update_snapshot(snapshot_id: str) -> Response:
    ctx = current()
    with runtime().db.session() as session:
        snapshot = lookups.snapshot(session, ctx, snapshot_id)
        policy.enforce("volume:update", {"project_id": snapshot.project_id})
        body = validated_body(schemas.SNAPSHOT_UPDATE)["snapshot"]
        if not body:
            raise BadRequest("Missing required element 'snapshot' in request body: nothing to update.")
        schemas.update_texts(snapshot, body)
        session.flush()
        return jsonify({"snapshot": snapshot_view(snapshot)})


@routing.delete(bp, "/snapshots/<snapshot_id>")
def delete_snapshot(snapshot_id: str) -> Response:
    ctx = current()
    rt = runtime()
    with rt.db.session() as session:
        snapshot = lookups.snapshot(session, ctx, snapshot_id)
        policy.enforce("volume:delete", {"project_id": snapshot.project_id})
        require_broker("volume")
        service.delete_snapshot(session, snapshot)
    send_after_commit(client.delete_snapshot, rt.celery, snapshot_id, ctx.request_id)
    return Response(status=202)


@routing.post(bp, "/snapshots/<snapshot_id>/action")
def snapshot_action(snapshot_id: str) -> Response:
    ctx = current()
    body = json_body()
    if not isinstance(body, dict) or list(body) != ["os-reset_status"]:
        name = next(iter(body), "") if isinstance(body, dict) and body else ""
        raise BadRequest(f"There is no such action: {str(name)[:100]}")
    status = validate(body, schemas.SNAPSHOT_RESET_STATUS)["os-reset_status"]["status"]
    if status not in set(SnapshotStatus):
        raise BadRequest(f"Must specify a valid status, not {status!r}.")
    with runtime().db.session() as session:
        snapshot = lookups.snapshot(session, ctx, snapshot_id)
        policy.enforce("volume:reset_status", {"project_id": snapshot.project_id})
        snapshot.status = status
    return Response(status=202)
