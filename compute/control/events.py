"""What hosts report back, and how the control side turns it into server state.

Each handler is a compare-and-swap on the state the instance must be in for the report to apply; a report
that no longer applies (the server was deleted meanwhile, a newer action took over) changes nothing, except
that a guest nobody wants any more is destroyed. The outcome each report sets is the action's row of
``compute.states.TRANSITIONS``; the report that a guest was destroyed belongs to the delete (``compute.delete``).
"""

from __future__ import annotations

import logging
from typing import Any

from compute import actions, client, delete, service, volumes
from compute.control import (
    build,
    cold_migration,
    evacuation,
    interfaces,
    live_migration,
    rebuild,
    records,
    resize,
    shelve,
    volume_events,
)
from compute.control.context import ComputeControl
from compute.models import Instance
from compute.states import TRANSITIONS, Action, PowerState, TaskState, VmState
from network import client as network_client

LOG = logging.getLogger(__name__)
BUILD = TRANSITIONS[Action.BUILD]


# Actions whose outcome changes more than the vm_state: each returns the columns to write (and may change
# allocations in the same transaction).
FINISHERS = {
    Action.REBUILD: rebuild.finish,
    Action.RESIZE: resize.finish_resize,
    Action.CONFIRM_RESIZE: resize.finish_confirm,
    Action.REVERT_RESIZE: resize.finish_revert,
    Action.SHELVE: shelve.finish_shelve,
    Action.SHELVE_OFFLOAD: shelve.finish_offload,
    Action.UNSHELVE: shelve.finish_unshelve,
    Action.EVACUATE: evacuation.finish,
}
# What follows an outcome once it is committed (messages to send): (control, instance, request, error, the
# shelved image id as the report found it).
AFTER = {
    Action.SHELVE: shelve.after_shelve,
    Action.SHELVE_OFFLOAD: shelve.after_offload,
    Action.UNSHELVE: shelve.after_unshelve,
}


def spawned(control: ComputeControl, instance_id: str, host: str, power_state: int, request_id: str) -> str:
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        moved_on = bool(instance and not instance.deleted and not delete.deleting(instance) and instance.host != host)
        if instance is None or instance.deleted or delete.deleting(instance) or instance.host != host:
            unwanted = True
        else:
            unwanted = False
            service.swap(
                session,
                instance_id,
                {"vm_state": VmState.BUILDING.value, "task_state": BUILD.task_states[-1].value, "host": host},
                vm_state=BUILD.on_success[0].value,
                task_state=None,
                power_state=power_state,
                launched_at=service.now(),
                fault=None,
            )
            volumes.booted(session, instance_id, host)
            actions.record_event(session, instance_id, request_id, "compute_build_and_run_instance", "Success", host)
    if unwanted and moved_on:
        # A copy on a host the build was taken from (compute.control.handoff): dropped there, no delete to report.
        client.agent_drop(control.app, host, instance_id, request_id)
        return "dropping: the build moved on"
    if unwanted:
        client.agent_destroy(control.app, host, instance_id, request_id)
        return "destroying: no longer wanted"
    return "active"


def spawn_failed(control: ComputeControl, instance_id: str, host: str, reason: str, request_id: str) -> str:
    """Free the failed host's claim and try another host, up to MAX_ATTEMPTS, then ERROR."""
    if (moving := live_migration.network_failed(control, instance_id, host, reason, request_id)) is not None:
        return moving  # the target of a live migration could not wire the ports
    if shelve.unshelving_here(control, instance_id, host):  # the network failed an unshelve's ports
        return shelve.network_failed(control, instance_id, host, reason, request_id)
    if cold_migration.wiring_for_move(control, instance_id, host):  # the network failed a cold move's ports
        return cold_migration.network_failed(control, instance_id, host, reason, request_id)
    if evacuation.evacuating_here(control, instance_id, host):  # the network failed an evacuation's ports
        return evacuation.network_failed(control, instance_id, host, reason, request_id)
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted:
            return "gone"
        if actions.reported_elsewhere(instance, host, "a failed build"):
            return "ignored: the instance lives elsewhere"
        deleting = delete.deleting(instance)
        building_here = instance.host == host and instance.task_state in (TaskState.SPAWNING, TaskState.NETWORKING)
        if not building_here and not deleting:
            return "superseded"
        records.release_resources(session, instance_id, host)
        attempts = list(instance.attempts or [])
        if deleting:
            networks = delete.finish(session, instance_id, control.app, request_id)
        retry = not deleting and len(attempts) < build.MAX_ATTEMPTS
        if retry:
            retry = service.swap(
                session,
                instance_id,
                {"task_state": instance.task_state, "host": host},
                host=None,
                task_state=TaskState.SCHEDULING.value,
                fault=records.fault(500, f"Build failed on {host}: {reason}"),  # kept for the final message
            )
    if deleting:
        network_client.networks_changed(control.app, networks, request_id)
        return "deleted"
    if retry:
        LOG.warning("[%s] build of %s failed on %s (%s); rescheduling", request_id, instance_id, host, reason)
        client.build(control.app, instance_id, request_id)
        return "rescheduled"
    build.fail_build(control, instance_id, request_id, f"Build failed on {', '.join(attempts)}: {reason}", host)
    return "error"


def network_ready(
    control: ComputeControl, instance_id: str, host: str, nics: list[dict[str, Any]], request_id: str
) -> str:
    """The network service wired the server's ports on its host: remember how to plug them, then spawn."""
    if (moving := live_migration.network_ready(control, instance_id, host, nics, request_id)) is not None:
        return moving  # the target of a live migration is wired: it prepares the guest
    if shelve.unshelving_here(control, instance_id, host):
        return shelve.network_ready(control, instance_id, host, nics, request_id)
    if cold_migration.wiring_for_move(control, instance_id, host):
        return cold_migration.network_ready(control, instance_id, host, nics, request_id)
    if evacuation.evacuating_here(control, instance_id, host):
        return evacuation.network_ready(control, instance_id, host, nics, request_id)
    if (plugging := interfaces.network_ready(control, instance_id, host, nics, request_id)) is not None:
        return plugging  # an interface attached to a server that runs: hot-plug it
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted or instance.host != host:
            return "superseded"
        if instance.task_state != TaskState.NETWORKING:
            return "not waiting"
        entries = records.with_nics(instance.requested_networks, nics)
        if not service.swap(
            session,
            instance_id,
            {"task_state": TaskState.NETWORKING.value, "host": host},
            task_state=TaskState.SPAWNING.value,
            requested_networks=entries,
        ):
            return "superseded"
        session.expire(instance)
        spec = build.instance_spec(session.get(Instance, instance_id))
    client.agent_spawn(control.app, host, spec, request_id, control.settings.compute_build_take_timeout)
    return "spawning"


def action_done(
    control: ComputeControl,
    instance_id: str,
    host: str,
    action: str,
    request_id: str,
    power_state: int,
    error: str | None = None,
    result: dict[str, Any] | None = None,
) -> str:
    if action in volume_events.ACTIONS:  # volume work holds no task state: matched by its attachment instead
        return volume_events.done(control, instance_id, host, action, request_id, error, result)
    if action in interfaces.ACTIONS:  # as volume work, matched by the port it names
        return interfaces.done(control, instance_id, host, action, request_id, error, result)
    if action in cold_migration.STEPS:  # a cold move's step, matched by the move's status and the host's part
        return cold_migration.step_done(control, instance_id, host, action, request_id, power_state, error)
    transition = TRANSITIONS[Action(action)]
    task_state = transition.task_state
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        if instance is None or instance.deleted or instance.task_state != task_state:
            return "superseded"
        if actions.reported_elsewhere(instance, host, f"the outcome of {action}"):
            return "ignored: the instance lives elsewhere"
        values: dict[str, Any] = {"task_state": None, "power_state": power_state}
        shelved_image = instance.shelved_image_id
        finisher = FINISHERS.get(action)
        if finisher is not None:
            values |= finisher(session, instance, power_state, error)
        elif error is None and len(transition.on_success) == 1:
            values["vm_state"] = transition.on_success[0].value
        elif error is not None and power_state == PowerState.NOSTATE:
            values["vm_state"] = VmState.ERROR.value  # whatever the table says, no guest left is ERROR
            values["fault"] = records.fault(500, error)
        elif error is not None and transition.on_failure is not None:
            values["vm_state"] = transition.on_failure.value
        service.swap(session, instance_id, {"task_state": instance.task_state}, **values)
        event = f"compute_{action}_instance"
        actions.record_event(session, instance_id, request_id, event, "Error" if error else "Success", host, error)
    if error:
        LOG.warning("[%s] %s of %s failed on %s: %s", request_id, action, instance_id, host, error)
    if (after := AFTER.get(Action(action))) is not None:
        after(control, instance_id, request_id, error, shelved_image)
    return "error" if error else "done"
