"""Project trees: which projects sit above and below a project, and the rules a tree keeps (Keystone's).

A project's parent is another project of the same domain (``Project.parent_id``) or, for a top-level project,
its domain (``parent_id`` NULL; Keystone shows the domain id as ``parent_id``, because it models a domain as
the project at the top of the tree). The tree never changes shape after a project is made: Keystone refuses to
update ``parent_id``, so no cycle can ever form and a walk up ends within ``MAX_DEPTH`` steps.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.exceptions import BadRequest, Forbidden
from identity.models import Project

MAX_DEPTH = 5
"""Keystone's ``max_project_tree_depth`` default: at most five levels of projects under a domain."""


def ancestors(session: Session, project: Project) -> list[Project]:
    """The projects above ``project``, its parent first, up to the top-level one (the domain is not a row here).

    Bounded by ``MAX_DEPTH`` even though no cycle can be made through the API, so a damaged row cannot hang a
    request."""
    found: list[Project] = []
    parent_id = project.parent_id
    while parent_id is not None and len(found) <= MAX_DEPTH:
        parent = session.get(Project, parent_id)
        if parent is None:
            break
        found.append(parent)
        parent_id = parent.parent_id
    return found


def descendants(session: Session, project_id: str, is_domain: bool = False) -> list[Project]:
    """Every project below ``project_id``, level by level (children, then grandchildren, ...). Below a domain
    (``is_domain``) are all its projects, its top-level ones first."""
    if is_domain:
        top = select(Project).where(Project.domain_id == project_id, Project.parent_id.is_(None))
        first = list(session.scalars(top.order_by(Project.name)))
        return first + [p for t in first for p in descendants(session, t.id)]
    found: list[Project] = []
    level = [project_id]
    for _ in range(MAX_DEPTH + 1):
        if not level:
            break
        children = list(session.scalars(select(Project).where(Project.parent_id.in_(level)).order_by(Project.name)))
        found.extend(children)
        level = [child.id for child in children]
    return found


def has_children(session: Session, project_id: str) -> bool:
    return session.scalar(select(Project.id).where(Project.parent_id == project_id).limit(1)) is not None


def check_new_child(session: Session, parent: Project, domain_id: str) -> None:
    """A project may be made under ``parent`` (Keystone's rules and messages): the parent is in the project's
    domain (400), no project on the branch is disabled (400), and the tree stays within ``MAX_DEPTH`` (403)."""
    if parent.domain_id != domain_id:
        raise BadRequest(
            f"Cannot create project, since it specifies its domain_id {domain_id}, but specifies a parent in a "
            f"different domain ({parent.domain_id})."
        )
    branch = [parent, *ancestors(session, parent)]
    for project in branch:
        if not project.enabled:
            raise BadRequest(f"cannot create a project in a branch containing a disabled project: {project.id}")
    if len(branch) + 1 > MAX_DEPTH:
        raise Forbidden(f"Max hierarchy depth reached for {parent.id} branch.")


def check_enabled_change(session: Session, project: Project, enabled: bool) -> None:
    """Keystone keeps trees consistent: a project is enabled only under enabled parents, and disabled only when
    everything below it is disabled already (403 otherwise)."""
    if enabled and not project.enabled and any(not p.enabled for p in ancestors(session, project)):
        raise Forbidden(f"Cannot enable project {project.id} since it has disabled parents")
    if not enabled and project.enabled and any(p.enabled for p in descendants(session, project.id)):
        raise Forbidden(f"Cannot disable project {project.id} since its subtree contains enabled projects.")


def parents_as_ids(session: Session, project: Project) -> dict[str, object]:
    """Keystone's ``parents_as_ids``: nested ``{parent: {grandparent: ... {domain_id: None}}}``."""
    chain = [p.id for p in ancestors(session, project)] + [project.domain_id]
    nested: dict[str, object] | None = None
    for project_id in reversed(chain):
        nested = {project_id: nested}
    return nested or {}


def subtree_as_ids(session: Session, project_id: str, is_domain: bool = False) -> dict[str, object] | None:
    """Keystone's ``subtree_as_ids``: nested ``{child: {grandchild: None}, ...}``, None for a leaf."""
    below = descendants(session, project_id, is_domain)
    children: dict[str, list[str]] = {}
    for project in below:
        children.setdefault(project.parent_id or project.domain_id, []).append(project.id)

    def nest(node: str) -> dict[str, object] | None:
        kids = children.get(node)
        return {kid: nest(kid) for kid in kids} if kids else None

    return nest(project_id)
