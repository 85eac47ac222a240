"""The periodic safety net of the control side, also run once when the scheduler starts (recovery).

A lost message must never leave a server stuck. What is done with a task that stays in flight is data, not
code here: ``compute.states.STUCK_RULES`` gives each task state its rules in order (a build still waiting for
placement is sent again, a task in flight for too long is given up, a delete whose host is down is finished,
one whose host is up but has not answered is sent to it again, once). This module measures each stuck
server against them and runs the first rule that matches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.settings import Settings
from compute import client, delete, service
from compute.control import build, cold_migration, evacuation, live_migration, records, resize, shelve
from compute.control.context import ComputeControl
from compute.models import ComputeHost, Instance
from compute.states import STUCK_RULES, Clock, HostCondition, Remedy, StuckRule, TaskState
from network import client as network_client

LOG = logging.getLogger(__name__)

COUNTED_AS = {
    Remedy.FINISH_DELETE: "deleted",
    Remedy.RESEND_DESTROY: "resent",
    Remedy.RESEND_BUILD: "resent",
    Remedy.REBIND_NETWORK: "resent",
    Remedy.FAIL_BUILD: "timed_out",
    Remedy.GIVE_UP: "timed_out",
    Remedy.ASK_WHERE_IT_RUNS: "resent",
}


def seconds(clock: Clock, settings: Settings) -> timedelta:
    """What a ``Clock`` of the table is, in this deployment's settings."""
    resend = timedelta(seconds=settings.compute_resend_after)
    if clock is Clock.RESEND:
        return resend
    if clock is Clock.RESEND_AND_ONE_SWEEP:
        return resend + timedelta(seconds=settings.compute_sweep_interval)
    return timedelta(seconds=settings.compute_task_timeout)


def matching_rule(instance: Instance, age: timedelta, host_up: bool, settings: Settings) -> StuckRule | None:
    """The first of the task state's rules that applies now, or None (the task is not stuck yet)."""
    for rule in STUCK_RULES[TaskState(instance.task_state)]:
        if rule.after is not None and age <= seconds(rule.after, settings):
            continue
        if rule.until is not None and age > seconds(rule.until, settings):
            continue
        if rule.host is HostCondition.DOWN and host_up:
            continue
        if rule.vm_state is not None and instance.vm_state != rule.vm_state:
            continue
        return rule
    return None


@dataclass
class _Pass:
    """One sweep: the work found in the transaction, and what to send once it has committed."""

    counts: dict[str, int] = field(default_factory=lambda: {"resent": 0, "timed_out": 0, "deleted": 0})
    synced: list[str] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)


def _give_up(session: Session, instance: Instance) -> None:
    undone = resize.undo(session, instance) if instance.task_state == TaskState.RESIZE_PREP else {}
    if instance.task_state == TaskState.UNSHELVING:
        undone = shelve.give_up(session, instance)
    if instance.task_state == TaskState.REBUILDING:  # an evacuation ends in ERROR on its source, its claim freed
        undone = evacuation.give_up(session, instance)
    service.swap(
        session,
        instance.id,
        {"task_state": instance.task_state},
        task_state=None,
        fault=records.fault(500, f"{instance.task_state} timed out"),
        **undone,
    )


def _apply(control: ComputeControl, sweep: _Pass, session: Session, instance: Instance, remedy: Remedy) -> None:
    """Run ``remedy``: database changes now, in the sweep's transaction; messages after it commits."""
    app, instance_id, host, project_id = control.app, instance.id, instance.host or "", instance.project_id
    if remedy is Remedy.FINISH_DELETE:
        sweep.synced += delete.finish(session, instance_id, app, "req-sweeper")
    elif remedy is Remedy.GIVE_UP and (moving := cold_migration.give_up(session, instance)) is not None:
        # A cold move between hosts ends on its source (rolled back), never with a copy on each host.
        sweep.after_commit.extend(lambda send=send: send(control, "req-sweeper") for send in moving)
    elif remedy is Remedy.GIVE_UP:
        _give_up(session, instance)
    elif remedy is Remedy.ASK_WHERE_IT_RUNS:
        messages = live_migration.resolve(control, session, instance)
        sweep.after_commit.append(lambda: live_migration.send_resolution(control, instance_id, messages))
    elif remedy is Remedy.RESEND_DESTROY:  # only on a host that is up (FINISH_DELETE comes first), so it has one
        sweep.after_commit.append(lambda: delete.resend_destroy(app, host, instance_id))
    elif remedy is Remedy.RESEND_BUILD:
        sweep.after_commit.append(lambda: client.build(app, instance_id, "req-sweeper"))
    elif remedy is Remedy.REBIND_NETWORK:
        sweep.after_commit.append(
            lambda: network_client.bind_instance(app, instance_id, project_id, host, "req-sweeper")
        )
    elif remedy is Remedy.FAIL_BUILD:
        sweep.after_commit.append(lambda: build.fail_build(control, instance_id, "req-sweeper", "The build timed out."))
    sweep.counts[COUNTED_AS[remedy]] += 1


def sweep(control: ComputeControl) -> dict[str, int]:
    now = service.now()
    down_after = timedelta(seconds=control.settings.compute_host_down_after)
    found = _Pass()
    with control.db.session() as session:
        stuck = session.scalars(
            select(Instance).where(Instance.deleted.is_(False), Instance.task_state.is_not(None))
        ).all()
        for instance in stuck:
            age = now - (instance.updated_at or instance.created_at)
            host = session.get(ComputeHost, instance.host) if instance.host else None
            rule = matching_rule(instance, age, service.host_is_up(host, down_after), control.settings)
            if rule is not None:
                _apply(control, found, session, instance, rule.remedy)
    network_client.networks_changed(control.app, sorted(set(found.synced)), "req-sweeper")
    for send in found.after_commit:
        send()
    if any(found.counts.values()):
        LOG.warning("compute sweeper: %s", found.counts)
    return found.counts
