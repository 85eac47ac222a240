"""Moving servers off a host and following each move to its end: what ``host drain`` and ``rebalance`` share.

A move is asked for with a server action and followed through its ``os-migrations`` record (the one that was
not there before the request): a live migration ends ``completed`` (the server on its new host) or ``failed``,
``error`` or ``cancelled`` (the server where it was, the reason in its fault or its instance action). A cold
migration (a stopped server cannot move live) ends ``finished`` with the server in ``VERIFY_RESIZE``, which is
confirmed here: the drain's operator asked for the server to leave, not to be asked again.

A few moves run at once (``parallel``); the scheduler never overcommits a target, whatever the number. Each
change of a move's status is one progress line. The clock and the pause are parameters, so the tests run
the same loop against a fake cloud without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cli import hosts
from cli.client import CliError, Cloud

LIVE_STATUSES = frozenset({"ACTIVE", "PAUSED"})
"""Server statuses a live migration starts from (Nova's, and the cloud's state table)."""
COLD_STATUSES = frozenset({"SHUTOFF"})
"""A server that is off moves cold: ``migrate``, then ``confirmResize``."""
ENDED_BADLY = frozenset({"failed", "error", "cancelled", "reverted"})
LIVE_DONE = "completed"
COLD_FINISHED = "finished"
COLD_DONE = frozenset({"confirmed", "done"})
NO_RECORD_GRACE = 3
"""Polls without a migration record, the server idle and unmoved, after which a move is taken as refused."""


class Result(StrEnum):
    MOVED = "moved"
    STAYED = "stayed"
    MOVING = "still moving"
    """The timeout came first: the move goes on in the cloud."""
    STARTED = "started"
    """``--no-wait``: asked for, not followed."""


@dataclass
class Move:
    """One server's move and what became of it."""

    server_id: str
    name: str
    source: str
    kind: str
    """``live`` or ``cold``; ``none`` for a server that cannot move (``reason`` says why)."""
    target: str | None = None
    """The host asked for (rebalance); else the scheduler's choice, once the migration record names it."""
    status: str = "waiting"
    result: Result | None = None
    reason: str = ""
    request_id: str = ""
    known: frozenset[str] = frozenset()
    migration: str | None = None
    quiet_polls: int = 0
    confirming: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "server": self.server_id,
            "name": self.name,
            "from": self.source,
            "to": self.target,
            "kind": self.kind,
            "result": str(self.result) if self.result else None,
            "reason": self.reason or None,
            "stayed": self.result is not Result.MOVED and self.result is not Result.STARTED,
        }


def kind_for(server: dict[str, Any]) -> tuple[str, str]:
    """How a server can leave its host (``live``, ``cold`` or ``none``) and, for ``none``, why not."""
    status, task = server.get("status"), server.get("OS-EXT-STS:task_state")
    if task:
        return "none", f"busy: {status} with task {task}"
    if status in LIVE_STATUSES:
        return "live", ""
    if status in COLD_STATUSES:
        return "cold", ""
    fault = (server.get("fault") or {}).get("message")
    return "none", f"status {status} cannot move" + (f" ({fault})" if fault else "")


def plan_for(server: dict[str, Any], target: str | None = None) -> Move:
    kind, reason = kind_for(server)
    move = Move(server["id"], server.get("name") or "", server.get("OS-EXT-SRV-ATTR:host") or "", kind, target)
    if kind == "none":
        move.result, move.status, move.reason = Result.STAYED, "not moved", reason
    return move


def _record_key(record: dict[str, Any]) -> str:
    return str(record.get("uuid") or record.get("id"))


def _records(cloud: Cloud, move: Move) -> list[dict[str, Any]]:
    kind = "live-migration" if move.kind == "live" else "migration"
    return hosts.migrations(cloud, instance_uuid=move.server_id, migration_type=kind)


def start(cloud: Cloud, move: Move) -> None:
    """Ask for the move; a refusal (409: a task in flight, 400: no such host) ends it at once, with the reason."""
    move.known = frozenset(_record_key(r) for r in _records(cloud, move))
    if move.kind == "live":
        body: dict[str, Any] = {"os-migrateLive": {"host": move.target, "block_migration": "auto"}}
    else:
        body = {"migrate": {"host": move.target} if move.target else None}
    try:
        move.request_id = hosts.action(cloud, move.server_id, body)
    except CliError as exc:
        move.result, move.status, move.reason = Result.STAYED, "refused", exc.message
        return
    move.status = "asked"


def poll(cloud: Cloud, move: Move) -> None:
    """Read the move's record and the server once; end the move when it has ended (confirming a cold one)."""
    fresh = [r for r in _records(cloud, move) if _record_key(r) not in move.known]
    record = fresh[0] if fresh else None
    if record is not None:
        move.migration = _record_key(record)
        move.status = str(record.get("status"))
        move.target = record.get("dest_compute") or move.target
    shown = hosts.server(cloud, move.server_id)
    host = shown.get("OS-EXT-SRV-ATTR:host")
    if record is None:
        idle = not shown.get("OS-EXT-STS:task_state") and shown.get("status") != "MIGRATING"
        move.quiet_polls = move.quiet_polls + 1 if idle else 0
        if move.quiet_polls >= NO_RECORD_GRACE:
            _end(cloud, move, moved=host != move.source, host=host, why="no migration was recorded")
        return
    if move.status == LIVE_DONE or move.status in COLD_DONE:
        if host == move.source and move.quiet_polls + 1 < NO_RECORD_GRACE:
            move.quiet_polls += 1  # the record may say so a moment before the server does
            return
        _end(cloud, move, moved=host != move.source, host=host, why=f"migration {move.status} but the server is here")
    elif move.status in ENDED_BADLY:
        _end(cloud, move, moved=False, host=host, why=f"migration {move.status}")
    elif move.status == COLD_FINISHED and shown.get("status") == "VERIFY_RESIZE" and not move.confirming:
        move.confirming = True
        try:
            hosts.action(cloud, move.server_id, {"confirmResize": None})
        except CliError as exc:
            move.result, move.reason = Result.STAYED, f"the move could not be confirmed: {exc.message}"


def _end(cloud: Cloud, move: Move, moved: bool, host: str | None, why: str) -> None:
    if moved:
        move.result, move.target = Result.MOVED, host
        return
    move.result = Result.STAYED
    move.reason = hosts.failure(cloud, move.server_id, move.request_id) or why


Echo = Callable[[str], None]


@dataclass
class Runner:
    """Runs moves to their ends, a few at a time, with a progress line for each change of status."""

    cloud: Cloud
    echo: Echo
    parallel: int = 2
    timeout: float = 1800.0
    interval: float = 2.0
    clock: Callable[[], float] = lambda: time.monotonic()  # looked up at each call: tests replace time's
    sleep: Callable[[float], None] = lambda seconds: time.sleep(seconds)
    _shown: dict[str, str] = field(default_factory=dict)

    def _progress(self, move: Move) -> None:
        line = f"{move.name or move.server_id} ({move.server_id}) {move.source} -> {move.target or '?'}: "
        line += str(move.result) if move.result else move.status
        if move.result is Result.STAYED and move.reason:
            line += f": {move.reason}"
        if self._shown.get(move.server_id) != line:
            self._shown[move.server_id] = line
            self.echo(line)

    def run(self, moves: Sequence[Move], wait: bool = True) -> None:
        """Start every move that can start and, with ``wait``, follow them until each ends or the timeout."""
        for move in moves:
            if move.result is not None:
                self._progress(move)
        pending = [m for m in moves if m.result is None]
        if not wait:
            for move in pending:
                start(self.cloud, move)
                move.result = move.result or Result.STARTED
                self._progress(move)
            return
        deadline = self.clock() + self.timeout
        running: list[Move] = []
        while pending or running:
            while pending and len(running) < self.parallel:
                move = pending.pop(0)
                start(self.cloud, move)
                self._progress(move)
                if move.result is None:
                    running.append(move)
            if not running:
                continue
            if self.clock() >= deadline:
                break
            self.sleep(self.interval)
            for move in running:
                poll(self.cloud, move)
                self._progress(move)
            running = [m for m in running if m.result is None]
        for move in running:
            move.result, move.reason = Result.MOVING, f"timed out after {self.timeout:g} s (status {move.status})"
            self._progress(move)
        for move in pending:
            move.result, move.reason = Result.STAYED, f"not started: timed out after {self.timeout:g} s"
            self._progress(move)
