"""RBAC policies on networks (Neutron's ``rbac-policies``): sharing a network with one project, or with all.

- ``access_as_shared`` to a project lets that project see the network and create ports on it (subnets stay the
  network owner's, as in Neutron). To ``*`` it is Neutron's ``shared`` flag: the network's ``shared`` becomes
  true.
- ``access_as_external`` to ``*`` makes the network ``router:external``, as Neutron converts a network when the
  policy is created. To a single project Neutron keeps the network external for that project only; this cloud's
  external networks are visible to every project, so that form is refused (400) unless the network is external
  already, rather than widening who sees it.
- A policy is removed (or retargeted) only when the projects it stops covering have no ports left on the
  network (409 ``RbacPolicyInUse``), under the network's row lock; a port created on a network usable only
  through a policy takes that row for share and checks its access again (``network.ports.create_port``), so
  either the port is seen by the removal or the port create sees the policy gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from network.access import EXTERNAL, SHARED, Caller, get_network
from network.db import begin_write
from network.exceptions import InvalidInput, NeutronConflict, NeutronNotFound
from network.models import DHCP_OWNER, FLOATING_IP_OWNER, ROUTER_GATEWAY_OWNER, Network, NetworkRBAC, Port

WILDCARD = "*"
MAX_ID_LENGTH = 36


class RbacPolicyNotFound(NeutronNotFound):
    msg_fmt = "RBAC policy of type {object_type} with ID {id} not found"
    fault_type = "RbacPolicyNotFound"


class RbacPolicyInUse(NeutronConflict):
    msg_fmt = (
        "RBAC policy on object {object_id} cannot be removed because other objects depend on it.\nDetails: {details}"
    )
    fault_type = "RbacPolicyInUse"


class DuplicateRbacPolicy(NeutronConflict):
    msg_fmt = "An RBAC policy already exists with those values."
    fault_type = "DuplicateRbacPolicy"


def visible_policies(caller: Caller) -> ColumnElement[bool]:
    """A policy is its owner's (and the admins') to see, as in Neutron; its target does not list it."""
    if caller.is_admin:
        return true()
    return NetworkRBAC.project_id == (caller.project_id or "")


def get_policy(session: Session, caller: Caller, policy_id: str) -> NetworkRBAC:
    query = select(NetworkRBAC).where(NetworkRBAC.id == policy_id, visible_policies(caller))
    found = session.scalars(query).one_or_none() if len(policy_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise RbacPolicyNotFound(object_type="network", id=policy_id)
    return found


def _duplicate(session: Session, network_id: str, action: str, target: str, exclude: str | None = None) -> None:
    query = select(NetworkRBAC.id).where(
        NetworkRBAC.object_id == network_id, NetworkRBAC.action == action, NetworkRBAC.target_tenant == target
    )
    if exclude is not None:
        query = query.where(NetworkRBAC.id != exclude)
    if session.scalars(query.limit(1)).first() is not None:
        raise DuplicateRbacPolicy()


def create_policy(session: Session, caller: Caller, attrs: Mapping[str, Any]) -> NetworkRBAC:
    """A new policy on a network the caller owns (the API checked that), locked while it is made."""
    begin_write(session)
    network = get_network(session, caller, attrs["object_id"], for_update=True)
    action, target = attrs["action"], attrs["target_tenant"]
    _duplicate(session, network.id, action, target)
    if action == EXTERNAL and target != WILDCARD and not network.router_external:
        raise InvalidInput(
            error_message="access_as_external for a single project needs per-project external networks, which "
            "this cloud does not have; share it with '*' or make the network external first"
        )
    policy = NetworkRBAC(
        project_id=attrs.get("project_id") or caller.project_id or network.project_id,
        object_id=network.id,
        action=action,
        target_tenant=target,
    )
    session.add(policy)
    if target == WILDCARD and action == SHARED and not network.shared:
        network.shared = True
        network.revision_number += 1
    if target == WILDCARD and action == EXTERNAL and not network.router_external:
        network.router_external = True
        network.revision_number += 1
    session.flush()
    return policy


def _remaining(session: Session, policy: NetworkRBAC, action: str) -> list[str]:
    """The targets the network's other policies of ``action`` still grant."""
    query = select(NetworkRBAC.target_tenant).where(
        NetworkRBAC.object_id == policy.object_id, NetworkRBAC.action == action, NetworkRBAC.id != policy.id
    )
    return list(session.scalars(query))


def _check_release(session: Session, network: Network, policy: NetworkRBAC) -> None:
    """409 unless the projects that ``policy`` alone grants have no ports on the network."""
    if policy.action == EXTERNAL:
        if policy.target_tenant == WILDCARD and WILDCARD not in _remaining(session, policy, EXTERNAL):
            users = select(Port.id).where(
                Port.network_id == network.id,
                Port.device_owner.in_((ROUTER_GATEWAY_OWNER, FLOATING_IP_OWNER)),
                Port.project_id != network.project_id,
            )
            if session.scalars(users.limit(1)).first() is not None:
                raise RbacPolicyInUse(object_id=network.id, details="routers or floating IPs use the network")
        return
    still = _remaining(session, policy, SHARED)
    if WILDCARD in still or (network.shared and policy.target_tenant != WILDCARD):
        return  # everyone keeps access anyway
    ports = select(Port.id).where(
        Port.network_id == network.id, Port.project_id != network.project_id, Port.device_owner != DHCP_OWNER
    )
    if policy.target_tenant == WILDCARD:
        ports = ports.where(Port.project_id.not_in(still)) if still else ports
    else:
        ports = ports.where(Port.project_id == policy.target_tenant)
    if session.scalars(ports.limit(1)).first() is not None:
        raise RbacPolicyInUse(
            object_id=network.id, details="the project it shares the network with still has ports on it"
        )


def _unset_wildcard(session: Session, network: Network, policy: NetworkRBAC) -> None:
    """The network's flag that a ``*`` policy stood for goes with the last such policy."""
    if policy.target_tenant != WILDCARD or WILDCARD in _remaining(session, policy, policy.action):
        return
    if policy.action == SHARED and network.shared:
        network.shared = False
        network.revision_number += 1
    if policy.action == EXTERNAL and network.router_external:
        network.router_external = False
        network.revision_number += 1


def _locked_network(session: Session, policy: NetworkRBAC) -> Network:
    begin_write(session)
    return session.scalars(select(Network).where(Network.id == policy.object_id).with_for_update()).one()


def update_policy(session: Session, caller: Caller, policy_id: str, target: str) -> NetworkRBAC:
    """Retarget a policy (Neutron lets only ``target_tenant`` change): the old target is released first."""
    policy = get_policy(session, caller, policy_id)
    network = _locked_network(session, policy)
    if target == policy.target_tenant:
        return policy
    _duplicate(session, network.id, policy.action, target, exclude=policy.id)
    if policy.action == EXTERNAL and target != WILDCARD and not network.router_external:
        raise InvalidInput(error_message="access_as_external for a single project is not supported here")
    _check_release(session, network, policy)
    _unset_wildcard(session, network, policy)
    policy.target_tenant = target
    if target == WILDCARD and policy.action == SHARED:
        network.shared = True
    session.flush()
    return policy


def delete_policy(session: Session, caller: Caller, policy_id: str) -> None:
    policy = get_policy(session, caller, policy_id)
    network = _locked_network(session, policy)
    _check_release(session, network, policy)
    _unset_wildcard(session, network, policy)
    session.delete(policy)
    session.flush()
