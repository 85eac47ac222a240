"""Building a server: pick a host, claim its resources, hand the host a complete spec; retry on failure.

Runs in the scheduler (control side). Idempotent: it acts only on an instance that is ``building`` /
``scheduling``; a redelivered task for an instance already placed does nothing. A build that fails on a host
comes back as an event (see ``events``) and is rescheduled elsewhere, at most ``MAX_ATTEMPTS`` hosts in all.
"""

from __future__ import annotations

import enum
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import object_session

from compute import actions, client, delete, metadata, service, volumes
from compute.control import records, scheduler
from compute.control.context import ComputeControl
from compute.models import Instance, ports_of
from compute.states import TRANSITIONS, Action, TaskState, VmState
from network import client as network_client

LOG = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


class _LostRace(Exception):
    """The claim or the instance changed under us: roll the transaction back."""


class Outcome(enum.Enum):
    PLACED = "placed"
    HOST_TAKEN = "host taken"  # the host no longer fits (or was disabled): try the next one
    INSTANCE_MOVED_ON = "instance moved on"  # deleted or placed meanwhile: stop


def placement_request(session: Any, instance: Instance, down_after: float = 60.0) -> scheduler.Request:
    flavor = instance.flavor
    # A server booted from a volume takes no root disk on its host (Nova's rule too).
    root_gb = 0 if volumes.root_mapping(session, instance.id) is not None else int(flavor["disk"])
    return scheduler.Request(
        instance_id=instance.id,
        vcpus=int(flavor["vcpus"]),
        memory_mb=int(flavor["ram"]),
        disk_gb=root_gb + int(flavor.get("ephemeral", 0)),
        zone=instance.requested_zone,
        forced_host=instance.requested_host,
        arch=(instance.image_meta.get("properties") or {}).get("architecture"),
        excluded=frozenset(instance.attempts or []),
        down_after=timedelta(seconds=down_after),
        **scheduler.group_request_fields(session, instance.server_group_id),  # type: ignore[arg-type]
    )


def instance_spec(instance: Instance) -> dict[str, Any]:
    """What the host needs to run the instance: flavor, image, config drive, NICs. Plain data for the queue. The
    config drive's documents are the metadata service's (``compute.metadata``)."""
    nics = [
        {"mac": p["mac"], "tap": p["tap"], "mtu": int(p["mtu"]), "port_id": p["port_id"], "bridge": p["bridge"]}
        for p in ports_of(instance)
        if p.get("mac")
    ]
    session = object_session(instance)
    root_volume, attached = volumes.spec_entries(session, instance.id) if session is not None else (None, [])
    return {
        "root_volume": root_volume,
        "volumes": attached,
        "uuid": instance.id,
        "name": instance.name,
        "vcpus": int(instance.flavor["vcpus"]),
        "memory_mb": int(instance.flavor["ram"]),
        "root_gb": int(instance.flavor["disk"]),
        "image": {k: instance.image_meta.get(k) for k in ("id", "disk_format", "checksum", "size", "ceph_snapshot")},
        "config_drive": metadata.config_drive(instance) if instance.config_drive else None,
        "nics": nics,
    }


def _try_host(
    control: ComputeControl,
    instance_id: str,
    host: str,
    request: scheduler.Request,
    attempts: list[str],
    next_task: TaskState = TaskState.SPAWNING,
    expect: dict[str, str] | None = None,
) -> Outcome:
    """``expect``: the state the instance must still be in (a build's ``building``/``scheduling`` by default;
    an unshelve places a ``shelved_offloaded`` server with the same claim)."""
    try:
        with control.db.session() as session:
            if not scheduler.claim(session, host, request):
                raise _LostRace(Outcome.HOST_TAKEN)
            zone = session.get(scheduler.ComputeHost, host).availability_zone
            placed = service.swap(
                session,
                instance_id,
                expect or {"vm_state": VmState.BUILDING.value, "task_state": TaskState.SCHEDULING.value},
                host=host,
                availability_zone=zone,
                task_state=next_task.value,
                attempts=[*attempts, host],
                taken_by=None,
            )
            if not placed:
                raise _LostRace(Outcome.INSTANCE_MOVED_ON)
    except _LostRace as lost:
        return lost.args[0]
    return Outcome.PLACED


def _place(
    control: ComputeControl,
    instance_id: str,
    request: scheduler.Request,
    group_id: str | None,
    attempts: list[str],
    next_task: TaskState = TaskState.SPAWNING,
    expect: dict[str, str] | None = None,
) -> tuple[Outcome, str | None, scheduler.Decision]:
    """Decide and claim, from the cached picture of the hosts and, if that finds no host, from a fresh one.
    Returns the outcome, the host (when placed) and the last decision (to explain a failure)."""
    for _ in range(2):
        with control.db.session() as session:
            states, cached = control.hosts.states(session, group_id)
        decision = scheduler.select_hosts(states, request, control.settings.scheduler_strategy)
        for candidate in decision.ranked():
            outcome = _try_host(control, instance_id, candidate.host.name, request, attempts, next_task, expect)
            if outcome is Outcome.PLACED:
                control.hosts.claimed(candidate.host.name, request)
                return outcome, candidate.host.name, decision
            if outcome is Outcome.INSTANCE_MOVED_ON:
                return outcome, None, decision
            control.hosts.invalidate()  # another scheduler got there first: our picture is behind
        if not cached:
            break
        control.hosts.invalidate()
    return Outcome.HOST_TAKEN, None, decision


def place(
    control: ComputeControl,
    instance_id: str,
    request: scheduler.Request,
    group_id: str | None,
    task: TaskState,
    expect: dict[str, str],
) -> tuple[str | None, str]:
    """Place an instance that is not being built (an unshelve) with the build's claim: the host, or None and the
    reason no host was found (or that the instance moved on)."""
    outcome, host, decision = _place(control, instance_id, request, group_id, [], task, expect)
    if outcome is Outcome.PLACED:
        return host, ""
    if outcome is Outcome.INSTANCE_MOVED_ON:
        return None, "superseded"
    return None, scheduler.NoValidHost(reason=decision.explain()).message


def build_instance(control: ComputeControl, instance_id: str, request_id: str) -> str:
    """Place the instance and send it to its host; returns what happened, for logs and tests."""
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted:
            return "gone"
        if delete.deleting(instance):
            networks = delete.finish(session, instance_id, control.app, request_id)
            network_client.networks_changed(control.app, networks, request_id)
            return "deleted before placement"
        if not TRANSITIONS[Action.BUILD].allows(instance.vm_state, instance.task_state):
            return "already placed"
        volume_state = volumes.root_ready(session, control.settings, instance)  # may reserve the root volume
        request = placement_request(session, instance, control.settings.compute_host_down_after)
        group_id = instance.server_group_id
        attempts = list(instance.attempts or [])
        earlier_failure = (instance.fault or {}).get("message") if attempts else None
        networked = bool(ports_of(instance))
        project_id = instance.project_id
    if volume_state == "wait":
        client.build(control.app, instance_id, request_id, countdown=volumes.VOLUME_POLL)
        return "waiting for its volume"
    if volume_state is not None:
        fail_build(control, instance_id, request_id, volume_state)
        return "volume not usable"
    next_task = TaskState.NETWORKING if networked else TaskState.SPAWNING
    outcome, host, decision = _place(control, instance_id, request, group_id, attempts, next_task)
    if outcome is Outcome.PLACED and networked:
        network_client.bind_instance(control.app, instance_id, project_id, host, request_id)  # network ready → spawn
        LOG.info("[%s] instance %s placed on %s; wiring its ports", request_id, instance_id, host)
        return f"placed on {host}, networking"
    if outcome is Outcome.PLACED:
        with control.db.session() as session:
            spec = instance_spec(session.get(Instance, instance_id))
        client.agent_spawn(control.app, host, spec, request_id, control.settings.compute_build_take_timeout)
        LOG.info("[%s] instance %s placed on %s", request_id, instance_id, host)
        return f"placed on {host}"
    if outcome is Outcome.INSTANCE_MOVED_ON:
        return "superseded"
    message = scheduler.NoValidHost(reason=decision.explain()).message
    if earlier_failure:
        message += f" Earlier attempt: {earlier_failure}"
    fail_build(control, instance_id, request_id, message)
    return "no valid host"


def fail_build(
    control: ComputeControl, instance_id: str, request_id: str, message: str, host: str | None = None
) -> None:
    """The build is over without a server: ERROR with a fault, and every resource (claim, ports, quota) released."""
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted:
            return
        if delete.deleting(instance):
            networks = delete.finish(session, instance_id, control.app, request_id)
        else:
            fault = records.fault(500, message)
            # Like Nova, a failed build holds no host: its record no longer keeps a host from being retired.
            service.swap(
                session,
                instance_id,
                {},
                vm_state=(TRANSITIONS[Action.BUILD].on_failure or VmState.ERROR).value,
                task_state=None,
                fault=fault,
                build_failed=True,
                host=None,
                taken_by=None,
            )
            records.release_resources(session, instance_id)
            networks = delete.release_ports(session, instance_id)
            volumes.release(session, instance_id, control.app, request_id)
            event = "compute_build_and_run_instance"
            actions.record_event(session, instance_id, request_id, event, "Error", host, message)
    network_client.networks_changed(control.app, networks, request_id)
    LOG.warning("[%s] build of %s failed: %s", request_id, instance_id, message)
