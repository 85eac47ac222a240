"""``/admin/hosts``' drain and the moves in flight: the Drain button disables a host and moves each of its servers
away, as ``stratus host drain`` does: a running (or paused) one live, a stopped one cold (``migrate``), each to
wherever the scheduler puts it. The page's migrations panel (``os-migrations``) shows them moving, refreshed every
few seconds while any is in flight, and the last ones that ended.

The portal only starts the moves: a page request cannot wait minutes for them. A cold move ends waiting for a
confirmation (``VERIFY_RESIZE``), which the CLI gives as soon as the move has finished; here the panel gives it,
on its next refresh after the move has finished (``confirm_drained``), for the cold migrations off a host the
portal drained: the admin who pressed Drain asked for the server to leave, not to be asked again. It confirms
nothing else: a resize is its owner's to confirm, and a host drained with ``stratus host drain --no-wait`` keeps
its moves waiting on purpose. What could not move, and why, is listed under the host (``portal.admin.stays``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Response

from portal.blueprint import admin_only, api, bp, is_htmx, redirect_with, render, session
from portal.errors import ApiError

COMPUTE_BINARY = "nova-compute"
POLL_SECONDS = 3
RECENT = 10
LIVE_STATUSES = frozenset({"ACTIVE", "PAUSED"})
COLD_STATUSES = frozenset({"SHUTOFF"})
IN_FLIGHT = frozenset(
    {"accepted", "pre-migrating", "queued", "preparing", "running", "migrating", "post-migrating", "finished",
     "confirming", "reverting", "cancelling"}
)  # fmt: skip
"""Nova's statuses of a move that has not ended (``compute.moves.IN_FLIGHT``; the portal reads only the API)."""
MIGRATE_LIVE = {"os-migrateLive": {"host": None, "block_migration": "auto"}}
MIGRATE_COLD: dict[str, Any] = {"migrate": None}
CONFIRM = {"confirmResize": None}
DRAIN_REASON = "drained from the portal"
"""How the disabled reason of a host the portal drained begins (the user's name follows)."""


@dataclass(frozen=True)
class Migration:
    server: str
    server_id: str
    kind: str
    source: str
    target: str
    status: str
    changed: str


@dataclass
class Drained:
    """What a press of Drain started, and each server that stays with why."""

    live: int = 0
    cold: int = 0
    stayed: list[str] = field(default_factory=list)


def drain_reason() -> str:
    return f"{DRAIN_REASON} by {session().user_name}"


def how_to_move(server: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The action that moves ``server`` off its host (live or cold), or None and why it cannot move now."""
    status, task = server.get("status"), server.get("OS-EXT-STS:task_state")
    if task:
        return None, f"busy: {status} with task {task}"
    if status in LIVE_STATUSES:
        return MIGRATE_LIVE, ""
    if status in COLD_STATUSES:
        return MIGRATE_COLD, ""
    fault = (server.get("fault") or {}).get("message")
    return None, f"{status} cannot move" + (f" ({fault})" if fault else "")


def drain(host: str) -> Drained:
    """Disable ``host`` and ask a move of each of its servers: live for a running one, cold for a stopped one."""
    client = api()
    body = {"host": host, "binary": COMPUTE_BINARY, "disabled_reason": drain_reason()}
    client.put("/compute/v2.1/os-services/disable-log-reason", body)
    servers = client.get("/compute/v2.1/servers/detail", all_tenants=1, host=host)["servers"]
    done = Drained()
    for server in servers:
        name = server.get("name") or server["id"]
        action, why = how_to_move(server)
        if action is None:
            done.stayed.append(f"{name} ({why})")
            continue
        try:
            client.post(f"/compute/v2.1/servers/{server['id']}/action", action)
        except ApiError as exc:
            if exc.status == 401:
                raise
            done.stayed.append(f"{name} ({exc.message})")
            continue
        if action is MIGRATE_LIVE:
            done.live += 1
        else:
            done.cold += 1
    return done


@bp.post("/admin/hosts/<host>/drain")
@admin_only
def admin_host_drain(host: str) -> Response:
    done = drain(host)
    notice = f"Host {host} is disabled; {done.live} live and {done.cold} cold migration(s) started."
    if done.stayed:
        notice += f" {len(done.stayed)} server(s) stay (listed under the host, with why): {'; '.join(done.stayed)}"
    return redirect_with("portal.admin_hosts", notice, error=bool(done.stayed))


def _view(record: dict[str, Any], names: dict[str, str]) -> Migration:
    server_id = record.get("instance_uuid") or ""
    return Migration(
        server=names.get(server_id, server_id), server_id=server_id,
        kind=record.get("migration_type") or "migration", source=record.get("source_compute") or "",
        target=record.get("dest_compute") or "(scheduling)", status=record.get("status") or "",
        changed=(record.get("updated_at") or record.get("created_at") or "").replace("T", " ")[:19],
    )  # fmt: skip


def drained_hosts() -> set[str]:
    """The hosts the portal drained that are still disabled (their disabled reason says so)."""
    services = api().get("/compute/v2.1/os-services", binary=COMPUTE_BINARY)["services"]
    return {
        s["host"] for s in services if s.get("status") == "disabled" and (s.get("disabled_reason") or "").startswith(
            DRAIN_REASON
        )
    }  # fmt: skip


def confirm_drained(found: list[dict[str, Any]]) -> None:
    """Confirm each cold migration off a portal-drained host that has finished (its server in VERIFY_RESIZE);
    the record then reads ``confirming``, then ``confirmed``. A confirmation the API refuses (the server not yet
    in VERIFY_RESIZE, or already confirming) is tried again on the next refresh."""
    finished = [m for m in found if m.get("status") == "finished" and m.get("migration_type") == "migration"]
    if not finished:
        return
    drained = drained_hosts()
    client = api()
    for record in finished:
        if record.get("source_compute") not in drained:
            continue
        try:
            client.post(f"/compute/v2.1/servers/{record['instance_uuid']}/action", CONFIRM)
        except ApiError as exc:
            if exc.status == 401:
                raise
            continue
        record["status"] = "confirming"


def all_migrations() -> list[dict[str, Any]]:
    """Every ``os-migrations`` record, oldest change first; none on a cloud without os-migrations."""
    try:
        found = api().get("/compute/v2.1/os-migrations")["migrations"]
    except ApiError as exc:
        if exc.status != 404:
            raise
        return []  # a cloud without os-migrations moves nothing
    found.sort(key=lambda m: (m.get("updated_at") or m.get("created_at") or "", str(m.get("id"))))
    return found


def migrations(found: list[dict[str, Any]]) -> tuple[list[Migration], list[Migration]]:
    """The moves in flight, oldest first, and the last few that ended, newest first."""
    moving = [m for m in found if m.get("status") in IN_FLIGHT]
    ended = [m for m in reversed(found) if m.get("status") not in IN_FLIGHT][:RECENT]
    names: dict[str, str] = {}
    if moving or ended:
        names = {s["id"]: s["name"] for s in api().get("/compute/v2.1/servers", all_tenants=1)["servers"]}
    return [_view(m, names) for m in moving], [_view(m, names) for m in ended]


def migrations_context(found: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The panel's context; the finished cold moves of a drain are confirmed first (``confirm_drained``)."""
    found = all_migrations() if found is None else found
    confirm_drained(found)
    moving, ended = migrations(found)
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
