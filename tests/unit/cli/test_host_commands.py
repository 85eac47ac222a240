"""``stratus host list|drain|enable`` and ``stratus rebalance`` against a fake compute API: what they ask the
cloud, the progress lines (stderr), the report (stdout, every format) and the exit codes a script relies on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import pytest
from click.testing import CliRunner, Result

from cli import host_commands, hosts
from cli.client import CliError, Exit
from tests.unit.cli.fake_compute import FakeCompute


@dataclass
class Obj:
    fake: FakeCompute

    def cloud(self) -> FakeCompute:
        return self.fake


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


def run(fake: FakeCompute, command, *args: str) -> Ran:
    """The command as ``cli.main.main`` runs it: a ``CliError`` becomes its message on stderr and its code."""
    result: Result = CliRunner().invoke(command, list(args), obj=Obj(fake))
    if isinstance(result.exception, CliError):
        return Ran(int(result.exception.code), result.stdout, result.stderr + result.exception.message)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def drain(fake: FakeCompute, *args: str) -> Ran:
    return run(fake, host_commands.host, "drain", *args)


@pytest.fixture
def fake() -> FakeCompute:
    fake = FakeCompute()
    for name in ("h1", "h2", "h3"):
        fake.add_host(name)
    return fake


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cli.moves.time.sleep", lambda seconds: None)


def test_host_list_shows_state_switch_allocation_and_servers(fake):
    fake.add_server("web", "h1", vcpus=2, ram=2048)
    fake.hosts["h3"].up, fake.hosts["h3"].enabled, fake.hosts["h3"].reason = False, False, "new disks"
    ran = run(fake, host_commands.host, "list")
    assert ran.code == 0
    lines = [line.split() for line in ran.stdout.splitlines()]
    assert lines[0] == ["HOST", "STATE", "STATUS", "VCPUS_USED", "VCPUS", "MEMORY_MB_USED", "MEMORY_MB", "SERVERS",
                        "REASON"]  # fmt: skip
    assert lines[1] == ["h1", "up", "enabled", "2", "16", "2048", "65536", "1", "-"]
    assert lines[3] == ["h3", "down", "disabled", "0", "16", "0", "65536", "0", "new", "disks"]
    shown = json.loads(run(fake, host_commands.host, "list", "--format", "json").stdout)
    assert shown[2]["reason"] == "new disks" and shown[0]["servers"] == 1


def test_drain_disables_the_host_and_moves_every_server_live(fake):
    for i in range(3):
        fake.add_server(f"web-{i}", "h1")
    ran = drain(fake, "h1")
    assert ran.code == 0, ran
    assert fake.on("h1") == [] and (fake.hosts["h1"].enabled, fake.hosts["h1"].reason) == (
        False,
        "drained by stratus host drain",
    )
    assert all(body == {"os-migrateLive": {"host": None, "block_migration": "auto"}} for _, body in fake.actions)
    assert "host h1 is disabled (drained by stratus host drain)" in ran.stderr
    assert any(line.startswith("web-0 (") and line.endswith(": running") for line in ran.stderr.splitlines())
    assert "off h1: 3 moved" in ran.stderr
    rows = [line.split() for line in ran.stdout.splitlines()[1:]]
    assert [(r[1], r[2], r[4], r[5]) for r in rows] == [
        ("web-0", "h1", "live", "moved"), ("web-1", "h1", "live", "moved"), ("web-2", "h1", "live", "moved")
    ]  # fmt: skip
    assert {r[3] for r in rows} <= {"h2", "h3"}


def test_a_stopped_server_moves_cold_and_is_confirmed(fake):
    server_id = fake.add_server("db", "h1", status="SHUTOFF")
    ran = drain(fake, "h1", "--format", "json")
    assert ran.code == 0, ran
    [report] = json.loads(ran.stdout)
    assert (report["kind"], report["result"], report["stayed"]) == ("cold", "moved", False)
    assert [body for _, body in fake.actions] == [{"migrate": None}, {"confirmResize": None}]
    assert fake.servers[server_id]["status"] == "SHUTOFF" and fake.on("h1") == []


def test_what_cannot_move_stays_with_the_reason_and_the_exit_code_says_so(fake):
    fake.add_server("web", "h1")
    fake.add_server("stuck-1", "h1")
    broken = fake.add_server("broken", "h1", status="ERROR")
    fake.servers[broken]["fault"] = {"message": "disk image unreadable"}
    ran = drain(fake, "h1", "--format", "json")
    assert ran.code == Exit.STAYED
    report = {r["name"]: r for r in json.loads(ran.stdout)}
    assert report["web"]["result"] == "moved"
    assert report["stuck-1"]["result"] == "stayed"
    assert report["stuck-1"]["reason"] == "Live migration failed: the target refused the guest's CPU model"
    assert report["broken"] == report["broken"] | {
        "kind": "none", "result": "stayed", "reason": "status ERROR cannot move (disk image unreadable)"
    }  # fmt: skip
    assert fake.on("h1") == ["broken", "stuck-1"]
    assert "2 server(s) did not move off h1" in ran.stderr
    assert not any(sid == broken for sid, _ in fake.actions)


def test_a_refused_move_is_reported_with_the_clouds_message(fake):
    fake.add_server("big", "h1", ram=65536)
    fake.add_server("busy", "h2", ram=65536)
    fake.add_server("other", "h3", ram=65536)
    ran = drain(fake, "h1")
    assert ran.code == Exit.STAYED
    assert "No valid host was found" in ran.stdout and fake.on("h1") == ["big"]


def test_an_unknown_host_is_exit_3_and_nothing_is_disabled(fake):
    ran = drain(fake, "h9")
    assert ran.code == Exit.NOT_FOUND and "no compute host 'h9' (the hosts: h1, h2, h3)" in ran.stderr
    assert all(h.enabled for h in fake.hosts.values())


def test_no_wait_starts_the_moves_and_returns(fake):
    fake.add_server("web", "h1")
    ran = drain(fake, "h1", "--no-wait")
    assert ran.code == 0 and "started" in ran.stdout and "off h1: 1 started" in ran.stderr
    assert len(fake.actions) == 1 and fake.migrations[0]["status"] == "accepted"


def test_a_drain_that_times_out_says_what_is_still_moving(fake, monkeypatch):
    fake.add_server("web", "h1")
    ticks = iter(range(0, 10_000, 100))
    monkeypatch.setattr("cli.moves.time.monotonic", lambda: next(ticks))
    ran = drain(fake, "h1", "--timeout", "150", "--format", "json")
    assert ran.code == Exit.STAYED
    [report] = json.loads(ran.stdout)
    assert report["result"] == "still moving" and report["reason"].startswith("timed out after 150 s (status ")


def test_a_down_host_is_disabled_and_its_servers_are_left_for_evacuation(fake):
    fake.add_server("web", "h1")
    fake.hosts["h1"].up = False
    ran = drain(fake, "h1", "--format", "json")
    assert ran.code == Exit.STAYED and fake.actions == [] and not fake.hosts["h1"].enabled
    assert "evacuate" in json.loads(ran.stdout)[0]["reason"]


def test_an_empty_host_drains_at_once(fake):
    ran = drain(fake, "h2")
    assert ran.code == 0 and "off h2: nothing to move" in ran.stderr and not fake.hosts["h2"].enabled


def test_enable_switches_the_host_back_on(fake):
    drain(fake, "h1")
    ran = run(fake, host_commands.host, "enable", "h1")
    assert ran.code == 0 and "host h1 is enabled" in ran.stdout
    assert (fake.hosts["h1"].enabled, fake.hosts["h1"].reason) == (True, None)
    assert run(fake, host_commands.host, "enable", "nope").code == Exit.NOT_FOUND


def _hot_cloud(fake: FakeCompute, count: int = 6) -> None:
    for i in range(count):
        fake.add_server(f"vm-{i}", "h1", vcpus=2, ram=8192)


def test_rebalance_dry_run_prints_the_plan_and_moves_nothing(fake):
    _hot_cloud(fake)
    ran = run(fake, host_commands.rebalance_command, "--dry-run")
    assert ran.code == 0 and fake.actions == []
    plan = [line.split() for line in ran.stdout.split("\n\n")[0].splitlines()]
    assert plan[0] == ["STEP", "SERVER", "NAME", "FROM", "TO", "VCPUS", "MEMORY_MB"]
    assert [(row[3], row[4]) for row in plan[1:]] == [("h1", "h2"), ("h1", "h3"), ("h1", "h2"), ("h1", "h3")]
    assert "with 4 move(s) (dry run: nothing moved)" in ran.stderr
    loads = json.loads(run(fake, host_commands.rebalance_command, "--dry-run", "--format", "json").stdout)
    assert [(h["host"], h["servers_before"], h["servers_after"]) for h in loads["hosts"]] == [
        ("h1", 6, 2), ("h2", 0, 2), ("h3", 0, 2)
    ]  # fmt: skip
    assert loads["imbalance_after"] == 0 < loads["imbalance_before"] and loads["results"] == []


def test_rebalance_moves_each_planned_server_to_its_planned_host_within_the_limit(fake):
    _hot_cloud(fake)
    ran = run(fake, host_commands.rebalance_command, "--max-moves", "2", "--format", "json")
    assert ran.code == 0, ran
    shown = json.loads(ran.stdout)
    assert len(shown["plan"]) == 2 and [r["result"] for r in shown["results"]] == ["moved", "moved"]
    asked = [body["os-migrateLive"]["host"] for _, body in fake.actions]
    assert asked == [p["to"] for p in shown["plan"]] == ["h2", "h3"]
    assert (len(fake.on("h1")), len(fake.on("h2")), len(fake.on("h3"))) == (4, 1, 1)


def test_rebalance_leaves_disabled_hosts_out_and_a_failed_move_exits_7(fake):
    _hot_cloud(fake, 4)
    fake.hosts["h3"].enabled = False
    fake.servers[next(iter(fake.servers))]["name"] = "stuck-0"
    ran = run(fake, host_commands.rebalance_command)
    assert ran.code == Exit.STAYED
    assert {body["os-migrateLive"]["host"] for _, body in fake.actions} == {"h2"}
    assert "(not taking part)" in ran.stdout and "planned move(s)" not in ran.stderr
    assert "did not move in the rebalance" in ran.stderr


def test_a_balanced_cloud_needs_no_rebalance(fake):
    for host in ("h1", "h2", "h3"):
        fake.add_server(f"vm-{host}", host)
    ran = run(fake, host_commands.rebalance_command)
    assert ran.code == 0 and fake.actions == [] and "with 0 move(s)" in ran.stderr
    assert ran.stdout.startswith("no move would lower the imbalance enough: nothing to do\n\nHOST ")


class PagedServers:
    """A compute API that pages its server listing three at a time, as Nova does with a ``limit``."""

    def __init__(self, count: int) -> None:
        self.ids = [f"s{i}" for i in range(count)]
        self.asked: list[str] = []

    def call(self, method, service, path, body=None, expect=(200,), version=None):
        self.asked.append(path)
        query = parse_qs(urlparse(path).query)
        start = self.ids.index(query["marker"][0]) + 1 if "marker" in query else 0
        page = self.ids[start : start + 3]
        links = [{"rel": "next", "href": f"http://x/compute/v2.1/servers/detail?limit=3&marker={page[-1]}"}]
        return {"servers": [{"id": i} for i in page], **({"servers_links": links} if len(page) == 3 else {})}


def test_a_listing_follows_the_next_links_to_its_end():
    cloud = PagedServers(7)
    found = hosts.listing(cloud, "/servers/detail", "servers", hosts.MOVES, all_tenants="1")
    assert [s["id"] for s in found] == cloud.ids and len(cloud.asked) == 3
    assert "marker=s5" in cloud.asked[-1] and "all_tenants=1" in cloud.asked[-1]


def _rebalance_json(fake: FakeCompute, *args: str) -> tuple[dict, str]:
    ran = run(fake, host_commands.rebalance_command, "--dry-run", "--format", "json", *args)
    assert ran.code == 0, ran
    return json.loads(ran.stdout), ran.stderr


def test_rebalance_without_a_placement_endpoint_counts_the_default_ratios(fake):
    _hot_cloud(fake)
    shown, stderr = _rebalance_json(fake)
    assert "capacity at the default allocation ratios (the cloud has no placement endpoint)" in stderr
    assert shown["capacity_from"] == "defaults" and fake.placement_calls == []
    assert shown["capacity"]["h3"] == {"vcpus": 16, "cpu_allocation_ratio": 4.0, "memory_mb": 65536,
                                       "ram_allocation_ratio": 1.0}  # fmt: skip


def test_rebalance_counts_each_hosts_capacity_from_its_placement_inventory(fake):
    """h3 places half its RAM (ram_ratio 0.5): it takes one server where h2 takes two, so each ends at 25 %."""
    fake.placement = True
    fake.hosts["h3"].ram_ratio = 0.5
    _hot_cloud(fake)
    shown, stderr = _rebalance_json(fake)
    assert "capacity from the placement inventories of 3 host(s)" in stderr
    assert shown["capacity_from"] == "placement"
    assert shown["capacity"]["h3"]["ram_allocation_ratio"] == 0.5
    assert sorted(m["to"] for m in shown["plan"]) == ["h2", "h2", "h3"]
    assert {(h["host"], h["ram_after"]) for h in shown["hosts"]} == {("h1", 37.5), ("h2", 25.0), ("h3", 25.0)}
    assert fake.placement_calls[0] == ("/resource_providers", "placement 1.0")
    assert {version for _, version in fake.placement_calls} == {"placement 1.0"}


def test_rebalance_leaves_out_what_a_host_reserves(fake):
    fake.placement = True
    fake.hosts["h2"].reserved_mb = 32768
    _hot_cloud(fake)
    shown, _ = _rebalance_json(fake)
    assert shown["capacity"]["h2"]["memory_mb"] == 32768
    assert sorted(m["to"] for m in shown["plan"]) == ["h2", "h3", "h3"]


def test_a_ratio_on_the_command_line_overrides_every_hosts_own(fake):
    fake.placement = True
    fake.hosts["h3"].ram_ratio = 0.5
    _hot_cloud(fake)
    shown, stderr = _rebalance_json(fake, "--ram-allocation-ratio", "1", "--cpu-allocation-ratio", "2")
    assert "capacity from the placement inventories of 3 host(s), overridden: cpu ratio 2, ram ratio 1" in stderr
    assert {(c["cpu_allocation_ratio"], c["ram_allocation_ratio"]) for c in shown["capacity"].values()} == {(2.0, 1.0)}
    assert [(m["from"], m["to"]) for m in shown["plan"]] == [("h1", "h2"), ("h1", "h3"), ("h1", "h2"), ("h1", "h3")]


def test_the_rebalance_help_says_where_the_ratios_come_from():
    shown = CliRunner().invoke(host_commands.rebalance_command, ["--help"]).output
    assert "placement" in shown and "instead of each host's own" in shown
