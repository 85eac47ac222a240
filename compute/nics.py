"""How a server records interface work in flight on its port entries (``Instance.requested_networks``).

Shared by the API, which marks an entry when it accepts an attach or a detach, and the control side
(``compute.control.interfaces``), which clears the mark when the host reports. An entry is a dict with
``network_id``, ``port_id`` and ``preserve`` (see ``compute.models.ports_of``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.db import begin_write
from compute.models import Instance

ATTACHING = "attaching"
"""The port is made and bound; the host has not yet plugged its NIC into the guest."""
DETACHING = "detaching"
"""The host is unplugging the NIC; the port is freed once the guest let it go."""


def pending(instance: Instance) -> list[dict[str, Any]]:
    """The server's port entries with interface work in flight."""
    entries = instance.requested_networks if isinstance(instance.requested_networks, list) else []
    return [e for e in entries if isinstance(e, dict) and (e.get(ATTACHING) or e.get(DETACHING))]


def locked(session: Session, instance_id: str) -> Instance | None:
    """The server's row, held until the transaction ends (SQLite's write lock, PostgreSQL's row lock), read fresh:
    the entries are a JSON list rewritten whole, so the API marking one and the control side clearing another
    must not both read the same list and each write back their own copy."""
    begin_write(session)
    query = select(Instance).where(Instance.id == instance_id).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one_or_none()
