"""``/v3/projects``: tenants, in trees under their domain, and the domains themselves seen as projects.

Keystone models a domain as the project at the top of its tree (``is_domain``): a top-level project's
``parent_id`` is its domain's id, ``POST /v3/projects`` with ``is_domain`` makes a domain, and
``GET/PATCH/DELETE /v3/projects/<domain id>`` reach it. Stratus keeps domains in their own table and shows them
here in that shape (``domain_as_project_view``); the tree rules are ``identity.hierarchy``'s.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api import policy
from api.identity import filters
from api.identity.domains import delete_domain_and_contents
from api.identity.schemas import PROJECT_CREATE, PROJECT_UPDATE
from api.identity.views import domain_as_project_view, project_view
from api.runtime import runtime
from api.urls import collection_links
from api.validation import query_bool, validated_body
from common.exceptions import BadRequest, Forbidden
from identity import groups, hierarchy, inheritance
from identity.lookups import ensure_unique, existing_domain_id, get_or_404
from identity.models import Domain, Project, RoleAssignment
from quota import limits

bp = Blueprint("identity_projects", __name__, url_prefix="/identity/v3/projects")


@bp.get("")
def list_projects() -> Response:
    """Keystone lists projects only unless ``is_domain=true`` asks for the domains (as projects) instead."""
    policy.enforce("identity:list_projects")
    wanted = _tag_filters()
    with runtime().db.session() as session:
        if query_bool("is_domain", False):
            projects = _domains_as_projects(session, wanted)
        else:
            query = filters.apply(select(Project), Project, ("name", "domain_id"))
            parent_id = request.args.get("parent_id")
            if parent_id is not None:
                query = query.where(_children_of(session, parent_id))
            projects = [
                project_view(p) for p in session.scalars(query.order_by(Project.name)) if _tags_match(p.tags, wanted)
            ]
    return jsonify({"projects": projects, "links": collection_links("/projects")})


def _children_of(session: Session, parent_id: str) -> Any:
    """The ``parent_id`` filter: a domain's children are its top-level projects."""
    if session.get(Domain, parent_id) is not None:
        return (Project.domain_id == parent_id) & Project.parent_id.is_(None)
    return Project.parent_id == parent_id


def _domains_as_projects(session: Session, wanted: dict[str, set[str]]) -> list[dict[str, Any]]:
    """``?is_domain=true``: domains carry no tags, no domain and no parent, so those filters leave none."""
    if wanted.get("tags") or wanted.get("tags-any") or request.args.get("domain_id") or request.args.get("parent_id"):
        return []
    query = filters.apply(select(Domain), Domain, ("name",))
    return [domain_as_project_view(d) for d in session.scalars(query.order_by(Domain.name))]


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
        view = _create_domain(session, body) if body.get("is_domain") else _create_project(session, body)
    return jsonify({"project": view}), 201


def _create_domain(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    """``is_domain``: a new domain, made as ``POST /v3/domains`` would make it (Keystone: a domain is a root)."""
    if body.get("parent_id"):
        raise BadRequest("only root projects are allowed to act as domains.")
    if body.get("domain_id"):
        raise BadRequest("A project acting as a domain belongs to no domain: domain_id must be null or absent.")
    if body.get("tags"):
        raise BadRequest("Domains carry no tags in this cloud: create the domain without tags.")
    ensure_unique(session, Domain, name=body["name"])
    domain = Domain(name=body["name"], description=body.get("description") or "", enabled=body.get("enabled", True))
    session.add(domain)
    session.flush()
    return domain_as_project_view(domain)


def _create_project(session: Session, body: dict[str, Any]) -> dict[str, Any]:
    """A project under its parent: a project of the same domain, or the domain itself (top level)."""
    parent_id = body.get("parent_id")
    parent = session.get(Project, parent_id) if parent_id and len(parent_id) <= 64 else None
    if parent_id and parent is None:
        parent_domain = get_or_404(session, Domain, parent_id)  # neither a project nor a domain: 404
        if body.get("domain_id") not in (None, parent_domain.id):
            raise BadRequest(
                f"Cannot create project, the parent ({parent_id}) is acting as a domain, but this project's domain "
                f"id ({body['domain_id']}) does not match the parent's id."
            )
        domain_id = parent_domain.id
    else:
        # Under a project and with no domain named, the project goes in its parent's domain.
        domain_id = existing_domain_id(session, body.get("domain_id") or (parent.domain_id if parent else None))
    domain = get_or_404(session, Domain, domain_id)
    if not domain.enabled:
        raise BadRequest(f"cannot create a project in a branch containing a disabled project: {domain.id}")
    if parent is not None:
        hierarchy.check_new_child(session, parent, domain_id)
    ensure_unique(session, Project, name=body["name"], domain_id=domain_id)
    project = Project(
        name=body["name"],
        domain_id=domain_id,
        parent_id=parent.id if parent else None,
        description=body.get("description") or "",
        enabled=body.get("enabled", True),
        tags=body.get("tags", []),
    )
    session.add(project)
    session.flush()
    return project_view(project)


@bp.get("/<project_id>")
def get_project(project_id: str) -> Response:
    """With Keystone's ``parents_as_list``/``parents_as_ids`` and ``subtree_as_list``/``subtree_as_ids``: the
    ``*_as_list`` forms show only the projects the caller holds a role on, the ``*_as_ids`` forms every id."""
    ctx = policy.enforce("identity:get_project", {"project_id": project_id})
    flags = {name: bool(query_bool(name, False)) for name in _TREE_FLAGS}
    if flags["parents_as_list"] and flags["parents_as_ids"]:
        raise BadRequest("Cannot use parents_as_list and parents_as_ids query params at the same time.")
    if flags["subtree_as_list"] and flags["subtree_as_ids"]:
        raise BadRequest("Cannot use subtree_as_list and subtree_as_ids query params at the same time.")
    with runtime().db.session() as session:
        found = _project_or_domain(session, project_id)
        if isinstance(found, Domain):
            view = domain_as_project_view(found)
            _add_tree(session, view, flags, ctx.user_id, None)
        else:
            view = project_view(found)
            _add_tree(session, view, flags, ctx.user_id, found)
    return jsonify({"project": view})


def _project_or_domain(session: Session, project_id: str) -> Project | Domain:
    """The project, or the domain of that id (a domain is a project to Keystone); 404 as a project otherwise."""
    domain = session.get(Domain, project_id) if len(project_id) <= 64 else None
    return domain if domain is not None else get_or_404(session, Project, project_id)


_TREE_FLAGS = ("parents_as_list", "parents_as_ids", "subtree_as_list", "subtree_as_ids")


def _add_tree(
    session: Session, view: dict[str, Any], flags: dict[str, bool], user_id: str | None, project: Project | None
) -> None:
    """Add ``parents`` and ``subtree`` as asked. ``project`` is None for a domain: it has no parents."""
    if flags["parents_as_ids"]:
        view["parents"] = hierarchy.parents_as_ids(session, project) if project else None
    elif flags["parents_as_list"]:
        above = hierarchy.ancestors(session, project) if project else []
        visible = _visible_projects(session, user_id)
        view["parents"] = [{"project": project_view(p)} for p in above if p.id in visible]
    if flags["subtree_as_ids"]:
        view["subtree"] = hierarchy.subtree_as_ids(session, view["id"], is_domain=project is None)
    elif flags["subtree_as_list"]:
        below = hierarchy.descendants(session, view["id"], is_domain=project is None)
        visible = _visible_projects(session, user_id)
        view["subtree"] = [{"project": project_view(p)} for p in below if p.id in visible]


def _visible_projects(session: Session, user_id: str | None) -> set[str]:
    """The projects a user holds some role on: directly, through a group, or inherited."""
    if user_id is None:
        return set()
    direct = select(RoleAssignment.target_id).where(
        RoleAssignment.user_id == user_id, RoleAssignment.target_type == "project"
    )
    return (
        set(session.scalars(direct))
        | set(session.scalars(groups.targets_via_groups(user_id, "project")))
        | inheritance.projects_reached(session, user_id)
    )


@bp.patch("/<project_id>")
def update_project(project_id: str) -> Response:
    policy.enforce("identity:update_project", {"project_id": project_id})
    body = validated_body(PROJECT_UPDATE)["project"]
    rt = runtime()
    with rt.db.session() as session:
        project = _project_or_domain(session, project_id)
        if isinstance(project, Domain):
            return jsonify({"project": _update_domain(session, project, body)})
        if body.get("domain_id", project.domain_id) != project.domain_id:
            raise BadRequest("A project cannot move to another domain.")
        if "parent_id" in body and body["parent_id"] != (project.parent_id or project.domain_id):
            raise Forbidden("Update of `parent_id` is not allowed.")
        if body.get("is_domain", False):
            raise BadRequest("Update of `is_domain` is not allowed.")
        if "name" in body:
            ensure_unique(session, Project, exclude_id=project.id, name=body["name"], domain_id=project.domain_id)
            project.name = body["name"]
        if "description" in body:
            project.description = body["description"] or ""
        if "tags" in body:
            project.tags = body["tags"]
        if "enabled" in body:
            hierarchy.check_enabled_change(session, project, body["enabled"])
        if body.get("enabled") is False and project.enabled:
            rt.tokens.revoke_project(session, project.id)
        project.enabled = body.get("enabled", project.enabled)
        session.flush()
        view = project_view(project)
    return jsonify({"project": view})


def _update_domain(session: Session, domain: Domain, body: dict[str, Any]) -> dict[str, Any]:
    """``PATCH /v3/projects/<domain id>``: the domain's own attributes, as ``PATCH /v3/domains`` changes them."""
    if body.get("parent_id") is not None:
        raise Forbidden("Update of `parent_id` is not allowed.")
    if body.get("is_domain", True) is not True:
        raise BadRequest("Update of `is_domain` is not allowed.")
    if body.get("domain_id") is not None or body.get("tags"):
        raise BadRequest("A project acting as a domain has no domain_id and carries no tags.")
    if "name" in body:
        ensure_unique(session, Domain, exclude_id=domain.id, name=body["name"])
        domain.name = body["name"]
    if "description" in body:
        domain.description = body["description"] or ""
    domain.enabled = body.get("enabled", domain.enabled)
    session.flush()
    return domain_as_project_view(domain)


@bp.delete("/<project_id>")
def delete_project(project_id: str) -> Response:
    """A project with projects below it cannot go (Keystone's 403; it offers no cascade through this API); a
    domain seen as a project goes as ``DELETE /v3/domains`` would take it."""
    policy.enforce("identity:delete_project", {"project_id": project_id})
    rt = runtime()
    with rt.db.session() as session:
        project = _project_or_domain(session, project_id)
        if isinstance(project, Domain):
            delete_domain_and_contents(session, project)
            return Response(status=204)
        if hierarchy.has_children(session, project.id):
            raise Forbidden(
                f"Cannot delete the project {project.id} since it is not a leaf in the hierarchy. Use the cascade "
                "option if you want to delete a whole subtree."
            )
        session.execute(
            delete(RoleAssignment).where(
                RoleAssignment.target_type == "project", RoleAssignment.target_id == project.id
            )
        )
        groups.forget_targets(session, "project", [project.id])
        inheritance.forget_targets(session, "project", [project.id])
        rt.tokens.revoke_project(session, project.id)
        limits.forget_project(session, project.id)  # its limits would outlive it in the quota listings
        session.delete(project)
    return Response(status=204)
