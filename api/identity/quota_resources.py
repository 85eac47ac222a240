"""``GET /v3/OS-STRATUS/quota_resources``: the quota resource table (``quota.registry``), for clients to show.

The portal and the ``stratus`` CLI reach the cloud only through its APIs, so this is how they learn which
resources are limited, what to call them and how to show them, instead of each keeping a copy of the table
(three copies once disagreed on names). Keystone's ``/v3/registered_limits`` lists the same resources with a
description, but it names the service by id only and has no label, unit, or what one limit applies to (a
project, each user, each server): this extension answers with those, in the registry's order. Limits and
usage stay with the APIs that hold them (Nova's quota sets, Neutron's quotas, Keystone's limits and Glance's
usage); this lists no figures. It is Stratus' own, under an ``OS-`` prefix as Keystone's extensions are.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from api import policy
from api.identity.limits import SERVICE_IDS
from api.urls import collection_links
from quota import registry

bp = Blueprint("identity_quota_resources", __name__, url_prefix="/identity/v3")

PATH = "/OS-STRATUS/quota_resources"


def resource_view(resource: registry.Resource) -> dict[str, Any]:
    """One resource as clients get it. ``scope`` says how usage is counted (``project``: summed over the
    project, ``user``: each user's own, ``item``: none, a limit on each server or group); ``per`` is what one
    limit applies to, in the word a user reads."""
    return {
        "name": resource.name,
        "service": resource.service,
        "service_id": SERVICE_IDS[resource.service],
        "label": resource.label,
        "description": resource.description,
        "unit": resource.unit,
        "scope": resource.scope.value,
        "per": resource.per,
    }


@bp.get(PATH)
def list_quota_resources() -> Response:
    # The table is as public as the registered limits (their defaults): any authenticated caller may read it.
    policy.enforce("identity:get_registered_limit")
    views = [resource_view(r) for r in registry.RESOURCES]
    return jsonify({"quota_resources": views, "links": collection_links(PATH)})
