"""``stratus quota show|set|reset|defaults|resources``, ``stratus usage`` and ``stratus project list``.

Projects are given by name or id. Limits are integers, -1 for unlimited. ``quota set`` refuses a limit below
what the project holds (exit 4) unless ``--force``. Exit codes: ``cli.client.Exit``. Every command reads the
resources from the cloud (``cli.resources``) and shows them in its order, under its names.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from cli.client import CliError, Cloud, Exit
from cli.limit_args import resolve_options, split_assignment, split_options
from cli.output import FORMATS, emit
from cli.quotas import Row, default_rows, find_project, project_rows, reset, set_defaults, set_limits
from cli.resources import Resources, fetch

QUOTA_COLUMNS = ("resource", "service", "per", "limit", "in_use", "unit")
RESOURCE_COLUMNS = ("resource", "service", "per", "unit", "label", "description")
USAGE_COLUMNS = ("resource", "in_use", "limit", "percent", "unit")
# ``project list`` sums up these resources (the ones a project fills first), each as used/limit.
SUMMARY = ("instances", "cores", "ram", "port", "image_count_total")
PROJECT_COLUMNS = ("name", "id", *SUMMARY, "fullest")

format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format."
)


def _quota_view(row: Row) -> dict[str, Any]:
    resource = row.resource
    return {
        "resource": resource.name,
        "service": resource.service,
        "per": resource.per,
        "limit": row.limit,
        "in_use": row.in_use,
        "unit": resource.unit,
    }


def _cloud(ctx: click.Context) -> Cloud:
    return ctx.obj.cloud()


@click.group()
def quota() -> None:
    """A project's limits: show, set, reset them, and the defaults every project starts with."""


@quota.command("show")
@click.argument("project")
@format_option
@click.pass_context
def show(ctx: click.Context, project: str, fmt: str) -> None:
    """Every limit of PROJECT (name or id) with what it holds."""
    cloud = _cloud(ctx)
    found = find_project(cloud, project)
    emit([_quota_view(r) for r in project_rows(cloud, found["id"], fetch(cloud))], QUOTA_COLUMNS, fmt)


@quota.command("resources")
@format_option
@click.pass_context
def resources_command(ctx: click.Context, fmt: str) -> None:
    """Every resource the cloud limits: the names "quota set" takes as options, and "defaults --set" too."""
    views = [
        {"resource": r.name, "service": r.service, "per": r.per, "unit": r.unit, "label": r.label,
         "description": r.description}
        for r in fetch(_cloud(ctx))
    ]  # fmt: skip
    emit(views, RESOURCE_COLUMNS, fmt)


@quota.command(
    "set",
    context_settings={"ignore_unknown_options": True},
    options_metavar="[--RESOURCE LIMIT]... [OPTIONS]",
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED, metavar="PROJECT")
@click.option("--force", is_flag=True, help="Set limits even below what the project already holds.")
@format_option
@click.pass_context
def set_command(ctx: click.Context, arguments: tuple[str, ...], force: bool, fmt: str) -> None:
    """Set limits of PROJECT (name or id); the others stay as they are.

    Each limit is an option named after its resource (--instances 10 --port 50 --key-pairs 5); -1 is
    unlimited. "stratus quota resources" lists them: they are the cloud's, read from it.
    """
    words, options = split_options(arguments)
    if len(words) != 1:
        raise click.UsageError(f"give one PROJECT (name or id), not {len(words)}: {' '.join(words)}".rstrip(": "))
    if not options:
        raise click.UsageError("give at least one limit, e.g. --instances 10")
    cloud = _cloud(ctx)
    resources = fetch(cloud)
    values = resolve_options(options, resources)
    found = find_project(cloud, words[0])
    set_limits(cloud, found["id"], resources, values, force)
    emit([_quota_view(r) for r in project_rows(cloud, found["id"], resources)], QUOTA_COLUMNS, fmt)


@quota.command("reset")
@click.argument("project")
@click.pass_context
def reset_command(ctx: click.Context, project: str) -> None:
    """Put every limit of PROJECT back to the defaults."""
    cloud = _cloud(ctx)
    found = find_project(cloud, project)
    reset(cloud, found["id"], fetch(cloud))
    click.echo(f"project {found['name']} ({found['id']}) is back on the default limits")


def _assignments(assignments: tuple[str, ...], resources: Resources) -> dict[str, int]:
    values = {}
    for name, limit in (split_assignment(a) for a in assignments):
        try:
            values[resources.lookup(name).name] = limit
        except KeyError as exc:
            raise click.UsageError(f"Invalid value for '--set': {exc.args[0]}") from None
    return values


@quota.command("defaults")
@click.option("--set", "assignments", multiple=True, metavar="RESOURCE=LIMIT", help="Change a default (repeatable).")
@format_option
@click.pass_context
def defaults(ctx: click.Context, assignments: tuple[str, ...], fmt: str) -> None:
    """The limits of every project without limits of its own; ``--set port=1000`` changes one."""
    try:
        for assignment in assignments:
            split_assignment(assignment)  # a bad one is refused before the cloud is asked anything
    except click.BadParameter as exc:
        raise click.UsageError(exc.format_message()) from None
    cloud = _cloud(ctx)
    resources = fetch(cloud)
    values = _assignments(assignments, resources)
    if values:
        set_defaults(cloud, resources, values)
    emit([_quota_view(r) for r in default_rows(cloud, resources)], ("resource", "service", "per", "limit", "unit"), fmt)


# --- usage -----------------------------------------------------------------------------------------------------


def _usage_views(rows: list[Row], warn_at: float) -> list[dict[str, Any]]:
    summed = [r for r in rows if r.in_use is not None]
    summed.sort(key=lambda r: (-(r.percent if r.percent is not None else -1.0), r.resource.name))
    return [
        {
            "resource": r.resource.name,
            "in_use": r.in_use,
            "limit": r.limit,
            "percent": None if r.percent is None else round(r.percent, 1),
            "unit": r.resource.unit,
            "near_limit": r.percent is not None and r.percent >= warn_at,
        }
        for r in summed
    ]


@click.command()
@click.argument("project", required=False)
@format_option
@click.option("--warn-at", type=click.FloatRange(0, 100), default=80.0, show_default=True, help="Mark from this %.")
@click.option("--fail-at", type=click.FloatRange(0, 100), default=None, help="Exit 6 if a resource is at this %.")
@click.pass_context
def usage(ctx: click.Context, project: str | None, fmt: str, warn_at: float, fail_at: float | None) -> None:
    """What PROJECT (default: your own) holds of each limit, fullest first; near limits are marked."""
    cloud = _cloud(ctx)
    project_id = find_project(cloud, project)["id"] if project else cloud.project_id
    if project_id is None:
        raise CliError("the credentials are not scoped to a project: name one", Exit.USAGE)
    views = _usage_views(project_rows(cloud, project_id, fetch(cloud)), warn_at)
    emit(views, USAGE_COLUMNS, fmt, flag="near_limit")
    if fail_at is not None and any(v["percent"] is not None and v["percent"] >= fail_at for v in views):
        raise CliError(f"a resource is at or above {fail_at:g}% of its limit", Exit.NEAR_LIMIT)


# --- project list ------------------------------------------------------------------------------------------


def _fraction(row: Row | None) -> str | None:
    """``used/limit``; None (``-`` in a table) for a resource the cloud does not limit."""
    return None if row is None else f"{row.in_use}/{'unlimited' if row.limit == -1 else row.limit}"


def _project_view(project: dict[str, Any], rows: list[Row], warn_at: float) -> dict[str, Any]:
    by_name = {r.resource.name: r for r in rows}
    limited = [r for r in rows if r.percent is not None]
    fullest = max(limited, key=lambda r: r.percent or 0.0, default=None)
    return {
        "name": project["name"],
        "id": project["id"],
        **{name: _fraction(by_name.get(name)) for name in SUMMARY},
        "fullest": f"{fullest.resource.name} {fullest.percent:.0f}%" if fullest else "-",
        "near_limit": bool(fullest and (fullest.percent or 0.0) >= warn_at),
        "usage": {r.resource.name: {"in_use": r.in_use, "limit": r.limit} for r in rows if r.in_use is not None},
    }


@click.group()
def project() -> None:
    """Projects of the cloud, as an operator sees them."""


@project.command("list")
@format_option
@click.option("--warn-at", type=click.FloatRange(0, 100), default=80.0, show_default=True, help="Mark from this %.")
@click.pass_context
def project_list(ctx: click.Context, fmt: str, warn_at: float) -> None:
    """Every project with a summary of its usage (used/limit) and its fullest resource."""
    cloud = _cloud(ctx)
    projects = sorted(cloud.get("identity", "/projects")["projects"], key=lambda p: p["name"])
    resources = fetch(cloud)
    with ThreadPoolExecutor(8) as pool:
        usages = list(pool.map(lambda p: project_rows(cloud, p["id"], resources), projects))
    views = [_project_view(p, rows, warn_at) for p, rows in zip(projects, usages, strict=True)]
    if fmt == "csv":
        views = [{k: v for k, v in view.items() if k != "usage"} for view in views]
    emit(views, PROJECT_COLUMNS, fmt, flag="near_limit")
