"""``POST /servers/{id}/action``: power actions, console output, snapshots, locking; rebuild and resize live in
``server_changes``. Every action that starts a task follows ``claims`` (state check, compare-and-swap, record,
commit, send)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from flask import Blueprint, Response, jsonify
from sqlalchemy.orm import Session

from api import policy
from api.broker import send_after_commit
from api.compute import (
    lookups,
    migrations,
    remote_consoles,
    server_changes,
    server_evacuate,
    server_lifecycle,
    server_moves,
    servers,
    volume_backed_images,
)
from api.compute.claims import conflict, start_task
from api.compute.microversions import at_least
from api.compute.schemas import CONSOLE_OUTPUT, CREATE_IMAGE, REBOOT
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import json_body, validate
from common.exceptions import BadRequest, Conflict, NotFound, StratusError
from compute import client, service, volumes
from compute.models import ComputeHost, Instance
from compute.states import Action, allowed
from image import service as image_service

bp = Blueprint("compute_server_actions", __name__, url_prefix="/compute/v2.1")

CONSOLE_WAIT_SECONDS = 3.0
"""Longest an API thread waits for a host's console output: a healthy host answers in milliseconds, and a
host busy with a long spawn (its agent runs one task at a time) must not hold API threads for its duration."""
CONSOLE_MAX_BYTES = 100 * 1024
"""Largest console tail asked of a host, as Nova's libvirt driver (``MAX_CONSOLE_BYTES``)."""

NOVA_ACTIONS = {  # request key → (our action name, instance action name)
    "os-start": ("start", "start"),
    "os-stop": ("stop", "stop"),
    "pause": ("pause", "pause"),
    "unpause": ("unpause", "unpause"),
    "suspend": ("suspend", "suspend"),
    "resume": ("resume", "resume"),
}


def _power(action: str, event: str) -> Callable[[RequestContext, str, Any], Response]:
    def handler(ctx: RequestContext, server_id: str, body: Any) -> Response:
        start_task(ctx, server_id, action, event)
        return Response(status=202)

    return handler


def _reboot(ctx: RequestContext, server_id: str, body: Any) -> Response:
    validate(body, REBOOT)
    hard = body["type"].upper() == "HARD"
    start_task(ctx, server_id, "reboot_hard" if hard else "reboot", "reboot")
    return Response(status=202)


def _console_output(ctx: RequestContext, server_id: str, body: Any) -> Response:
    """The tail of the console log, from the server's host. An API thread waits for it at most
    ``CONSOLE_WAIT_SECONDS``; a host that is down is not asked at all."""
    validate(body or {}, CONSOLE_OUTPUT)
    length = (body or {}).get("length")
    rt = runtime()
    with rt.db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:console_output", {"project_id": instance.project_id})
        if not allowed(Action.CONSOLE_OUTPUT, instance.vm_state, None) or not instance.host:
            raise conflict(instance, "os-getConsoleOutput")
        host = instance.host
        down_after = timedelta(seconds=rt.settings.compute_host_down_after)
        if not service.host_is_up(session.get(ComputeHost, host), down_after):
            raise Conflict(f"The console of instance {server_id} is not available: its host is down.")
    try:
        output = client.console_output(rt.celery, host, server_id, CONSOLE_MAX_BYTES, CONSOLE_WAIT_SECONDS)
    except CeleryTimeout:
        raise Conflict(
            f"The console of instance {server_id} is not available right now: its host did not answer within "
            f"{CONSOLE_WAIT_SECONDS:g} s. Try again in a moment."
        ) from None
    except Exception as exc:  # the broker or the host failed: a clear 409 rather than a 500
        raise Conflict(f"The console of instance {server_id} is not available right now: {exc}") from None
    lines = output.splitlines()
    if length is not None and int(length) >= 0:
        lines = lines[-int(length) :] if int(length) else []
    return jsonify({"output": "\n".join(lines) + ("\n" if lines else "")})


def _create_image(ctx: RequestContext, server_id: str, body: Any) -> Response | tuple[Response, int]:
    validate(body, CREATE_IMAGE)
    rt = runtime()
    with rt.db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        sends = None
        if volumes.root_mapping(session, instance.id) is not None:
            image_id, sends = _volume_backed_image(ctx, session, instance, body)
        else:
            properties = {
                **{k: str(v) for k, v in (body.get("metadata") or {}).items()},
                **server_lifecycle.snapshot_properties(instance, ctx),
            }
            image_id = image_service.create_snapshot(
                session,
                instance.project_id,
                body["name"],
                min_disk=int(instance.flavor["disk"]),
                min_ram=int(instance.image_meta.get("min_ram") or 0),
                properties=properties,
            )
    if sends is not None:  # the volume-backed image is made and its snapshots started: nothing for a host to claim
        for send in sends:
            send_after_commit(send, rt.celery)
        return _image_answer(image_id)
    try:
        start_task(ctx, server_id, "create_image", "createImage", image_id=image_id)
    except StratusError:
        with rt.db.session() as session:
            image_service.discard_snapshot(session, image_id)
        raise
    return _image_answer(image_id)


def _volume_backed_image(
    ctx: RequestContext, session: Session, instance: Instance, body: dict[str, Any]
) -> tuple[str, list[Callable[[Any], None]]]:
    """Nova's snapshot of a server booted from a volume: volume snapshots behind an image with no data, made in
    the request's transaction (``volume_backed_images``); returns the image and the work to send after commit."""
    rt = runtime()
    policy.enforce("compute:servers:action", {"project_id": instance.project_id})
    base = {k: str(v) for k, v in ((instance.image_meta or {}).get("properties") or {}).items()}
    properties = {**base, **server_lifecycle.snapshot_properties(instance, ctx)}
    metadata = {k: str(v) for k, v in (body.get("metadata") or {}).items()}
    return volume_backed_images.snapshot_server(session, rt.settings, ctx, instance, body["name"], metadata, properties)


def _image_answer(image_id: str) -> Response | tuple[Response, int]:
    if at_least("2.45"):  # Nova's answer from 2.45: the image id in the body, no Location
        return jsonify({"image_id": image_id}), 202
    response = Response(status=202)
    response.headers["Location"] = f"{runtime().settings.effective_public_url}/image/v2/images/{image_id}"
    return response


def _force_delete(ctx: RequestContext, server_id: str, body: Any) -> Response:
    """Delete now, whatever ``reclaim_instance_interval`` says (a soft-deleted server's reclaim, early)."""
    servers.hard_delete(ctx, server_id)
    return Response(status=202)


NETWORK_PROXY_ACTIONS = ("addFixedIp", "removeFixedIp", "addFloatingIp", "removeFloatingIp")
"""Nova's proxies of the Network API, never offered here (400, no such action); gone from 2.44 on (404)."""

HANDLERS: dict[str, Callable[[RequestContext, str, Any], Any]] = {
    **{key: _power(action, event) for key, (action, event) in NOVA_ACTIONS.items()},
    "reboot": _reboot,
    "os-getConsoleOutput": _console_output,
    "createImage": _create_image,
    "forceDelete": _force_delete,
    **server_lifecycle.HANDLERS,  # shelve, unshelve, restore, rescue, lock (with a reason)...
    **server_changes.HANDLERS,
    **migrations.HANDLERS,  # os-migrateLive (admins)
    **server_moves.HANDLERS,  # migrate; confirm and revert of a resize or a migration (in place or not)
    **server_evacuate.HANDLERS,  # evacuate (admins): a server of a failed host rebuilt on another
    **remote_consoles.HANDLERS,
}


@bp.post("/servers/<server_id>/action")
def server_action(server_id: str) -> Response:
    body = json_body()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("The action body must be an object with exactly one action.")
    ((name, argument),) = body.items()
    if name in NETWORK_PROXY_ACTIONS and at_least("2.44"):
        raise NotFound(f"The action {name} is not available from microversion 2.44 on: use the Network API.")
    handler = HANDLERS.get(name)
    if handler is None:
        raise BadRequest(f"There is no such action: {name}")
    return handler(current(), server_id, argument)
