"""``/os-quota-sets``: a project's block storage limits (``?usage=true``: with ``in_use``), the defaults, and for
admins updates and a reset to the defaults, in Cinder's shapes.

The five counted resources are the quota registry's ``block-storage`` ones (``volume.quota`` counts them in the
same locked transaction as every create). ``per_volume_gigabytes`` is shown as Cinder's unlimited -1 and
``groups`` as 0 (this cloud offers no volume groups); setting either changes nothing. As in Cinder, a limit below
what the project holds is refused only when ``skip_validation`` is false (by default it is true).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from api import policy
from api.quotas import project_usage, verify_project
from api.runtime import runtime
from api.validation import query_bool, validated_body
from api.volume import routing, schemas
from quota import engine, limits, registry

bp = Blueprint("volume_quota_sets", __name__)

COUNTED = tuple(r.name for r in registry.of_service("block-storage"))
FIXED = {"per_volume_gigabytes": -1, "groups": 0}


def _limits_view(values: dict[str, int]) -> dict[str, int]:
    return {**{name: values[name] for name in COUNTED}, **FIXED}


@routing.get(bp, "/os-quota-sets/<target_project>")
def show_quota_set(target_project: str) -> Response:
    policy.enforce("volume:quota_sets:show", {"project_id": target_project})
    usage = bool(query_bool("usage", False))
    with runtime().db.session() as session:
        verify_project(session, target_project)
        if usage:
            found = project_usage(session, target_project, COUNTED)
            shown: dict[str, Any] = {
                name: {"limit": u.limit, "in_use": u.in_use, "reserved": 0} for name, u in found.items()
            }
            shown |= {name: {"limit": value, "in_use": 0, "reserved": 0} for name, value in FIXED.items()}
        else:
            shown = _limits_view(limits.limits(session, target_project, COUNTED))
    return jsonify({"quota_set": {"id": target_project, **shown}})


@routing.get(bp, "/os-quota-sets/<target_project>/defaults")
def show_quota_defaults(target_project: str) -> Response:
    ctx = policy.enforce("volume:quota_sets:defaults", {"project_id": target_project})
    with runtime().db.session() as session:
        if ctx.is_admin:
            verify_project(session, target_project)
        found = limits.defaults(session, COUNTED)
    return jsonify({"quota_set": {"id": target_project, **_limits_view(found)}})


@routing.put(bp, "/os-quota-sets/<target_project>")
def update_quota_set(target_project: str) -> Response:
    policy.enforce("volume:quota_sets:update", {"project_id": target_project})
    body: dict[str, Any] = validated_body(schemas.QUOTA_UPDATE)["quota_set"]
    force = schemas.as_bool(body.get("skip_validation", True))
    values = {name: schemas.as_int(value, name, minimum=-1) for name, value in body.items() if name in COUNTED}
    for name in FIXED:
        if name in body:
            schemas.as_int(body[name], name, minimum=-1)
    with runtime().db.session() as session:
        verify_project(session, target_project)
        engine.set_limits(session, target_project, values, force=force)
        return jsonify({"quota_set": _limits_view(limits.limits(session, target_project, COUNTED))})


@routing.delete(bp, "/os-quota-sets/<target_project>")
def delete_quota_set(target_project: str) -> Response:
    """Back to the defaults (the project's own block storage limits go)."""
    policy.enforce("volume:quota_sets:delete", {"project_id": target_project})
    with runtime().db.session() as session:
        limits.reset_project(session, target_project, COUNTED)
    return Response(status=200)
