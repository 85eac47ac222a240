"""What a websocket handshake must pass before any byte of a guest's console flows, in this order: a console
path, an allowed Origin, a token that redeems (once) to a console of that kind, and a server that is, according to
the database at this moment, still its project's, ACTIVE and on the host the token names. Any failure is an HTTP
refusal of the handshake; the token is spent once it was presented with an allowed Origin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from common.db import Database
from compute.consoles import ConsoleTarget, InvalidConsoleTarget
from compute.models import Instance
from compute.states import VmState
from console import origins

PATHS = {"/serial": "serial", "/vnc": "vnc"}


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str


def admit(
    path: str,
    origin: str | None,
    allowed: frozenset[origins.Origin],
    redeem: Callable[[str], ConsoleTarget | None],
    still_running: Callable[[ConsoleTarget], bool],
) -> ConsoleTarget | Refusal:
    """The console target the handshake may connect to, or why not. ``redeem`` spends a token; ``still_running``
    asks the database about the target's server."""
    route, _, query = path.partition("?")
    kind = PATHS.get(route)
    if kind is None:
        return Refusal(404, "There is no console here: the paths are /serial and /vnc.")
    if not origins.is_allowed(origin, allowed):
        return Refusal(403, "This page's Origin may not open consoles.")
    tokens = parse_qs(query, keep_blank_values=True).get("token", [])
    if len(tokens) != 1:
        return Refusal(401, "A console needs exactly one token (?token=...).")
    try:
        target = redeem(tokens[0])
    except InvalidConsoleTarget:
        target = None
    if target is None:
        return Refusal(401, "The console token is invalid, expired or already used: ask for a new console URL.")
    if target.kind != kind:
        return Refusal(401, f"The console token is for a {target.kind} console, not {kind}.")
    if not still_running(target):
        return Refusal(409, "The server of this console is no longer running where it was: ask for a new URL.")
    return target


def server_still_running(db: Database, target: ConsoleTarget) -> bool:
    """Whether the token's server still exists in its project, ACTIVE, on the host the token names."""
    with db.session() as session:
        instance = session.get(Instance, target.instance_id)
        return (
            instance is not None
            and not instance.deleted
            and instance.project_id == target.project_id
            and instance.host == target.compute_host
            and instance.vm_state == VmState.ACTIVE
        )
