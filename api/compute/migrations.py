"""Moves of servers between hosts as Nova's API shows them, and the live migration an admin starts.

- ``POST /servers/{id}/action`` ``os-migrateLive`` (admin): claim the ``migrating`` task, record the move
  (``compute.moves``, ``accepted``) and hand it to the scheduler (``compute.control.live_migration``); 202.
- ``GET /os-migrations`` (admin): every move of every kind (cold, resize, live, evacuation), filtered and, from
  2.59, paged, newest first; shapes by microversion (2.23 ``migration_type`` and ``links``, 2.59 ``uuid``, 2.80
  ``user_id``/``project_id``).
- ``GET /servers/{id}/migrations[/{mid}]`` (2.23, admin): the server's live migrations in progress, with their
  memory and disk figures; ``DELETE`` one (2.24) aborts it; ``POST .../action`` ``force_complete`` (2.22) lets
  it converge now. Both go straight to the source host; the scheduler learns the outcome from the host's report.

Errors are Nova's: an unknown or current host is 400, a server not in a state to move 409, a migration that is
not the server's 404, one in a state that cannot be aborted or forced 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api import policy
from api.broker import require_broker, send_after_commit
from api.compute import lookups
from api.compute.claims import claim_task, conflict
from api.compute.microversions import at_least
from api.compute.resource_schemas import BOOLEAN, as_bool
from api.compute.server_filters import moment
from api.compute.views import links, paged, usage_time
from api.context import RequestContext, current
from api.runtime import runtime
from api.validation import json_body, validate
from common.exceptions import BadRequest, Conflict, NotFound
from compute import client, moves, root_disks, volumes
from compute.models import ComputeHost, Instance, Migration
from compute.moves import MigrationType, Status
from compute.states import TaskState

bp = Blueprint("compute_migrations", __name__, url_prefix="/compute/v2.1")

# Nova's ``parameter_types.fqdn`` (a host name), or null for the scheduler's choice.
_HOST = {"type": ["string", "null"], "minLength": 1, "maxLength": 255, "pattern": r"^[a-zA-Z0-9_.:-]+$"}


def _live_schema() -> dict[str, Any]:
    """``os-migrateLive``'s body by microversion (nova/api/openstack/compute/schemas/migrate_server.py)."""
    properties: dict[str, Any] = {"host": _HOST, "block_migration": BOOLEAN}
    required = ["block_migration", "host"]
    if not at_least("2.25"):
        properties["disk_over_commit"] = BOOLEAN
        required.append("disk_over_commit")
    else:
        properties["block_migration"] = {"anyOf": [BOOLEAN, {"type": "string", "enum": ["auto"]}]}
    if at_least("2.30") and not at_least("2.68"):
        properties["force"] = BOOLEAN
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _block_migration(session: Session, instance: Instance, asked: Any) -> bool:
    """``auto`` (2.25): copy the disks unless the server's root disk is shared (a volume, or a clone in Ceph); an
    explicit answer is taken as given (the driver refuses what cannot be done)."""
    if asked != "auto":
        return as_bool(asked)
    if volumes.root_mapping(session, instance.id) is not None:
        return False
    return not root_disks.in_ceph(runtime().settings.images_type, instance.image_meta)


def migrate_live(ctx: RequestContext, server_id: str, body: Any) -> Response:
    with runtime().db.session() as session:
        instance = lookups.server(session, ctx, server_id)
        policy.enforce("compute:servers:migrate_live", {"project_id": instance.project_id})
    validate(body, _live_schema())
    host, force = body["host"], bool(at_least("2.30") and not at_least("2.68") and as_bool(body.get("force", False)))
    made: list[int] = []

    def changes(session: Session, instance: Instance) -> dict[str, Any]:
        if host is not None:
            if session.get(ComputeHost, host) is None:
                raise BadRequest(f"Compute host {host} could not be found.")
            if host == instance.host:
                raise BadRequest(f"Unable to migrate instance ({instance.id}) to current host ({host}).")
        if moves.in_flight(session, instance.id) is not None:
            raise conflict(instance, "os-migrateLive")
        block = _block_migration(session, instance, body["block_migration"])
        migration = moves.start(
            session, instance, MigrationType.LIVE_MIGRATION, Status.ACCEPTED, ctx.request_id, ctx.user_id or "",
            ctx.project_id or "", dest_compute=host, block_migration=block,
        )  # fmt: skip
        made.append(migration.id)
        return {"progress": 0}

    claim_task(ctx, server_id, "live_migrate", "live-migration", changes)
    send_after_commit(client.live_migrate, runtime().celery, server_id, made[0], ctx.request_id, force)
    return Response(status=202)


HANDLERS: dict[str, Callable[[RequestContext, str, Any], Any]] = {"os-migrateLive": migrate_live}
"""The server actions of this module (``api.compute.server_actions`` serves them)."""


# --- os-migrations ----------------------------------------------------------------------------------------------

IN_PROGRESS = ("queued", "preparing", "running", "post-migrating")
"""A live migration Nova shows links for and lets ``servers/{id}/migrations/{mid}`` show."""
_FILTERS = ("hidden", "host", "instance_uuid", "source_compute", "status", "migration_type")


def _known_parameters() -> set[str]:
    known = set(_FILTERS)
    if at_least("2.59"):
        known |= {"limit", "marker", "changes-since"}
    if at_least("2.66"):
        known.add("changes-before")
    if at_least("2.80"):
        known |= {"user_id", "project_id"}
    return known


def _flavor_number(flavor_id: str | None) -> int | None:
    """Nova shows a flavor's integer database id; ours are strings: digits as they are, else a stable number."""
    if flavor_id is None:
        return None
    return int(flavor_id) if flavor_id.isdigit() else int(re.sub(r"[^0-9a-f]", "", flavor_id.lower())[:7] or "0", 16)


def _list_view(row: Migration) -> dict[str, Any]:
    view: dict[str, Any] = {
        "created_at": usage_time(row.created_at),
        "dest_compute": row.dest_compute,
        "dest_host": row.dest_host,
        "dest_node": row.dest_compute,
        "id": row.id,
        "instance_uuid": row.instance_id,
        "new_instance_type_id": _flavor_number(row.new_flavor_id),
        "old_instance_type_id": _flavor_number(row.old_flavor_id),
        "source_compute": row.source_compute,
        "source_node": row.source_compute,
        "status": row.status,
        "updated_at": usage_time(row.updated_at),
    }
    if at_least("2.23"):
        view["migration_type"] = row.migration_type
        if row.migration_type == MigrationType.LIVE_MIGRATION and row.status in IN_PROGRESS:
            view["links"] = links(f"servers/{row.instance_id}/migrations", str(row.id))
    if at_least("2.59"):
        view["uuid"] = row.uuid
    if at_least("2.80"):
        view["user_id"], view["project_id"] = row.user_id, row.project_id
    return view


def _filtered(session: Session) -> list[Migration]:
    args = request.args
    query = select(Migration)
    for name in ("status", "instance_uuid", "source_compute", "migration_type"):
        if name in args:
            column = Migration.instance_id if name == "instance_uuid" else getattr(Migration, name)
            query = query.where(column == args[name])
    if "host" in args:
        query = query.where((Migration.source_compute == args["host"]) | (Migration.dest_compute == args["host"]))
    if at_least("2.80"):
        for name in ("user_id", "project_id"):
            if name in args:
                query = query.where(getattr(Migration, name) == args[name])
    if at_least("2.59") and "changes-since" in args:
        query = query.where(Migration.updated_at >= moment("changes-since", args["changes-since"]))
    if at_least("2.66") and "changes-before" in args:
        before = moment("changes-before", args["changes-before"])
        if "changes-since" in args and moment("changes-since", args["changes-since"]) > before:
            raise BadRequest("The value of changes-since must be less than or equal to changes-before.")
        query = query.where(Migration.updated_at <= before)
    newest_first = at_least("2.59")  # Nova sorts by created_at, id, both descending, from 2.59
    order = (Migration.created_at.desc(), Migration.id.desc()) if newest_first else (Migration.id.asc(),)
    return list(session.scalars(query.order_by(*order)))


@bp.get("/os-migrations")
def list_migrations() -> Response:
    policy.enforce("compute:migrations:index")
    if at_least("2.59"):
        unknown = sorted(set(request.args) - _known_parameters())
        if unknown:
            raise BadRequest(
                f"Invalid input for query parameters {unknown[0]}. Additional properties are not allowed "
                f"('{unknown[0]}' was unexpected)"
            )
    with runtime().db.session() as session:
        rows = _filtered(session)
        if not at_least("2.59"):
            return jsonify({"migrations": [_list_view(row) for row in rows]})
        page, next_links = paged(rows, lambda row: row.uuid, "os-migrations")
        body: dict[str, Any] = {"migrations": [_list_view(row) for row in page]}
    if next_links:
        body["migrations_links"] = next_links
    return jsonify(body)


# --- servers/{id}/migrations ----------------------------------------------------------------------------------


def _server_view(row: Migration) -> dict[str, Any]:
    view: dict[str, Any] = {
        "created_at": usage_time(row.created_at),
        "dest_compute": row.dest_compute,
        "dest_host": row.dest_host,
        "dest_node": row.dest_compute,
        "disk_processed_bytes": row.disk_processed,
        "disk_remaining_bytes": row.disk_remaining,
        "disk_total_bytes": row.disk_total,
        "id": row.id,
        "memory_processed_bytes": row.memory_processed,
        "memory_remaining_bytes": row.memory_remaining,
        "memory_total_bytes": row.memory_total,
        "server_uuid": row.instance_id,
        "source_compute": row.source_compute,
        "source_node": row.source_compute,
        "status": row.status,
        "updated_at": usage_time(row.updated_at),
    }
    if at_least("2.59"):
        view["uuid"] = row.uuid
    if at_least("2.80"):
        view["user_id"], view["project_id"] = row.user_id, row.project_id
    return view


def _server(session: Session, server_id: str, rule: str, since: str) -> Instance:
    """The server as the caller may see it, after the microversion and the policy (Nova's order)."""
    if not at_least(since):
        raise NotFound("The resource could not be found.")
    policy.enforce(rule)
    return lookups.server(session, current(), server_id)


def _migration_of(session: Session, instance: Instance, migration_id: str) -> Migration:
    row = session.get(Migration, int(migration_id)) if migration_id.isdigit() and len(migration_id) < 10 else None
    if row is None or row.instance_id != instance.id:
        raise NotFound(f"Migration {migration_id} was not found for instance {instance.id}.")
    return row


@bp.get("/servers/<server_id>/migrations")
def list_server_migrations(server_id: str) -> Response:
    with runtime().db.session() as session:
        instance = _server(session, server_id, "compute:servers:migrations:index", "2.23")
        query = select(Migration).where(
            Migration.instance_id == instance.id,
            Migration.migration_type == MigrationType.LIVE_MIGRATION.value,
            Migration.status.in_([s.value for s in moves.IN_FLIGHT]),
        )
        return jsonify({"migrations": [_server_view(row) for row in session.scalars(query.order_by(Migration.id))]})


@bp.get("/servers/<server_id>/migrations/<migration_id>")
def show_server_migration(server_id: str, migration_id: str) -> Response:
    with runtime().db.session() as session:
        instance = _server(session, server_id, "compute:servers:migrations:show", "2.23")
        row = session.get(Migration, int(migration_id)) if migration_id.isdigit() and len(migration_id) < 10 else None
        if row is None or row.instance_id != instance.id:
            raise NotFound(f"In-progress live migration {migration_id} is not found for server {server_id}.")
        if row.migration_type != MigrationType.LIVE_MIGRATION:
            raise NotFound(f"Migration {migration_id} for server {server_id} is not live-migration.")
        if row.status not in IN_PROGRESS:
            raise NotFound(f"Live migration {migration_id} for server {server_id} is not in progress.")
        return jsonify({"migration": _server_view(row)})


def _invalid_state(row: Migration, method: str) -> BadRequest:
    return BadRequest(
        f"Migration {row.id} state of instance {row.instance_id} is {row.status}. Cannot {method} while the "
        "migration is in this state."
    )


def _movable(instance: Instance, action: str) -> None:
    """The instance must be live-migrating (Nova's ``check_instance_state``) and, for others than admins, unlocked."""
    if instance.locked and not current().is_admin:
        raise Conflict(f"Instance {instance.id} is locked.")
    if instance.task_state != TaskState.MIGRATING:
        raise conflict(instance, action)


@bp.delete("/servers/<server_id>/migrations/<migration_id>")
def abort_server_migration(server_id: str, migration_id: str) -> Response:
    """Abort (2.24): ``running`` ones, and from 2.65 ``queued`` and ``preparing`` ones too."""
    with runtime().db.session() as session:
        instance = _server(session, server_id, "compute:servers:migrations:delete", "2.24")
        _movable(instance, "abort live migration")
        row = _migration_of(session, instance, migration_id)
        if row.migration_type != MigrationType.LIVE_MIGRATION or row.status not in ("running", "queued", "preparing"):
            raise _invalid_state(row, "abort live migration")
        if row.status != "running" and not at_least("2.65"):
            raise Conflict(
                f"Aborting live migration {row.id} with status {row.status} is not yet supported for this "
                "instance (microversion 2.65 or later aborts queued and preparing ones)."
            )
        running = row.status == "running"
        marked = {} if running else {"error": moves.ABORTED_BEFORE_COPY}  # the copy never started: none to wait for
        updated = session.execute(
            update(Migration)
            .where(Migration.id == row.id, Migration.status == row.status)
            .values(status=Status.CANCELLING.value, **marked)
        )
        if updated.rowcount != 1:  # the move went on meanwhile
            raise Conflict(f"Migration {row.id} changed state meanwhile; try again.")
        require_broker("compute")
        source, request_id = row.source_compute or "", current().request_id
    if running:
        send_after_commit(client.agent_live_migration, runtime().celery, source, server_id, int(migration_id),
                          "live_migration_abort", request_id)  # fmt: skip
    return Response(status=202)


FORCE_COMPLETE = {
    "type": "object",
    "properties": {"force_complete": {"type": "null"}},
    "required": ["force_complete"],
    "additionalProperties": False,
}


@bp.post("/servers/<server_id>/migrations/<migration_id>/action")
def migration_action(server_id: str, migration_id: str) -> Response:
    """``force_complete`` (2.22): the source pauses the guest so the copy converges now."""
    with runtime().db.session() as session:
        instance = _server(session, server_id, "compute:servers:migrations:force_complete", "2.22")
        validate(json_body(), FORCE_COMPLETE)
        _movable(instance, "force_complete")
        try:
            row = _migration_of(session, instance, migration_id)
        except NotFound as missing:  # Nova answers 400 here (MigrationNotFoundForInstance)
            raise BadRequest(missing.message) from None
        if row.migration_type != MigrationType.LIVE_MIGRATION or row.status != "running":
            raise _invalid_state(row, "force complete")
        require_broker("compute")
        source, request_id = row.source_compute or "", current().request_id
    send_after_commit(client.agent_live_migration, runtime().celery, source, server_id, int(migration_id),
                      "live_migration_force_complete", request_id)  # fmt: skip
    return Response(status=202)
