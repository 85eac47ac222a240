"""Quality of service (Neutron's ``qos``, ``qos-bw-limit-direction``, ``qos-default``): policies, their
bandwidth-limit rules, and which policy a port has.

- A policy is visible to its project and, when ``shared``, to every project (admins see all); a policy a caller
  cannot see is a 404, for a port or network that names it too (Neutron's ``QosPolicyNotFound``).
- A policy has at most one bandwidth-limit rule per direction (``egress``: what the VM sends; ``ingress``: what
  it receives); a second one is a 409 ``QoSRulesConflict``. Rules are changed under the policy's row lock, and a
  unique constraint backs the check.
- A port's effective policy is its own ``qos_policy_id``, else its network's. A new network without one gets its
  project's ``is_default`` policy (one per project). A policy in use by a port or network is not deleted (409
  ``QosPolicyInUse``), nor made unshared while another project uses it.
- The host agents get each server port's effective limits in ``network.wire.PortWiring.bandwidth``
  (``effective_limits``) and shape its devices with tc.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from network.access import MAX_ID_LENGTH, Caller
from network.db import begin_write, is_unique_violation
from network.exceptions import (
    PolicyRemoveAuthorizationError,
    QoSPolicyDefaultAlreadyExists,
    QosPolicyInUse,
    QosPolicyNotFound,
    QosRuleNotFound,
    QoSRulesConflict,
)
from network.models import Network, Port, QosBandwidthLimitRule, QosPolicy

BANDWIDTH_LIMIT = "bandwidth_limit"
"""The one rule type this cloud enforces (``GET /qos/rule-types``)."""
RULE_TYPES = (BANDWIDTH_LIMIT,)
DIRECTIONS = ("egress", "ingress")
MAX_KBPS = 2_147_483_647
"""Neutron's upper bound of ``max_kbps`` and ``max_burst_kbps`` (its database integer)."""


def visible_policies(caller: Caller) -> ColumnElement[bool]:
    if caller.is_admin:
        return true()
    return or_(QosPolicy.project_id == (caller.project_id or ""), QosPolicy.shared.is_(True))


def get_policy(session: Session, caller: Caller, policy_id: str, for_update: bool = False) -> QosPolicy:
    """The policy (404 ``QosPolicyNotFound`` unless the caller's or shared); ``for_update`` locks its row, which
    serialises changes of its rules."""
    query = select(QosPolicy).where(QosPolicy.id == policy_id, visible_policies(caller))
    if for_update:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none() if len(policy_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise QosPolicyNotFound(policy_id=policy_id)
    return found


def _check_default_free(session: Session, project_id: str, exclude: str | None = None) -> None:
    query = select(QosPolicy.id).where(QosPolicy.project_id == project_id, QosPolicy.is_default.is_(True))
    if exclude is not None:
        query = query.where(QosPolicy.id != exclude)
    if session.scalars(query.with_for_update().limit(1)).first() is not None:
        raise QoSPolicyDefaultAlreadyExists(project_id=project_id)


def create_policy(session: Session, caller: Caller, attrs: Mapping[str, Any]) -> QosPolicy:
    project_id = attrs.get("project_id") or caller.project_id or ""
    begin_write(session)
    if attrs.get("is_default"):
        _check_default_free(session, project_id)
    policy = QosPolicy(
        project_id=project_id,
        name=attrs.get("name") or "",
        description=attrs.get("description") or "",
        shared=bool(attrs.get("shared", False)),
        is_default=bool(attrs.get("is_default", False)),
        tags=list(dict.fromkeys(attrs.get("tags") or [])),
    )
    session.add(policy)
    session.flush()
    return policy


def update_policy(session: Session, caller: Caller, policy_id: str, attrs: Mapping[str, Any]) -> QosPolicy:
    begin_write(session)
    policy = get_policy(session, caller, policy_id, for_update=True)
    if attrs.get("is_default") and not policy.is_default:
        _check_default_free(session, policy.project_id, exclude=policy.id)
    if attrs.get("shared") is False and policy.shared:
        _check_unshare(session, policy)
    for field in ("name", "description"):
        if field in attrs:
            setattr(policy, field, attrs[field] or "")
    for field in ("shared", "is_default"):
        if field in attrs:
            setattr(policy, field, bool(attrs[field]))
    policy.revision_number += 1
    session.flush()
    return policy


def _user(session: Session, policy_id: str, other_than: str | None = None) -> tuple[str, str] | None:
    """A port or network that has the policy (of a project other than ``other_than`` when given)."""
    for kind, model in (("port", Port), ("network", Network)):
        query = select(model.id).where(model.qos_policy_id == policy_id)
        if other_than is not None:
            query = query.where(model.project_id != other_than)
        found = session.scalars(query.limit(1)).first()
        if found is not None:
            return kind, found
    return None


def _check_unshare(session: Session, policy: QosPolicy) -> None:
    user = _user(session, policy.id, other_than=policy.project_id)
    if user is not None:
        raise QosPolicyInUse(policy_id=policy.id, object_type=user[0], object_id=user[1])


def delete_policy(session: Session, caller: Caller, policy_id: str) -> None:
    """Delete the policy and its rules; 409 ``QosPolicyInUse`` while a port or network has it (checked under its
    row lock; a concurrent attach makes the delete violate the RESTRICT foreign key instead)."""
    begin_write(session)
    policy = get_policy(session, caller, policy_id, for_update=True)
    user = _user(session, policy.id)
    if user is not None:
        raise QosPolicyInUse(policy_id=policy.id, object_type=user[0], object_id=user[1])
    session.delete(policy)
    try:
        session.flush()
    except IntegrityError:
        raise QosPolicyInUse(policy_id=policy_id, object_type="port", object_id="(attached concurrently)") from None


def get_rule(session: Session, caller: Caller, policy_id: str, rule_id: str) -> QosBandwidthLimitRule:
    policy = get_policy(session, caller, policy_id)
    for rule in policy.bandwidth_limit_rules:
        if rule.id == rule_id:
            return rule
    raise QosRuleNotFound(rule_id=rule_id, policy_id=policy_id)


def find_rule(session: Session, caller: Caller, rule_id: str) -> QosBandwidthLimitRule:
    """A rule by its id alone (``qos-rules-alias``), among the policies the caller may see."""
    query = (
        select(QosBandwidthLimitRule)
        .join(QosPolicy, QosPolicy.id == QosBandwidthLimitRule.qos_policy_id)
        .where(QosBandwidthLimitRule.id == rule_id, visible_policies(caller))
    )
    found = session.scalars(query).one_or_none() if len(rule_id) <= MAX_ID_LENGTH else None
    if found is None:
        raise QosRuleNotFound(rule_id=rule_id, policy_id="")
    return found


def _check_direction_free(policy: QosPolicy, direction: str, rule_id: str | None = None) -> None:
    for rule in policy.bandwidth_limit_rules:
        if rule.direction == direction and rule.id != rule_id:
            raise QoSRulesConflict(new_rule_type=BANDWIDTH_LIMIT, rule_id=rule.id, policy_id=policy.id)


def _flush_rule(session: Session, policy: QosPolicy) -> None:
    """Flush a new or changed rule; the unique constraint refusing it (a concurrent create on PostgreSQL's other
    connection) is the same 409 as the check."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        if not is_unique_violation(error):
            raise
        raise QoSRulesConflict(new_rule_type=BANDWIDTH_LIMIT, rule_id="(concurrent)", policy_id=policy.id) from None


def create_rule(session: Session, caller: Caller, policy_id: str, attrs: Mapping[str, Any]) -> QosBandwidthLimitRule:
    begin_write(session)
    policy = get_policy(session, caller, policy_id, for_update=True)
    direction = attrs.get("direction") or "egress"
    _check_direction_free(policy, direction)
    rule = QosBandwidthLimitRule(
        qos_policy_id=policy.id,
        max_kbps=attrs["max_kbps"],
        max_burst_kbps=attrs.get("max_burst_kbps") or 0,
        direction=direction,
    )
    policy.bandwidth_limit_rules.append(rule)
    policy.revision_number += 1
    _flush_rule(session, policy)
    return rule


def update_rule(
    session: Session, caller: Caller, policy_id: str, rule_id: str, attrs: Mapping[str, Any]
) -> QosBandwidthLimitRule:
    begin_write(session)
    policy = get_policy(session, caller, policy_id, for_update=True)
    rule = get_rule(session, caller, policy_id, rule_id)
    if "direction" in attrs:
        _check_direction_free(policy, attrs["direction"], rule.id)
        rule.direction = attrs["direction"]
    for field in ("max_kbps", "max_burst_kbps"):
        if field in attrs:
            setattr(rule, field, attrs[field])
    policy.revision_number += 1
    _flush_rule(session, policy)
    return rule


def delete_rule(session: Session, caller: Caller, policy_id: str, rule_id: str) -> None:
    begin_write(session)
    policy = get_policy(session, caller, policy_id, for_update=True)
    rule = get_rule(session, caller, policy_id, rule_id)
    policy.bandwidth_limit_rules.remove(rule)
    policy.revision_number += 1
    session.flush()


def attach(session: Session, caller: Caller, record: Port | Network, policy_id: str | None) -> None:
    """Set the ``qos_policy_id`` of a port or network as Neutron's QoS extension does: the policy it has must be
    one the caller may see (or 403 ``PolicyRemoveAuthorizationError``), the new one too (or 404)."""
    old = record.qos_policy_id
    if old is not None and old != policy_id:
        visible = session.scalar(select(QosPolicy.id).where(QosPolicy.id == old, visible_policies(caller)))
        if visible is None:
            raise PolicyRemoveAuthorizationError(policy_id=old)
    if policy_id is not None:
        get_policy(session, caller, policy_id)
    record.qos_policy_id = policy_id


def default_policy_id(session: Session, project_id: str) -> str | None:
    """The project's ``is_default`` policy: what a new network of the project gets when it names none."""
    query = select(QosPolicy.id).where(QosPolicy.project_id == project_id, QosPolicy.is_default.is_(True))
    return session.scalars(query.limit(1)).first()


def networks_using(session: Session, policy_id: str) -> list[str]:
    """The networks whose ports a change of the policy's rules reshapes: those with the policy, and those of the
    ports that have it themselves."""
    own = select(Network.id).where(Network.qos_policy_id == policy_id)
    ports = select(Port.network_id).where(Port.qos_policy_id == policy_id)
    return sorted(set(session.scalars(own)) | set(session.scalars(ports)))


def effective_limits(
    session: Session, ports: Iterable[Port], network_policies: Mapping[str, str | None]
) -> dict[str, tuple[tuple[str, int, int], ...]]:
    """Each port's bandwidth limits as ``(direction, max_kbps, max_burst_kbps)``, from its own policy or, lacking
    one, its network's (``network_policies``: network id -> policy id); ports without limits are left out."""
    chosen = {port.id: port.qos_policy_id or network_policies.get(port.network_id) for port in ports}
    policy_ids = {policy_id for policy_id in chosen.values() if policy_id}
    if not policy_ids:
        return {}
    rules: dict[str, list[tuple[str, int, int]]] = {}
    query = select(QosBandwidthLimitRule).where(QosBandwidthLimitRule.qos_policy_id.in_(policy_ids))
    for rule in session.scalars(query.order_by(QosBandwidthLimitRule.direction)):
        rules.setdefault(rule.qos_policy_id, []).append((rule.direction, rule.max_kbps, rule.max_burst_kbps))
    return {
        port_id: tuple(rules[policy_id]) for port_id, policy_id in chosen.items() if policy_id and rules.get(policy_id)
    }
