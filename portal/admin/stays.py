"""What is still on a disabled host, and why it has not moved: listed under the host on ``/admin/hosts``, so an
admin who drained it sees what needs their hand (an instance in ERROR, a migration that failed, one that arrived
after the drain) without reading logs. The notice after a drain names what stayed too, but it is one short line.

Why, in the cloud's words, as ``stratus host drain`` reports it: a move under way is named with its status; a
move off the host that ended badly gives the instance's fault, else the failed event of its migration's instance
action (its last traceback line), else that action's message; an instance that cannot move says its status (and
its fault); one that could move was not asked to (it came after the drain, or the API refused the move).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.admin.drain import IN_FLIGHT, how_to_move
from portal.blueprint import api
from portal.errors import ApiError

ENDED_BADLY = frozenset({"failed", "error", "cancelled", "reverted"})
MOVE_ACTIONS = frozenset({"live-migration", "migrate"})
NOT_ASKED = "not asked to move (it came after the drain, or the move was refused): press Drain again"


@dataclass(frozen=True)
class Stay:
    server: str
    server_id: str
    status: str
    why: str


def _failure(server: dict[str, Any]) -> str:
    """Why the server's last move failed, in the cloud's words (empty when the cloud does not say)."""
    fault = (server.get("fault") or {}).get("message")
    if fault:
        return str(fault)
    client = api()
    base = f"/compute/v2.1/servers/{server['id']}/os-instance-actions"
    try:
        listed = client.get(base)["instanceActions"]
        moves = [a for a in listed if a.get("action") in MOVE_ACTIONS]
        if not moves:
            return ""
        newest = max(moves, key=lambda a: a.get("start_time") or "")
        record = client.get(f"{base}/{newest['request_id']}")["instanceAction"]
    except ApiError as exc:
        if exc.status == 401:
            raise
        return ""
    for event in record.get("events") or []:
        lines = [line.strip() for line in str(event.get("traceback") or "").splitlines() if line.strip()]
        if event.get("result") == "Error" and lines:
            return lines[-1]
    return str(record.get("message") or "")


def _why(server: dict[str, Any], last_move: dict[str, Any] | None) -> str:
    if last_move is not None and last_move.get("status") in IN_FLIGHT:
        return f"moving: {last_move.get('migration_type')} {last_move.get('status')}"
    action, why = how_to_move(server)
    if action is None:
        return why
    if last_move is not None and last_move.get("status") in ENDED_BADLY:
        reason = _failure(server)
        return f"its {last_move.get('migration_type')} {last_move.get('status')}" + (f": {reason}" if reason else "")
    return NOT_ASKED


def stays(host: str, found: list[dict[str, Any]]) -> list[Stay]:
    """Each server still on ``host`` with why; ``found`` are the ``os-migrations`` records, oldest change first."""
    servers = api().get("/compute/v2.1/servers/detail", all_tenants=1, host=host)["servers"]
    last_move = {m.get("instance_uuid"): m for m in found if m.get("source_compute") == host}
    return [
        Stay(s.get("name") or s["id"], s["id"], s.get("status") or "", _why(s, last_move.get(s["id"])))
        for s in sorted(servers, key=lambda s: (s.get("name") or "", s["id"]))
    ]
