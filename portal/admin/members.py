"""``/admin/projects/<project>``: who has which role on a project, a form to grant a role, a button to revoke.

Grants are Keystone's ``PUT``/``DELETE /v3/projects/{p}/users/{u}/roles/{r}``; the list is
``/v3/role_assignments?scope.project.id=&include_names`` (names in one call, not one per user and role).
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from portal.admin.projects import summary
from portal.blueprint import admin_only, api, bp, redirect_with, render, session
from portal.errors import ApiError
from portal.forms import Form, empty


def assignments(project_id: str) -> list[dict[str, Any]]:
    """(user, role) pairs of direct grants on the project, sorted by user then role name."""
    found = api().get("/identity/v3/role_assignments", **{"scope.project.id": project_id, "include_names": "true"})
    pairs = [
        {"user": a["user"], "role": a["role"]}
        for a in found["role_assignments"]
        if "user" in a and "prior_role" not in a.get("links", {})
    ]
    return sorted(pairs, key=lambda p: (p["user"].get("name", ""), p["role"].get("name", "")))


def user_options() -> list[tuple[str, str]]:
    users = api().get("/identity/v3/users")["users"]
    return sorted(((u["id"], u["name"]) for u in users), key=lambda o: o[1].lower())


def role_options() -> list[tuple[str, str]]:
    roles = api().get("/identity/v3/roles")["roles"]
    return sorted(((r["id"], r["name"]) for r in roles), key=lambda o: o[1])


def _page(project_id: str, form: Form, status: int = 200) -> Response:
    client = api()
    project = client.get(f"/identity/v3/projects/{project_id}")["project"]
    return render(
        "portal/admin/project.html", status=status, title=f"Project {project['name']}", project=project,
        assignments=assignments(project_id), users=user_options(), roles=role_options(), form=form,
        usage=summary(client, project_id),
    )  # fmt: skip


@bp.get("/admin/projects/<project_id>")
@admin_only
def admin_project(project_id: str) -> Response:
    return _page(project_id, empty("grant"))


@bp.post("/admin/projects/<project_id>/roles")
@admin_only
def admin_project_grant(project_id: str) -> Response:
    form = Form.posted("grant")
    form.require("user_id", "role_id")
    if not form.ok:
        return _page(project_id, form, 400)
    users, roles = dict(user_options()), dict(role_options())
    path = f"/identity/v3/projects/{project_id}/users/{form.get('user_id')}/roles/{form.get('role_id')}"
    # Keystone's 404 names what it could not find: the user or the role (the project exists, the page read it).
    if form.attempt(lambda: api().put(path), keywords={"user": "user_id", "role": "role_id"}, passes=()) is None:
        return _page(project_id, form, form.status)
    notice = f"{users.get(form.get('user_id'), 'The user')} now has role {roles.get(form.get('role_id'), '')}."
    return redirect_with("portal.admin_project", notice, project_id=project_id)


@bp.post("/admin/projects/<project_id>/roles/remove")
@admin_only
def admin_project_revoke(project_id: str) -> Response:
    user_id, role_id = request.form.get("user_id", ""), request.form.get("role_id", "")
    granted = {(a["user"]["id"], a["role"]["id"]): a for a in assignments(project_id)}
    if (user_id, role_id) not in granted:
        return redirect_with("portal.admin_project", "That role had already been removed.", project_id=project_id)
    user, role = granted[user_id, role_id]["user"], granted[user_id, role_id]["role"]
    own = session()
    if (user_id, project_id, role.get("name")) == (own.user_id, own.project_id, "admin"):
        notice = "You cannot remove your own admin role on the project you are signed in to."
        return redirect_with("portal.admin_project", notice, error=True, project_id=project_id)
    try:
        api().delete(f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role_id}")
    except ApiError as exc:
        if exc.status != 404:
            raise
        return redirect_with("portal.admin_project", "That role had already been removed.", project_id=project_id)
    notice = f"Role {role.get('name', role_id)} removed from {user.get('name', user_id)}."
    return redirect_with("portal.admin_project", notice, project_id=project_id)
