"""``/v3/projects``: tenants. Flat under their domain; project hierarchies are not supported."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import delete, select

from api import policy
from api.identity import filters
from api.identity.schemas import PROJECT_CREATE, PROJECT_UPDATE
from api.identity.views import project_view
from api.runtime import runtime
from api.urls import collection_links
from api.validation import validated_body
from common.exceptions import BadRequest
from identity import groups
from identity.lookups import ensure_unique, existing_domain_id, get_or_404
from identity.models import Project, RoleAssignment
from quota import limits

bp = Blueprint("identity_projects", __name__, url_prefix="/identity/v3/projects")


@bp.get("")
def list_projects() -> Response:
    policy.enforce("identity:list_projects")
    with runtime().db.session() as session:
        query = filters.apply(select(Project), Project, ("name", "domain_id"))
        wanted = _tag_filters()
        projects = [
            project_view(p) for p in session.scalars(query.order_by(Project.name)) if _tags_match(p.tags, wanted)
        ]
    return jsonify({"projects": projects, "links": collection_links("/projects")})


_TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


def _tag_filters() -> dict[str, set[str]]:
    """Keystone's tag filters, each a comma-separated list (an empty list is a 400, as it would match nothing)."""
    wanted: dict[str, set[str]] = {}
    for name in _TAG_FILTERS:
        raw = request.args.get(name)
        if raw is None:
            continue
        tags = set(raw.split(","))
        if "" in tags:
            raise BadRequest(f"The {name} filter is a comma-separated list of non-empty tags.")
        wanted[name] = tags
    return wanted


def _tags_match(tags: list[str] | None, wanted: dict[str, set[str]]) -> bool:
    """Every filter holds: ``tags`` all there, ``tags-any`` one, ``not-tags`` not all, ``not-tags-any`` none.

    Tags are a JSON list on the project row, so they are matched here rather than in SQL; a deployment's project
    count is small enough for that.
    """
    have = set(tags or [])
    if "tags" in wanted and not wanted["tags"] <= have:
        return False
    if "tags-any" in wanted and not wanted["tags-any"] & have:
        return False
    if "not-tags" in wanted and wanted["not-tags"] <= have:
        return False
    return not ("not-tags-any" in wanted and wanted["not-tags-any"] & have)


@bp.post("")
def create_project() -> Response:
    policy.enforce("identity:create_project")
    body = validated_body(PROJECT_CREATE)["project"]
    with runtime().db.session() as session:
        domain_id = existing_domain_id(session, body.get("domain_id"))
        if body.get("parent_id") not in (None, domain_id):
            raise BadRequest("Project hierarchies are not supported: parent_id must be the project's domain.")
        ensure_unique(session, Project, name=body["name"], domain_id=domain_id)
        project = Project(
            name=body["name"],
            domain_id=domain_id,
            description=body.get("description") or "",
            enabled=body.get("enabled", True),
            tags=body.get("tags", []),
        )
        session.add(project)
        session.flush()
        view = project_view(project)
    return jsonify({"project": view}), 201


@bp.get("/<project_id>")
def get_project(project_id: str) -> Response:
    policy.enforce("identity:get_project", {"project_id": project_id})
    with runtime().db.session() as session:
        return jsonify({"project": project_view(get_or_404(session, Project, project_id))})


@bp.patch("/<project_id>")
def update_project(project_id: str) -> Response:
    policy.enforce("identity:update_project", {"project_id": project_id})
    body = validated_body(PROJECT_UPDATE)["project"]
    rt = runtime()
    with rt.db.session() as session:
        project = get_or_404(session, Project, project_id)
        if body.get("domain_id", project.domain_id) != project.domain_id:
            raise BadRequest("A project cannot move to another domain.")
        if "name" in body:
            ensure_unique(session, Project, exclude_id=project.id, name=body["name"], domain_id=project.domain_id)
            project.name = body["name"]
        if "description" in body:
            project.description = body["description"] or ""
        if "tags" in body:
            project.tags = body["tags"]
        if body.get("enabled") is False and project.enabled:
            rt.tokens.revoke_project(session, project.id)
        project.enabled = body.get("enabled", project.enabled)
        session.flush()
        view = project_view(project)
    return jsonify({"project": view})


@bp.delete("/<project_id>")
def delete_project(project_id: str) -> Response:
    policy.enforce("identity:delete_project", {"project_id": project_id})
    rt = runtime()
    with rt.db.session() as session:
        project = get_or_404(session, Project, project_id)
        session.execute(
            delete(RoleAssignment).where(
                RoleAssignment.target_type == "project", RoleAssignment.target_id == project.id
            )
        )
        groups.forget_targets(session, "project", [project.id])
        rt.tokens.revoke_project(session, project.id)
        limits.forget_project(session, project.id)  # its limits would outlive it in the quota listings
        session.delete(project)
    return Response(status=204)
