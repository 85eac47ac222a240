"""How identity records look on the wire, as Keystone's api-ref shows them."""

from __future__ import annotations

from typing import Any

from api.urls import self_link
from identity import password_policy
from identity.models import Domain, Group, Project, Role, User


def domain_view(domain: Domain) -> dict[str, Any]:
    return {
        "id": domain.id,
        "name": domain.name,
        "description": domain.description,
        "enabled": domain.enabled,
        "tags": [],
        "options": {},
        "links": self_link(f"/domains/{domain.id}"),
    }


def project_view(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "domain_id": project.domain_id,
        "description": project.description,
        "enabled": project.enabled,
        "parent_id": project.parent_id or project.domain_id,  # a top-level project's parent is its domain
        "is_domain": False,
        "tags": list(project.tags or []),
        "options": {},
        "links": self_link(f"/projects/{project.id}"),
    }


def domain_as_project_view(domain: Domain) -> dict[str, Any]:
    """A domain as ``/v3/projects`` shows it: Keystone models a domain as the project at the top of its tree
    (``is_domain``), belonging to no domain and with no parent."""
    return {
        "id": domain.id,
        "name": domain.name,
        "domain_id": None,
        "description": domain.description,
        "enabled": domain.enabled,
        "parent_id": None,
        "is_domain": True,
        "tags": [],
        "options": {},
        "links": self_link(f"/projects/{domain.id}"),
    }


def user_view(user: User) -> dict[str, Any]:
    body: dict[str, Any] = {
        **(user.extra or {}),
        "id": user.id,
        "name": user.name,
        "domain_id": user.domain_id,
        "enabled": user.enabled,
        "password_expires_at": password_policy.shown(password_policy.password_expires_at(user)),
        "options": dict(user.options or {}),
        "links": self_link(f"/users/{user.id}"),
    }
    if user.default_project_id:
        body["default_project_id"] = user.default_project_id
    if user.description:
        body["description"] = user.description
    if user.email:
        body["email"] = user.email
    return body


def role_view(role: Role) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "domain_id": role.domain_id,
        "description": role.description,
        "options": {},
        "links": self_link(f"/roles/{role.id}"),
    }


def group_view(group: Group) -> dict[str, Any]:
    return {
        **(group.extra or {}),
        "id": group.id,
        "name": group.name,
        "domain_id": group.domain_id,
        "description": group.description,
        "links": self_link(f"/groups/{group.id}"),
    }
