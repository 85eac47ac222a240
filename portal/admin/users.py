"""``/admin/users``: every user with their default project and roles, a form to create one (with a password,
a default project and a role on it), and enable/disable.

Disabling a user is Keystone's ``enabled: false``, which also revokes their tokens; an admin cannot disable
the account they are signed in with (their own session would end in the middle of the request), nor the
cloud's own service account.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Response

from common.accounts import SERVICE_USER
from portal.admin.members import role_options
from portal.blueprint import admin_only, api, bp, redirect_with, render, session
from portal.errors import ApiError
from portal.forms import Form, empty

DEFAULT_ROLE = "member"


def _roles_by_user() -> dict[str, list[str]]:
    """ "project: role" strings of each user's direct grants, from one ``role_assignments`` call."""
    found = api().get("/identity/v3/role_assignments", include_names="true")["role_assignments"]
    grants: dict[str, list[str]] = defaultdict(list)
    for a in found:
        scope = a.get("scope", {}).get("project") or a.get("scope", {}).get("domain") or {}
        if "user" in a and "prior_role" not in a.get("links", {}):
            grants[a["user"]["id"]].append(f"{scope.get('name', scope.get('id', ''))}: {a['role'].get('name', '')}")
    return {user: sorted(pairs) for user, pairs in grants.items()}


def _page(form: Form, status: int = 200) -> Response:
    client = api()
    users = sorted(client.get("/identity/v3/users")["users"], key=lambda u: u["name"].lower())
    projects = sorted(client.get("/identity/v3/projects")["projects"], key=lambda p: p["name"].lower())
    names = {p["id"]: p["name"] for p in projects}
    roles = role_options()
    return render(
        "portal/admin/users.html", status=status, title="Users", users=users, project_names=names,
        grants=_roles_by_user(), form=form, projects=[(p["id"], p["name"]) for p in projects],
        roles=[(name, name) for _, name in roles],
    )  # fmt: skip


@bp.get("/admin/users")
@admin_only
def admin_users() -> Response:
    return _page(empty("user", role=DEFAULT_ROLE))


def _create(form: Form) -> dict[str, Any]:
    body: dict[str, Any] = {"name": form.get("name"), "password": form.values["password"], "enabled": True}
    if form.get("email"):
        body["email"] = form.get("email")
    if form.get("default_project_id"):
        body["default_project_id"] = form.get("default_project_id")
    return api().post("/identity/v3/users", {"user": body}).json()["user"]


def _grant(user: dict[str, Any], project_id: str, role_name: str) -> None:
    roles = {name: role_id for role_id, name in role_options()}
    if role_name not in roles:
        raise ApiError(400, f"There is no role named {role_name}.")
    api().put(f"/identity/v3/projects/{project_id}/users/{user['id']}/roles/{roles[role_name]}")


@bp.post("/admin/users")
@admin_only
def admin_user_create() -> Response:
    form = Form.posted("user", secret=("password",))
    form.require("name", "password")
    if not form.ok:
        return _form_again(form)
    try:
        user = _create(form)
    except ApiError as exc:
        if exc.status == 409:
            form.errors["name"] = f"A user named {form.get('name')} already exists."
        else:
            fields = {"user.name": "name", "user.email": "email", "user.password": "password"}
            form.fail(exc, fields=fields, keywords={"project": "default_project_id"})
        return _form_again(form, 400 if exc.status < 500 else 502)
    if form.get("role") and form.get("default_project_id"):
        try:
            _grant(user, form.get("default_project_id"), form.get("role"))
        except ApiError as exc:
            notice = f"User {user['name']} created, but the role was not assigned: {exc.message}"
            return redirect_with("portal.admin_users", notice)
    return redirect_with("portal.admin_users", f"User {user['name']} created.")


def _form_again(form: Form, status: int = 400) -> Response:
    form.values.pop("password", None)  # a password is never sent back into a page
    return _page(form, status)


def _set_enabled(user_id: str, enabled: bool) -> Response:
    if not enabled and user_id == session().user_id:
        return redirect_with("portal.admin_users", "You cannot disable the account you are signed in with.", error=True)
    if not enabled and api().get(f"/identity/v3/users/{user_id}")["user"]["name"] == SERVICE_USER:
        notice = f"{SERVICE_USER} is the account host agents fetch images with; disabling it would stop every host."
        return redirect_with("portal.admin_users", notice, error=True)
    changed = api().request("PATCH", f"/identity/v3/users/{user_id}", body={"user": {"enabled": enabled}})
    name = changed.json()["user"]["name"]
    verb = "enabled" if enabled else "disabled: their sessions and tokens are revoked"
    return redirect_with("portal.admin_users", f"User {name} {verb}.")


@bp.post("/admin/users/<user_id>/enable")
@admin_only
def admin_user_enable(user_id: str) -> Response:
    return _set_enabled(user_id, True)


@bp.post("/admin/users/<user_id>/disable")
@admin_only
def admin_user_disable(user_id: str) -> Response:
    return _set_enabled(user_id, False)
