"""``/servers/{id}/os-volume_attachments``: Nova's volume attachments (list, show, attach, detach; swap refused).

Attach and detach follow ``compute.volumes``: in one transaction the server's state is checked and held, the
volume (the project's own, else 404) is reserved or set detaching by ``volume.service`` (its status is the
claim: a volume in use is Cinder's 400), the mapping and the action are written; after the commit the server's
host is told, and reports back to the control side (``compute.control.volume_events``). The answers are Nova's:
``{"device", "id", "serverId", "volumeId"}``, ``id`` being the volume's id, and the fields later microversions
add (``attachment_view``); from 2.101 an attach is answered 202 with no body, as Nova's asynchronous attach is
(the checks above still answer at once: the work after them was always asynchronous here).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import policy
from api.broker import require_broker, send_after_commit
from api.compute import lookups
from api.compute.microversions import at_least
from api.compute.schemas import VOLUME_ATTACHMENT_CREATE, VOLUME_ATTACHMENT_UPDATE
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import digits, validated_body
from common.exceptions import BadRequest, Conflict, Forbidden, NotFound
from compute import volumes
from compute.models import BlockDeviceMapping
from volume.models import Volume

bp = Blueprint("compute_volume_attachments", __name__)

PATH = "/servers/<server_id>/os-volume_attachments"


def _with_fields(schema: dict[str, Any], **fields: Any) -> dict[str, Any]:
    inner = schema["properties"]["volumeAttachment"]
    return {**schema, "properties": {"volumeAttachment": {**inner, "properties": {**inner["properties"], **fields}}}}


_TAG = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"}
_DELETE_ON_TERMINATION = {"type": "boolean"}
CREATE_V249 = _with_fields(VOLUME_ATTACHMENT_CREATE, tag=_TAG)
CREATE_V279 = _with_fields(VOLUME_ATTACHMENT_CREATE, tag=_TAG, delete_on_termination=_DELETE_ON_TERMINATION)


def _create_schema() -> dict[str, Any]:
    """Nova's attach body: ``tag`` from 2.49, ``delete_on_termination`` from 2.79."""
    if at_least("2.79"):
        return CREATE_V279
    return CREATE_V249 if at_least("2.49") else VOLUME_ATTACHMENT_CREATE


def attachment_view(mapping: BlockDeviceMapping, listed: bool = True) -> dict[str, Any]:
    """An attachment as Nova shows it: ``tag`` from 2.70, ``delete_on_termination`` from 2.79; from 2.89 the
    list and show answers (``listed``) carry ``attachment_id`` and ``bdm_uuid`` instead of ``id``."""
    view: dict[str, Any] = {
        "id": mapping.volume_id,
        "volumeId": mapping.volume_id,
        "serverId": mapping.instance_uuid,
        "device": mapping.device_name,
    }
    if at_least("2.70"):
        view["tag"] = mapping.tag
    if at_least("2.79"):
        view["delete_on_termination"] = mapping.delete_on_termination
    if at_least("2.89") and listed:
        del view["id"]
        view |= {"attachment_id": mapping.attachment_id, "bdm_uuid": mapping.id}
    return view


def _volume(session: Session, ctx: RequestContext, volume_id: str) -> Volume:
    """The caller's volume (an admin's: any); anyone else's is 404, never 403."""
    query = select(Volume).where(Volume.id == volume_id, Volume.deleted.is_(False))
    if not ctx.is_admin:
        query = query.where(Volume.project_id == ctx.project_id)
    found = session.scalars(query).one_or_none() if len(volume_id) <= 36 else None
    if found is None:
        raise NotFound(f"Volume {volume_id} could not be found.")
    return found


def _attached(session: Session, server_id: str, volume_id: str) -> BlockDeviceMapping:
    mapping = volumes.mapping_of(session, server_id, volume_id) if len(volume_id) <= 36 else None
    if mapping is None:
        raise NotFound(f"Instance {server_id} is not attached to volume {volume_id}")
    return mapping


def _page(items: list[BlockDeviceMapping]) -> list[BlockDeviceMapping]:
    """Nova's ``limit`` and ``offset`` on this listing."""
    bounds = []
    for name in ("limit", "offset"):
        raw = request.args.get(name)
        if raw is not None and digits(raw) is None:
            raise BadRequest(f"Invalid input for query parameters {name}. Value: {raw}. Not a non-negative integer.")
        bounds.append(None if raw is None else int(raw))
    limit, offset = bounds
    start = offset or 0
    return items[start : None if limit is None else start + limit]


@bp.get(PATH)
def list_attachments(server_id: str) -> Response:
    ctx = policy.enforce("compute:servers:show")
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        found = _page(volumes.mappings(session, instance.id))
        return jsonify({"volumeAttachments": [attachment_view(m) for m in found if m.volume_id]})


@bp.get(f"{PATH}/<volume_id>")
def show_attachment(server_id: str, volume_id: str) -> Response:
    ctx = policy.enforce("compute:servers:show")
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        return jsonify({"volumeAttachment": attachment_view(_attached(session, instance.id, volume_id))})


@bp.post(PATH)
def attach_volume(server_id: str) -> Response:
    ctx = current()
    body = validated_body(_create_schema())["volumeAttachment"]
    device = body.get("device") or None
    if device is not None and not volumes.DEVICE_NAME.fullmatch(device):
        raise BadRequest(f"The supplied device path ({device}) is invalid.")
    if device is not None and not volumes.DEVICE.fullmatch(device):
        device = None  # /dev/xvdb, /dev/sdb, /dev/vda...: the next free virtio disk, as Nova's libvirt driver does
    rt = runtime()
    try:
        with rt.db.session() as session:
            instance = lookups.server(session, ctx, server_id)
            policy.enforce("compute:servers:action", {"project_id": instance.project_id})
            if instance.locked and not ctx.is_admin:
                raise Conflict(f"Instance {server_id} is locked")
            if body.get("tag") and instance.vm_state == "shelved_offloaded":
                raise BadRequest("Tagged volume attachment is not supported for shelved-offloaded instances.")
            volume = _volume(session, ctx, body["volumeId"])
            if volume.project_id != instance.project_id:
                raise NotFound(f"Volume {volume.id} could not be found.")
            mapping, work = volumes.attach(
                session, rt.settings, instance, volume, device, ctx.request_id, ctx.user_id, body.get("tag")
            )
            mapping.delete_on_termination = bool(body.get("delete_on_termination", False))
            view = attachment_view(mapping, listed=False)
            require_broker("compute")  # last, before the commit: a refusal leaves the volume available
    except IntegrityError:  # a concurrent attach took the device or the volume first
        raise Conflict(f"Volume {body['volumeId']} or its device changed meanwhile; try again.") from None
    send_after_commit(work.send, rt.celery)
    if at_least("2.101"):  # Nova attaches asynchronously from 2.101: accepted, and no attachment in the answer
        return Response(status=202)
    return jsonify({"volumeAttachment": view})


UPDATE_V285 = {
    "type": "object",
    "properties": {
        "volumeAttachment": {
            "type": "object",
            "properties": {
                "volumeId": VOLUME_ATTACHMENT_UPDATE["properties"]["volumeAttachment"]["properties"]["volumeId"],
                "device": {"type": ["string", "null"]},
                "tag": _TAG,
                "delete_on_termination": _DELETE_ON_TERMINATION,
                "serverId": {"type": "string"},
                "id": {"type": "string"},
            },
            "required": ["volumeId"],
            "additionalProperties": False,
        }
    },
    "required": ["volumeAttachment"],
    "additionalProperties": False,
}


def _update_attachment(ctx: RequestContext, server_id: str, volume_id: str, body: dict[str, Any]) -> Response:
    """2.85: ``delete_on_termination`` of an attachment changes in place (the owner may); the other fields must
    say what already is."""
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:action", {"project_id": instance.project_id})
        mapping = _attached(session, instance.id, volume_id)
        current_values = {"device": mapping.device_name, "tag": mapping.tag, "serverId": instance.id, "id": volume_id}
        for field, value in current_values.items():
            if field in body and body[field] != value:
                raise BadRequest(f"Updating '{field}' of a volume attachment is not supported.")
        if "delete_on_termination" in body:
            mapping.delete_on_termination = body["delete_on_termination"]
    return Response(status=202)


@bp.put(f"{PATH}/<volume_id>")
def swap_volume(server_id: str, volume_id: str) -> Response:
    """Nova's swap (an admin's, for volume migration): validated, then refused, as a driver without it refuses.
    From 2.85 a PUT naming the attached volume itself updates the attachment (``_update_attachment``)."""
    ctx = current()
    if at_least("2.85"):
        body = validated_body(UPDATE_V285)["volumeAttachment"]
        if body["volumeId"] == volume_id:
            return _update_attachment(ctx, server_id, volume_id, body)
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow os_compute_api:os-volumes-attachments:swap to be performed.")
    if not at_least("2.85"):
        validated_body(VOLUME_ATTACHMENT_UPDATE)
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        _attached(session, instance.id, volume_id)
    raise BadRequest("The requested functionality is not supported.")


@bp.delete(f"{PATH}/<volume_id>")
def detach_volume(server_id: str, volume_id: str) -> Response:
    ctx = current()
    rt = runtime()
    with rt.db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:action", {"project_id": instance.project_id})
        if instance.locked and not ctx.is_admin:
            raise Conflict(f"Instance {server_id} is locked")
        _volume(session, ctx, volume_id)
        mapping = _attached(session, instance.id, volume_id)
        work = volumes.detach(session, instance, mapping, ctx.request_id, ctx.user_id)
        require_broker("compute")
    send_after_commit(work.send, rt.celery)
    return Response(status=202)
