"""``/network/v2.0/security-groups`` and ``/security-group-rules``: groups and their rules.

Listing the groups of a project creates its ``default`` group first if it has none, as Neutron does, so
``openstack security group list`` shows it before any port exists.
"""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.network import listing, schemas
from api.network.common import PREFIX, caller, collection, enforce, project_of, resource_body, single
from api.network.unit_of_work import unit_of_work
from api.network.views import rule_view, security_group_view
from api.runtime import runtime
from network import security_group_rules, security_groups
from network.access import get_security_group, own
from network.exceptions import SecurityGroupNotFound, SecurityGroupRuleNotFound
from network.models import Port, PortSecurityGroup, SecurityGroup, SecurityGroupRule

bp = Blueprint("network_security_groups", __name__, url_prefix=PREFIX)

GROUPS = listing.Listing(
    collection="security-groups",
    model=SecurityGroup,
    columns={
        "id": SecurityGroup.id,
        "name": SecurityGroup.name,
        "tenant_id": SecurityGroup.project_id,
        "project_id": SecurityGroup.project_id,
        "description": SecurityGroup.description,
        "stateful": SecurityGroup.stateful,
        "revision_number": SecurityGroup.revision_number,
    },
    constants={"shared": False},
    not_found=lambda marker: SecurityGroupNotFound(id=marker),
)
RULES = listing.Listing(
    collection="security-group-rules",
    model=SecurityGroupRule,
    columns={
        "id": SecurityGroupRule.id,
        "tenant_id": SecurityGroupRule.project_id,
        "project_id": SecurityGroupRule.project_id,
        "security_group_id": SecurityGroupRule.security_group_id,
        "direction": SecurityGroupRule.direction,
        "ethertype": SecurityGroupRule.ethertype,
        "protocol": SecurityGroupRule.protocol,
        "port_range_min": SecurityGroupRule.port_range_min,
        "port_range_max": SecurityGroupRule.port_range_max,
        "remote_ip_prefix": SecurityGroupRule.remote_ip_prefix,
        "remote_group_id": SecurityGroupRule.remote_group_id,
        "description": SecurityGroupRule.description,
        "revision_number": SecurityGroupRule.revision_number,
    },
    constants={"remote_address_group_id": None},
    not_found=lambda marker: SecurityGroupRuleNotFound(id=marker),
)


def _networks_using(session: Session, group_id: str) -> list[str]:
    """Networks with a port in the group: the hosts that must re-render the group's rules."""
    query = (
        select(Port.network_id)
        .join(PortSecurityGroup, PortSecurityGroup.port_id == Port.id)
        .where(PortSecurityGroup.security_group_id == group_id)
        .distinct()
    )
    return list(session.scalars(query))


@bp.get("/security-groups")
def list_security_groups() -> Response:
    ctx = enforce("network:get_security_group")
    who = caller(ctx)
    with runtime().db.session() as session:
        if ctx.project_id:
            security_groups.ensure_default(session, ctx.project_id)
        found = listing.page(session, GROUPS, select(SecurityGroup).where(own(who, SecurityGroup.project_id)))
        views = [security_group_view(g) for g in found.rows]
    return collection("security_groups", views, found.links)


@bp.get("/security-groups/<group_id>")
def show_security_group(group_id: str) -> tuple[Response, int]:
    who = caller(enforce("network:get_security_group"))
    with runtime().db.session() as session:
        return single("security_group", security_group_view(get_security_group(session, who, group_id)))


@bp.post("/security-groups")
def create_security_group() -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("security_group", schemas.SECURITY_GROUP_CREATE, schemas.SECURITY_GROUP_BOOLS)
        work.project_for(attrs, "network:create_security_group")
        group = security_groups.create_group(work.session, work.who, attrs)
        return single("security_group", security_group_view(group), 201)


@bp.put("/security-groups/<group_id>")
def update_security_group(group_id: str) -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("security_group", schemas.SECURITY_GROUP_UPDATE, schemas.SECURITY_GROUP_BOOLS)
        work.fetch(get_security_group, group_id, "network:update_security_group")
        group = security_groups.update_group(work.session, work.who, group_id, attrs)
        return single("security_group", security_group_view(group))


@bp.delete("/security-groups/<group_id>")
def delete_security_group(group_id: str) -> Response:
    with unit_of_work() as work:
        work.fetch(get_security_group, group_id, "network:delete_security_group")
        security_groups.delete_group(work.session, work.who, group_id)
    return Response(status=204)


@bp.get("/security-group-rules")
def list_security_group_rules() -> Response:
    who = caller(enforce("network:get_security_group_rule"))
    with runtime().db.session() as session:
        query = select(SecurityGroupRule).where(own(who, SecurityGroupRule.project_id))
        found = listing.page(session, RULES, query)
        views = [rule_view(r) for r in found.rows]
    return collection("security_group_rules", views, found.links)


@bp.get("/security-group-rules/<rule_id>")
def show_security_group_rule(rule_id: str) -> tuple[Response, int]:
    who = caller(enforce("network:get_security_group_rule"))
    with runtime().db.session() as session:
        return single("security_group_rule", rule_view(security_group_rules.get_rule(session, who, rule_id)))


@bp.post("/security-group-rules")
def create_security_group_rule() -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body(
            "security_group_rule", schemas.SECURITY_GROUP_RULE_CREATE, ints=schemas.SECURITY_GROUP_RULE_INTS
        )
        project_of(work.ctx, attrs)  # a rule is its group's project's: the policy is checked on the group
        group = work.fetch(get_security_group, attrs["security_group_id"], "network:create_security_group_rule")
        rule = security_group_rules.create_rule(work.session, work.who, attrs)
        work.notify(*_networks_using(work.session, group.id))
        return single("security_group_rule", rule_view(rule), 201)


@bp.delete("/security-group-rules/<rule_id>")
def delete_security_group_rule(rule_id: str) -> Response:
    with unit_of_work() as work:
        rule = work.fetch(security_group_rules.get_rule, rule_id, "network:delete_security_group_rule")
        work.notify(*_networks_using(work.session, rule.security_group_id))
        security_group_rules.delete_rule(work.session, work.who, rule_id)
    return Response(status=204)
