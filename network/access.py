"""Who is asking, and which network records they may see or use: the one place with Neutron's visibility rules.

The service layer never reads a web request: callers describe themselves with a ``Caller`` (the API builds
one from the token; the compute server-create path passes the server owner's). A record the caller may not
see is reported as missing (404), never as forbidden, so other projects' ids do not leak.

- Networks: admins see all; others their project's, ``shared`` ones, ``router:external`` ones and those an RBAC
  policy names their project (or ``*``) in. Ports may be created on one's own and on shared networks, a network
  shared by an ``access_as_shared`` policy included (an external network is visible, not usable).
- Subnet pools: admins see all; others their project's and ``shared`` ones.
- Subnets follow their network's visibility. Ports, security groups, routers and floating IPs: admins and
  their own project only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from network.exceptions import (
    FloatingIPNotFound,
    NetworkNotFound,
    PortNotFound,
    RouterNotFound,
    SecurityGroupNotFound,
    SubnetNotFound,
    SubnetPoolNotFound,
)
from network.models import FloatingIP, Network, NetworkRBAC, Port, Router, SecurityGroup, Subnet, SubnetPool

MAX_ID_LENGTH = 36


@dataclass(frozen=True)
class Caller:
    """The project a request acts for, and whether it administers the whole cloud."""

    project_id: str | None
    is_admin: bool = False

    def owns(self, project_id: str | None) -> bool:
        return self.is_admin or (self.project_id is not None and self.project_id == project_id)


SHARED = "access_as_shared"
EXTERNAL = "access_as_external"


def granted(caller: Caller, actions: tuple[str, ...] = (SHARED, EXTERNAL)) -> ColumnElement[bool]:
    """Networks an RBAC policy with one of ``actions`` grants to the caller's project (or to every project)."""
    targets = ["*", caller.project_id] if caller.project_id else ["*"]
    policies = select(NetworkRBAC.object_id).where(
        NetworkRBAC.action.in_(actions), NetworkRBAC.target_tenant.in_(targets)
    )
    return Network.id.in_(policies)


def visible_networks(caller: Caller) -> ColumnElement[bool]:
    if caller.is_admin:
        return true()
    return or_(
        Network.project_id == (caller.project_id or ""),
        Network.shared.is_(True),
        Network.router_external.is_(True),
        granted(caller),
    )


def visible_subnets(caller: Caller) -> ColumnElement[bool]:
    if caller.is_admin:
        return true()
    return Subnet.network_id.in_(select(Network.id).where(visible_networks(caller)))


def own(caller: Caller, project_column: ColumnElement[str] | object) -> ColumnElement[bool]:
    """Rows of the caller's project (every row for admins)."""
    if caller.is_admin:
        return true()
    return project_column == (caller.project_id or "")  # type: ignore[return-value]


def get_network(session: Session, caller: Caller, network_id: str, for_update: bool = False) -> Network:
    query = select(Network).where(Network.id == network_id, visible_networks(caller))
    if for_update:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none() if len(network_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise NetworkNotFound(net_id=network_id)
    return found


def usable_network(session: Session, caller: Caller, network_id: str) -> Network:
    """A network the caller may put ports (or, with policy, subnets) on: its own, or a shared one."""
    network = get_network(session, caller, network_id)
    if not (network.shared or caller.owns(network.project_id) or _shared_with(session, caller, network.id)):
        raise NetworkNotFound(net_id=network_id)
    return network


def _shared_with(session: Session, caller: Caller, network_id: str) -> bool:
    query = select(Network.id).where(Network.id == network_id, granted(caller, (SHARED,)))
    return session.scalar(query) is not None


def get_subnet(session: Session, caller: Caller, subnet_id: str) -> Subnet:
    query = select(Subnet).where(Subnet.id == subnet_id, visible_subnets(caller))
    found = session.scalars(query).one_or_none() if len(subnet_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise SubnetNotFound(subnet_id=subnet_id)
    return found


def get_port(session: Session, caller: Caller, port_id: str) -> Port:
    query = select(Port).where(Port.id == port_id, own(caller, Port.project_id))
    found = session.scalars(query).one_or_none() if len(port_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise PortNotFound(port_id=port_id)
    return found


def get_security_group(session: Session, caller: Caller, group_id: str) -> SecurityGroup:
    query = select(SecurityGroup).where(SecurityGroup.id == group_id, own(caller, SecurityGroup.project_id))
    found = session.scalars(query).one_or_none() if len(group_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise SecurityGroupNotFound(id=group_id)
    return found


def get_router(session: Session, caller: Caller, router_id: str, for_update: bool = False) -> Router:
    """The router (404 ``RouterNotFound`` unless the caller's); ``for_update`` locks its row, so changes of one
    router (its interfaces, gateway, routes) are serialised."""
    query = select(Router).where(Router.id == router_id, own(caller, Router.project_id))
    if for_update:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none() if len(router_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise RouterNotFound(router_id=router_id)
    return found


def get_floating_ip(session: Session, caller: Caller, floatingip_id: str, for_update: bool = False) -> FloatingIP:
    query = select(FloatingIP).where(FloatingIP.id == floatingip_id, own(caller, FloatingIP.project_id))
    if for_update:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none() if len(floatingip_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise FloatingIPNotFound(floatingip_id=floatingip_id)
    return found


def visible_subnetpools(caller: Caller) -> ColumnElement[bool]:
    if caller.is_admin:
        return true()
    return or_(SubnetPool.project_id == (caller.project_id or ""), SubnetPool.shared.is_(True))


def get_subnetpool(session: Session, caller: Caller, subnetpool_id: str, for_update: bool = False) -> SubnetPool:
    """The pool (404 ``SubnetPoolNotFound`` unless the caller's or shared); ``for_update`` locks its row, which
    serialises the allocations from it (and its delete)."""
    query = select(SubnetPool).where(SubnetPool.id == subnetpool_id, visible_subnetpools(caller))
    if for_update:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none() if len(subnetpool_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise SubnetPoolNotFound(subnetpool_id=subnetpool_id)
    return found


def shared_with(session: Session, caller: Caller, network_ids: list[str]) -> set[str]:
    """Which of these networks an ``access_as_shared`` policy shares with the caller's own project: Neutron shows
    them ``shared`` to that project (a ``*`` policy is the ``shared`` column itself)."""
    if not caller.project_id or not network_ids:
        return set()
    query = select(NetworkRBAC.object_id).where(
        NetworkRBAC.object_id.in_(network_ids),
        NetworkRBAC.action == SHARED,
        NetworkRBAC.target_tenant == caller.project_id,
    )
    return set(session.scalars(query))
