"""``GET /limits``: the caller's project's absolute compute limits and usage (admins: any, with ``tenant_id``).

The figures are the quota engine's, the same as ``os-quota-sets/{project}/detail`` shows; ``rate`` is
always empty (rate limits are not Nova's business any more). Before 2.36 the network proxies are shown
too, from the Network API's security group quotas; ``maxImageMeta`` goes at 2.39 and the personality limits at
2.57, as in Nova.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from api import policy
from api.compute.microversions import at_least
from api.compute.quota_keys import OWN, PROXIES
from api.quotas import project_usage
from api.runtime import runtime
from quota.registry import UNLIMITED

bp = Blueprint("compute_limits", __name__, url_prefix="/compute/v2.1")

NETWORK_PROXIES = tuple(PROXIES.values())  # the Network API's resources behind Nova's proxy keys


@bp.get("/limits")
def show_limits() -> Response:
    ctx = policy.enforce("compute:limits")
    project_id = request.args.get("tenant_id") or ctx.project_id
    if project_id != ctx.project_id:
        policy.enforce("compute:limits:other_project", {"project_id": project_id})
    proxied = not at_least("2.36")
    with runtime().db.session() as session:
        usage = project_usage(session, str(project_id), OWN + (NETWORK_PROXIES if proxied else ()), ctx.user_id)
    absolute = {
        "maxTotalInstances": usage["instances"].limit,
        "maxTotalCores": usage["cores"].limit,
        "maxTotalRAMSize": usage["ram"].limit,
        "maxServerMeta": usage["metadata_items"].limit,
        "maxTotalKeypairs": usage["key_pairs"].limit,
        "maxServerGroups": usage["server_groups"].limit,
        "maxServerGroupMembers": usage["server_group_members"].limit,
        "totalInstancesUsed": usage["instances"].in_use,
        "totalCoresUsed": usage["cores"].in_use,
        "totalRAMUsed": usage["ram"].in_use,
        "totalServerGroupsUsed": usage["server_groups"].in_use,
    }
    if not at_least("2.39"):  # the image-metadata proxy's limit, gone with the proxy
        absolute["maxImageMeta"] = usage["metadata_items"].limit
    if not at_least("2.57"):  # server create refuses personality files; Nova drops the keys at 2.57
        absolute |= {"maxPersonality": 0, "maxPersonalitySize": 0}
    if proxied:  # the network proxies Nova dropped in 2.36
        absolute |= {
            "maxSecurityGroups": usage["security_group"].limit,
            "maxSecurityGroupRules": usage["security_group_rule"].limit,
            "maxTotalFloatingIps": UNLIMITED,
            "totalSecurityGroupsUsed": usage["security_group"].in_use,
            "totalFloatingIpsUsed": 0,
        }
    return jsonify({"limits": {"rate": [], "absolute": absolute}})
