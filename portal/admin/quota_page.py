"""``/admin/quotas/<project>``: every limit of a project in one form, with what the project holds beside it.

Only the limits that differ from what the page read are written, so a limit that was forced below usage
earlier does not block changing another one. A new limit below usage is refused next to its field unless
"force" is checked; the APIs check again when writing (a create may have come in since), and their refusal
is put next to the field it names.
"""

from __future__ import annotations

import re

from flask import Response, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from portal.admin import quotas
from portal.admin.quotas import MAX_LIMIT, UNLIMITED, Row
from portal.blueprint import admin_only, api, bp, redirect_with, render
from portal.charts import Bar
from portal.errors import ApiError
from portal.forms import Form, empty

# Nova: "Quota limit 1 for instances must be greater than or equal to already used and reserved 2."
_NAMED = re.compile(r"\bfor ([a-z_]+) must be\b")


def _project(project_id: str) -> dict:
    return api().get(f"/identity/v3/projects/{project_id}")["project"]


def usage_text(row: Row) -> str:
    """What the project holds, in words: the usage column (and what a screen reader hears after the input)."""
    resource = row.resource
    if row.in_use is None:
        return f"a limit on each {resource.per}, nothing summed"
    used = human_bytes(row.in_use) if resource.unit == "bytes" else f"{row.in_use:,}"
    unit = f" {resource.unit}" if resource.unit and resource.unit != "bytes" else ""
    percent = "" if row.percent is None else f" ({row.percent:.0f} %)"
    return f"{used}{unit} in use{percent}"


def human_bytes(count: int) -> str:
    size, unit = float(count), "bytes"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{count:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"


def _bar(row: Row) -> Bar | None:
    return None if row.in_use is None else Bar(row.resource.label, row.in_use, row.limit, row.resource.unit)


def _page(project: dict, rows: list[Row], form: Form, status: int = 200) -> Response:
    """The form, a section per service in the order the cloud lists its resources."""
    services = dict.fromkeys(r.resource.service for r in rows)
    sections = [
        (service.capitalize(), [(r, usage_text(r), _bar(r)) for r in rows if r.resource.service == service])
        for service in services
    ]
    return render(
        "portal/admin/quotas.html", status=status, title=f"Quotas of {project['name']}", project=project,
        sections=sections, form=form, max_limit=MAX_LIMIT,
    )  # fmt: skip


def _parse(form: Form, rows: list[Row]) -> dict[str, int]:
    """The limits that changed; a value that is not a limit gets its error next to its field."""
    changed = {}
    for row in rows:
        name, raw = row.resource.name, form.get(row.resource.name)
        try:
            value = int(raw)
        except ValueError:
            form.errors[name] = "Enter a whole number: the limit, or -1 for no limit."
            continue
        if value < UNLIMITED:
            form.errors[name] = "A limit is 0 or more, or -1 for no limit."
        elif value > MAX_LIMIT:
            form.errors[name] = f"A limit is at most {MAX_LIMIT:,}."
        elif value != row.limit:
            changed[name] = value
    return changed


def _changes_text(rows: list[Row], changed: dict[str, int]) -> str:
    def shown(limit: int) -> str:
        return "no limit" if limit == UNLIMITED else f"{limit:,}"

    by_name = {r.resource.name: r for r in rows}
    return ", ".join(f"{by_name[n].resource.label} {shown(by_name[n].limit)} → {shown(v)}" for n, v in changed.items())


def refused_field(message: str, changed: dict[str, int]) -> str:
    """The field an API's refusal is about (it names the resource), or "" for the form as a whole."""
    named = _NAMED.search(message)
    return named.group(1) if named and named.group(1) in changed else ""


@bp.get("/admin/quotas")
@admin_only
def admin_quotas_index() -> Response:
    """Which project's quotas: a picker (a GET form, so it works without script) or straight on with ?project."""
    chosen = request.args.get("project")
    if chosen:
        return redirect(url_for("portal.admin_quotas", project_id=chosen), code=303)
    projects = sorted(api().get("/identity/v3/projects")["projects"], key=lambda p: p["name"])
    options = [(p["id"], p["name"]) for p in projects]
    return render("portal/admin/quota_pick.html", title="Quotas", options=options, form=Form("pick", MultiDict()))


@bp.get("/admin/quotas/<project_id>")
@admin_only
def admin_quotas(project_id: str) -> Response:
    project = _project(project_id)
    rows = quotas.read(api(), project_id)
    return _page(project, rows, empty("quota", **{r.resource.name: str(r.limit) for r in rows}))


@bp.post("/admin/quotas/<project_id>")
@admin_only
def admin_quotas_save(project_id: str) -> Response:
    client = api()
    project = _project(project_id)
    rows = quotas.read(client, project_id)
    form = Form.posted("quota")
    force = form.get("force") == "1"
    changed = _parse(form, rows)
    if not force:
        for name, used in quotas.below_usage(rows, changed).items():
            form.errors[name] = (
                f"This is below what the project holds now ({used:,} in use). "
                "Check “Set limits below usage” to set it anyway."
            )
    if not form.ok:
        form.errors.setdefault("", "Nothing was saved: correct the limits marked below.")
        return _page(project, rows, form, 400)
    if not changed:
        return redirect_with("portal.admin_quotas", "Nothing changed.", project_id=project_id)
    try:
        quotas.write(client, project_id, rows, changed, force)
    except ApiError as exc:
        field = refused_field(exc.message, changed)
        form.errors[field] = exc.message
        if field:
            form.errors[""] = "Not every limit was saved: see the one marked below."
        return _page(project, quotas.read(client, project_id), form, 400 if exc.status < 500 else 502)
    notice = f"Quotas of project {project['name']} saved: {_changes_text(rows, changed)}."
    return redirect_with("portal.admin_quotas", notice, project_id=project_id)
