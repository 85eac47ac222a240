"""Small state changes shared by the control-side workflows: faults, claims released, the server's ports as recorded.

The compare-and-swap and the clock live in ``compute.service``, action records in ``compute.actions``, the
delete's teardown in ``compute.delete``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from compute.models import Allocation, Instance
from compute.service import now


def fault(code: int, message: str, details: str = "") -> dict[str, Any]:
    return {"code": code, "message": message[:1024], "details": details, "created": now().isoformat()}


def release_resources(session: Session, instance_id: str, host: str | None = None) -> None:
    query = delete(Allocation).where(Allocation.instance_id == instance_id)
    if host is not None:
        query = query.where(Allocation.host == host)
    session.execute(query)


def ports_of(instance: Instance | None) -> list[dict[str, Any]]:
    """The server's ports as the API recorded them (``requested_networks`` is "none"/"auto" when it has none):
    ``{"network_id", "port_id", "preserve"}``, and once wired ``mac``, ``mtu``, ``tap`` and ``bridge``."""
    requested = instance.requested_networks if instance is not None else None
    return [entry for entry in requested if entry.get("port_id")] if isinstance(requested, list) else []
