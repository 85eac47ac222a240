"""``/attachments`` (Cinder 3.27): attachment records made, completed and deleted by the client that plugs the
volume in — reserve (no connector), connect (a connector, at create or by ``PUT``), ``os-complete`` (3.44: the
host plugged it in), delete (unplugged, or never plugged in). Every step is ``volume.service``'s; Nova's
``os-volume_attachments`` on servers makes the same records through the compute side.

Below 3.27 the resource does not exist (Cinder's 404 for a method of a later microversion).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import query_bool, validated_body
from api.volume import listing, lookups, routing, schemas
from api.volume.microversions import as_text, at_least
from api.volume.microversions import current as current_version
from api.volume.views import attachment_view
from common.exceptions import BadRequest, NotFound
from volume import service
from volume.models import Volume, VolumeAttachment
from volume.states import AttachStatus

bp = Blueprint("volume_attachments", __name__)

ATTACHMENTS = listing.Resource(
    columns={
        "volume_id": VolumeAttachment.volume_id,
        "status": VolumeAttachment.attach_status,
        "attach_status": VolumeAttachment.attach_status,
        "instance_id": VolumeAttachment.instance_uuid,
        "created_at": VolumeAttachment.created_at,
        "updated_at": VolumeAttachment.updated_at,
    },
    sort_keys={
        "id": VolumeAttachment.id,
        "volume_id": VolumeAttachment.volume_id,
        "status": VolumeAttachment.attach_status,
        "instance_id": VolumeAttachment.instance_uuid,
        "created_at": VolumeAttachment.created_at,
        "updated_at": VolumeAttachment.updated_at,
    },
    like=(),
    ignored=("project_id",),
)


def _since_3_27() -> RequestContext:
    if not at_least("3.27"):
        raise NotFound(f"API version {as_text(current_version())} is not supported on this method.")
    return current()


def _listing(detail: bool) -> Response:
    ctx = _since_3_27()
    policy.enforce("volume:attachments:read")
    query = (
        select(VolumeAttachment)
        .join(Volume, Volume.id == VolumeAttachment.volume_id)
        .where(VolumeAttachment.deleted.is_(False))
    )
    if not (ctx.is_admin and query_bool("all_tenants", False)):
        query = query.where(Volume.project_id == ctx.project_id)
    elif request.args.get("project_id"):
        query = query.where(Volume.project_id == request.args["project_id"])
    query = listing.sorted_by(listing.filtered(query, ATTACHMENTS), ATTACHMENTS, VolumeAttachment.id)
    with runtime().db.session() as session:
        found = list(session.scalars(query))
    chosen, links = listing.page(found, key=lambda a: a.id)
    body: dict[str, Any] = {"attachments": [attachment_view(a, detail) for a in chosen]}
    if links:
        body["attachments_links"] = links
    return jsonify(body)


@routing.get(bp, "/attachments")
def list_attachments() -> Response:
    return _listing(detail=False)


@routing.get(bp, "/attachments/detail")
def list_attachments_detail() -> Response:
    return _listing(detail=True)


def _attachment(session: Session, attachment_id: str, action: str) -> VolumeAttachment:
    found = lookups.attachment(session, current(), attachment_id)
    volume = session.get(Volume, found.volume_id)
    policy.enforce(action, {"project_id": volume.project_id if volume else None})
    return found


@routing.get(bp, "/attachments/<attachment_id>")
def show_attachment(attachment_id: str) -> Response:
    _since_3_27()
    with runtime().db.session() as session:
        return jsonify({"attachment": attachment_view(_attachment(session, attachment_id, "volume:attachments:read"))})


def _connect(session: Session, attachment: VolumeAttachment, connector: dict[str, Any]) -> None:
    """The host that will plug it in is known: its connector is kept, and the attachment is ``attaching``."""
    if attachment.attach_status not in (AttachStatus.RESERVED, AttachStatus.ATTACHING):
        raise BadRequest(f"Invalid volume: attachment {attachment.id} is {attachment.attach_status}, not reserved.")
    attachment.connector = dict(connector)
    if connector.get("mountpoint"):
        attachment.mountpoint = str(connector["mountpoint"])[:32]
    if attachment.attach_status == AttachStatus.RESERVED:
        service.attaching(session, attachment, str(connector.get("host") or ""))


@routing.post(bp, "/attachments")
def create_attachment() -> Response:
    ctx = _since_3_27()
    body = validated_body(schemas.ATTACHMENT_CREATE)["attachment"]
    if not body.get("instance_uuid"):
        raise BadRequest("Must specify 'instance_uuid' to create attachment.")
    connector = body.get("connector")
    rt = runtime()
    with rt.db.session() as session:
        volume = lookups.volume(session, ctx, body["volume_uuid"], for_update=True)
        policy.enforce("volume:attachments:write", {"project_id": volume.project_id})
        mountpoint = str((connector or {}).get("mountpoint") or "")[:32]
        attachment = service.reserve(
            session, rt.settings, volume, instance_uuid=body["instance_uuid"], mountpoint=mountpoint
        )
        if at_least("3.54") and body.get("mode"):
            attachment.attach_mode = body["mode"]
        if connector:
            _connect(session, attachment, connector)
        session.flush()
        return jsonify({"attachment": attachment_view(attachment)})


@routing.put(bp, "/attachments/<attachment_id>")
def update_attachment(attachment_id: str) -> Response:
    _since_3_27()
    body = validated_body(schemas.ATTACHMENT_UPDATE)["attachment"]
    if not body["connector"]:
        raise BadRequest("Must specify 'connector' to update attachment.")
    with runtime().db.session() as session:
        attachment = _attachment(session, attachment_id, "volume:attachments:write")
        _connect(session, attachment, body["connector"])
        session.flush()
        return jsonify({"attachment": attachment_view(attachment)})


@routing.post(bp, "/attachments/<attachment_id>/action")
def attachment_action(attachment_id: str) -> Response:
    _since_3_27()
    if not at_least("3.44"):
        raise NotFound(f"API version {as_text(current_version())} is not supported on this method.")
    validated_body(schemas.ATTACHMENT_ACTION)
    with runtime().db.session() as session:
        attachment = _attachment(session, attachment_id, "volume:attachments:write")
        if attachment.attach_status == AttachStatus.RESERVED:
            raise BadRequest(f"Invalid volume: attachment {attachment_id} has no connector yet: update it first.")
        service.attached(session, attachment, str((attachment.connector or {}).get("host") or ""))
    return Response(status=204)


@routing.delete(bp, "/attachments/<attachment_id>")
def delete_attachment(attachment_id: str) -> Response:
    """The attachment ends (unplugged by its host, or never plugged in); the answer lists the volume's other live
    attachments, as Cinder's does (none: a volume here has one server)."""
    _since_3_27()
    with runtime().db.session() as session:
        attachment = _attachment(session, attachment_id, "volume:attachments:write")
        if attachment.attach_status == AttachStatus.ATTACHED:
            service.detaching(session, attachment)
            service.detached(session, attachment)
        elif attachment.attach_status in (AttachStatus.DETACHING, AttachStatus.ERROR_DETACHING):
            service.detached(session, attachment)
        else:
            service.unreserve(session, attachment, "deleted through the attachments API")
        others = session.scalars(
            select(VolumeAttachment).where(
                VolumeAttachment.volume_id == attachment.volume_id,
                VolumeAttachment.deleted.is_(False),
                VolumeAttachment.id != attachment.id,
                VolumeAttachment.attach_status != AttachStatus.DETACHED,
            )
        )
        return jsonify({"attachments": [attachment_view(a, detail=False) for a in others]})
