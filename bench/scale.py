"""How the control plane holds up at a production cloud's size: 1,000 hosts, 10,000 servers, PostgreSQL.

Why: every other benchmark runs a handful of hosts. A real region has a thousand, each looking at its capacity
and its guests every ``compute_report_interval`` (10 s) and reporting what changed (everything every
``compute_full_report_interval``, 300 s), its network state every ``network_resync_interval`` (30 s), with a
heartbeat every ``host_heartbeat_interval`` (3 s); and tens of thousands of servers that Horizon,
Nova's own periodic jobs and every tenant's scripts list all day. What breaks first at that size is what this
finds.

One private cloud (``manage.private_cloud.running_cloud``) on a private PostgreSQL (``start_postgres``) with the
fake compute driver and the fake network dataplane: ``--agents`` machine hosts (``STRATUS_HOSTS``), each with one
compute and one network agent process serving ``--hosts / --agents`` fake hosts (``compute_fake_hosts``), every
interval at the product's default. 20 agent processes of 50 fake hosts each: with 4 of 250, each agent took a few
messages a second at 1% CPU while Redis was busy, and dropped most of its own reports as expired before sending them.
The likely cause (not profiled): Redis matches every key of an agent's BRPOP (one per fake host's queue) against its
user's ACL patterns (ten per fake host, ``manage.broker_acl``), a cost that grows with the square of the hosts one
agent serves; a real host serves one. Then:

1. ``--servers`` servers (m1.tiny, no network) across ``--projects`` projects: ``--boot`` of them booted **through
   the API** (``--seed-concurrency`` clients, each project's quota lifted by the admin) onto the reporting hosts,
   the rest written into the database as copies of those in SHELVED_OFFLOADED (no host: nothing reports on them;
   ``seed_offloaded`` says why). A server written ACTIVE on a fake host that does not run it would be turned to
   ERROR by the power-state sync at the host's next report (``compute.control.hosts``), and the one scheduler
   process builds about 10 servers a second here: 10,000 through the API would take the benchmark's whole budget.
2. Control-plane CPU at rest: CPU seconds (``/proc``) over ``--rest-seconds`` of every control-side process (API,
   workers, console proxy, Redis, PostgreSQL) while the hosts report, after one report interval to settle; the agents
   are shown apart (they stand in for the hosts' own CPUs; ``--agent-nice`` lowers them), and so is the rate
   of host reports the scheduler handled meanwhile: a few agent processes may not manage to send every fake host's
   report in time on this machine (they drop a report that waited past its interval), and a heartbeat here names
   all of an agent's fake hosts at once, where 1,000 real hosts would send 1,000.
3. Listings: ``GET /servers/detail?all_tenants=1&limit=1000`` by the admin and one project's full
   ``/servers/detail`` by a member, ``--requests`` sequential requests each; p50/p99.
4. Boot-and-delete at concurrency ``--concurrency`` (``bench/compute.py``'s closed loop, polling every 0.05 s) for
   ``--seconds``: cycles/s and API→ACTIVE p95.
5. The whole ``GET /v2.0/ports`` listing of a project with 1,000 networks and 5,000 ports (``bench/network.py``'s
   seeding through the network service's functions, as there), by a member; p50/p99.
6. Placement over ``--placement-hosts`` hosts (``bench/compute.py``'s decision: host picture, filters, weighers,
   claim) on a database of its own in the same PostgreSQL; p99.

Goals: CPU at rest under half a core; boot-and-delete >= 50 cycles/s with ACTIVE p95 < 1 s; server listings p99
< 200 ms; placement p99 < 10 ms; ports listing p99 < 100 ms. ``--quick``: 40 hosts, 400 servers over 10
projects, short cells (a sanity run of a few minutes); the full run takes about half an hour on two busy cores.
Exit status 0 unless the cloud failed (did not start, refused a request of the set-up, or lost servers).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/scale.py`

from bench.compute import Client, boot_and_delete, percentile, placement_on  # noqa: E402
from bench.identity import Credentials, login  # noqa: E402
from bench.network import NET, Api, CloudFailure, lister_project, seed, unlimited  # noqa: E402

ADMIN = Credentials("admin", "bench-admin-password", "admin")
COMPUTE = "/compute/v2.1"
UNLIMITED = {"quota_set": {"instances": -1, "cores": -1, "ram": -1}}
GOAL_CPU_CORES = 0.5
GOAL_CYCLES = 50.0
GOAL_ACTIVE_P95_S = 1.0
GOAL_SERVER_LIST_P99_MS = 200.0
GOAL_PLACEMENT_P99_MS = 10.0
GOAL_PORT_LIST_P99_MS = 100.0


@dataclass(frozen=True)
class Scale:
    hosts: int
    agents: int
    servers: int
    projects: int
    control_copies: int = 1


@dataclass(frozen=True)
class Goal:
    verdict: str
    text: str


def goal(passed: bool, text: str) -> Goal:
    return Goal("PASS" if passed else "MISS", text)


# --- the cloud -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    admin: Api
    auth_url: str
    settings: Any  # common.settings.Settings of the cloud
    run_dir: Path
    database_url: str


def cloud_env(scale: Scale) -> dict[str, str]:
    """Production intervals (the private cloud's test defaults are shorter), the fake driver and dataplane."""
    from common.settings import Settings

    defaults = Settings()
    tag = secrets.token_hex(2)
    return {
        "STRATUS_HOST": f"bscale{tag}",
        "STRATUS_HOSTS": str(scale.agents),
        "STRATUS_CONTROL_COPIES": str(scale.control_copies),
        "STRATUS_COMPUTE_DRIVER": "fake",
        "STRATUS_COMPUTE_FAKE_HOSTS": str(scale.hosts // scale.agents),
        "STRATUS_COMPUTE_REPORT_INTERVAL": str(defaults.compute_report_interval),
        "STRATUS_NETWORK_RESYNC_INTERVAL": str(defaults.network_resync_interval),
        "STRATUS_HOST_HEARTBEAT_INTERVAL": str(defaults.host_heartbeat_interval),
        "STRATUS_NETWORK_DATAPLANE": "fake",
        "STRATUS_NETWORK_UNDERLAY_BRIDGE": f"bscul{tag}",
        "STRATUS_NETWORK_SIMULATED_UNDERLAY": f"198.19.{secrets.randbelow(256)}.0/24",
    }


@contextmanager
def private_cloud(scale: Scale, keep_logs: Path | None, agent_nice: int = 0) -> Iterator[Bench]:
    from common.settings import load
    from manage.private_cloud import running_cloud, start_postgres

    env = cloud_env(scale)
    with tempfile.TemporaryDirectory(prefix="stratus-bench-") as tmp, ExitStack() as stack:
        started = start_postgres(Path(tmp))
        if started is None:
            raise CloudFailure("PostgreSQL is not installed (the benchmark measures a production database)")
        env["STRATUS_DATABASE_URL"], stop = started
        stack.callback(stop)
        if keep_logs:  # callbacks run last in, first out: the logs are copied once the cloud is down
            stack.callback(shutil.copytree, Path(tmp) / "log", keep_logs, dirs_exist_ok=True)
        cloud = stack.enter_context(running_cloud(Path(tmp), env))
        cloud.bootstrap(ADMIN.password, "bench-demo-password")
        if agent_nice:
            lower_agents(cloud.state_dir / "run", agent_nice)
        settings = load(cloud.env)
        admin = Api(cloud.url, login(cloud.auth_url, ADMIN))
        yield Bench(admin, cloud.auth_url, settings, cloud.state_dir / "run", env["STRATUS_DATABASE_URL"])


def lower_agents(run_dir: Path, nice: int) -> int:
    """The agent processes (and their pool children) at ``nice``; returns how many were lowered.

    Why (``--agent-nice``): they stand in for 1,000 hosts' own CPUs, yet here they share two cores with the
    control plane they report to, and at equal priority their work inflates the latencies the benchmark measures
    (with a beat entry per fake host, before ``common.agents.look_schedule``, a listing's p99 was three times its
    p50). Lowered, they run on what the control plane leaves,
    which favours the listings and starves the builds' spawns: neither is what hosts on machines of their own
    would see, so the default leaves them be and the choice is the reader's."""
    lowered = 0
    for pid_file in run_dir.glob("*agent*.pid"):
        try:
            parent = psutil.Process(int(pid_file.read_text().split()[0]))
            for process in [parent, *parent.children(recursive=True)]:
                process.nice(nice)
                lowered += 1
        except (ValueError, psutil.Error):
            continue
        # Every service runs in a session of its own, and with the kernel's autogroup scheduling each session has
        # an equal share of the CPUs whatever its processes' nice values: the session's own nice is the one that
        # counts (sched(7)). Twenty agent sessions had twenty shares against the control plane's eight.
        with contextlib.suppress(OSError):  # no autogroups on this kernel: the processes' nice values count
            Path(f"/proc/{parent.pid}/autogroup").write_text(str(nice))
    return lowered


def hosts_up(bench: Bench) -> int:
    listed = bench.admin.call("GET", f"{COMPUTE}/os-hypervisors")["hypervisors"]
    return sum(h.get("state") == "up" for h in listed)


def wait_for_hosts(bench: Bench, count: int, timeout: float) -> tuple[int, float]:
    """(hosts up, seconds) once ``count`` compute hosts are up (the hypervisor list says so), or at ``timeout``."""
    started = time.monotonic()
    up = hosts_up(bench)
    while up < count and time.monotonic() - started < timeout:
        time.sleep(5)
        up = hosts_up(bench)
    return up, time.monotonic() - started


def upload_image(admin: Api) -> str:
    image = admin.call(
        "POST",
        "/image/v2/images",
        {"name": "scale", "disk_format": "raw", "container_format": "bare", "visibility": "public"},
        201,
    )["id"]
    response = requests.put(
        f"{admin.url}/image/v2/images/{image}/file",
        data=b"\0" * 65536,
        headers={"X-Auth-Token": admin.token, "Content-Type": "application/octet-stream"},
        timeout=30,
    )
    if response.status_code != 204:
        raise CloudFailure(f"image upload: HTTP {response.status_code}")
    return image


# --- 1. servers through the API ------------------------------------------------------------------------------


def projects(bench: Bench, count: int) -> list[Api]:
    """``count`` projects, the admin a member of each (a project-scoped token each), quotas lifted."""
    admin = bench.admin
    admin_id = admin.call("GET", "/identity/v3/users?name=admin")["users"][0]["id"]
    member = admin.call("GET", "/identity/v3/roles?name=member")["roles"][0]["id"]
    apis = []
    for index in range(count):
        name = f"scale-{index:03d}"
        project = admin.call("POST", "/identity/v3/projects", {"project": {"name": name}}, 201)["project"]
        admin.call("PUT", f"/identity/v3/projects/{project['id']}/users/{admin_id}/roles/{member}", expect=204)
        admin.call("PUT", f"{COMPUTE}/os-quota-sets/{project['id']}", UNLIMITED)
        apis.append(Api(admin.url, login(bench.auth_url, Credentials(ADMIN.user, ADMIN.password, name))))
    return apis


def boot_servers(apis: list[Api], image: str, total: int, concurrency: int) -> tuple[float, int]:
    """``total`` servers spread evenly over the projects, created by ``concurrency`` clients; (seconds, errors)."""
    work: queue.SimpleQueue[tuple[Api, int]] = queue.SimpleQueue()
    for index in range(total):
        work.put((apis[index % len(apis)], index))
    errors = [0]
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        while True:
            try:
                api, index = work.get_nowait()
            except queue.Empty:
                return
            body = {"server": {"name": f"scale-{index}", "imageRef": image, "flavorRef": "1", "networks": "none"}}
            response = session.post(
                f"{api.url}{COMPUTE}/servers",
                json=body,
                headers={"X-Auth-Token": api.token, "OpenStack-API-Version": "compute 2.37"},
                timeout=120,
            )
            if response.status_code != 202:
                with lock:
                    errors[0] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started, errors[0]


def count_states(database_url: str) -> dict[str, int]:
    """Servers per vm_state, read from the database (the API has no count)."""
    from sqlalchemy import func, select

    from common.db import Database
    from compute.models import Instance

    db = Database(database_url)
    try:
        with db.session() as session:
            rows = session.execute(
                select(Instance.vm_state, func.count()).where(Instance.deleted.is_(False)).group_by(Instance.vm_state)
            ).all()
        return {state: count for state, count in rows}
    finally:
        db.dispose()


def wait_settled(database_url: str, timeout: float) -> dict[str, int]:
    """Servers per state once none is building (or at ``timeout``)."""
    deadline = time.monotonic() + timeout
    states = count_states(database_url)
    while states.get("building", 0) and time.monotonic() < deadline:
        time.sleep(3)
        states = count_states(database_url)
    return states


def seed_offloaded(database_url: str, count: int) -> int:
    """``count`` more servers written into the database as copies of the booted ones (each project's share), in
    SHELVED_OFFLOADED: no host, so no report, power-state sync, handoff or HA pass touches them, as Nova's offloaded
    servers. Booting them all through the API takes longer than this benchmark's budget on two shared cores (the
    one scheduler process builds about 10 servers a second); a server written ACTIVE on a fake host that does not
    run it would be turned to ERROR by the next report of its host."""
    from sqlalchemy import select

    from common.db import Database
    from compute.models import Instance

    db = Database(database_url)
    try:
        with db.session() as session:
            models = list(session.scalars(select(Instance).where(Instance.deleted.is_(False))))
            columns = [c.key for c in Instance.__mapper__.column_attrs if c.key != "id"]
            rows = [{key: getattr(model, key) for key in columns} for model in models]
        written = 0
        while written < count:
            with db.session() as session:
                for _ in range(min(1000, count - written)):
                    row = rows[written % len(rows)] | {
                        "name": f"scale-offloaded-{written}",
                        "hostname": f"scale-offloaded-{written}",
                        "vm_state": "shelved_offloaded",
                        "power_state": 4,  # SHUTDOWN
                        "host": None,
                    }
                    session.add(Instance(**row))
                    written += 1
        return written
    finally:
        db.dispose()


def report_lines(log_dir: Path) -> int:
    """Host reports the scheduler's copies have handled so far, from their logs (not those dropped as expired)."""
    handled = 0
    for log in log_dir.glob("compute-worker*.log"):
        try:
            handled += len(re.findall(r"Task events\.host_report\[[^]]*\] succeeded", log.read_text(errors="replace")))
        except OSError:
            continue
    return handled


# --- 2. CPU at rest ------------------------------------------------------------------------------------------


def service_processes(run_dir: Path, database_url: str) -> dict[str, list[psutil.Process]]:
    """The cloud's processes by role, from its pid files (with their children) and PostgreSQL's postmaster."""
    roles: dict[str, list[psutil.Process]] = {"control": [], "agents": []}
    for pid_file in sorted(run_dir.glob("*.pid")):
        try:
            parent = psutil.Process(int(pid_file.read_text().split()[0]))
            family = [parent, *parent.children(recursive=True)]
        except (ValueError, psutil.Error):
            continue
        roles["agents" if "agent" in pid_file.stem else "control"] += family
    port = database_url.rsplit(":", 1)[1].split("/")[0]
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and f"-p {port}" in " ".join(cmdline):
            roles["control"] += [process, *process.children(recursive=True)]
    return roles


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    times = {}
    for process in processes:
        try:
            cpu = process.cpu_times()
            times[process.pid] = cpu.user + cpu.system
        except psutil.Error:
            continue
    return times


def cpu_at_rest(bench: Bench, seconds: float) -> dict[str, float]:
    """Cores used by each role over ``seconds`` (processes that came or went in between are not counted)."""
    roles = service_processes(bench.run_dir, bench.database_url)
    before = {role: cpu_seconds(processes) for role, processes in roles.items()}
    time.sleep(seconds)
    after = {role: cpu_seconds(processes) for role, processes in roles.items()}
    return {
        role: sum(after[role][pid] - before[role][pid] for pid in after[role] if pid in before[role]) / seconds
        for role in roles
    }


# --- 3. and 5. listings --------------------------------------------------------------------------------------


def timed_gets(api: Api, path: str, count: int) -> tuple[float, float, int]:
    """(p50 ms, p99 ms, items in the last answer) of ``count`` sequential GETs, after one untimed."""
    session = requests.Session()
    headers = {"X-Auth-Token": api.token, "OpenStack-API-Version": "compute 2.37"}
    session.get(f"{api.url}{path}", headers=headers, timeout=60).raise_for_status()
    timings, items = [], 0
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(f"{api.url}{path}", headers=headers, timeout=60)
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise CloudFailure(f"GET {path}: HTTP {response.status_code} {response.text[:300]}")
        body = response.json()
        items = len(next(v for v in body.values() if isinstance(v, list)))
    return percentile(timings, 0.5) * 1000, percentile(timings, 0.99) * 1000, items


# --- 6. placement --------------------------------------------------------------------------------------------


def placement_on_postgres(database_url: str, hosts: int, placements: int) -> list[float]:
    """``bench/compute.py``'s placement decisions on a fresh database of the same PostgreSQL."""
    import psycopg

    from common.db import Database

    server, _ = database_url.rsplit("/", 1)
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE placement_bench")
    db = Database(f"{server}/placement_bench")
    try:
        return placement_on(db, hosts, placements)
    finally:
        db.dispose()


# --- the run -------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 hosts, 400 servers, short cells: a sanity run")
    parser.add_argument("--hosts", type=int, default=1000, help="fake hosts, reporting at the production interval")
    parser.add_argument("--agents", type=int, default=20, help="agent processes (machine hosts) serving them")
    parser.add_argument(
        "--control-copies", type=int, default=2, help="copies of each control worker (make up HA=1 runs two)"
    )
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--boot", type=int, default=2000, help="of the servers, how many boot through the API")
    parser.add_argument("--host-timeout", type=float, default=300.0, help="seconds to wait for every host to be up")
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--seed-concurrency", type=int, default=50)
    parser.add_argument("--rest-seconds", type=float, default=60.0)
    parser.add_argument("--requests", type=int, default=100, help="sequential requests per listing")
    parser.add_argument("--concurrency", type=int, default=50, help="boot-and-delete clients")
    parser.add_argument("--seconds", type=float, default=30.0, help="boot-and-delete duration")
    parser.add_argument("--networks", type=int, default=1000)
    parser.add_argument("--ports", type=int, default=5000)
    parser.add_argument("--placement-hosts", type=int, default=10_000)
    parser.add_argument("--placements", type=int, default=1000)
    parser.add_argument("--keep-logs", type=Path, help="copy the cloud's logs to this directory at the end")
    parser.add_argument(
        "--agent-nice", type=int, default=0, help="run the agents (the hosts' stand-ins) at this nice value, 1-19"
    )
    if parser.parse_known_args(argv)[0].quick:  # smaller defaults; what is given on the command line stays
        parser.set_defaults(
            hosts=40, agents=2, servers=400, boot=200, projects=10, host_timeout=120.0, rest_seconds=15.0,
            requests=20, seconds=10.0, placements=200, networks=100, ports=500, placement_hosts=1000,
        )  # fmt: skip
    args = parser.parse_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scale = Scale(args.hosts, args.agents, args.servers, args.projects, args.control_copies)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run (other work skews the figures)")
    goals: list[Goal] = []
    try:
        with private_cloud(scale, args.keep_logs, args.agent_nice) as bench:
            print(
                f"private cloud {bench.admin.url} on PostgreSQL, {scale.agents} agent processes, "
                f"{scale.control_copies} copies of each control worker",
                flush=True,
            )
            up, waited = wait_for_hosts(bench, scale.hosts, timeout=args.host_timeout)
            print(f"  {up} of {scale.hosts} hosts up after {waited:.0f} s", flush=True)
            goals.append(goal(up == scale.hosts, f"hosts up: {up} of {scale.hosts} after {waited:.0f} s"))
            image = upload_image(bench.admin)
            apis = projects(bench, scale.projects)
            booted = min(args.boot, scale.servers)
            started = time.monotonic()
            seconds, errors = boot_servers(apis, image, booted, args.seed_concurrency)
            print(f"  {booted} creates accepted in {seconds:.0f} s ({errors} refused)", flush=True)
            states = wait_settled(bench.database_url, timeout=max(300, booted / 2))
            took = time.monotonic() - started
            print(f"  booted through the API in {took:.0f} s ({booted / took:.1f}/s): {states}", flush=True)
            active = states.get("active", 0)
            goals.append(goal(active == booted, f"servers booted: {active} of {booted} ACTIVE, {states}"))
            if scale.servers > booted:
                written = seed_offloaded(bench.database_url, scale.servers - booted)
                print(f"  {written} more written into the database as SHELVED_OFFLOADED", flush=True)

            time.sleep(bench.settings.compute_report_interval)  # a report from every host about its guests
            log_dir = bench.run_dir.parent / "log"
            reports = report_lines(log_dir)
            cores = cpu_at_rest(bench, args.rest_seconds)
            handled = (report_lines(log_dir) - reports) / args.rest_seconds
            print(
                f"\nCPU at rest over {args.rest_seconds:.0f} s: control plane {cores['control']:.2f} cores, "
                f"agents {cores['agents']:.2f} cores; host reports handled {handled:.1f}/s ({scale.hosts} hosts "
                f"looking every {bench.settings.compute_report_interval:g} s report what changed, and everything every "
                f"{bench.settings.compute_full_report_interval:g} s)",
                flush=True,
            )
            goals.append(
                goal(
                    cores["control"] < GOAL_CPU_CORES,
                    f"control-plane CPU at rest, {scale.hosts} hosts reporting: {cores['control']:.2f} cores "
                    f"(goal < {GOAL_CPU_CORES})",
                )
            )

            print("\nserver listings:", flush=True)
            for label, api, path in (
                ("all_tenants, limit=1000", bench.admin, f"{COMPUTE}/servers/detail?all_tenants=1&limit=1000"),
                ("one project, whole", apis[0], f"{COMPUTE}/servers/detail"),
            ):
                p50, p99, items = timed_gets(api, path, args.requests)
                print(f"  {label:<24} {items:>5} servers: p50 {p50:7.1f} ms, p99 {p99:7.1f} ms", flush=True)
                goals.append(
                    goal(p99 < GOAL_SERVER_LIST_P99_MS, f"/servers/detail {label}: p99 {p99:.0f} ms (goal < 200)")
                )

            admin_project = bench.admin.call("GET", "/identity/v3/projects?name=admin")["projects"][0]["id"]
            bench.admin.call("PUT", f"{COMPUTE}/os-quota-sets/{admin_project}", UNLIMITED)  # 50 clients at once
            client = Client(bench.admin.url, bench.admin.token, image)
            results, elapsed = boot_and_delete(client, args.concurrency, args.seconds)
            rate = len(results) / elapsed
            active_p95 = percentile([a for a, _ in results], 0.95)
            print(
                f"\nboot-and-delete at concurrency {args.concurrency}: {len(results)} cycles, {rate:.1f}/s, "
                f"ACTIVE p50 {percentile([a for a, _ in results], 0.5):.3f} s, p95 {active_p95:.3f} s",
                flush=True,
            )
            goals.append(
                goal(
                    rate >= GOAL_CYCLES and active_p95 < GOAL_ACTIVE_P95_S,
                    f"boot-and-delete at concurrency {args.concurrency}: {rate:.1f} cycles/s (goal >= 50), "
                    f"ACTIVE p95 {active_p95:.2f} s (goal < 1)",
                )
            )

            lister, project_id = lister_project(bench.admin, bench.auth_url)
            unlimited(bench.settings, [project_id])
            started = time.monotonic()
            seed(bench.settings, project_id, args.networks, args.ports)
            print(
                f"\nseeded {args.networks} networks / {args.ports} ports in {time.monotonic() - started:.0f} s",
                flush=True,
            )
            p50, p99, items = timed_gets(lister, f"{NET}/ports", args.requests)
            print(f"  GET /v2.0/ports whole, {items} ports: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
            goals.append(goal(p99 < GOAL_PORT_LIST_P99_MS, f"{items}-port listing: p99 {p99:.0f} ms (goal < 100)"))

            timings = placement_on_postgres(bench.database_url, args.placement_hosts, args.placements)
            p50, p99 = percentile(timings, 0.5) * 1000, percentile(timings, 0.99) * 1000
            print(f"\nplacement over {args.placement_hosts} hosts: p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
            goals.append(
                goal(
                    p99 < GOAL_PLACEMENT_P99_MS,
                    f"placement over {args.placement_hosts} hosts: p99 {p99:.2f} ms (goal < 10)",
                )
            )
            load_after = os.getloadavg()[0]
    except (CloudFailure, RuntimeError) as exc:
        print(f"the cloud failed: {exc}", file=sys.stderr)
        for found in goals:
            print(f"  {found.verdict:<4}  {found.text}")
        return 1
    print(f"\nload average {load_after:.1f} at the end\nGoals:")
    for found in goals:
        print(f"  {found.verdict:<4}  {found.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
