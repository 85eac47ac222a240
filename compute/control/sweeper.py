"""The periodic safety net of the control side, also run once when the scheduler starts (recovery).

A lost message must never leave a server stuck: a build still waiting for placement is sent again, a task in
flight for too long is given up (ERROR for a build, the previous state for an action), a delete whose
host is down is finished here (the host's own sync destroys the guest when it comes back), and a delete
whose host is up but has not answered is sent to it again, once (destroying is idempotent; a user's delete
must not turn back into a running server because one message was lost).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from compute import client
from compute.control import build, hosts, records, resize
from compute.control.context import ComputeControl
from compute.models import ComputeHost, Instance
from compute.states import TaskState, VmState
from network import client as network_client

LOG = logging.getLogger(__name__)


def sweep(control: ComputeControl) -> dict[str, int]:
    counts = {"resent": 0, "timed_out": 0, "deleted": 0}
    now = records.now()
    resend_after = timedelta(seconds=control.settings.compute_resend_after)
    task_timeout = timedelta(seconds=control.settings.compute_task_timeout)
    down_after = timedelta(seconds=control.settings.compute_host_down_after)
    # One sweep falls in this window after a delete was asked for: its destroy is sent again once, not at every
    # sweep (a busy host would otherwise queue a duplicate destroy per sweep ahead of its other work).
    redestroy_until = resend_after + timedelta(seconds=control.settings.compute_sweep_interval)
    resend: list[str] = []
    rebind: list[tuple[str, str, str]] = []
    redestroy: list[tuple[str, str]] = []
    synced: list[str] = []
    timed_out_builds: list[str] = []
    with control.db.session() as session:
        stuck = session.scalars(
            select(Instance).where(Instance.deleted.is_(False), Instance.task_state.is_not(None))
        ).all()
        for instance in stuck:
            age = now - (instance.updated_at or instance.created_at)
            host = session.get(ComputeHost, instance.host) if instance.host else None
            if instance.task_state == TaskState.DELETING and (host is None or not hosts.host_is_up(host, down_after)):
                synced += records.finish_delete(session, instance.id)
                counts["deleted"] += 1
            elif instance.task_state == TaskState.DELETING and resend_after < age <= redestroy_until:
                redestroy.append((instance.id, instance.host))  # the host is up: it has lost the message
            elif instance.task_state == TaskState.SCHEDULING and age > resend_after:
                resend.append(instance.id)
            elif instance.task_state == TaskState.NETWORKING and resend_after < age <= task_timeout:
                rebind.append((instance.id, instance.project_id, instance.host))  # the binding or its answer was lost
            elif age > task_timeout and instance.vm_state == VmState.BUILDING:
                timed_out_builds.append(instance.id)
            elif age > task_timeout:
                undone = resize.undo(session, instance) if instance.task_state == TaskState.RESIZE_PREP else {}
                records.swap(
                    session,
                    instance.id,
                    {"task_state": instance.task_state},
                    task_state=None,
                    fault=records.fault(500, f"{instance.task_state} timed out"),
                    **undone,
                )
                counts["timed_out"] += 1
    for instance_id in resend:
        client.build(control.app, instance_id, "req-sweeper")
        counts["resent"] += 1
    for instance_id, project_id, host in rebind:
        network_client.bind_instance(control.app, instance_id, project_id, host, "req-sweeper")
        counts["resent"] += 1
    for instance_id, host in redestroy:
        client.agent_destroy(control.app, host, instance_id, "req-sweeper")
        counts["resent"] += 1
    network_client.networks_changed(control.app, sorted(set(synced)), "req-sweeper")
    for instance_id in timed_out_builds:
        build.fail_build(control, instance_id, "req-sweeper", "The build timed out.")
        counts["timed_out"] += 1
    if any(counts.values()):
        LOG.warning("compute sweeper: %s", counts)
    return counts
