"""``/network/v2.0/qos``: QoS policies, their bandwidth-limit rules, the rule types, and rules by id alone.

Neutron's default policy: anyone reads the policies of their project and shared ones (another project's is a
404); creating, changing and deleting policies and rules is for admins (403 ``PolicyNotAuthorized``), and so is
reading the rule types. A rule change tells the networks whose ports the policy shapes, after the commit, so
their hosts' agents reshape them (``network.qos.networks_using``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from api.network import listing
from api.network.common import PREFIX, caller, collection, enforce, resource_body, single
from api.network.qos_schemas import (
    POLICY_BOOLS,
    POLICY_CREATE,
    POLICY_UPDATE,
    RULE_CREATE,
    RULE_INTS,
    RULE_UPDATE,
)
from api.network.unit_of_work import unit_of_work
from api.network.views import neutron_time
from api.runtime import runtime
from network import qos
from network.exceptions import QosPolicyNotFound, QosRuleNotFound, QosRuleTypeNotFound
from network.models import QosBandwidthLimitRule, QosPolicy

bp = Blueprint("network_qos", __name__, url_prefix=PREFIX)

POLICIES = listing.Listing(
    collection="qos/policies",
    model=QosPolicy,
    columns={
        "id": QosPolicy.id,
        "name": QosPolicy.name,
        "tenant_id": QosPolicy.project_id,
        "project_id": QosPolicy.project_id,
        "shared": QosPolicy.shared,
        "is_default": QosPolicy.is_default,
        "description": QosPolicy.description,
        "revision_number": QosPolicy.revision_number,
    },
    not_found=lambda marker: QosPolicyNotFound(policy_id=marker),
)
DRIVER = "linuxbridge"
"""The backend the rule types name: this cloud's dataplane is Neutron's linuxbridge layout, shaped with tc."""


def _rules_listing(policy_id: str) -> listing.Listing:
    return listing.Listing(
        collection=f"qos/policies/{policy_id}/bandwidth_limit_rules",
        model=QosBandwidthLimitRule,
        columns={
            "id": QosBandwidthLimitRule.id,
            "max_kbps": QosBandwidthLimitRule.max_kbps,
            "max_burst_kbps": QosBandwidthLimitRule.max_burst_kbps,
            "direction": QosBandwidthLimitRule.direction,
        },
        not_found=lambda marker: QosRuleNotFound(rule_id=marker, policy_id=policy_id),
    )


def rule_view(rule: QosBandwidthLimitRule) -> dict[str, Any]:
    """A rule as its own resource answers it (Neutron's sub-resource attributes)."""
    return {
        "id": rule.id,
        "max_kbps": rule.max_kbps,
        "max_burst_kbps": rule.max_burst_kbps,
        "direction": rule.direction,
    }


def policy_view(policy: QosPolicy) -> dict[str, Any]:
    """A policy with its rules inline, each naming its policy and type (what ``openstack network qos rule list``
    reads)."""
    created = neutron_time(policy.created_at)
    return {
        "id": policy.id,
        "name": policy.name,
        "description": policy.description,
        "tenant_id": policy.project_id,
        "project_id": policy.project_id,
        "shared": policy.shared,
        "is_default": policy.is_default,
        "rules": [
            {**rule_view(rule), "qos_policy_id": policy.id, "type": qos.BANDWIDTH_LIMIT}
            for rule in policy.bandwidth_limit_rules
        ],
        "tags": list(policy.tags or []),
        "created_at": created,
        "updated_at": neutron_time(policy.updated_at) if policy.updated_at else created,
        "revision_number": policy.revision_number,
    }


@bp.get("/qos/policies")
def list_policies() -> Response:
    who = caller(enforce("network:get_policy"))
    with runtime().db.session() as session:
        found = listing.page(session, POLICIES, select(QosPolicy).where(qos.visible_policies(who)))
        return collection("policies", [policy_view(policy) for policy in found.rows], found.links)


@bp.get("/qos/policies/<policy_id>")
def show_policy(policy_id: str) -> tuple[Response, int]:
    who = caller(enforce("network:get_policy"))
    with runtime().db.session() as session:
        return single("policy", policy_view(qos.get_policy(session, who, policy_id)))


@bp.post("/qos/policies")
def create_policy() -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("policy", POLICY_CREATE, POLICY_BOOLS)
        work.project_for(attrs, "network:create_policy")
        policy = qos.create_policy(work.session, work.who, attrs)
        return single("policy", policy_view(policy), 201)


@bp.put("/qos/policies/<policy_id>")
def update_policy(policy_id: str) -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("policy", POLICY_UPDATE, POLICY_BOOLS)
        work.fetch(qos.get_policy, policy_id, "network:update_policy")
        return single("policy", policy_view(qos.update_policy(work.session, work.who, policy_id, attrs)))


@bp.delete("/qos/policies/<policy_id>")
def delete_policy(policy_id: str) -> Response:
    with unit_of_work() as work:
        work.fetch(qos.get_policy, policy_id, "network:delete_policy")
        qos.delete_policy(work.session, work.who, policy_id)
    return Response(status=204)


@bp.get("/qos/policies/<policy_id>/bandwidth_limit_rules")
def list_rules(policy_id: str) -> Response:
    who = caller(enforce("network:get_policy_bandwidth_limit_rule"))
    with runtime().db.session() as session:
        policy = qos.get_policy(session, who, policy_id)
        query = select(QosBandwidthLimitRule).where(QosBandwidthLimitRule.qos_policy_id == policy.id)
        found = listing.page(session, _rules_listing(policy.id), query)
        return collection("bandwidth_limit_rules", [rule_view(rule) for rule in found.rows], found.links)


@bp.get("/qos/policies/<policy_id>/bandwidth_limit_rules/<rule_id>")
def show_rule(policy_id: str, rule_id: str) -> tuple[Response, int]:
    who = caller(enforce("network:get_policy_bandwidth_limit_rule"))
    with runtime().db.session() as session:
        return single("bandwidth_limit_rule", rule_view(qos.get_rule(session, who, policy_id, rule_id)))


@bp.post("/qos/policies/<policy_id>/bandwidth_limit_rules")
def create_rule(policy_id: str) -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("bandwidth_limit_rule", RULE_CREATE, ints=RULE_INTS)
        work.fetch(qos.get_policy, policy_id, "network:create_policy_bandwidth_limit_rule")
        rule = qos.create_rule(work.session, work.who, policy_id, attrs)
        work.notify(*qos.networks_using(work.session, policy_id))
        return single("bandwidth_limit_rule", rule_view(rule), 201)


def _update_rule(policy_id: str, rule_id: str, action: str) -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("bandwidth_limit_rule", RULE_UPDATE, ints=RULE_INTS)
        work.fetch(qos.get_policy, policy_id, action)
        rule = qos.update_rule(work.session, work.who, policy_id, rule_id, attrs)
        work.notify(*qos.networks_using(work.session, policy_id))
        return single("bandwidth_limit_rule", rule_view(rule))


def _delete_rule(policy_id: str, rule_id: str, action: str) -> Response:
    with unit_of_work() as work:
        work.fetch(qos.get_policy, policy_id, action)
        qos.delete_rule(work.session, work.who, policy_id, rule_id)
        work.notify(*qos.networks_using(work.session, policy_id))
    return Response(status=204)


@bp.put("/qos/policies/<policy_id>/bandwidth_limit_rules/<rule_id>")
def update_rule(policy_id: str, rule_id: str) -> tuple[Response, int]:
    return _update_rule(policy_id, rule_id, "network:update_policy_bandwidth_limit_rule")


@bp.delete("/qos/policies/<policy_id>/bandwidth_limit_rules/<rule_id>")
def delete_rule(policy_id: str, rule_id: str) -> Response:
    return _delete_rule(policy_id, rule_id, "network:delete_policy_bandwidth_limit_rule")


# --- qos-rules-alias: a rule by its id alone -------------------------------------------------------------------


def _policy_of_rule(rule_id: str) -> str:
    ctx = enforce("network:get_policy_bandwidth_limit_rule")
    with runtime().db.session() as session:
        return qos.find_rule(session, caller(ctx), rule_id).qos_policy_id


@bp.get("/qos/alias_bandwidth_limit_rules/<rule_id>")
def show_alias_rule(rule_id: str) -> tuple[Response, int]:
    return show_rule(_policy_of_rule(rule_id), rule_id)


@bp.put("/qos/alias_bandwidth_limit_rules/<rule_id>")
def update_alias_rule(rule_id: str) -> tuple[Response, int]:
    return _update_rule(_policy_of_rule(rule_id), rule_id, "network:update_policy_bandwidth_limit_rule")


@bp.delete("/qos/alias_bandwidth_limit_rules/<rule_id>")
def delete_alias_rule(rule_id: str) -> Response:
    return _delete_rule(_policy_of_rule(rule_id), rule_id, "network:delete_policy_bandwidth_limit_rule")


# --- rule types --------------------------------------------------------------------------------------------


def _range(name: str) -> dict[str, Any]:
    return {"parameter_name": name, "parameter_type": "range", "parameter_values": {"start": 0, "end": qos.MAX_KBPS}}


@bp.get("/qos/rule-types")
def list_rule_types() -> Response:
    enforce("network:get_rule_type")
    return jsonify({"rule_types": [{"type": rule_type} for rule_type in qos.RULE_TYPES]})


@bp.get("/qos/rule-types/<rule_type>")
def show_rule_type(rule_type: str) -> tuple[Response, int]:
    """``qos-rule-type-details``: which backend enforces the type, with which parameters and values."""
    enforce("network:get_rule_type")
    if rule_type not in qos.RULE_TYPES:
        raise QosRuleTypeNotFound(rule_type=rule_type)
    parameters = [
        _range("max_kbps"),
        {"parameter_name": "direction", "parameter_type": "choices", "parameter_values": list(qos.DIRECTIONS)},
        _range("max_burst_kbps"),
    ]
    driver = {"name": DRIVER, "supported_parameters": parameters}
    return single("rule_type", {"type": rule_type, "drivers": [driver]})
