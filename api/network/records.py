"""Plain records for the two big listings (ports and networks), read without building ORM objects.

Thousands of ports are listed as often as the compute and network services look at them, and building an ORM
object (with change tracking) for each port, address and group membership costs several times the query.
These selects read the columns as plain rows, load each relation with one query over the page's ids, and
decode only the JSON that is not empty. The records answer to the same attribute names as the models, so
``api.network.views`` renders either.
"""

from __future__ import annotations

import json
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, Text, cast, select
from sqlalchemy.orm import Session

from api.network.listing import Page
from network.models import IPAllocation, Network, Port, PortSecurityGroup, Subnet

PORT_JSON = ("tags", "allowed_address_pairs", "binding_profile", "binding_vif_details", "extra_dhcp_opts")
NETWORK_JSON = ("tags",)


TIMESTAMPS = ("created_at", "updated_at")
"""Read as text ("YYYY-MM-DD HH:MM:SS[.ffffff]", naive UTC, on SQLite and on PostgreSQL's ISO date style): a
view only cuts them to Neutron's format, and parsing 10,000 of them into datetimes was a fifth of a listing."""


def _columns(model: Any, json_columns: tuple[str, ...]) -> list[Any]:
    table = model.__table__
    as_text = (*json_columns, *TIMESTAMPS)
    plain = [column for column in table.c if column.name not in as_text]
    return plain + [cast(table.c[name], Text).label(name) for name in as_text]


def _decode(text: str | None) -> Any:
    if text is None or text == "null":
        return None
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text)


def _records(rows: list[Any], json_columns: tuple[str, ...]) -> list[SimpleNamespace]:
    """One record per row; the column names are read once per page (a row's ``_mapping`` costs more than the
    rest of its record) and JSON columns are decoded."""
    if not rows:
        return []
    keys = list(rows[0]._fields)
    found = []
    for row in rows:
        values = dict(zip(keys, row, strict=True))
        for name in json_columns:
            values[name] = _decode(values[name])
        found.append(SimpleNamespace(**values))
    return found


def port_query() -> Select[Any]:
    return select(*_columns(Port, PORT_JSON))


def network_query() -> Select[Any]:
    return select(*_columns(Network, NETWORK_JSON))


def ports(session: Session, page: Page) -> list[SimpleNamespace]:
    """The page's ports with ``fixed_ips`` (rows with ``subnet_id``, ``ip_address``) and ``security_group_ids``."""
    connection = session.connection()  # plain rows: Core execution skips the ORM's loading step
    addresses: dict[str, list[Any]] = defaultdict(list)
    query = select(IPAllocation.port_id, IPAllocation.subnet_id, IPAllocation.ip_address)
    for row in connection.execute(query.where(IPAllocation.port_id.in_(page.ids)).order_by(IPAllocation.id)).all():
        addresses[row.port_id].append(row)
    groups: dict[str, list[str]] = defaultdict(list)
    query = select(PortSecurityGroup.port_id, PortSecurityGroup.security_group_id)
    for port_id, group_id in connection.execute(
        query.where(PortSecurityGroup.port_id.in_(page.ids)).order_by(PortSecurityGroup.position)
    ).all():
        groups[port_id].append(group_id)
    found = _records(page.rows, PORT_JSON)
    for port in found:
        port.fixed_ips, port.security_group_ids = addresses.get(port.id, []), groups.get(port.id, [])
    return found


def networks(session: Session, page: Page) -> list[SimpleNamespace]:
    """The page's networks with ``subnets`` (rows with an ``id``), in the order they were created."""
    subnets: dict[str, list[Any]] = defaultdict(list)
    query = select(Subnet.network_id, Subnet.id).where(Subnet.network_id.in_(page.ids))
    for row in session.connection().execute(query.order_by(Subnet.created_at, Subnet.id)):
        subnets[row.network_id].append(row)
    found = _records(page.rows, NETWORK_JSON)
    for network in found:
        network.subnets = subnets.get(network.id, [])
    return found
