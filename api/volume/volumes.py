"""``/volumes``: create (empty, or from an image, a snapshot, a volume or a backup), list (summary and detail,
Cinder's filters and pages), show, update, delete (``cascade``; ``force`` for admins from 3.23), and the summary
(3.12). The volume service makes the records (``volume.service``) in the request's transaction; the work on the
data is sent to ``stratus-volume`` after the commit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import false, select
from sqlalchemy.orm import Session

from api import policy
from api.broker import require_broker, send_after_commit
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import digits, query_bool, validated_body
from api.volume import listing, lookups, routing, schemas
from api.volume.listing import json_contains, parse_dict
from api.volume.microversions import at_least
from api.volume.views import Related, volume_summary, volume_view
from common.exceptions import BadRequest, Forbidden, NotFound
from volume import client, service
from volume.models import Volume, VolumeType

bp = Blueprint("volume_volumes", __name__)


def _bootable(raw: str) -> Any:
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes", "on", "t"):
        return Volume.bootable.is_(True)
    if lowered in ("false", "0", "no", "off", "f"):
        return Volume.bootable.is_(False)
    if at_least("3.2"):
        raise BadRequest(f"Invalid filter bootable: {raw[:40]!r} is not a boolean.")
    return Volume.bootable.is_(True)  # before 3.2 Cinder took any other value as true


def _size(raw: str) -> Any:
    if digits(raw) is None:
        raise BadRequest(f"Invalid filter size: {raw[:40]!r} is not an integer.")
    return Volume.size == int(raw)


def _image_metadata(raw: str) -> Any:
    if not at_least("3.4"):
        return None
    return json_contains(Volume.image_metadata, parse_dict(raw, "glance_metadata"))


def _volume_type(raw: str) -> Any:
    named = select(VolumeType.id).where((VolumeType.name == raw) | (VolumeType.id == raw))
    return Volume.volume_type_id.in_(named)


VOLUMES = listing.Resource(
    columns={
        "name": Volume.name,
        "display_name": Volume.name,
        "description": Volume.description,
        "status": Volume.status,
        "availability_zone": Volume.availability_zone,
        "user_id": Volume.user_id,
        "created_at": Volume.created_at,
        "updated_at": Volume.updated_at,
    },
    sort_keys={
        "id": Volume.id,
        "name": Volume.name,
        "display_name": Volume.name,
        "status": Volume.status,
        "size": Volume.size,
        "availability_zone": Volume.availability_zone,
        "bootable": Volume.bootable,
        "created_at": Volume.created_at,
        "updated_at": Volume.updated_at,
    },
    special={
        "bootable": _bootable,
        "size": _size,
        "metadata": lambda raw: json_contains(Volume.properties, parse_dict(raw, "metadata")),
        "glance_metadata": _image_metadata,
        "image_metadata": _image_metadata,
        "volume_type": _volume_type,
        # No groups or migrations here: a filter on them matches nothing.
        "group_id": lambda raw: false(),
        "migration_status": lambda raw: false(),
    },
    ignored=("project_id", "is_public"),
)


def _scoped(ctx: RequestContext) -> Any:
    """The volumes a listing covers: the caller's project, or with ``all_tenants`` (admins) every project's or
    ``project_id``'s."""
    query = select(Volume).where(Volume.deleted.is_(False))
    if ctx.is_admin and query_bool("all_tenants", False):
        if request.args.get("project_id"):
            query = query.where(Volume.project_id == request.args["project_id"])
        return query
    return query.where(Volume.project_id == ctx.project_id)


def _listed(session: Session, ctx: RequestContext) -> tuple[list[Volume], list[dict[str, str]], int]:
    query = listing.sorted_by(listing.filtered(_scoped(ctx), VOLUMES), VOLUMES, Volume.id)
    found = list(session.scalars(query))
    chosen, links = listing.page(found, key=lambda v: v.id)
    return chosen, links, len(found)


@routing.get(bp, "/volumes")
def list_volumes() -> Response:
    ctx = policy.enforce("volume:get")
    with runtime().db.session() as session:
        chosen, links, total = _listed(session, ctx)
        body: dict[str, Any] = {"volumes": [volume_summary(v) for v in chosen]}
    if links:
        body["volumes_links"] = links
    return jsonify(listing.with_count(body, total))


@routing.get(bp, "/volumes/detail")
def list_volumes_detail() -> Response:
    ctx = policy.enforce("volume:get")
    with runtime().db.session() as session:
        chosen, links, total = _listed(session, ctx)
        related = Related(session, chosen)
        body: dict[str, Any] = {"volumes": [volume_view(v, ctx, related) for v in chosen]}
    if links:
        body["volumes_links"] = links
    return jsonify(listing.with_count(body, total))


@routing.get(bp, "/volumes/summary")
def volumes_summary() -> Response:
    ctx = policy.enforce("volume:get")
    if not at_least("3.12"):
        raise NotFound("Volume summary could not be found.")
    with runtime().db.session() as session:
        volumes = list(session.scalars(listing.filtered(_scoped(ctx), VOLUMES)))
    summary: dict[str, Any] = {"total_size": sum(v.size for v in volumes), "total_count": len(volumes)}
    if at_least("3.36"):
        metadata: dict[str, list[str]] = {}
        for volume in volumes:
            for key, value in (volume.properties or {}).items():
                if value not in metadata.setdefault(key, []):
                    metadata[key].append(value)
        summary["metadata"] = metadata
    return jsonify({"volume-summary": summary})


@routing.get(bp, "/volumes/<volume_id>")
def show_volume(volume_id: str) -> Response:
    ctx = current()
    with runtime().db.session() as session:
        volume = lookups.volume(session, ctx, volume_id)
        policy.enforce("volume:get", {"project_id": volume.project_id})
        return jsonify({"volume": volume_view(volume, ctx, Related(session, [volume]))})


def _source(body: dict[str, Any]) -> service.Source:
    given = {
        "imageRef": body.get("imageRef") or body.get("image_id"),
        "snapshot_id": body.get("snapshot_id"),
        "source_volid": body.get("source_volid"),
        "backup_id": body.get("backup_id"),
    }
    named = [k for k, v in given.items() if v]
    if len(named) > 1:
        raise BadRequest(f"Only one of imageRef, snapshot_id, source_volid and backup_id may be given, not {named}.")
    if given["backup_id"] and not at_least("3.47"):
        raise BadRequest("Creating a volume from a backup needs microversion 3.47.")
    return service.Source(
        image_id=given["imageRef"],
        snapshot_id=given["snapshot_id"],
        source_volid=given["source_volid"],
        backup_id=given["backup_id"],
    )


def _refuse_unoffered(body: dict[str, Any]) -> None:
    if schemas.as_bool(body.get("multiattach", False)):
        raise BadRequest("Invalid input received: multiattach volumes are not offered by this cloud.")
    for key in ("consistencygroup_id", "group_id"):
        if body.get(key):
            raise NotFound(f"Group {body[key]} could not be found.")


@routing.post(bp, "/volumes")
def create_volume() -> tuple[Response, int]:
    ctx = current()
    if ctx.authenticated and ctx.project_id is None:
        raise Forbidden("Volumes belong to projects: use a project-scoped token.")
    policy.enforce("volume:create", {"project_id": ctx.project_id})
    body = validated_body(schemas.VOLUME_CREATE)["volume"]
    _refuse_unoffered(body)
    source = _source(body)
    size = schemas.as_int(body["size"], "size") if body.get("size") is not None else None
    if size is None and source == service.Source():
        raise BadRequest("Invalid input received: size is required for a volume created from no source.")
    rt = runtime()
    require_broker("volume")
    with rt.db.session() as session:
        volume = service.create_volume(
            session,
            rt.settings,
            project_id=str(ctx.project_id),
            user_id=str(ctx.user_id),
            size=size,
            name=schemas.text(body, "name"),
            description=schemas.text(body, "description"),
            volume_type=body.get("volume_type"),
            availability_zone=body.get("availability_zone"),
            metadata=body.get("metadata") or {},
            source=source,
        )
        view = volume_view(volume, ctx, Related(session, [volume]), extended=False)
    send_after_commit(client.create_volume, rt.celery, view["id"], ctx.request_id)
    return jsonify({"volume": view}), 202


@routing.put(bp, "/volumes/<volume_id>")
def update_volume(volume_id: str) -> Response:
    ctx = current()
    with runtime().db.session() as session:
        volume = lookups.volume(session, ctx, volume_id)
        policy.enforce("volume:update", {"project_id": volume.project_id})
        body = validated_body(schemas.VOLUME_UPDATE)["volume"]
        if not body:
            raise BadRequest("Missing required element 'volume' in request body: nothing to update.")
        schemas.update_texts(volume, body)
        if "metadata" in body:
            volume.properties = dict(body["metadata"] or {})
        session.flush()
        return jsonify({"volume": volume_view(volume, ctx, Related(session, [volume]), extended=False)})


@routing.delete(bp, "/volumes/<volume_id>")
def delete_volume(volume_id: str) -> Response:
    ctx = current()
    cascade = bool(query_bool("cascade", False))
    force = bool(query_bool("force", False))
    if force and not at_least("3.23"):
        raise BadRequest("Invalid input received: force delete needs microversion 3.23.")
    rt = runtime()
    with rt.db.session() as session:
        volume = lookups.volume(session, ctx, volume_id)
        policy.enforce("volume:delete", {"project_id": volume.project_id})
        if force:
            policy.enforce("volume:force_delete", {"project_id": volume.project_id})
        require_broker("volume")
        service.delete_volume(session, volume, cascade=cascade, force=force)
    send_after_commit(client.delete_volume, rt.celery, volume_id, ctx.request_id)
    return Response(status=202)
