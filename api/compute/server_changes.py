"""Actions that change what a server is: rebuild (another image), resize (another flavor), and the confirm or
revert that ends a resize. Rebuild and resize go through the scheduler, which builds the host's spec (and for a
resize claims the new flavor on the host); confirm and revert go straight to the host."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify
from sqlalchemy.orm import Session

from api.broker import send_after_commit
from api.compute import lookups, server_moves, server_quota
from api.compute.access_ips import check_access_ips
from api.compute.claims import claim_task, start_task
from api.compute.microversions import at_least
from api.compute.schemas import REBUILD, RESIZE
from api.compute.server_create import bootable_image, image_snapshot
from api.compute.server_create import user_data_checked as user_data
from api.compute.version_rules import rebuild_fields, refuse_trusted_certs, with_fields
from api.compute.views import flavor_snapshot, rebuild_view
from api.context import RequestContext
from api.runtime import runtime
from api.validation import validate
from common.exceptions import BadRequest, Conflict
from compute import client, volumes
from compute.models import Instance, KeyPair


def _rebuild(ctx: RequestContext, server_id: str, body: Any) -> tuple[Response, int]:
    validate(body, with_fields(REBUILD, rebuild_fields()))
    check_access_ips(body)
    if "personality" in body and at_least("2.57"):
        raise BadRequest(
            "Invalid input for field/attribute rebuild. Additional properties are not allowed ('personality' was "
            "unexpected)"
        )
    refuse_trusted_certs(body)
    if body.get("personality"):
        raise BadRequest("Personality files are not supported by this cloud (use the config drive's user_data).")
    if "description" in body and not at_least("2.19"):
        raise BadRequest("Invalid input for field 'rebuild': 'description' needs microversion 2.19 or later.")

    def changes(session: Session, instance: Instance) -> dict[str, Any]:
        if volumes.root_mapping(session, instance.id) is not None:
            if at_least("2.93"):  # Nova's answer when the server's host cannot reimage its root volume
                raise Conflict(f"The host of server {instance.id} does not support rebuilding a volume-backed server.")
            raise BadRequest("Rebuilding a server booted from a volume is not supported by this cloud.")
        flavor = instance.flavor
        image = bootable_image(session, ctx, body["imageRef"], int(flavor["ram"]), int(flavor["disk"]))
        values: dict[str, Any] = {"image_ref": image.id, "image_meta": image_snapshot(image), "fault": None}
        for field, column in (("name", "name"), ("accessIPv4", "access_ip_v4"), ("accessIPv6", "access_ip_v6")):
            if field in body:
                values[column] = body[field]
        if "metadata" in body:
            server_quota.check_metadata(session, instance, body["metadata"])
            values["metadata_items"] = dict(body["metadata"])
        if "description" in body:
            values["description"] = body["description"]
        if "hostname" in body:
            values["hostname"] = body["hostname"]
        if "user_data" in body:  # 2.57: the new user data (null: none), in the rebuilt server's config drive
            values["user_data"] = user_data(body["user_data"])
        if "key_name" in body:  # 2.54: the new key pair (null: none)
            values |= _key_pair(session, ctx, body["key_name"])
        return values

    claim_task(ctx, server_id, "rebuild", "rebuild", changes)
    rt = runtime()
    send_after_commit(client.rebuild, rt.celery, server_id, ctx.request_id)
    with rt.db.session() as session:
        server = rebuild_view(lookups.server(session, ctx, server_id), ctx)
    server["adminPass"] = body.get("adminPass") or uuid.uuid4().hex[:12]
    return jsonify({"server": server}), 202


def _key_pair(session: Session, ctx: RequestContext, name: str | None) -> dict[str, Any]:
    if name is None:
        return {"key_name": None, "key_data": None}
    keypair = session.get(KeyPair, (ctx.user_id, name))
    if keypair is None:
        raise BadRequest("Invalid key_name provided.")
    return {"key_name": name, "key_data": keypair.public_key}


def _resize(ctx: RequestContext, server_id: str, body: Any) -> Response:
    validate(body, RESIZE)

    def changes(session: Session, instance: Instance) -> dict[str, Any]:
        flavor = lookups.flavor_for_server(session, ctx, str(body["flavorRef"]))
        current = instance.flavor
        if flavor.id == current["id"]:
            raise BadRequest("When resizing, instances must change flavor!")
        if flavor.root_gb < int(current["disk"]):
            raise BadRequest(
                f"Resizing to a smaller root disk is not allowed (from {current['disk']} GB to {flavor.root_gb} GB)."
            )
        image = instance.image_meta or {}
        if flavor.memory_mb < int(image.get("min_ram") or 0) or flavor.root_gb < int(image.get("min_disk") or 0):
            raise BadRequest(f"Flavor {flavor.id} is too small for the server's image.")
        snapshot = flavor_snapshot(flavor)
        server_quota.check_resize(session, instance, snapshot)
        server_moves.require_host_up(session, instance)
        return {"old_flavor": current, "flavor": snapshot}

    claim_task(ctx, server_id, "resize", "resize", changes)
    send_after_commit(client.resize, runtime().celery, server_id, ctx.request_id)
    return Response(status=202)


def _end_resize(action: str, event: str, status: int) -> Callable[[RequestContext, str, Any], Response]:
    def handler(ctx: RequestContext, server_id: str, body: Any) -> Response:
        start_task(ctx, server_id, action, event)
        return Response(status=status)

    return handler


HANDLERS: dict[str, Callable[[RequestContext, str, Any], Any]] = {
    "rebuild": _rebuild,
    "resize": _resize,
    "confirmResize": _end_resize("confirm_resize", "confirmResize", 204),
    "revertResize": _end_resize("revert_resize", "revertResize", 202),
}
