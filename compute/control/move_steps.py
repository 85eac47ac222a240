"""A move's step handed to a host: acknowledged on receipt, sent again when it is not, or the move given up.

Why: a build's spawn is acknowledged by the host that receives it and given to another host when it is not
(``compute.control.handoff``), but the steps of a move were sent once. A message lost to a broker restart, or to
the target's agent restarting before it took it, left the server in its task until ``compute_task_timeout`` (30
minutes), and then in ERROR. Now:

- the workflow records the step on the move's row as it sends it (``compute.moves.handed``: the step, its host,
  when, how many times), in the transaction that decides it, and sends it with ``client.agent_step``, whose
  message expires after ``compute_build_take_timeout``;
- the host's agent acknowledges it the moment its main process receives it (``client.STEP_TAKEN``, :func:`taken`);
- every ``host_heartbeat_interval`` (:func:`check`), a step its host has not acknowledged within
  ``compute_build_take_timeout`` is sent again (the old message has expired, so the host never runs it late; the
  step is idempotent on the host besides: a second copy never makes a second guest), up to ``MAX_SENDS`` times in
  all; then the workflow gives the move up: a fault in the server's actions, the server in one place.

This module knows no workflow: each says, in a ``StepHandler``, how it sends its step again, how it gives it up,
and what a host that acknowledges a step no longer its own is told. ``compute.control.tasks`` wires them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from compute import moves, service
from compute.control.context import ComputeControl
from compute.models import Migration

LOG = logging.getLogger(__name__)
MAX_SENDS = 3
"""Times a step is sent to one host before the move is given up (the first send and two more)."""
REQUEST_ID = "req-move-steps"


@dataclass(frozen=True)
class StepHandler:
    """What a workflow does with its step (each callable takes the control, the server's id, the step's host and a
    request id): ``resend`` sends it again (False: the move has moved on), ``give_up`` ends the move with the
    reason given (a fault, the server in one place), ``late`` answers a host that acknowledged the step after the
    move went on without it. ``max_sends``: 1 for a step that must never run twice (a live migration's copy)."""

    resend: Callable[[ComputeControl, str, str, str], bool]
    give_up: Callable[[ComputeControl, str, str, str, str], str]
    late: Callable[[ComputeControl, str, str, str], str]
    max_sends: int = MAX_SENDS


@dataclass(frozen=True)
class Unacknowledged:
    instance_id: str
    step: str
    host: str
    sends: int


def taken(
    control: ComputeControl, handlers: dict[str, StepHandler], instance_id: str, host: str, step: str, request_id: str
) -> str:
    """``host`` received ``step`` of the server's move. One that is no longer the move's is answered by the
    workflow (``late``): a target the move left behind drops what it may make of it."""
    in_flight = [status.value for status in moves.IN_FLIGHT]
    with control.db.session() as session:
        acknowledged = session.execute(
            update(Migration)
            .where(
                Migration.instance_id == instance_id,
                Migration.status.in_(in_flight),
                Migration.step == step,
                Migration.step_host == host,
                Migration.step_sent_at.is_not(None),
            )
            .values(step_sent_at=None)
        ).rowcount
        if acknowledged:
            return "taken"
        still_its_step = _awaited(session, instance_id, step, host)
    if still_its_step:
        return "already taken"  # a redelivered acknowledgement, or a copy of the step sent again
    handler = handlers.get(step)
    return handler.late(control, instance_id, host, request_id) if handler is not None else "unknown step"


def _awaited(session: Session, instance_id: str, step: str, host: str) -> bool:
    move = moves.in_flight(session, instance_id)
    return move is not None and move.step == step and move.step_host == host


def unacknowledged(control: ComputeControl) -> list[Unacknowledged]:
    """Steps of moves in flight that their host has not acknowledged within ``compute_build_take_timeout``."""
    take = timedelta(seconds=control.settings.compute_build_take_timeout)
    in_flight = [status.value for status in moves.IN_FLIGHT]
    with control.db.session() as session:
        rows = session.scalars(
            select(Migration).where(
                Migration.status.in_(in_flight),
                Migration.step_sent_at.is_not(None),
                Migration.step_sent_at < service.now() - take,
            )
        )
        return [Unacknowledged(m.instance_id, m.step or "", m.step_host or "", m.step_sends or 0) for m in rows]


def check(control: ComputeControl, handlers: dict[str, StepHandler]) -> dict[str, int]:
    """The periodic pass: each step not acknowledged in time is sent again, or its move given up."""
    counts: dict[str, int] = {}
    for step in unacknowledged(control):
        try:
            outcome = handle(control, handlers, step)
        except Exception:  # one move's trouble (its record, the broker) holds up no other move
            LOG.exception("the %s step of %s could not be handled", step.step, step.instance_id)
            outcome = "failed"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def handle(control: ComputeControl, handlers: dict[str, StepHandler], step: Unacknowledged) -> str:
    """Send ``step`` again, or give its move up once it was sent ``MAX_SENDS`` times: claimed first, so an
    acknowledgement that arrives meanwhile wins and the move goes on."""
    handler = handlers.get(step.step)
    if handler is None:
        return "no handler"
    take = control.settings.compute_build_take_timeout
    if step.sends < handler.max_sends:
        LOG.warning("%s did not take %s of %s within %g s: sending it again", step.host, step.step, step.instance_id,
                    take)  # fmt: skip
        if handler.resend(control, step.instance_id, step.host, REQUEST_ID):
            return "resent"
        _settle(control, step)  # the move went on without it (its outcome came, the acknowledgement was lost)
        return "moved on"
    if not _settle(control, step):
        return "taken meanwhile"
    reason = (
        f"{step.host} did not acknowledge the {step.step} step, sent {step.sends} times {take:g} s apart "
        "(compute_build_take_timeout)"
    )
    LOG.warning("giving up the move of %s: %s", step.instance_id, reason)
    return handler.give_up(control, step.instance_id, step.host, reason, REQUEST_ID)


def _settle(control: ComputeControl, step: Unacknowledged) -> bool:
    """Nothing awaits ``step`` any more, if it is still unacknowledged as it was read (compare-and-swap): before a
    give-up, so that an acknowledgement arriving meanwhile wins, and once the move went on without it."""
    in_flight = [status.value for status in moves.IN_FLIGHT]
    with control.db.session() as session:
        return (
            session.execute(
                update(Migration)
                .where(
                    Migration.instance_id == step.instance_id,
                    Migration.status.in_(in_flight),
                    Migration.step == step.step,
                    Migration.step_host == step.host,
                    Migration.step_sends == step.sends,
                    Migration.step_sent_at.is_not(None),
                )
                .values(step_sent_at=None)
            ).rowcount
            == 1
        )
