"""``/network/v2.0/quotas``: the network limits of projects, their usage (``/details``) and the defaults.

Neutron's shapes: ``{"quota": {"port": 500, ...}}``, details as ``{"limit", "used", "reserved"}``, a listing
of the projects that have limits of their own. Readers see their own project's, admins any project's and
change them; ``DELETE`` is back to the defaults. With ``check_limit`` (the ``quota-check-limit``
extension) a limit below what the project holds is refused. Exceeding a limit is a 409 ``OverQuota`` from
the create that tried (``api.faults``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from api.network.common import PREFIX, current_caller, enforce, resource_body, to_bool, to_int
from api.quotas import project_usage, verify_project
from api.runtime import runtime
from quota import engine, limits, registry

bp = Blueprint("network_quotas", __name__, url_prefix=PREFIX)

RESOURCES = tuple(r.name for r in registry.of_service("network"))

_LIMIT = {"type": "integer"}
UPDATE = {
    "type": "object",
    "properties": {
        "quota": {
            "type": "object",
            "properties": {**dict.fromkeys(RESOURCES, _LIMIT), "check_limit": {"type": "boolean"}},
            "additionalProperties": False,
        }
    },
    "required": ["quota"],
    "additionalProperties": False,
}


def _limits(project_id: str) -> dict[str, int]:
    with runtime().db.session() as session:
        return limits.limits(session, project_id, RESOURCES)


@bp.get("/quotas")
def list_quotas() -> Response:
    """Every project with a network limit of its own, with all its network limits."""
    enforce("network:get_quotas")
    with runtime().db.session() as session:
        own = limits.projects_with_limits(session, RESOURCES)
        defaults = limits.defaults(session, RESOURCES)
    quotas = [{**defaults, **values, "project_id": p, "tenant_id": p} for p, values in own.items()]
    return jsonify({"quotas": quotas})


@bp.get("/quotas/tenant")
def show_own_tenant() -> Response:
    ctx, _ = current_caller()
    enforce("network:get_quota", {"project_id": ctx.project_id})
    return jsonify({"tenant": {"tenant_id": ctx.project_id}})


@bp.get("/quotas/project")
def show_own_project() -> Response:
    ctx, _ = current_caller()
    enforce("network:get_quota", {"project_id": ctx.project_id})
    return jsonify({"project": {"project_id": ctx.project_id}})


@bp.get("/quotas/<project_id>")
def show_quota(project_id: str) -> Response:
    enforce("network:get_quota", {"project_id": project_id})
    return jsonify({"quota": _limits(project_id)})


@bp.get("/quotas/<project_id>/default")
def show_quota_default(project_id: str) -> Response:
    enforce("network:get_quota_default", {"project_id": project_id})
    with runtime().db.session() as session:
        return jsonify({"quota": limits.defaults(session, RESOURCES)})


@bp.get("/quotas/<project_id>/details")
def show_quota_details(project_id: str) -> Response:
    enforce("network:get_quota", {"project_id": project_id})
    with runtime().db.session() as session:
        usage = project_usage(session, project_id, RESOURCES)
    return jsonify({"quota": {r: {"limit": u.limit, "used": u.in_use, "reserved": 0} for r, u in usage.items()}})


@bp.put("/quotas/<project_id>")
def update_quota(project_id: str) -> Response:
    enforce("network:update_quota", {"project_id": project_id})
    attrs: dict[str, Any] = resource_body("quota", UPDATE, bools=("check_limit",), ints=RESOURCES)
    check_limit = bool(to_bool(attrs.pop("check_limit", False), "check_limit"))
    values = {name: to_int(value, name) for name, value in attrs.items()}
    with runtime().db.session() as session:
        verify_project(session, project_id)
        engine.set_limits(session, project_id, values, force=not check_limit)
        return jsonify({"quota": limits.limits(session, project_id, RESOURCES)})


@bp.delete("/quotas/<project_id>")
def delete_quota(project_id: str) -> Response:
    enforce("network:delete_quota", {"project_id": project_id})
    with runtime().db.session() as session:
        limits.reset_project(session, project_id, RESOURCES)
    return Response(status=204)
