"""``/admin/projects``: every project with a summary of its usage, a form to create one, and enable/disable.

The summary is what ``stratus project list`` shows (instances, vCPUs, RAM, ports, images as used/limit, and
the fullest resource), read per project from the same three APIs as the quota page. A project whose usage
cannot be read still gets its row, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response

from portal.admin import quotas
from portal.blueprint import admin_only, api, bp, redirect_with, render, session
from portal.client import ApiClient
from portal.errors import ApiError
from portal.forms import Form, empty

SUMMARY = (("instances", "Instances"), ("cores", "vCPUs"), ("ram", "RAM (MiB)"), ("port", "Ports"),
           ("image_count_total", "Images"))  # fmt: skip
WARN_AT = 80.0
NONE = "\N{EN DASH}"


@dataclass(frozen=True)
class Summary:
    cells: list[str]
    fullest: str
    near_limit: bool
    problem: str = ""


def summary(client: ApiClient, project_id: str) -> Summary:
    try:
        rows = {row.resource.name: row for row in quotas.read(client, project_id)}
    except ApiError as exc:
        return Summary([NONE] * len(SUMMARY), NONE, False, exc.message)

    def cell(name: str) -> str:
        row = rows[name]
        return f"{row.in_use:,} / {'no limit' if row.limit == quotas.UNLIMITED else f'{row.limit:,}'}"

    limited = [r for r in rows.values() if r.percent is not None]
    fullest = max(limited, key=lambda r: r.percent or 0.0, default=None)
    if fullest is None or not fullest.percent:
        return Summary([cell(n) for n, _ in SUMMARY], "nothing used", False)
    percent = fullest.percent or 0.0
    return Summary([cell(n) for n, _ in SUMMARY], f"{fullest.resource.label} {percent:.0f} %", percent >= WARN_AT)


def _page(form: Form, status: int = 200) -> Response:
    client = api()
    projects = sorted(client.get("/identity/v3/projects")["projects"], key=lambda p: p["name"].lower())
    rows = [(p, summary(client, p["id"])) for p in projects]
    return render(
        "portal/admin/projects.html", status=status, title="Projects", rows=rows, columns=[c for _, c in SUMMARY],
        form=form, warn_at=WARN_AT,
    )  # fmt: skip


@bp.get("/admin/projects")
@admin_only
def admin_projects() -> Response:
    return _page(empty("project"))


@bp.post("/admin/projects")
@admin_only
def admin_project_create() -> Response:
    form = Form.posted("project")
    form.require("name")
    if not form.ok:
        return _page(form, 400)
    body: dict[str, Any] = {"name": form.get("name"), "description": form.get("description"), "enabled": True}
    try:
        created = api().post("/identity/v3/projects", {"project": body}).json()["project"]
    except ApiError as exc:
        if exc.status == 409:
            form.errors["name"] = f"A project named {form.get('name')} already exists."
        else:
            form.fail(exc, fields={"project.name": "name", "project.description": "description"})
        return _page(form, 400 if exc.status < 500 else 502)
    return redirect_with("portal.admin_project", f"Project {created['name']} created.", project_id=created["id"])


def _set_enabled(project_id: str, enabled: bool) -> Response:
    if not enabled and project_id == session().project_id:
        # Disabling it would revoke the token this session works with: the admin would be signed out mid-way.
        return redirect_with("portal.admin_projects", "You cannot disable the project you are signed in to.")
    project = api().request("PATCH", f"/identity/v3/projects/{project_id}", body={"project": {"enabled": enabled}})
    name = project.json()["project"]["name"]
    verb = "enabled" if enabled else "disabled: its members can no longer sign in to it"
    return redirect_with("portal.admin_projects", f"Project {name} {verb}.")


@bp.post("/admin/projects/<project_id>/enable")
@admin_only
def admin_project_enable(project_id: str) -> Response:
    return _set_enabled(project_id, True)


@bp.post("/admin/projects/<project_id>/disable")
@admin_only
def admin_project_disable(project_id: str) -> Response:
    return _set_enabled(project_id, False)
