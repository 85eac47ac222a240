"""``/network/v2.0/rbac-policies``: Neutron's RBAC policies on networks (``rbac-policies`` extension).

Owners share their own networks with one project (``access_as_shared``); sharing with every project (``*``) and
``access_as_external`` are the admins', as Neutron's ``create_rbac_policy:target_tenant`` and the external
network rules have it. The semantics (who then sees and uses the network, when a policy may go) are
``network.rbac``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from sqlalchemy import select

from api.network import listing, schemas
from api.network.common import PREFIX, caller, collection, enforce, resource_body, single
from api.network.unit_of_work import unit_of_work
from api.runtime import runtime
from network import rbac
from network.access import EXTERNAL, get_network
from network.models import NetworkRBAC

bp = Blueprint("network_rbac_policies", __name__, url_prefix=PREFIX)

LISTING = listing.Listing(
    collection="rbac-policies",
    model=NetworkRBAC,
    columns={
        "id": NetworkRBAC.id,
        "tenant_id": NetworkRBAC.project_id,
        "project_id": NetworkRBAC.project_id,
        "object_id": NetworkRBAC.object_id,
        "action": NetworkRBAC.action,
        "target_tenant": NetworkRBAC.target_tenant,
        "target_project": NetworkRBAC.target_tenant,
    },
    constants={"object_type": "network"},
    not_found=lambda marker: rbac.RbacPolicyNotFound(object_type="network", id=marker),
)


def rbac_view(policy: NetworkRBAC) -> dict[str, Any]:
    return {
        "id": policy.id,
        "tenant_id": policy.project_id,
        "project_id": policy.project_id,
        "object_type": "network",
        "object_id": policy.object_id,
        "action": policy.action,
        "target_tenant": policy.target_tenant,
    }


def _enforce_target(action: str, target: str, project_id: str) -> None:
    if target == rbac.WILDCARD:
        enforce("network:rbac_policy:target_tenant:*", {"project_id": project_id})
    if action == EXTERNAL:
        enforce("network:rbac_policy:access_as_external", {"project_id": project_id})


@bp.get("/rbac-policies")
def list_rbac_policies() -> Response:
    who = caller(enforce("network:get_rbac_policy"))
    with runtime().db.session() as session:
        found = listing.page(session, LISTING, select(NetworkRBAC).where(rbac.visible_policies(who)))
        return collection("rbac_policies", [rbac_view(p) for p in found.rows], found.links)


@bp.get("/rbac-policies/<policy_id>")
def show_rbac_policy(policy_id: str) -> tuple[Response, int]:
    who = caller(enforce("network:get_rbac_policy"))
    with runtime().db.session() as session:
        return single("rbac_policy", rbac_view(rbac.get_policy(session, who, policy_id)))


@bp.post("/rbac-policies")
def create_rbac_policy() -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("rbac_policy", schemas.RBAC_POLICY_CREATE)
        work.project_for(attrs, "network:create_rbac_policy")
        # The network must be visible (404) and the caller's to share (403), as its update right.
        network = work.fetch(get_network, attrs["object_id"], "network:create_rbac_policy")
        enforce("network:update_network", {"project_id": network.project_id})
        _enforce_target(attrs["action"], attrs["target_tenant"], network.project_id)
        policy = rbac.create_policy(work.session, work.who, attrs)
        work.notify(network.id)
        return single("rbac_policy", rbac_view(policy), 201)


@bp.put("/rbac-policies/<policy_id>")
def update_rbac_policy(policy_id: str) -> tuple[Response, int]:
    with unit_of_work() as work:
        attrs = resource_body("rbac_policy", schemas.RBAC_POLICY_UPDATE)
        policy = work.fetch(rbac.get_policy, policy_id, "network:update_rbac_policy")
        if "target_tenant" in attrs:
            _enforce_target(policy.action, attrs["target_tenant"], policy.project_id)
            policy = rbac.update_policy(work.session, work.who, policy_id, attrs["target_tenant"])
        work.notify(policy.object_id)
        return single("rbac_policy", rbac_view(policy))


@bp.delete("/rbac-policies/<policy_id>")
def delete_rbac_policy(policy_id: str) -> Response:
    with unit_of_work() as work:
        policy = work.fetch(rbac.get_policy, policy_id, "network:delete_rbac_policy")
        network_id = policy.object_id
        rbac.delete_policy(work.session, work.who, policy_id)
        work.notify(network_id)
    return Response(status=204)
