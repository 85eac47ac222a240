"""HA restart: the servers marked highly available of a host that stays down are evacuated, once it is fenced.

A server is marked by its metadata ``HA_Enabled`` = ``True`` (Masakari's key; ``compute.evacuate.ha_enabled``).
Every ``host_heartbeat_interval`` the scheduler looks for hosts that are down (no heartbeat for
``compute_host_down_after``, or forced down) for longer than ``ha_grace_period`` and that hold such servers, idle,
in a state an evacuation may start from. For each such host:

1. it must be fenced (``compute.control.fencing.fence``: an operator forced it down, or the fence command succeeds
   now). A host that cannot be fenced keeps its servers: a host that is only cut off from the control node still
   runs them, and a second copy elsewhere would be split brain. The fence command is tried again after
   ``RETRY_FENCE`` seconds at the earliest.
2. each HA server is evacuated (``compute.evacuate.begin``, as an admin's request, then
   ``compute.control.evacuation``) to a host the scheduler picks.

Idempotent and one evacuation per server and outage: the claim is a compare-and-swap on an idle server, an
evacuated server is on another host, and a server whose evacuation from this host failed during this outage (a
move recorded since the host counts as down) is not tried again until the host has been back in service.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from compute import client, evacuate, fencing, moves, service
from compute.control import fencing as fence_runner
from compute.control.context import ComputeControl
from compute.models import ComputeHost, Instance, Migration
from compute.states import TRANSITIONS, Action

LOG = logging.getLogger(__name__)
RETRY_FENCE = 60.0
"""Seconds between two runs of the fence command for one host that it did not fence."""
HA_USER = "stratus-ha"
"""Who the HA pass's evacuations are recorded as requested by (``os-instance-actions``, ``os-migrations``)."""
_tried: dict[str, float] = {}
"""When the fence command last failed for a host (this process's clock)."""


@dataclass
class _Down:
    host: str
    fenced: bool
    servers: list[str] = field(default_factory=list)


def down_since(host: ComputeHost, down_after: timedelta) -> datetime | None:
    """When the host counts as down from: its last heartbeat plus ``down_after``, or when an operator forced it
    down (fenced it), whichever came first; None when it is up."""
    if service.host_is_up(host, down_after):
        return None
    moments = []
    if host.last_heartbeat is not None:
        moments.append(host.last_heartbeat + down_after)
    if host.forced_down:
        moments.append(host.fenced_at or host.updated_at or service.now())
    return min(moments) if moments else None


def _tried_already(session: Session, instance_id: str, host: str, since: datetime) -> bool:
    """An evacuation of the server from this host was recorded during this outage (since it counts as down; an
    admin's evacuation fences the host in the same instant, hence the second of slack). A host forced down that
    still heartbeats is in one outage until it is forced up: its heartbeats do not make a failed move new."""
    query = select(Migration.id).where(
        Migration.instance_id == instance_id,
        Migration.source_compute == host,
        Migration.migration_type == moves.MigrationType.EVACUATION.value,
        Migration.created_at >= since - timedelta(seconds=1),
    )
    return session.scalars(query.limit(1)).first() is not None


def due(control: ComputeControl) -> list[_Down]:
    """Hosts down past the grace period, with their HA servers that wait for an evacuation."""
    settings = control.settings
    down_after = timedelta(seconds=settings.compute_host_down_after)
    deadline = service.now() - timedelta(seconds=settings.ha_grace_period)
    starts_from = [state.value for state in TRANSITIONS[Action.EVACUATE].starts_from]
    found = []
    with control.db.session() as session:
        for host in session.scalars(select(ComputeHost).order_by(ComputeHost.name)):
            since = down_since(host, down_after)
            if since is None or since > deadline:
                continue
            candidates = session.scalars(
                select(Instance).where(
                    Instance.host == host.name,
                    Instance.deleted.is_(False),
                    Instance.task_state.is_(None),
                    Instance.vm_state.in_(starts_from),
                )
            )
            marked = [i.id for i in candidates if evacuate.ha_enabled(i.metadata_items)]
            servers = [server for server in marked if not _tried_already(session, server, host.name, since)]
            if servers:
                found.append(_Down(host.name, fencing.is_fenced(host), servers))
    return found


def _fenced(control: ComputeControl, down: _Down) -> bool:
    if down.fenced:
        return True
    last = _tried.get(down.host)
    if last is not None and time.monotonic() - last < RETRY_FENCE:
        return False
    if fence_runner.fence(control, down.host):
        _tried.pop(down.host, None)
        return True
    _tried[down.host] = time.monotonic()
    return False


def _evacuate(control: ComputeControl, instance_id: str, host: str) -> bool:
    request_id = f"req-ha-{uuid.uuid4()}"
    with control.db.session() as session:
        instance = session.get(Instance, instance_id)
        source = session.get(ComputeHost, host)
        if instance is None or source is None or instance.host != host or instance.task_state is not None:
            return False
        move = evacuate.begin(session, instance, source, request_id, HA_USER, instance.project_id)
    if move is None:
        return False
    LOG.warning("[%s] HA: evacuating server %s from %s, which is down and fenced", request_id, instance_id, host)
    client.evacuate(control.app, instance_id, request_id)
    return True


def check(control: ComputeControl) -> dict[str, int]:
    """The periodic pass: fence what must be, evacuate what may be."""
    counts = {"evacuated": 0, "unfenced": 0}
    for down in due(control):
        if not _fenced(control, down):
            counts["unfenced"] += 1
            continue
        for server in down.servers:
            try:
                counts["evacuated"] += _evacuate(control, server, down.host)
            except Exception:  # one server's trouble (its record, the broker) keeps no other server where it is
                LOG.exception("HA: the evacuation of %s from %s could not start", server, down.host)
    if any(counts.values()):
        LOG.warning("HA pass: %s", counts)
    return counts
