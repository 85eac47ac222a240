"""``/v3/projects/{id}/tags``: a project's tags as resources of their own (Keystone's project tags API).

The tags live on the project row (``Project.tags``, the same list the project body carries), so a tag set here
shows in ``GET /v3/projects/{id}`` and the ``tags`` filters of the project list at once. Keystone's limits apply
to both ways in: at most 80 tags, each 1-255 characters, without ``/`` or ``,`` (they would break the URL path and
the comma-separated filters).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api import policy
from api.identity.schemas import PROJECT_TAGS_REPLACE
from api.runtime import runtime
from api.urls import self_link
from api.validation import validated_body
from common.exceptions import NotFound, ValidationError
from identity.lookups import get_or_404
from identity.models import Project

bp = Blueprint("identity_project_tags", __name__, url_prefix="/identity/v3/projects/<project_id>/tags")

MAX_TAGS = 80


def _check_tag(tag: str) -> None:
    """A tag from the URL path gets the checks the schema gives tags in a body."""
    if not 1 <= len(tag) <= 255 or "/" in tag or "," in tag:
        raise ValidationError("A project tag is 1 to 255 characters and contains neither '/' nor ','.")


def _tags_body(project: Project) -> dict[str, object]:
    return {"tags": list(project.tags or []), "links": self_link(f"/projects/{project.id}/tags")}


@bp.get("")
def list_tags(project_id: str) -> Response:
    policy.enforce("identity:list_project_tags", {"project_id": project_id})
    with runtime().db.session() as session:
        return jsonify(_tags_body(get_or_404(session, Project, project_id)))


@bp.put("")
def replace_tags(project_id: str) -> Response:
    policy.enforce("identity:update_project_tags", {"project_id": project_id})
    tags = validated_body(PROJECT_TAGS_REPLACE)["tags"]
    with runtime().db.session() as session:
        project = get_or_404(session, Project, project_id)
        project.tags = list(tags)
        session.flush()
        return jsonify(_tags_body(project))


@bp.delete("")
def delete_all_tags(project_id: str) -> Response:
    policy.enforce("identity:delete_project_tags", {"project_id": project_id})
    with runtime().db.session() as session:
        get_or_404(session, Project, project_id).tags = []
    return Response(status=204)


@bp.route("/<path:tag>", methods=["GET", "HEAD"])
def check_tag(project_id: str, tag: str) -> Response:
    policy.enforce("identity:get_project_tag", {"project_id": project_id})
    with runtime().db.session() as session:
        project = get_or_404(session, Project, project_id)
        if tag not in (project.tags or []):
            raise NotFound(f"Tag {tag} not found for project {project_id}.")
    return Response(status=204)


@bp.put("/<path:tag>")
def add_tag(project_id: str, tag: str) -> Response:
    policy.enforce("identity:create_project_tag", {"project_id": project_id})
    _check_tag(tag)
    with runtime().db.session() as session:
        project = get_or_404(session, Project, project_id)
        tags = list(project.tags or [])
        if tag not in tags:
            if len(tags) >= MAX_TAGS:
                raise ValidationError(f"A project has at most {MAX_TAGS} tags.")
            project.tags = [*tags, tag]
    response = Response(status=201)
    response.headers["Location"] = self_link(f"/projects/{project_id}/tags/{tag}")["self"]
    return response


@bp.delete("/<path:tag>")
def delete_tag(project_id: str, tag: str) -> Response:
    policy.enforce("identity:delete_project_tag", {"project_id": project_id})
    with runtime().db.session() as session:
        project = get_or_404(session, Project, project_id)
        tags = list(project.tags or [])
        if tag not in tags:
            raise NotFound(f"Tag {tag} not found for project {project_id}.")
        project.tags = [t for t in tags if t != tag]
    return Response(status=204)
