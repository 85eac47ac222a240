"""Small state changes shared by the control-side workflows: faults and claims released.

The compare-and-swap and the clock live in ``compute.service``, action records in ``compute.actions``, the
delete's teardown in ``compute.delete``, a server's ports as recorded in ``compute.models.ports_of``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from compute.models import Allocation, ComputeHost, Instance
from compute.service import now


def want_report(session: Session, host: str | None) -> None:
    """The workflow's next step is ``host``'s next report, though nothing may change on the host (its periodic look
    sends only changes): its next heartbeat asks it for a full one (``compute.control.hosts.heartbeat``)."""
    if host:
        session.execute(update(ComputeHost).where(ComputeHost.name == host).values(report_wanted=True))


def with_nics(requested_networks: Any, nics: list[dict[str, Any]]) -> list[Any]:
    """The server's requested networks with how the host plugs each port (the network's "ready" answer): what a
    spawn on that host reads. Entries without a port (a network by id) stay as they are."""
    by_port = {nic["port_id"]: nic for nic in nics}
    return [
        {**entry, **by_port.get(entry.get("port_id", ""), {})} if isinstance(entry, dict) else entry
        for entry in (requested_networks or [])
    ]


def remember_nics(session: Session, instance_id: str, host: str, task: str, nics: list[dict[str, Any]]) -> bool:
    """Keep how ``host`` plugs the server's ports, if the server still waits there in ``task`` for them (an
    unshelve, an evacuation); False when it has moved on (the answer is stale)."""
    instance = session.get(Instance, instance_id)
    if instance is None or instance.host != host or instance.task_state != task:
        return False
    instance.requested_networks = with_nics(instance.requested_networks, nics)
    return True


def fault(code: int, message: str, details: str = "") -> dict[str, Any]:
    return {"code": code, "message": message[:1024], "details": details, "created": now().isoformat()}


def release_resources(session: Session, instance_id: str, host: str | None = None) -> None:
    query = delete(Allocation).where(Allocation.instance_id == instance_id)
    if host is not None:
        query = query.where(Allocation.host == host)
    session.execute(query)
