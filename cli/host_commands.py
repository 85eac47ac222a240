"""``stratus host list|drain|enable`` and ``stratus rebalance``: maintenance and balance of the compute hosts.

``host drain H`` disables H's compute service (the scheduler then passes it by), moves each of its servers away
(live; a stopped server cold, confirmed), follows every move with a progress line on stderr and ends with a
report on stdout: moved where, or stayed and why. It exits 7 when a server stayed. ``host enable H`` lets
the scheduler use H again. ``rebalance`` plans live migrations that even out vCPU and RAM allocation
(``cli.rebalance``) against each host's capacity as the scheduler counts it (``cli.capacity``: the Placement
inventories), prints the plan and, without ``--dry-run``, makes the moves one at a time.
Exit codes: ``cli.client.Exit``.
"""

from __future__ import annotations

import json
from typing import Any

import click

from cli import capacity, hosts, moves, rebalance
from cli.client import CliError, Cloud, Exit
from cli.output import FORMATS, emit

HOST_COLUMNS = ("host", "state", "status", "vcpus_used", "vcpus", "memory_mb_used", "memory_mb", "servers", "reason")
MOVE_COLUMNS = ("server", "name", "from", "to", "kind", "result", "reason")
PLAN_COLUMNS = ("step", "server", "name", "from", "to", "vcpus", "memory_mb")
LOAD_COLUMNS = ("host", "cpu_before", "cpu_after", "ram_before", "ram_after", "servers_before", "servers_after")

format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format."
)
timeout_option = click.option(
    "--timeout", type=click.FloatRange(min=1), default=1800, show_default=True, help="Seconds to wait for the moves."
)


def _cloud(ctx: click.Context) -> Cloud:
    return ctx.obj.cloud()


def _progress(line: str) -> None:
    click.echo(line, err=True)


@click.group()
def host() -> None:
    """Compute hosts: list them, drain one for maintenance, enable it again."""


@host.command("list")
@format_option
@click.pass_context
def host_list(ctx: click.Context, fmt: str) -> None:
    """Every compute host: up or down, enabled or disabled (and why), allocation and servers."""
    views = [
        {"host": h.name, "state": "up" if h.up else "down", "status": "enabled" if h.enabled else "disabled",
         "vcpus_used": h.vcpus_used, "vcpus": h.vcpus, "memory_mb_used": h.memory_mb_used, "memory_mb": h.memory_mb,
         "servers": h.servers, "reason": h.disabled_reason or None}
        for h in hosts.hosts(_cloud(ctx))
    ]  # fmt: skip
    emit(views, HOST_COLUMNS, fmt)


@host.command("enable")
@click.argument("name", metavar="HOST")
@click.pass_context
def host_enable(ctx: click.Context, name: str) -> None:
    """Let the scheduler place servers on HOST again (after a drain or a disable)."""
    cloud = _cloud(ctx)
    hosts.find_host(cloud, name)
    hosts.switch(cloud, name, enable=True)
    click.echo(f"host {name} is enabled: it takes new servers again")


def _report(done: list[moves.Move], fmt: str, where: str) -> None:
    """The moves' table (or JSON/CSV) on stdout, a summary on stderr; exit 7 when a server did not move."""
    emit([m.view() for m in done], MOVE_COLUMNS, fmt, flag="stayed")
    count = {result: sum(m.result is result for m in done) for result in moves.Result}
    stayed = count[moves.Result.STAYED] + count[moves.Result.MOVING]
    parts = [f"{count[r]} {r}" for r in moves.Result if count[r]]
    _progress(f"{where}: {', '.join(parts) or 'nothing to move'}")
    if stayed:
        raise CliError(f"{stayed} server(s) did not move {where}", Exit.STAYED)


@host.command("drain")
@click.argument("name", metavar="HOST")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Follow the moves to their end. --no-wait only starts them: a stopped server's cold move then waits in "
    "VERIFY_RESIZE for 'openstack server migration confirm'.",
)
@timeout_option
@click.option("--parallel", type=click.IntRange(1, 20), default=2, show_default=True, help="Moves at once.")
@format_option
@click.pass_context
def host_drain(ctx: click.Context, name: str, wait: bool, timeout: float, parallel: int, fmt: str) -> None:
    """Disable HOST and move every server off it, to the hosts the scheduler picks.

    A running (or paused) server moves live; a stopped one moves cold (migrate, then confirmed); any other
    stays, with the reason. Progress goes to stderr, the report to stdout. Exit 7 if a server stayed.
    """
    cloud = _cloud(ctx)
    found = hosts.find_host(cloud, name)
    hosts.switch(cloud, name, enable=False)
    _progress(f"host {name} is disabled ({hosts.DRAIN_REASON}): it takes no new servers")
    planned = [moves.plan_for(s) for s in hosts.servers(cloud, name)]
    if not found.up:
        for move in planned:
            move.kind, move.result, move.status = "none", moves.Result.STAYED, "not moved"
            move.reason = f"host {name} is down: its servers cannot migrate (evacuate them: openstack server evacuate)"
    _progress(f"host {name}: {len(planned)} server(s) to move")
    moves.Runner(cloud, _progress, parallel=parallel, timeout=timeout).run(planned, wait=wait)
    if wait:
        asked = {m.server_id for m in planned}
        for late in hosts.servers(cloud, name):
            if late["id"] not in asked:  # placed while the host was being disabled
                move = moves.plan_for(late)
                move.kind, move.result, move.reason = "none", moves.Result.STAYED, "arrived during the drain"
                planned.append(move)
    _report(planned, fmt, f"off {name}")


# --- rebalance ---------------------------------------------------------------------------------------------


def _capacities(
    found: list[hosts.Host], placed: dict[str, capacity.Capacity] | None, cpu_ratio: float | None,
    ram_ratio: float | None,
) -> dict[str, capacity.Capacity]:  # fmt: skip
    """Each host's capacity: its Placement inventory, else the compute API's size at the default ratios; a ratio
    given on the command line overrides whichever."""
    chosen = {}
    for h in found:
        known = (placed or {}).get(h.name) or capacity.Capacity(
            h.vcpus, capacity.DEFAULT_CPU_RATIO, h.memory_mb, capacity.DEFAULT_RAM_RATIO
        )
        chosen[h.name] = capacity.Capacity(
            known.vcpus, cpu_ratio or known.cpu_ratio, known.memory_mb, ram_ratio or known.ram_ratio
        )
    return chosen


def _capacity_line(
    placed: dict[str, capacity.Capacity] | None, cpu_ratio: float | None, ram_ratio: float | None
) -> str:
    source = (
        f"capacity from the placement inventories of {len(placed)} host(s)"
        if placed is not None
        else "capacity at the default allocation ratios (the cloud has no placement endpoint)"
    )
    overrides = [f"{name} {value:g}" for name, value in (("cpu ratio", cpu_ratio), ("ram ratio", ram_ratio)) if value]
    return source + (f", overridden: {', '.join(overrides)}" if overrides else "")


def _loads(found: list[hosts.Host], capacities: dict[str, capacity.Capacity]) -> list[rebalance.HostLoad]:
    return [
        rebalance.HostLoad(h.name, capacities[h.name].schedulable_vcpus, capacities[h.name].schedulable_memory_mb,
                           h.vcpus_used, h.memory_mb_used, eligible=h.up and h.enabled)
        for h in found
    ]  # fmt: skip


def _guests(listed: list[dict[str, Any]]) -> list[rebalance.Guest]:
    found = []
    for server in listed:
        place, flavor = server.get("OS-EXT-SRV-ATTR:host"), server.get("flavor") or {}
        if not place:
            continue  # shelved, or never placed
        movable = moves.kind_for(server)[0] == "live"
        found.append(rebalance.Guest(server["id"], server.get("name") or "", place, int(flavor.get("vcpus") or 0),
                                     int(flavor.get("ram") or 0), movable))  # fmt: skip
    return found


def _load_views(result: rebalance.Plan, guests: list[rebalance.Guest]) -> list[dict[str, Any]]:
    moved = {m.server_id: m.target for m in result.moves}
    views = []
    for name, before in result.before.items():
        after = result.after[name]
        views.append({
            "host": name + ("" if before.eligible else " (not taking part)"),
            "cpu_before": round(100 * before.cpu, 1), "cpu_after": round(100 * after.cpu, 1),
            "ram_before": round(100 * before.ram, 1), "ram_after": round(100 * after.ram, 1),
            "servers_before": sum(g.host == name for g in guests),
            "servers_after": sum(moved.get(g.id, g.host) == name for g in guests),
        })  # fmt: skip
    return views


def _capacity_view(found: capacity.Capacity) -> dict[str, Any]:
    return {"vcpus": found.vcpus, "cpu_allocation_ratio": found.cpu_ratio, "memory_mb": found.memory_mb,
            "ram_allocation_ratio": found.ram_ratio}  # fmt: skip


def _plan_views(result: rebalance.Plan) -> list[dict[str, Any]]:
    return [
        {"step": i, "server": m.server_id, "name": m.name, "from": m.source, "to": m.target, "vcpus": m.vcpus,
         "memory_mb": m.memory_mb}
        for i, m in enumerate(result.moves, 1)
    ]  # fmt: skip


@click.command("rebalance")
@click.option("--dry-run", is_flag=True, help="Show the plan only; move nothing.")
@click.option("--max-moves", type=click.IntRange(min=0), default=5, show_default=True, help="Moves at most.")
@click.option(
    "--min-gain",
    type=click.FloatRange(0, 1),
    default=rebalance.MIN_GAIN,
    show_default=True,
    help="A move must lower the hosts' squared deviations (of CPU and RAM fractions from the mean) by this.",
)
@click.option(
    "--cpu-allocation-ratio",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="vCPUs the scheduler places per physical CPU, for every host, instead of each host's own (its placement "
    f"inventory's; {capacity.DEFAULT_CPU_RATIO:g} on a cloud without a placement endpoint).",
)
@click.option(
    "--ram-allocation-ratio",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="RAM the scheduler places per MiB of a host, for every host, instead of each host's own (its placement "
    f"inventory's; {capacity.DEFAULT_RAM_RATIO:g} on a cloud without a placement endpoint).",
)
@timeout_option
@format_option
@click.pass_context
def rebalance_command(
    ctx: click.Context, dry_run: bool, max_moves: int, min_gain: float, cpu_allocation_ratio: float | None,
    ram_allocation_ratio: float | None, timeout: float, fmt: str,
) -> None:  # fmt: skip
    """Even out vCPU and RAM allocation across the hosts that are up and enabled, with live migrations.

    A host's capacity is what the scheduler places on it: its size times its allocation ratios, read from the
    cloud's Placement API (each host's VCPU and MEMORY_MB inventory). The plan moves a server from the most loaded
    host while a move lowers the imbalance, never onto a disabled or down host, never past a host's capacity, at
    most --max-moves moves. It is printed, then (without --dry-run) carried out one move at a time. Exit 7 if a
    planned move did not happen.
    """
    cloud = _cloud(ctx)
    guests = _guests(hosts.servers(cloud))
    found, placed = hosts.hosts(cloud), capacity.from_placement(cloud)
    capacities = _capacities(found, placed, cpu_allocation_ratio, ram_allocation_ratio)
    result = rebalance.plan(_loads(found, capacities), guests, max_moves, min_gain)
    _progress(_capacity_line(placed, cpu_allocation_ratio, ram_allocation_ratio))
    before, after = round(result.imbalance_before, 4), round(result.imbalance_after, 4)
    summary = f"imbalance {before:.3f} -> {after:.3f} with {len(result.moves)} move(s)"
    if fmt == "json":
        done = [] if dry_run else _carry_out(cloud, result, timeout)
        body = {
            "imbalance_before": before,
            "imbalance_after": after,
            "plan": _plan_views(result),
            "hosts": _load_views(result, guests),
            "capacity": {name: _capacity_view(c) for name, c in capacities.items()},
            "capacity_from": "placement" if placed is not None else "defaults",
            "dry_run": dry_run,
            "results": [m.view() for m in done],
        }
        click.echo(json.dumps(body, indent=2))
        _refuse_if_stayed(done)
        return
    if result.moves or fmt != "table":
        emit(_plan_views(result), PLAN_COLUMNS, fmt)
    else:
        click.echo("no move would lower the imbalance enough: nothing to do")
    if fmt == "table":
        click.echo()
        emit(_load_views(result, guests), LOAD_COLUMNS, fmt)
    _progress(summary + (" (dry run: nothing moved)" if dry_run else ""))
    if dry_run or not result.moves:
        return
    done = _carry_out(cloud, result, timeout)
    if fmt == "table":
        click.echo()
    _report(done, fmt, "in the rebalance")


def _carry_out(cloud: Cloud, result: rebalance.Plan, timeout: float) -> list[moves.Move]:
    """The plan's live migrations, one at a time, each to its planned host."""
    planned = [moves.Move(m.server_id, m.name, m.source, "live", target=m.target) for m in result.moves]
    moves.Runner(cloud, _progress, parallel=1, timeout=timeout).run(planned)
    return planned


def _refuse_if_stayed(done: list[moves.Move]) -> None:
    stayed = sum(m.result is not moves.Result.MOVED for m in done)
    if stayed:
        raise CliError(f"{stayed} planned move(s) did not happen", Exit.STAYED)
