"""The network quotas: the hook every create of the service layer calls, and how network usage is counted.

Every create calls ``check`` inside its own transaction, after the write transaction has begun and before
the new rows are added: the quota engine locks the project's quota row there and counts the project's rows
(DESIGN.md section 3), so concurrent creates cannot exceed the limit. A port made for a server is checked in
the server create's transaction, so its ``OverQuota`` comes out as that request's (Nova's) fault.

What the service makes on its own is counted but not checked, as in Neutron: the ``default`` security group
and its rules, and a network's DHCP port. A router's ports and the ports holding floating IPs belong to no
project (``project_id`` "", as in Neutron), so they count against nobody's ports.
"""

from __future__ import annotations

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from network.models import FloatingIP, Network, Port, Router, SecurityGroup, SecurityGroupRule, Subnet
from quota import engine

RESOURCES = ("network", "subnet", "port", "router", "floatingip", "security_group", "security_group_rule")


def check(session: Session, project_id: str, resource: str, count: int = 1) -> None:
    """Raise ``quota.exceptions.OverQuota`` unless ``project_id`` may have ``count`` more ``resource``."""
    if resource not in RESOURCES:
        raise ValueError(f"unknown network quota resource {resource!r}")
    engine.enforce(session, project_id, {resource: count})


Counted = Network | Subnet | Port | Router | FloatingIP | SecurityGroup | SecurityGroupRule


def _counting(model: type[Counted]) -> Select[tuple[int]]:
    return select(func.count()).select_from(model).where(model.project_id == bindparam("project_id"))


# Built once: building a statement costs more than running it, and these run in every create's check.
_COUNTS = {
    "network": _counting(Network),
    "subnet": _counting(Subnet),
    "port": _counting(Port),
    "router": _counting(Router),
    "floatingip": _counting(FloatingIP),
    "security_group": _counting(SecurityGroup),
    "security_group_rule": _counting(SecurityGroupRule),
}


def _count(session: Session, resource: str, project_id: str) -> dict[str, int]:
    # Core on the session's connection: the engine flushed the session; one row needs no ORM.
    return {resource: session.connection().scalar(_COUNTS[resource], {"project_id": project_id}) or 0}


def count_networks(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    return _count(session, "network", project_id)


def count_subnets(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    return _count(session, "subnet", project_id)


def count_ports(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    return _count(session, "port", project_id)


def count_security_groups(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    return _count(session, "security_group", project_id)


def count_security_group_rules(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    return _count(session, "security_group_rule", project_id)


def count_routers(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    return _count(session, "router", project_id)


def count_floating_ips(session: Session, project_id: str, _user_id: str | None) -> dict[str, int]:
    return _count(session, "floatingip", project_id)
