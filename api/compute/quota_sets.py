"""``/os-quota-sets`` and ``/os-quota-class-sets``: a project's compute limits (and usage), and the defaults.

A project's members and readers read their own project's quota set; admins read and change any project's.
``DELETE`` puts the project back on the defaults; the ``default`` quota class holds the defaults every
project without limits of its own has. An update below what the project already holds is refused (400)
unless ``force`` is given, as in Nova. Keys per microversion: ``api.compute.quota_keys``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from api import policy
from api.compute import quota_keys
from api.compute.resource_schemas import as_bool
from api.quotas import project_usage, verify_project
from api.runtime import runtime
from api.validation import validated_body
from common.exceptions import BadRequest
from quota import engine, limits
from quota.models import DEFAULT_CLASS

bp = Blueprint("compute_quota_sets", __name__, url_prefix="/compute/v2.1")


def _no_user_quotas() -> None:
    if request.args.get("user_id"):
        raise BadRequest("Per-user quotas are not supported by this cloud: quotas are per project.")


def _project_limits(session: Session, project_id: str) -> dict[str, int]:
    shown = quota_keys.keys()
    return quota_keys.limits_view(shown, limits.limits(session, project_id, quota_keys.resources(shown)))


@bp.get("/os-quota-sets/<project_id>")
def show_quota_set(project_id: str) -> Response:
    policy.enforce("compute:quota_sets:show", {"project_id": project_id})
    with runtime().db.session() as session:
        verify_project(session, project_id)
        return jsonify({"quota_set": {"id": project_id, **_project_limits(session, project_id)}})


@bp.get("/os-quota-sets/<project_id>/detail")
def show_quota_set_detail(project_id: str) -> Response:
    """Limits with ``in_use`` (``reserved`` is always 0: quotas are counted, never reserved). Key pairs are
    counted for ``user_id``, else for the caller, since they belong to users."""
    ctx = policy.enforce("compute:quota_sets:show", {"project_id": project_id})
    shown = quota_keys.keys()
    with runtime().db.session() as session:
        verify_project(session, project_id)
        user_id = request.args.get("user_id") or ctx.user_id
        usage = project_usage(session, project_id, quota_keys.resources(shown), user_id)
    return jsonify({"quota_set": {"id": project_id, **quota_keys.detail_view(shown, usage)}})


@bp.get("/os-quota-sets/<project_id>/defaults")
def show_quota_defaults(project_id: str) -> Response:
    """The defaults, for any project id. Only an admin (who may list projects anyway) has the id checked, as Nova
    checks it only when Keystone lets the caller read the project: anyone else gets the same answer whether the
    project exists or not, so the call tells no one which project ids exist."""
    ctx = policy.enforce("compute:quota_sets:defaults", {"project_id": project_id})
    shown = quota_keys.keys()
    with runtime().db.session() as session:
        if ctx.is_admin:
            verify_project(session, project_id)
        found = limits.defaults(session, quota_keys.resources(shown))
    return jsonify({"quota_set": {"id": project_id, **quota_keys.limits_view(shown, found)}})


@bp.put("/os-quota-sets/<project_id>")
def update_quota_set(project_id: str) -> Response:
    policy.enforce("compute:quota_sets:update", {"project_id": project_id})
    _no_user_quotas()
    body: dict[str, Any] = validated_body(quota_keys.update_schema())["quota_set"]
    force = as_bool(body.get("force", False))
    with runtime().db.session() as session:
        verify_project(session, project_id)
        engine.set_limits(session, project_id, quota_keys.requested_limits(body), force=force)
        return jsonify({"quota_set": _project_limits(session, project_id)})  # Nova's answer has no ``id``


@bp.delete("/os-quota-sets/<project_id>")
def delete_quota_set(project_id: str) -> Response:
    """Back to the defaults: the project's own compute limits go (its network limits are the Network API's)."""
    policy.enforce("compute:quota_sets:delete", {"project_id": project_id})
    _no_user_quotas()
    with runtime().db.session() as session:
        limits.reset_project(session, project_id, quota_keys.OWN)
    return Response(status=202)


# --- the default quota class --------------------------------------------------------------------------------


def _class_view(session: Session) -> dict[str, int]:
    shown = quota_keys.keys(class_set=True)
    return quota_keys.limits_view(shown, limits.defaults(session, quota_keys.resources(shown)))


@bp.get("/os-quota-class-sets/<class_name>")
def show_quota_class_set(class_name: str) -> Response:
    """Any class name answers with the defaults, as Nova does: only ``default`` is ever used."""
    policy.enforce("compute:quota_class_sets:show", {"quota_class": class_name})
    with runtime().db.session() as session:
        return jsonify({"quota_class_set": {"id": class_name, **_class_view(session)}})


@bp.put("/os-quota-class-sets/<class_name>")
def update_quota_class_set(class_name: str) -> Response:
    policy.enforce("compute:quota_class_sets:update", {"quota_class": class_name})
    body = validated_body(quota_keys.class_update_schema())["quota_class_set"]
    if class_name != DEFAULT_CLASS:
        raise BadRequest(f"Only the '{DEFAULT_CLASS}' quota class is used by this cloud, not '{class_name}'.")
    with runtime().db.session() as session:
        limits.set_defaults(session, quota_keys.requested_limits(body))
        view = _class_view(session)
    return jsonify({"quota_class_set": view})
