"""Which device a tenant's port may name in ``device_id``.

``device_id`` is how Nova finds a server's ports, so a port of project B that names A's server must not be
made. Every lookup of a server's ports is scoped to the server's project as well (as Nova lists ports with
``tenant_id`` and ``device_id``), which makes such a port inert; this check turns the attempt into a clear
409 at the API (Neutron's ``DeviceIDNotOwnedByTenant``, which Neutron raises for another tenant's router).

The rule, for callers that are not admins: a ``device_id`` written as a UUID must be the id of a live server
of the port's project. Free-form ids ("vm-1", ``dhcp-<network>``) stay allowed, as in Neutron. The rule asks
only about the caller's own servers, so the answer is the same whether the UUID is another project's server
or nothing at all: the API is no oracle for other projects' server ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compute.models import Instance
from network.access import Caller
from network.exceptions import DeviceIDNotOwnedByTenant


def _names_a_server(device_id: str) -> bool:
    try:
        uuid.UUID(device_id)
    except ValueError:
        return False
    return True


def _own_server(session: Session, project_id: str, device_id: str) -> bool:
    query = select(Instance.id).where(
        Instance.id == device_id, Instance.project_id == project_id, Instance.deleted.is_(False)
    )
    return session.scalars(query.limit(1)).first() is not None


def check(session: Session, caller: Caller, port_project: str, attrs: Mapping[str, Any]) -> None:
    """Refuse (409) a ``device_id`` in ``attrs`` that names a server the caller may not see; admins may name
    any device. Only a ``device_id`` the request sets is checked: a port keeps the device it has."""
    device_id = attrs.get("device_id")
    if caller.is_admin or not device_id or not _names_a_server(device_id):
        return
    if len(device_id) > 36 or not _own_server(session, port_project, device_id):
        raise DeviceIDNotOwnedByTenant(device_id=device_id)
