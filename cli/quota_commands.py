"""``stratus quota show|set|reset|defaults``, ``stratus usage`` and ``stratus project list``.

Projects are given by name or id. Limits are integers, -1 for unlimited. ``quota set`` refuses a limit below
what the project holds (exit 4) unless ``--force``. Exit codes: ``cli.client.Exit``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from cli.client import CliError, Cloud, Exit
from cli.output import FORMATS, emit
from cli.quotas import Row, default_rows, find_project, project_rows, reset, set_defaults, set_limits
from cli.resources import RESOURCES, lookup

QUOTA_COLUMNS = ("resource", "service", "per", "limit", "in_use", "unit")
USAGE_COLUMNS = ("resource", "in_use", "limit", "percent", "unit")
PROJECT_COLUMNS = ("name", "id", "instances", "cores", "ram", "ports", "images", "fullest")

format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format."
)


class LimitType(click.ParamType):
    """A quota limit: an integer of 0 or more, or -1 for unlimited (anything else is a usage error, exit 2)."""

    name = "limit"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not an integer", param, ctx)
        if number < -1:
            self.fail(f"{number} is not a limit: use a number of 0 or more, or -1 for unlimited", param, ctx)
        return number


LIMIT = LimitType()


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
    emit([_quota_view(r) for r in project_rows(cloud, found["id"])], QUOTA_COLUMNS, fmt)


def _limit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for resource in reversed(RESOURCES):
        unit = f" ({resource.unit})" if resource.unit else ""
        help_text = f"Limit of {resource.name}{unit} per {resource.per}; -1 is unlimited."
        command = click.option(f"--{resource.option}", resource.name, type=LIMIT, help=help_text)(command)
    return command


@quota.command("set")
@click.argument("project")
@_limit_options
@click.option("--force", is_flag=True, help="Set limits even below what the project already holds.")
@format_option
@click.pass_context
def set_command(ctx: click.Context, project: str, force: bool, fmt: str, **limits: int | None) -> None:
    """Set limits of PROJECT (name or id); the others stay as they are."""
    values = {name: value for name, value in limits.items() if value is not None}
    if not values:
        raise click.UsageError("give at least one limit, e.g. --instances 10")
    cloud = _cloud(ctx)
    found = find_project(cloud, project)
    set_limits(cloud, found["id"], values, force)
    emit([_quota_view(r) for r in project_rows(cloud, found["id"])], QUOTA_COLUMNS, fmt)


@quota.command("reset")
@click.argument("project")
@click.pass_context
def reset_command(ctx: click.Context, project: str) -> None:
    """Put every limit of PROJECT back to the defaults."""
    cloud = _cloud(ctx)
    found = find_project(cloud, project)
    reset(cloud, found["id"])
    click.echo(f"project {found['name']} ({found['id']}) is back on the default limits")


def _assignment(value: str) -> tuple[str, int]:
    name, sep, raw = value.partition("=")
    if not sep:
        raise click.BadParameter(f"{value!r} is not RESOURCE=LIMIT", param_hint="--set")
    try:
        resource = lookup(name.strip())
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--set") from None
    return resource.name, LIMIT.convert(raw.strip(), None, None)


@quota.command("defaults")
@click.option("--set", "assignments", multiple=True, metavar="RESOURCE=LIMIT", help="Change a default (repeatable).")
@format_option
@click.pass_context
def defaults(ctx: click.Context, assignments: tuple[str, ...], fmt: str) -> None:
    """The limits of every project without limits of its own; ``--set ports=1000`` changes one."""
    try:
        values = dict(_assignment(a) for a in assignments)
    except click.BadParameter as exc:
        raise click.UsageError(exc.format_message()) from None
    cloud = _cloud(ctx)
    if values:
        set_defaults(cloud, values)
    emit([_quota_view(r) for r in default_rows(cloud)], ("resource", "service", "per", "limit", "unit"), fmt)


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
    views = _usage_views(project_rows(cloud, project_id), warn_at)
    emit(views, USAGE_COLUMNS, fmt, flag="near_limit")
    if fail_at is not None and any(v["percent"] is not None and v["percent"] >= fail_at for v in views):
        raise CliError(f"a resource is at or above {fail_at:g}% of its limit", Exit.NEAR_LIMIT)


# --- project list ------------------------------------------------------------------------------------------


def _fraction(by_name: dict[str, Row], name: str) -> str:
    row = by_name[name]
    return f"{row.in_use}/{'unlimited' if row.limit == -1 else row.limit}"


def _project_view(project: dict[str, Any], rows: list[Row], warn_at: float) -> dict[str, Any]:
    by_name = {r.resource.name: r for r in rows}
    limited = [r for r in rows if r.percent is not None]
    fullest = max(limited, key=lambda r: r.percent or 0.0, default=None)
    return {
        "name": project["name"],
        "id": project["id"],
        "instances": _fraction(by_name, "instances"),
        "cores": _fraction(by_name, "cores"),
        "ram": _fraction(by_name, "ram"),
        "ports": _fraction(by_name, "port"),
        "images": _fraction(by_name, "image_count_total"),
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
    with ThreadPoolExecutor(8) as pool:
        usages = list(pool.map(lambda p: project_rows(cloud, p["id"]), projects))
    views = [_project_view(p, rows, warn_at) for p, rows in zip(projects, usages, strict=True)]
    if fmt == "csv":
        views = [{k: v for k, v in view.items() if k != "usage"} for view in views]
    emit(views, PROJECT_COLUMNS, fmt, flag="near_limit")
