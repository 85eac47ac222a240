"""Cinder's shapes of volumes, snapshots, types and attachments, field for field per microversion.

Timestamps are Cinder's (``2018-11-29T06:50:07.770785``, no zone); ``bootable`` is the string ``"true"`` or
``"false"``; the admin-only fields (``os-vol-host-attr:host``, ``migration_status``, ``provider_id``,
``cluster_name``) and the extension attributes of a show or a detailed listing follow Cinder's default policies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import RequestContext
from api.volume.microversions import at_least
from api.volume.routing import resource_links
from volume.models import Volume, VolumeAttachment, VolumeSnapshot, VolumeType
from volume.states import AttachStatus

SERVICE_HOST = "stratus-volume"
"""The host part of ``os-vol-host-attr:host`` (``host@backend#pool``): one volume service serves every backend."""


def timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def backend_host(volume: Volume) -> str:
    return f"{SERVICE_HOST}@{volume.backend}#{volume.backend}"


class Related:
    """The types and live attachments of the volumes of one answer, each read in one query."""

    def __init__(self, session: Session, volumes: Sequence[Volume]) -> None:
        type_ids = {v.volume_type_id for v in volumes}
        ids = [v.id for v in volumes]
        self.types: dict[str, VolumeType] = {}
        self.attachments: dict[str, list[VolumeAttachment]] = {}
        if type_ids:
            found = session.scalars(select(VolumeType).where(VolumeType.id.in_(type_ids)))
            self.types = {t.id: t for t in found}
        if ids:
            query = select(VolumeAttachment).where(
                VolumeAttachment.volume_id.in_(ids), VolumeAttachment.deleted.is_(False)
            )
            for attachment in session.scalars(query.order_by(VolumeAttachment.created_at)):
                self.attachments.setdefault(attachment.volume_id, []).append(attachment)


def attachment_summaries(attachments: Iterable[VolumeAttachment], ctx: RequestContext) -> list[dict[str, Any]]:
    """A volume's ``attachments``: the attached ones, as Cinder lists them (``host_name`` for admins)."""
    return [
        {
            "id": a.volume_id,
            "attachment_id": a.id,
            "volume_id": a.volume_id,
            "server_id": a.instance_uuid,
            "host_name": a.attached_host if ctx.is_admin else None,
            "device": a.mountpoint,
            "attached_at": timestamp(a.attach_time),
        }
        for a in attachments
        if a.attach_status == AttachStatus.ATTACHED
    ]


def volume_summary(volume: Volume) -> dict[str, Any]:
    """An entry of ``GET /volumes`` (not detailed)."""
    return {"id": volume.id, "name": volume.name, "links": resource_links("volumes", volume.id, volume.project_id)}


def volume_view(volume: Volume, ctx: RequestContext, related: Related, extended: bool = True) -> dict[str, Any]:
    """A volume in detail. ``extended``: with the extension attributes a show and a detailed listing carry (a
    create's and an update's answers have none)."""
    volume_type = related.types.get(volume.volume_type_id)
    view: dict[str, Any] = {
        "attachments": attachment_summaries(related.attachments.get(volume.id, ()), ctx),
        "availability_zone": volume.availability_zone,
        "bootable": "true" if volume.bootable else "false",
        "consistencygroup_id": None,
        "created_at": timestamp(volume.created_at),
        "description": volume.description,
        "encrypted": False,
        "id": volume.id,
        "links": resource_links("volumes", volume.id, volume.project_id),
        "metadata": dict(volume.properties or {}),
        "multiattach": volume.multiattach,
        "name": volume.name,
        "replication_status": None,
        "size": volume.size,
        "snapshot_id": volume.snapshot_id,
        "source_volid": volume.source_volid,
        "status": volume.status,
        "updated_at": timestamp(volume.updated_at),
        "user_id": volume.user_id,
        "volume_type": volume_type.name if volume_type else None,
    }
    if ctx.is_admin:
        view["migration_status"] = None
    if extended:
        view.update(_extension_attributes(volume, ctx))
    if at_least("3.13"):
        view["group_id"] = None
    if at_least("3.21") and ctx.is_admin:
        view["provider_id"] = None
    if at_least("3.48"):
        view["shared_targets"] = False  # no backend here shares a target between volumes: no host lock needed
        view["service_uuid"] = None
    if at_least("3.61") and ctx.is_admin:
        view["cluster_name"] = None
    if at_least("3.63"):
        view["volume_type_id"] = volume.volume_type_id
    if at_least("3.65"):
        view["consumes_quota"] = volume.consumes_quota
    return view


def _extension_attributes(volume: Volume, ctx: RequestContext) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if ctx.is_admin:
        extra["os-vol-host-attr:host"] = backend_host(volume) if volume.location else None
        extra["os-vol-mig-status-attr:migstat"] = None
        extra["os-vol-mig-status-attr:name_id"] = None
        extra["os-vol-tenant-attr:tenant_id"] = volume.project_id
    if volume.image_metadata:
        extra["volume_image_metadata"] = {k: str(v) for k, v in volume.image_metadata.items()}
    return extra


def snapshot_view(snapshot: VolumeSnapshot, *, detail: bool = True, extended: bool = False) -> dict[str, Any]:
    """A snapshot: the summary of ``GET /snapshots``; ``detail`` adds the v3 fields per microversion (a create's,
    an update's answer); ``extended`` Cinder's extension attributes (a show and a detailed listing)."""
    view: dict[str, Any] = {
        "id": snapshot.id,
        "created_at": timestamp(snapshot.created_at),
        "updated_at": timestamp(snapshot.updated_at),
        "name": snapshot.name,
        "description": snapshot.description,
        "volume_id": snapshot.volume_id,
        "status": snapshot.status,
        "size": snapshot.size,
        "metadata": dict(snapshot.properties or {}),
    }
    if extended:
        view["os-extended-snapshot-attributes:progress"] = snapshot.progress
        view["os-extended-snapshot-attributes:project_id"] = snapshot.project_id
    if detail:
        if at_least("3.14"):
            view["group_snapshot_id"] = None
        if at_least("3.41"):
            view["user_id"] = snapshot.user_id
        if at_least("3.65"):
            view["consumes_quota"] = True
    return view


def type_view(volume_type: VolumeType, ctx: RequestContext) -> dict[str, Any]:
    """A volume type; its ``extra_specs`` (which name backends) and ``qos_specs_id`` for admins only, as Cinder."""
    view: dict[str, Any] = {
        "id": volume_type.id,
        "name": volume_type.name,
        "description": volume_type.description,
        "is_public": volume_type.is_public,
        "os-volume-type-access:is_public": volume_type.is_public,
    }
    if ctx.is_admin:
        view["extra_specs"] = dict(volume_type.extra_specs or {})
        view["qos_specs_id"] = None
    return view


def type_access_view(type_id: str, project_ids: Iterable[str]) -> list[dict[str, str]]:
    return [{"volume_type_id": type_id, "project_id": p} for p in project_ids]


def attachment_view(attachment: VolumeAttachment, detail: bool = True) -> dict[str, Any]:
    """Cinder's attachment record (3.27): the summary, and in detail its times, mode and ``connection_info``."""
    view: dict[str, Any] = {
        "id": attachment.id,
        "status": attachment.attach_status,
        "instance": attachment.instance_uuid,
        "volume_id": attachment.volume_id,
    }
    if detail:
        view["attached_at"] = timestamp(attachment.attach_time) or ""
        view["detached_at"] = timestamp(attachment.detach_time) or ""
        view["attach_mode"] = attachment.attach_mode
        view["connection_info"] = attachment.connection_info
    return view


def metadata_items(values: Mapping[str, str] | None) -> dict[str, str]:
    return dict(values or {})
