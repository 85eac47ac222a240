"""A build handed to a host: the host acknowledges it, or the build is given to another host.

Why: messages sent to a host that went away (its agent stopped or killed, its machine gone, or retired by
``make up HOSTS=N``) wait in its queue for ever, and its builds sat in BUILD until ``compute_task_timeout``
(30 minutes). Now the agent acknowledges a spawn the moment its main process receives it (``taken``, sent even
while the pool is busy with another spawn), and a build is given back and scheduled again when

- its spawn was not taken within ``compute_build_take_timeout`` (the spawn message expires then too), or
- its host is down (no heartbeat for ``compute_host_down_after``), at whichever step it is, or
- it waits for its ports on a host whose network agent is down.

Giving back frees the claim, counts as an attempt (after ``build.MAX_ATTEMPTS`` the server is ERROR with a fault)
and tells the old host to drop the build, so a host that wakes up destroys what it may have started instead of
running a second copy; an acknowledgement that comes too late gets the same answer. Run by the scheduler, every
``host_heartbeat_interval``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from compute import client, service
from compute.control import events
from compute.control.context import ComputeControl
from compute.models import ComputeHost, Instance
from compute.states import TaskState, VmState
from network import vif

LOG = logging.getLogger(__name__)
IN_FLIGHT = (TaskState.NETWORKING.value, TaskState.SPAWNING.value)


@dataclass(frozen=True)
class Stalled:
    """A build that its host will not finish, and why (the reason ends up in the server's fault)."""

    instance_id: str
    host: str
    reason: str


def taken(control: ComputeControl, instance_id: str, host: str, request_id: str = "") -> str:
    """The host's agent received the spawn. A host the build no longer belongs to is told to drop it."""
    with control.db.session() as session:
        expect = {"host": host, "task_state": TaskState.SPAWNING.value, "taken_by": None}
        if service.swap(session, instance_id, expect, taken_by=host):
            return "taken"
        instance = session.get(Instance, instance_id)
        still_here = instance is not None and not instance.deleted and instance.host == host
    if still_here:
        return "already taken"  # a redelivered spawn, or one a delete overtook (the delete destroys it there)
    LOG.warning("[%s] %s took build %s too late; telling it to drop the build", request_id, host, instance_id)
    client.agent_drop(control.app, host, instance_id, request_id)
    return "dropped: the build moved on"


def _why(instance: Instance, compute_host: ComputeHost | None, network_live: bool, now: datetime,
         take: timedelta, down_after: timedelta) -> str | None:  # fmt: skip
    host = instance.host
    if compute_host is None:
        return f"host {host} was removed"
    if not service.host_is_up(compute_host, down_after):
        return f"host {host} is down (no heartbeat for {down_after.total_seconds():g} s)"
    waited = now - (instance.updated_at or instance.created_at)
    if waited <= take:
        return None
    if instance.task_state == TaskState.SPAWNING and instance.taken_by != host:
        return f"host {host} did not take the build within {take.total_seconds():g} s"
    if instance.task_state == TaskState.NETWORKING and not network_live:
        return f"the network agent of host {host} is down"
    return None


def stalled(control: ComputeControl) -> list[Stalled]:
    """Builds in flight that their host will not finish."""
    settings = control.settings
    take = timedelta(seconds=settings.compute_build_take_timeout)
    down_after = timedelta(seconds=settings.compute_host_down_after)
    now = service.now()
    with control.db.session() as session:
        building = list(
            session.scalars(
                select(Instance).where(
                    Instance.deleted.is_(False),
                    Instance.vm_state == VmState.BUILDING.value,
                    Instance.task_state.in_(IN_FLIGHT),
                    Instance.host.is_not(None),
                )
            )
        )
        names = {instance.host for instance in building}
        if not names:
            return []
        compute_hosts = {h.name: h for h in session.scalars(select(ComputeHost).where(ComputeHost.name.in_(names)))}
        network_live = vif.live_agents(session, names, down_after, now)
        found = []
        for instance in building:
            host = instance.host or ""
            reason = _why(instance, compute_hosts.get(host), host in network_live, now, take, down_after)
            if reason:
                found.append(Stalled(instance.id, host, reason))
    return found


def give_back(control: ComputeControl, build: Stalled, request_id: str) -> str:
    """Schedule the build again elsewhere (or end it in ERROR), and tell its old host to drop it."""
    LOG.warning("[%s] build of %s given back: %s", request_id, build.instance_id, build.reason)
    outcome = events.spawn_failed(control, build.instance_id, build.host, build.reason, request_id)
    if outcome != "superseded":
        client.agent_drop(control.app, build.host, build.instance_id, request_id)
    return outcome


def check(control: ComputeControl) -> dict[str, int]:
    """The periodic pass: every stalled build is given back."""
    counts: dict[str, int] = {}
    for build in stalled(control):
        outcome = give_back(control, build, "req-handoff")
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
