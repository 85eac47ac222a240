"""plain addresses: remove stored addresses that are not plain (issue 11, item 2)

Before this revision the Network API stored what Python's ``ipaddress`` accepted, and it accepts an IPv6 scope id
of any characters: ``fd00::1%x\\nflush ruleset #`` could be a rule's remote_ip_prefix, a subnet's nameserver or a
port's fixed IP. The API refuses them now and the host agents refuse them too, but a stored one would still stop
its host's wiring. This revision removes what is not a plain address (hex digits, ``.``, ``:`` and a decimal
``/prefix``), choosing in each place what can only narrow access, never widen it:

- a security group rule with such a remote_ip_prefix is deleted (a rule only ever allows traffic);
- a subnet's nameserver, host route or allocation pool with one is dropped, and such a gateway_ip cleared;
- a port's allowed address pair with one is dropped, and a fixed IP with one is freed.

Each removal is logged. The check is written out here rather than imported, so the revision stays what it is when
the code moves on. There is no downgrade of removed data.

Revision ID: 0013_plain_addresses
Revises: 0012_build_taken_by
Create Date: 2026-12-06 05:10:00
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013_plain_addresses"
down_revision = "0012_build_taken_by"
branch_labels = None
depends_on = None

LOG = logging.getLogger("alembic.runtime.migration")
_ADDRESS = re.compile(r"[0-9A-Fa-f.:]{2,45}")
_CIDR = re.compile(r"[0-9A-Fa-f.:]{2,45}(/[0-9]{1,3})?")


def _plain_address(value: Any) -> bool:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _plain_network(value: Any) -> bool:
    if not isinstance(value, str) or not _CIDR.fullmatch(value):
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _json(value: Any) -> list[Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


def _rules(connection: sa.Connection) -> None:
    rules = sa.table("security_group_rules", sa.column("id"), sa.column("remote_ip_prefix"))
    for rule_id, prefix in connection.execute(sa.select(rules.c.id, rules.c.remote_ip_prefix)):
        if prefix is not None and not _plain_network(prefix):
            LOG.warning("deleting security group rule %s: remote_ip_prefix %r is not a plain CIDR", rule_id, prefix)
            connection.execute(sa.delete(rules).where(rules.c.id == rule_id))


def _subnets(connection: sa.Connection) -> None:
    subnets = sa.table(
        "subnets",
        sa.column("id"),
        sa.column("gateway_ip"),
        sa.column("dns_nameservers", sa.JSON),
        sa.column("host_routes", sa.JSON),
        sa.column("allocation_pools", sa.JSON),
    )
    columns = (subnets.c.id, subnets.c.gateway_ip, subnets.c.dns_nameservers, subnets.c.host_routes,
               subnets.c.allocation_pools)  # fmt: skip
    for subnet_id, gateway, nameservers, routes, pools in connection.execute(sa.select(*columns)):
        nameservers, routes, pools = _json(nameservers), _json(routes), _json(pools)
        changes: dict[str, Any] = {}
        if gateway is not None and not _plain_address(gateway):
            changes["gateway_ip"] = None
        kept_servers = [server for server in nameservers if _plain_address(server)]
        if kept_servers != nameservers:
            changes["dns_nameservers"] = kept_servers
        kept_routes = [r for r in routes if _plain_network(r.get("destination")) and _plain_address(r.get("nexthop"))]
        if kept_routes != routes:
            changes["host_routes"] = kept_routes
        kept_pools = [p for p in pools if _plain_address(p.get("start")) and _plain_address(p.get("end"))]
        if kept_pools != pools:
            changes["allocation_pools"] = kept_pools
        if changes:
            LOG.warning("subnet %s: removing addresses that are not plain: %s", subnet_id, sorted(changes))
            connection.execute(sa.update(subnets).where(subnets.c.id == subnet_id).values(**changes))


def _ports(connection: sa.Connection) -> None:
    ports = sa.table("ports", sa.column("id"), sa.column("allowed_address_pairs", sa.JSON))
    for port_id, pairs in connection.execute(sa.select(ports.c.id, ports.c.allowed_address_pairs)):
        pairs = _json(pairs)
        kept = [pair for pair in pairs if _plain_network(pair.get("ip_address"))]
        if kept != pairs:
            LOG.warning("port %s: dropping allowed address pairs that are not plain", port_id)
            connection.execute(sa.update(ports).where(ports.c.id == port_id).values(allowed_address_pairs=kept))
    allocations = sa.table("ip_allocations", sa.column("id"), sa.column("port_id"), sa.column("ip_address"))
    for allocation_id, port_id, address in connection.execute(
        sa.select(allocations.c.id, allocations.c.port_id, allocations.c.ip_address)
    ):
        if not _plain_address(address):
            LOG.warning("port %s: freeing fixed IP %r, not a plain address", port_id, address)
            connection.execute(sa.delete(allocations).where(allocations.c.id == allocation_id))


def upgrade() -> None:
    connection = op.get_bind()
    _rules(connection)
    _subnets(connection)
    _ports(connection)


def downgrade() -> None:
    """Removed addresses are not brought back: they were the attack."""
