"""``/admin/hosts``' drain and the moves in flight: the Drain button disables a host and asks a live migration of
each of its running servers to wherever the scheduler puts it; the page's migrations panel (``os-migrations``)
shows them moving, refreshed every few seconds while any is in flight, and the last ones that ended.

The portal only starts the moves: a page request cannot wait minutes for them. A stopped server does not move
live (and a cold move asks for a confirmation the portal cannot give from a button press on another page):
it stays, named in the notice, for ``stratus host drain``, which moves it cold and confirms it. What a move
the API refuses says is in the notice too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response

from portal.blueprint import admin_only, api, bp, is_htmx, redirect_with, render, session
from portal.errors import ApiError

COMPUTE_BINARY = "nova-compute"
POLL_SECONDS = 3
RECENT = 10
LIVE_STATUSES = frozenset({"ACTIVE", "PAUSED"})
IN_FLIGHT = frozenset(
    {"accepted", "pre-migrating", "queued", "preparing", "running", "migrating", "post-migrating", "finished",
     "confirming", "reverting", "cancelling"}
)  # fmt: skip
"""Nova's statuses of a move that has not ended (``compute.moves.IN_FLIGHT``; the portal reads only the API)."""
MIGRATE_LIVE = {"os-migrateLive": {"host": None, "block_migration": "auto"}}


@dataclass(frozen=True)
class Migration:
    server: str
    server_id: str
    kind: str
    source: str
    target: str
    status: str
    changed: str


def drain_reason() -> str:
    return f"drained from the portal by {session().user_name}"


def drain(host: str) -> tuple[int, list[str]]:
    """Disable ``host`` and ask a live migration of each of its servers that can move live: how many were
    asked for, and each server that stays with why."""
    client = api()
    body = {"host": host, "binary": COMPUTE_BINARY, "disabled_reason": drain_reason()}
    client.put("/compute/v2.1/os-services/disable-log-reason", body)
    servers = client.get("/compute/v2.1/servers/detail", all_tenants=1, host=host)["servers"]
    started, stayed = 0, []
    for server in servers:
        name = server.get("name") or server["id"]
        status, task = server.get("status"), server.get("OS-EXT-STS:task_state")
        if status not in LIVE_STATUSES or task:
            why = f"task {task}" if task else f"{status}: only a running server moves live"
            stayed.append(f"{name} ({why})")
            continue
        try:
            client.post(f"/compute/v2.1/servers/{server['id']}/action", MIGRATE_LIVE)
            started += 1
        except ApiError as exc:
            if exc.status == 401:
                raise
            stayed.append(f"{name} ({exc.message})")
    return started, stayed


@bp.post("/admin/hosts/<host>/drain")
@admin_only
def admin_host_drain(host: str) -> Response:
    started, stayed = drain(host)
    notice = f"Host {host} is disabled; {started} live migration(s) started."
    if stayed:
        notice += f" {len(stayed)} server(s) stay: {'; '.join(stayed)}. stratus host drain moves stopped ones cold."
    return redirect_with("portal.admin_hosts", notice, error=bool(stayed))


def _view(record: dict[str, Any], names: dict[str, str]) -> Migration:
    server_id = record.get("instance_uuid") or ""
    return Migration(
        server=names.get(server_id, server_id), server_id=server_id,
        kind=record.get("migration_type") or "migration", source=record.get("source_compute") or "",
        target=record.get("dest_compute") or "(scheduling)", status=record.get("status") or "",
        changed=(record.get("updated_at") or record.get("created_at") or "").replace("T", " ")[:19],
    )  # fmt: skip


def migrations() -> tuple[list[Migration], list[Migration]]:
    """The moves in flight, oldest first, and the last few that ended, newest first."""
    client = api()
    try:
        found = client.get("/compute/v2.1/os-migrations")["migrations"]
    except ApiError as exc:
        if exc.status != 404:
            raise
        return [], []  # a cloud without os-migrations moves nothing
    found.sort(key=lambda m: (m.get("updated_at") or m.get("created_at") or "", str(m.get("id"))))
    moving = [m for m in found if m.get("status") in IN_FLIGHT]
    ended = [m for m in reversed(found) if m.get("status") not in IN_FLIGHT][:RECENT]
    names: dict[str, str] = {}
    if moving or ended:
        names = {s["id"]: s["name"] for s in client.get("/compute/v2.1/servers", all_tenants=1)["servers"]}
    return [_view(m, names) for m in moving], [_view(m, names) for m in ended]


def migrations_context() -> dict[str, Any]:
    moving, ended = migrations()
    return {"moving": moving, "ended": ended, "poll": POLL_SECONDS}


@bp.get("/admin/hosts/migrations")
@admin_only
def admin_host_migrations() -> Response:
    """The panel, for its own poll. When the last move has ended, the whole page reloads once (htmx's
    ``HX-Refresh``): the hosts' allocation and instance counts above changed with the moves."""
    context = migrations_context()
    response = render("portal/admin/migrations.html", **context)
    if is_htmx() and not context["moving"]:
        response.headers["HX-Refresh"] = "true"
    return response
