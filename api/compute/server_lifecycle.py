"""Server actions that take a server out of service and back, as Nova's: shelve, shelveOffload, unshelve, the
soft delete (``reclaim_instance_interval``) with restore and forceDelete, rescue and unrescue, and lock with a
reason (2.73).

Each follows ``claims``' request flow (state check from ``compute.states.TRANSITIONS``, compare-and-swap, action
record, commit, then the task); the work is done by the host (``compute.host.work``) and the control side
(``compute.control.shelve``, ``rescue``, ``reclaim``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import policy
from api.broker import require_broker, send_after_commit
from api.compute import lookups
from api.compute.claims import claim_task, conflict
from api.compute.microversions import at_least
from api.compute.server_create import image_snapshot
from api.context import RequestContext
from api.image import access as image_access
from api.runtime import runtime
from api.validation import validate
from common.exceptions import BadRequest, Conflict, NotFound
from compute import actions, client, service, volumes
from compute.models import ComputeHost, Instance
from compute.states import Action, VmState, allowed
from image import service as image_service

SHELVED_IMAGE_KEY = "shelved_image"
"""Where the unshelve request leaves what it read of the shelved image (``compute.control.shelve`` reads it)."""

_PRINTABLE = "^[^\\x00-\\x1f\\x7f]*$"
"""No control characters (a NUL cannot even be stored by PostgreSQL)."""
LOCK_V273: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {"locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}},
    "additionalProperties": False,
}
UNSHELVE_V277: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {"availability_zone": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": _PRINTABLE}},
    "additionalProperties": False,
}
UNSHELVE_V291: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {
        "availability_zone": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
        "host": {"type": "string", "minLength": 1, "maxLength": 255},
    },
    "additionalProperties": False,
}
"""2.91: a null ``availability_zone`` unpins the server; ``host`` (admins) names where it goes."""
RESCUE: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {
        "adminPass": {"type": "string", "maxLength": 255},
        "rescue_image_ref": {"type": "string", "pattern": "^[0-9a-fA-F-]{1,36}$"},  # Nova: an image uuid
    },
    "additionalProperties": False,
}
NULL_ONLY: dict[str, Any] = {"type": ["null", "object"], "additionalProperties": False}
"""Actions without arguments: ``null`` as Nova documents it (an empty object is taken too, as Nova does)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def snapshot_properties(instance: Instance, ctx: RequestContext) -> dict[str, str]:
    """Nova's properties of an image made from a server (createImage, shelve): what it is and where it came from;
    the image service reads ``image_type`` and ``instance_uuid`` back (``api/image/access.py``)."""
    return {
        "image_type": "snapshot",
        "instance_uuid": instance.id,
        "base_image_ref": instance.image_ref,
        "owner_user_name": ctx.user_name or "",
        "owner_project_name": ctx.project_name or "",
    }


def _send(send: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    send_after_commit(send, runtime().celery, *args, **kwargs)


# --- shelve -----------------------------------------------------------------------------------------------------


def _shelve(ctx: RequestContext, server_id: str, body: Any) -> Response:
    """Snapshot to ``<name>-shelved`` (a volume-backed server has no image, as in Nova), then off."""
    validate(body, NULL_ONLY)
    made: list[str] = []

    def changes(session: Session, instance: Instance) -> dict[str, Any]:
        if volumes.root_mapping(session, instance.id) is not None:
            return {"shelved_image_id": None}
        properties = snapshot_properties(instance, ctx)
        image_id = image_service.create_snapshot(
            session,
            instance.project_id,
            f"{instance.name}-shelved",
            min_disk=int(instance.flavor["disk"]),
            min_ram=int(instance.image_meta.get("min_ram") or 0),
            properties=properties,
        )
        made.append(image_id)
        return {"shelved_image_id": image_id}

    host = claim_task(ctx, server_id, Action.SHELVE, "shelve", changes)
    params = {"image_id": made[0]} if made else {}
    _send(client.agent_action, host, server_id, Action.SHELVE.value, ctx.request_id, **params)
    return Response(status=202)


def _shelve_offload(ctx: RequestContext, server_id: str, body: Any) -> Response:
    validate(body, NULL_ONLY)
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:shelve_offload", {"project_id": instance.project_id})
    host = claim_task(ctx, server_id, Action.SHELVE_OFFLOAD, "shelveOffload")
    _send(client.agent_action, host, server_id, Action.SHELVE_OFFLOAD.value, ctx.request_id)
    return Response(status=202)


def _unshelve(ctx: RequestContext, server_id: str, body: Any) -> Response:
    """On its host still: power on. Offloaded: placed again (2.77: in ``availability_zone``; 2.91: on ``host``, or
    unpinned from its zone with a null ``availability_zone``) and spawned from the shelved image, which must still
    be there."""
    zone = None
    if at_least("2.91"):
        validate(body, UNSHELVE_V291)
    elif at_least("2.77"):
        validate(body, UNSHELVE_V277)
    if at_least("2.77"):
        zone = (body or {}).get("availability_zone")
    unpin = at_least("2.91") and "availability_zone" in (body or {}) and zone is None
    target = (body or {}).get("host") if at_least("2.91") else None
    if target is not None:
        policy.enforce("compute:servers:create:forced_host")
    rt = runtime()
    with rt.db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:action", {"project_id": instance.project_id})
        _refuse_locked(ctx, instance)
        if not allowed(Action.UNSHELVE, instance.vm_state, instance.task_state):
            raise conflict(instance, "unshelve")
        offloaded = instance.vm_state == VmState.SHELVED_OFFLOADED
        values: dict[str, Any] = {}
        if (zone is not None or unpin or target is not None) and not offloaded:
            raise Conflict(f"The server {server_id} is not offloaded: it can only be unshelved on its own host.")
        if offloaded:  # a host is chosen again: the one asked for (2.91) or any, never a former forced host
            pinned = zone if zone is not None else (None if unpin else instance.requested_zone)
            values["requested_host"] = _unshelve_host(session, target, pinned)
        if unpin:
            values["requested_zone"] = None
        if zone is not None:
            if session.scalars(select(ComputeHost.name).where(ComputeHost.availability_zone == zone)).first() is None:
                raise BadRequest(f"The requested availability zone is not available: {zone}")
            values["requested_zone"] = zone
        if offloaded:
            values["image_meta"] = {**(instance.image_meta or {}), **_shelved_image(session, ctx, instance)}
        elif not instance.host:
            raise conflict(instance, "unshelve")
        if not actions.claim(session, instance, Action.UNSHELVE, **values):
            raise conflict(instance, "unshelve")
        require_broker("compute")
        actions.record_action(session, instance, "unshelve", ctx.request_id, ctx.user_id, ctx.project_id)
        host = instance.host
    if offloaded:
        _send(client.unshelve, server_id, ctx.request_id)
    else:
        _send(client.agent_action, host, server_id, Action.UNSHELVE.value, ctx.request_id)
    return Response(status=202)


def _unshelve_host(session: Session, host: str | None, zone: str | None) -> str | None:
    """2.91's ``host``: an existing compute host, in the zone the server is (or is now asked to be) pinned to."""
    if host is None:
        return None
    record = session.get(ComputeHost, host)
    if record is None:
        raise BadRequest(f"Compute host {host} could not be found.")
    if zone is not None and record.availability_zone != zone:
        raise BadRequest(f"Host {host} is not in availability zone {zone}.")
    return host


def _shelved_image(session: Session, ctx: RequestContext, instance: Instance) -> dict[str, Any]:
    if not instance.shelved_image_id:  # volume-backed: it boots from its volume again
        return {SHELVED_IMAGE_KEY: None}
    try:
        image = image_access.get_visible(session, ctx, instance.shelved_image_id)
    except NotFound:
        image = None
    if image is None or image.status != "active":
        raise Conflict(
            f"The shelved image {instance.shelved_image_id} of server {instance.id} is not available "
            f"({image.status if image else 'deleted'}): the server cannot be unshelved."
        )
    return {SHELVED_IMAGE_KEY: image_snapshot(image)}


# --- soft delete ------------------------------------------------------------------------------------------------


def soft_delete(ctx: RequestContext, server_id: str) -> bool:
    """``DELETE /servers/{id}`` with ``reclaim_instance_interval`` > 0: power the server off and keep it
    (SOFT_DELETED) if it may be (idle, on a host, in a state the table allows); False: delete it now, as Nova
    falls back to a real delete for a server that cannot be soft-deleted."""
    rt = runtime()
    if rt.settings.reclaim_instance_interval <= 0:
        return False
    with rt.db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:delete", {"project_id": instance.project_id})
        _refuse_locked(ctx, instance)
        if not instance.host or not allowed(Action.SOFT_DELETE, instance.vm_state, instance.task_state):
            return False
        if not actions.claim(session, instance, Action.SOFT_DELETE, soft_deleted_at=service.now()):
            return False
        require_broker("compute")
        actions.record_action(session, instance, "delete", ctx.request_id, ctx.user_id, ctx.project_id)
        host = instance.host
    _send(client.agent_action, host, server_id, Action.SOFT_DELETE.value, ctx.request_id)
    return True


def _restore(ctx: RequestContext, server_id: str, body: Any) -> Response:
    validate(body, NULL_ONLY)

    def changes(session: Session, instance: Instance) -> dict[str, Any]:
        return {"soft_deleted_at": None}

    host = claim_task(ctx, server_id, Action.RESTORE, "restore", changes)
    _send(client.agent_action, host, server_id, Action.RESTORE.value, ctx.request_id)
    return Response(status=202)


# --- rescue -----------------------------------------------------------------------------------------------------


def _rescue(ctx: RequestContext, server_id: str, body: Any) -> tuple[Response, int]:
    validate(body, RESCUE)
    body = body or {}
    password = body.get("adminPass") or uuid.uuid4().hex[:12]
    chosen: list[dict[str, Any]] = []

    def changes(session: Session, instance: Instance) -> dict[str, Any]:
        if volumes.root_mapping(session, instance.id) is not None:
            raise BadRequest(f"Instance {instance.id} cannot be rescued: it boots from a volume.")
        reference = str(body.get("rescue_image_ref") or instance.image_ref)
        try:
            image = image_access.get_visible(session, ctx, reference)
        except NotFound:
            raise BadRequest(f"Image {reference} could not be found.") from None
        if image.status != "active":
            raise BadRequest(f"Image {reference} is not active.")
        snapshot = image_snapshot(image)
        chosen.append({k: snapshot.get(k) for k in ("id", "disk_format", "checksum", "size", "ceph_snapshot")})
        return {}

    claim_task(ctx, server_id, Action.RESCUE, "rescue", changes)
    _send(client.rescue, server_id, ctx.request_id, chosen[0])
    if not runtime().settings.enable_instance_password:  # Nova's setting: the password is not told
        return jsonify({}), 200
    return jsonify({"adminPass": password}), 200


def _unrescue(ctx: RequestContext, server_id: str, body: Any) -> Response:
    validate(body, NULL_ONLY)
    host = claim_task(ctx, server_id, Action.UNRESCUE, "unrescue")
    _send(client.agent_action, host, server_id, Action.UNRESCUE.value, ctx.request_id)
    return Response(status=202)


# --- lock -------------------------------------------------------------------------------------------------------


def _lock(locked: bool) -> Callable[[RequestContext, str, Any], Response]:
    def handler(ctx: RequestContext, server_id: str, body: Any) -> Response:
        reason = None
        if locked and at_least("2.73"):
            validate(body, LOCK_V273)
            reason = (body or {}).get("locked_reason")
            if reason is not None and _CONTROL.search(reason):
                raise BadRequest("Invalid input for field 'locked_reason': control characters are not allowed.")
        with runtime().db.session() as session:
            instance = lookups.server(session, ctx, server_id)
            policy.enforce("compute:servers:action", {"project_id": instance.project_id})
            instance.locked = locked
            instance.locked_reason = reason if locked else None
            event = "lock" if locked else "unlock"
            actions.record_action(session, instance, event, ctx.request_id, ctx.user_id, ctx.project_id, finished=True)
        return Response(status=202)

    return handler


def _refuse_locked(ctx: RequestContext, instance: Instance) -> None:
    if instance.locked and not ctx.is_admin:
        raise Conflict(f"Instance {instance.id} is locked.")


HANDLERS: dict[str, Callable[[RequestContext, str, Any], Any]] = {
    "shelve": _shelve,
    "shelveOffload": _shelve_offload,
    "unshelve": _unshelve,
    "restore": _restore,
    "rescue": _rescue,
    "unrescue": _unrescue,
    "lock": _lock(True),
    "unlock": _lock(False),
}
