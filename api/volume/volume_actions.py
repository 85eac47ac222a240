"""``POST /volumes/{id}/action``: one action per request, ``{"os-extend": {...}}``, as Cinder's volume actions.

Offered: ``os-extend`` (attached volumes from 3.42: the server's host grows the disk), ``os-set_bootable``,
``os-reset_status`` and ``os-force_delete`` (admins), ``os-volume_upload_image``, and the attachment steps the
attachments API also takes (``os-begin_detaching``, ``os-roll_detaching``, ``os-detach``, ``os-unreserve``).
Cinder actions this cloud does not offer are a 400 naming them; an unknown name is Cinder's "There is no such
action".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.broker import require_broker, send_after_commit
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import json_body, validate
from api.volume import lookups, routing, schemas
from api.volume.microversions import at_least
from api.volume.views import timestamp, type_view
from common.exceptions import BadRequest
from compute import volumes as compute_volumes
from volume import client, service
from volume.exceptions import InvalidVolume
from volume.models import Volume, VolumeAttachment, VolumeType
from volume.states import AttachStatus, VolumeStatus

bp = Blueprint("volume_actions", __name__)

UNOFFERED = (
    "os-attach", "os-reserve", "os-initialize_connection", "os-terminate_connection", "os-update_readonly_flag",
    "os-retype", "os-migrate_volume", "os-migrate_volume_completion", "os-reimage", "revert",
    "os-set_image_metadata", "os-unset_image_metadata", "os-show_image_metadata", "os-unmanage",
    "os-extend_volume_completion", "os-reset_status_attachment",
)  # fmt: skip

Handler = Callable[[Session, RequestContext, Volume, Any], "Callable[[], None] | dict[str, Any] | None"]
"""Runs inside the request's transaction; returns what to send after the commit (or a body to answer with)."""


def _live_attachment(session: Session, volume: Volume) -> VolumeAttachment:
    found = session.scalars(
        select(VolumeAttachment)
        .where(VolumeAttachment.volume_id == volume.id, VolumeAttachment.deleted.is_(False))
        .where(VolumeAttachment.attach_status != AttachStatus.DETACHED)
        .order_by(VolumeAttachment.created_at.desc())
    ).first()
    if found is None:
        raise InvalidVolume(reason=f"Volume {volume.id} has no attachment.")
    return found


def extend(session: Session, ctx: RequestContext, volume: Volume, body: Any) -> Callable[[], None]:
    """Grow the volume: the volume service's work when detached; from 3.42 an attached one's server's host grows
    the disk under the running guest (``compute.volumes.extend_attached_volume``, in the same transaction)."""
    new_size = schemas.as_int(validate(body, schemas.EXTEND)["os-extend"]["new_size"], "new_size")
    if volume.status == VolumeStatus.IN_USE and not at_least("3.42"):
        raise InvalidVolume(
            reason=f"Volume {volume.id} status must be available to extend, but current status is: in-use "
            "(an attached volume is extended from microversion 3.42)."
        )
    rt = runtime()
    require_broker("volume")
    if service.extend_volume(session, rt.settings, volume, new_size):
        work = compute_volumes.extend_attached_volume(session, volume.id, new_size, ctx.request_id, ctx.user_id)
        return lambda: work.send(rt.celery)
    volume_id = volume.id
    return lambda: client.extend_volume(rt.celery, volume_id, new_size, ctx.request_id)


def set_bootable(session: Session, ctx: RequestContext, volume: Volume, body: Any) -> None:
    bootable = schemas.as_bool(validate(body, schemas.SET_BOOTABLE)["os-set_bootable"]["bootable"])
    service.set_bootable(session, volume, bootable)


def reset_status(session: Session, ctx: RequestContext, volume: Volume, body: Any) -> None:
    policy.enforce("volume:reset_status", {"project_id": volume.project_id})
    asked = validate(body, schemas.RESET_STATUS)["os-reset_status"]
    if not asked:
        raise BadRequest("Must specify 'status', 'attach_status' or 'migration_status' for update.")
    if asked.get("status") is not None:
        service.reset_status(session, volume, asked["status"])
    attach_status = asked.get("attach_status")
    if attach_status is not None and attach_status not in ("attached", "detached"):
        raise BadRequest(f"Must specify a valid attach status, not {attach_status!r}.")
    if attach_status == "detached":
        for attachment in session.scalars(
            select(VolumeAttachment).where(VolumeAttachment.volume_id == volume.id, VolumeAttachment.deleted.is_(False))
        ):
            service.detached(session, attachment)


def force_delete(session: Session, ctx: RequestContext, volume: Volume, body: Any) -> Callable[[], None]:
    policy.enforce("volume:force_delete", {"project_id": volume.project_id})
    validate(body["os-force_delete"], schemas.NO_ARGUMENTS)
    rt = runtime()
    require_broker("volume")
    service.delete_volume(session, volume, force=True)
    return lambda: client.delete_volume(rt.celery, volume.id, ctx.request_id)


def upload_image(session: Session, ctx: RequestContext, volume: Volume, body: Any) -> dict[str, Any]:
    """A ``queued`` image of the volume's project, filled by ``stratus-volume`` (``volume.client.upload_to_image``)
    while the volume is ``uploading``; answered with Cinder's ``os-volume_upload_image`` document."""
    asked = validate(body, schemas.UPLOAD_IMAGE)["os-volume_upload_image"]
    force = schemas.as_bool(asked.get("force", False))
    visibility, protected = "private", False
    if at_least("3.1"):
        visibility = asked.get("visibility", "private")
        protected = schemas.as_bool(asked.get("protected", False))
    if visibility == "public":
        policy.enforce("volume:upload_public_image", {"project_id": volume.project_id})
    rt = runtime()
    require_broker("volume")
    image = service.upload_to_image(
        session,
        rt.settings,
        volume,
        project_id=volume.project_id,
        image_name=asked["image_name"],
        disk_format=asked.get("disk_format", "raw"),
        container_format=asked.get("container_format", "bare"),
        visibility=visibility,
        protected=protected,
        force=force,
    )
    volume_type = session.get(VolumeType, volume.volume_type_id)
    image_id, volume_id = image.id, volume.id
    send = lambda: client.upload_to_image(rt.celery, volume_id, image_id, ctx.request_id)  # noqa: E731
    document = {
        "id": volume.id,
        "updated_at": timestamp(volume.updated_at),
        "status": volume.status,
        "display_description": volume.description,
        "size": volume.size,
        "volume_type": type_view(volume_type, ctx) if volume_type else None,
        "image_id": image_id,
        "container_format": image.container_format,
        "disk_format": image.disk_format,
        "image_name": image.name,
    }
    if at_least("3.1"):
        document |= {"visibility": visibility, "protected": protected}
    return {"send": send, "body": {"os-volume_upload_image": document}}


def _attachment_step(step: Callable[[Session, VolumeAttachment], None]) -> Handler:
    def handler(session: Session, ctx: RequestContext, volume: Volume, body: Any) -> None:
        step(session, _live_attachment(session, volume))

    return handler


def _detach(session: Session, ctx: RequestContext, volume: Volume, body: Any) -> None:
    arguments = body["os-detach"] or {}
    if not isinstance(arguments, dict):
        raise BadRequest("os-detach takes an object: {'attachment_id': ...}.")
    attachment_id = arguments.get("attachment_id")
    if attachment_id is not None:
        attachment = lookups.attachment(session, ctx, str(attachment_id))
        if attachment.volume_id != volume.id:
            raise BadRequest(f"Attachment {attachment_id} is not an attachment of volume {volume.id}.")
    else:
        attachment = _live_attachment(session, volume)
    if attachment.attach_status == AttachStatus.ATTACHED:
        service.detaching(session, attachment)
    service.detached(session, attachment)


HANDLERS: dict[str, Handler] = {
    "os-extend": extend,
    "os-set_bootable": set_bootable,
    "os-reset_status": reset_status,
    "os-force_delete": force_delete,
    "os-volume_upload_image": upload_image,
    "os-begin_detaching": _attachment_step(service.detaching),
    "os-roll_detaching": _attachment_step(lambda s, a: service.detach_failed(s, a, "rolled back by the client")),
    "os-unreserve": _attachment_step(lambda s, a: service.unreserve(s, a, "unreserved by the client")),
    "os-detach": _detach,
}
ACCEPTED_WITH_BODY = ("os-volume_upload_image",)


def _action_name(body: Any) -> str:
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("The action body must be an object with exactly one action, e.g. {'os-extend': {...}}.")
    (name,) = body
    if name in UNOFFERED:
        raise BadRequest(f"The volume action {name} is not offered by this cloud.")
    if name not in HANDLERS:
        raise BadRequest(f"There is no such action: {name[:100]}")
    return name


@routing.post(bp, "/volumes/<volume_id>/action")
def volume_action(volume_id: str) -> Response | tuple[Response, int]:
    ctx = current()
    body = json_body()
    name = _action_name(body)
    with runtime().db.session() as session:
        volume = lookups.volume(session, ctx, volume_id, for_update=True)
        policy.enforce("volume:action", {"project_id": volume.project_id})
        outcome = HANDLERS[name](session, ctx, volume, body)
    if isinstance(outcome, dict):
        send_after_commit(outcome["send"])
        return jsonify(outcome["body"]), 202
    if outcome is not None:
        send_after_commit(outcome)
    status = 200 if name == "os-set_bootable" else 202
    return Response(status=status)
