"""The cold migration action (``migrate``, admin) and the confirm or revert that ends it or a resize.

A migrate claims ``resize_prep`` as a resize does, keeping the flavor (``old_flavor`` = ``flavor``, so the end of
the move is the same for both), and the scheduler moves the server (``compute.client.migrate``). Confirm and revert
of a server that moved to another host go to the host whose step comes first (the source removes its copy; the
target removes its own before the source starts again), and set the move's status in the request's transaction;
a resize done in place goes to its host as before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Response
from sqlalchemy.orm import Session

from api import policy
from api.broker import send_after_commit
from api.compute import lookups
from api.compute.claims import claim_task
from api.compute.microversions import at_least
from api.context import RequestContext
from api.runtime import runtime
from api.validation import validate
from common.exceptions import BadRequest, Conflict
from compute import client, moves, service
from compute.models import ComputeHost, Instance

MIGRATE = {
    "type": ["object", "null"],
    "properties": {
        "host": {"type": ["string", "null"], "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9-._]*$"}
    },
    "additionalProperties": False,
}
"""Nova's ``migrate`` body from 2.56: null, or an object naming the target host (null: the scheduler picks); the
host a host name (Nova's ``fqdn`` type). Before 2.56 Nova reads nothing of the body, and neither do we."""


def require_host_up(session: Session, instance: Instance) -> None:
    """A cold move needs the server's own host to power the guest off and copy its disks: with that host down it
    is refused, as Nova's resize and migrate are (``check_instance_host(check_is_up=True)``); evacuate instead."""
    down_after = timedelta(seconds=runtime().settings.compute_host_down_after)
    if not service.host_is_up(session.get(ComputeHost, instance.host), down_after):
        raise Conflict(f"Service is unavailable at this time: the compute service of {instance.host} is down.")


def _migrate(ctx: RequestContext, server_id: str, body: Any) -> Response:
    host = None
    if at_least("2.56"):
        validate(body, MIGRATE)
        host = (body or {}).get("host")
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:migrate", {"project_id": instance.project_id})

    def changes(session: Session, instance: Instance) -> dict[str, Any]:
        require_host_up(session, instance)
        if host is not None:
            if session.get(ComputeHost, host) is None:
                raise BadRequest(f"Compute host {host} could not be found.")
            if host == instance.host:
                raise BadRequest(f"Unable to migrate instance ({instance.id}) to current host ({host}).")
        return {"old_flavor": instance.flavor}

    claim_task(ctx, server_id, "migrate", "migrate", changes)
    send_after_commit(client.migrate, runtime().celery, server_id, ctx.request_id, host)
    return Response(status=202)


def _moved(
    session: Session, instance: Instance, status: moves.Status, step: str, first: Callable[[Any], str | None]
) -> str | None:
    """The host whose step comes first when the server moved to another host (its move then ``status``, the step
    recorded as sent to it: the host acknowledges it, else it is sent again); None for a resize in place."""
    migration = moves.in_flight(session, instance.id)
    if migration is None or not migration.dest_compute or migration.dest_compute == migration.source_compute:
        return None
    migration.status = status.value
    host = first(migration)
    if host:
        moves.handed(migration, step, host)
    return host


def _end(
    action: str, event: str, answer: int, status: moves.Status, step: str, first: Callable[[Any], str | None]
) -> Callable[[RequestContext, str, Any], Response]:
    def handler(ctx: RequestContext, server_id: str, body: Any) -> Response:
        moved: dict[str, str | None] = {}

        def changes(session: Session, instance: Instance) -> dict[str, Any]:
            moved["host"] = _moved(session, instance, status, step, first)
            return {}

        host = claim_task(ctx, server_id, action, event, changes)
        rt = runtime()
        if moved.get("host"):
            take = rt.settings.compute_build_take_timeout
            send_after_commit(client.agent_step, rt.celery, moved["host"], server_id, step, ctx.request_id, take)
        else:
            send_after_commit(client.agent_action, rt.celery, host, server_id, action, ctx.request_id)
        return Response(status=answer)

    return handler


HANDLERS: dict[str, Callable[[RequestContext, str, Any], Any]] = {
    "migrate": _migrate,
    "confirmResize": _end(
        "confirm_resize", "confirmResize", 204, moves.Status.CONFIRMING, "confirm_migration",
        lambda migration: migration.source_compute,
    ),
    "revertResize": _end(
        "revert_resize", "revertResize", 202, moves.Status.REVERTING, "destroy_moved",
        lambda migration: migration.dest_compute,
    ),
}  # fmt: skip
