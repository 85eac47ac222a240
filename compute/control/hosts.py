"""Host reports: registration, capacity, heartbeat, and the power-state sync that heals drift.

A host agent reports every few seconds what it has and what actually runs there. The control side
upserts the host, then compares each idle instance's recorded state with reality, as Nova's power-state
sync does: instances with a task in flight are left alone (the task will report), a guest that stopped by
itself shows SHUTOFF, one that vanished is ERROR with a fault, and the guest of a deleted server (an orphan
left by a delete while the host was down) is destroyed. Guests this cloud has no record of are left alone.

A report is a snapshot, and several scheduler copies take reports and events from their own queues: a report
may be handled after a word the host sent later (the spawn of a guest it did not list yet). Every host message
carries the host's sequence number (``common.queue.host_seq``); :func:`heard` remembers the newest word about each
server before its event is handled, and a report older than that says nothing about the server, as a report
older than the host's last one says nothing at all.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from common.liveness import cutoff
from compute import client, moves, service
from compute.control import evacuation, live_migration, records
from compute.control.context import ComputeControl
from compute.models import ComputeHost, Instance
from compute.states import PowerState, VmState

LOG = logging.getLogger(__name__)
STOPPED_STATES = (PowerState.SHUTDOWN, PowerState.CRASHED)
ALLOCATION_RATIOS = ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio")
"""Reported by each host from its operator's settings (as Nova's computes report theirs to Placement)."""
MAX_ALLOCATION_RATIO = 1000.0


def _upsert(session: Any, name: str, resources: dict[str, Any], zone: str) -> ComputeHost:
    host = session.get(ComputeHost, name)
    if host is None:
        host = ComputeHost(name=name, availability_zone=zone)
        session.add(host)
        LOG.info("compute host %s registered", name)
    host.vcpus = resources["vcpus"]
    host.memory_mb = resources["memory_mb"]
    host.disk_gb = resources["disk_gb"]
    host.cpu_arch = resources.get("cpu_arch", "x86_64")
    host.hypervisor_type = resources.get("hypervisor_type", "QEMU")
    host.hypervisor_version = resources.get("hypervisor_version", 0)
    host.host_ip = resources.get("host_ip", host.host_ip)
    for ratio in ALLOCATION_RATIOS:
        value = resources.get(ratio)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= MAX_ALLOCATION_RATIO:
            setattr(host, ratio, float(value))
        elif value is not None:
            LOG.warning("compute host %s reported %s %r: kept %s", name, ratio, value, getattr(host, ratio))
    host.last_heartbeat = records.now()
    return host


def _newest_report(session: Any, host: str, seq: int | None) -> bool:
    """Take ``seq`` as the host's newest report, unless one at least as new was handled (False). Reports from
    before hosts numbered their words (None) are taken."""
    if seq is None:
        return True
    newer = (ComputeHost.last_report_seq.is_(None)) | (ComputeHost.last_report_seq < seq)
    taken = session.execute(update(ComputeHost).where(ComputeHost.name == host, newer).values(last_report_seq=seq))
    return taken.rowcount == 1 or session.get(ComputeHost, host) is None


def _sync(instance: Instance, reported: int | None) -> dict[str, Any] | None:
    """The changes that make an idle instance's record match what its host reports, if any."""
    if reported is None:
        if instance.vm_state in (VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED):
            message = "The guest is no longer on its host."
            return {"vm_state": VmState.ERROR.value, "power_state": 0, "fault": records.fault(500, message)}
        return None
    state = PowerState(reported)
    changes: dict[str, Any] = {}
    if state != instance.power_state:
        changes["power_state"] = int(state)
    if instance.vm_state == VmState.ACTIVE and state in STOPPED_STATES:
        changes["vm_state"] = VmState.STOPPED.value
    elif instance.vm_state == VmState.STOPPED and state == PowerState.RUNNING:
        changes["vm_state"] = VmState.ACTIVE.value
    return changes or None


def heard(control: ComputeControl, arguments: dict[str, Any], seq: int) -> None:
    """A host's message about a server (``instance_id``, ``host``) is about to be handled: remember it as the newest
    word about the server, in a transaction of its own committed before the handler changes anything, so that a
    report read at any moment either sees the server before that change or sees this mark."""
    instance_id, host = arguments.get("instance_id"), arguments.get("host")
    if not isinstance(instance_id, str) or not isinstance(host, str):
        return
    newer = (Instance.heard_from != host) | Instance.heard_from.is_(None) | (Instance.heard_seq < seq)
    with control.db.session() as session:
        session.execute(
            update(Instance).where(Instance.id == instance_id, newer).values(heard_from=host, heard_seq=seq)
        )


def _stale_for(instance: Instance, host: str, seq: int | None) -> bool:
    """The report (snapshot ``seq``) is older than the newest word its host sent about ``instance``."""
    return seq is not None and instance.heard_from == host and (instance.heard_seq or 0) > seq


def heartbeat(control: ComputeControl, names: list[str]) -> int:
    """Liveness: the agent is alive even while a long spawn keeps it from sending a full report.

    A host's periodic look reports only what changed on it; a host whose report the control side waits for
    (``records.want_report``), or that was down until this heartbeat (what was decided meanwhile, a server deleted
    or evacuated, waits for its report), is asked for a full one now."""
    up_since = cutoff(timedelta(seconds=control.settings.compute_host_down_after), records.now())
    with control.db.session() as session:
        waited = (
            ComputeHost.report_wanted.is_(True)
            | ComputeHost.last_heartbeat.is_(None)
            | (ComputeHost.last_heartbeat < up_since)
        )
        wanted = list(session.scalars(select(ComputeHost.name).where(ComputeHost.name.in_(names), waited)))
        result = session.execute(
            update(ComputeHost).where(ComputeHost.name.in_(names)).values(last_heartbeat=records.now())
        )
        if wanted:
            session.execute(update(ComputeHost).where(ComputeHost.name.in_(wanted)).values(report_wanted=False))
    for name in wanted:
        client.agent_report(control.app, name)
    return result.rowcount


def host_report(
    control: ComputeControl,
    host: str,
    resources: dict[str, Any],
    instances: dict[str, int],
    zone: str = "nova",
    seq: int | None = None,
) -> dict[str, int]:
    """Apply ``host``'s report whose snapshot is ``seq`` in the host's numbering (None: unnumbered, taken as new)."""
    orphans: list[str] = []
    synced = 0
    with control.db.session() as session:
        if not _newest_report(session, host, seq):
            LOG.info("host %s: report %s is older than one already handled; dropped", host, seq)
            return {"synced": 0, "orphans": 0, "stale": 1}
        registered = _upsert(session, host, resources, zone)
        if seq is not None:
            registered.last_report_seq = seq  # as _newest_report set it; a host new here starts its numbering
        known = set()
        for instance in session.scalars(select(Instance).where(Instance.host == host, Instance.deleted.is_(False))):
            known.add(instance.id)
            if instance.task_state is not None or _stale_for(instance, host, seq):
                continue
            changes = _sync(instance, instances.get(instance.id))
            expect = {"task_state": None, "heard_seq": instance.heard_seq}
            if changes and service.swap(session, instance.id, expect, **changes):
                synced += 1
                LOG.warning("instance %s on %s synced to %s", instance.id, host, changes)
        unknown = [uuid for uuid in instances if uuid not in known]
        columns = (Instance.id, Instance.deleted, Instance.host, Instance.task_state)
        records_of = session.execute(select(*columns).where(Instance.id.in_(unknown))).all() if unknown else []
        # Like Nova's reaping of "running deleted" instances: only guests whose server was deleted here are
        # destroyed; a guest this cloud has no record of is not ours to touch (it is only logged).
        deleted = {row.id for row in records_of if row.deleted}
        orphans = [uuid for uuid in unknown if uuid in deleted]
        # A guest whose server lives on another host, with no move under way, is a stale copy: a build that failed
        # here and whose clean-up failed too (the hypervisor was unreachable) was built elsewhere since. It goes
        # without a delete reported, as a build that moved is dropped; a server never runs twice.
        moved = {
            row.id
            for row in records_of
            if not row.deleted and row.host is not None and row.host != host and row.task_state is None
        }
        moved = {uuid for uuid in moved if moves.in_flight(session, uuid) is None}  # mid-move: the move decides
        for uuid in set(unknown) - deleted - moved:
            LOG.warning("host %s runs guest %s that this cloud does not know; leaving it alone", host, uuid)
        # An evacuated server's stale copy that this report no longer lists is gone: its evacuation is completed.
        evacuation.source_reported(session, host, set(instances))
    live_migration.settle(control, host, instances)  # a live migration whose reports were lost ends where it runs
    for uuid in orphans:
        LOG.warning("destroying orphan guest %s on %s", uuid, host)
        client.agent_destroy(control.app, host, uuid, request_id="req-power-sync")
    for uuid in sorted(moved):
        LOG.warning("dropping guest %s on %s: its server runs on another host", uuid, host)
        client.agent_drop(control.app, host, uuid, request_id="req-power-sync")
    return {"synced": synced, "orphans": len(orphans) + len(moved)}
