"""How fast the Network API creates and lists ports, and how soon a new port is wired on every host.

Why: every server boot creates a port and waits until the hosts have wired it, and Nova, Horizon and every
orchestration tool list ports and networks all day long. Neutron's list time grows with the number of objects:
the published create-and-list runs (Browbeat's 2,500 objects at concurrency 50; OpenStack's performance-docs
Rally reports) grow linearly to seconds per list, and a port create or delete costs about 0.4 s there
(``create_and_delete_ports``, ten ports per iteration at concurrency 6: median 8.5 s per iteration).

One private cloud (``manage.private_cloud.running_cloud``, SQLite unless ``--postgres``) runs two simulated hosts,
``<host>-1`` and ``<host>-2``, each with its own network agent in its own network namespace on the Linux
dataplane, on an underlay bridge and a 198.19.x.0/24 underlay of this run's own, so nothing of the developer
cloud (``stratus-vm-*``, ``stratus-ul``) is touched. Agents report every 30 s, the product default.

1. Creates: ``POST /v2.0/ports`` by the demo member on one network with a /16 subnet, closed loop, at each
   ``--concurrency`` for ``--create-seconds`` (one ``requests.Session`` per client); ports per second and
   p50/p99 latency. Ports accumulate from cell to cell, as they do in a cloud.
2. Wiring: an admin network that already has a server port bound to host 2; then, one at a time, ``--wire-ports``
   ports with ``device_owner=compute:bench`` and ``binding:host_id=<host 1>``, each timed from the create until
   (a) the API shows it ACTIVE and (b) host 2's namespace has a forwarding entry for its MAC on
   ``vxlan-<vni>`` (``bridge -j fdb show``), both polled every 20 ms; p50/p95. A first port on host 1 is not
   timed: it moves the network's DHCP server to host 1, which happens once per network; the port right after
   it is reported apart (the old host's agent may still be stopping its dnsmasq).
3. Listings: ``--networks`` networks (each with a DHCP-enabled /24, whose DHCP port counts as one of its ports)
   and ``--ports`` ports in a project of their own, written straight to the cloud's database with the
   product's service functions (``network.networks``, ``network.subnets``, ``network.ports``: the rows the API
   would have written, faster than through it); then, as a member of that project, ``GET /v2.0/networks``
   and ``GET /v2.0/ports`` whole, with ``limit=100`` (the first page and one deep in the keyset), and by
   ``device_id`` (what Nova asks per server), each for ``--list-seconds``; p50/p99. ``--profile`` also runs the
   whole ports listing in-process, with the garbage collector's pauses counted apart, then under cProfile.

Goals: wiring p95 under 1 s (ACTIVE and forwarding entry); every listing's p99 under 100 ms at 1,000 networks
and 5,000 ports. ``--quick``: shorter cells and 10 wired ports at the same sizes, about a minute on an idle
machine (seeding is half of it). ``--parts`` measures only some (without wiring, on the fake dataplane). Exit
status 0 unless the cloud failed: it did not start, refused the benchmark's logins, answered with errors, or
never wired a port.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/network.py`: `bench`, `manage` and `network` live at the root

from bench.identity import ApiFailure, Cell, Credentials, Goal, login, percentile, run_cell, warm_up  # noqa: E402

NET = "/network/v2.0"
PARTS = ("create", "wiring", "lists")
POLL = 0.02
REQUEST_TIMEOUT = 30.0
WIRE_TIMEOUT = 30.0  # a port not wired by then counts as the cloud failing
GOAL_WIRING_S = 1.0
GOAL_LIST_P99_MS = 100.0
ADMIN = Credentials("admin", "bench-admin-password", "admin")
DEMO = Credentials("demo", "bench-demo-password", "demo")
LISTER = Credentials("bench-lister", "bench-lister-password", "bench-list")


class CloudFailure(Exception):
    """The cloud answered a request of the benchmark's own set-up with an error, or never wired a port."""


# --- talking to the API --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Api:
    """The cloud's base URL and one user's token."""

    url: str
    token: str

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, expect: int = 200) -> Any:
        response = requests.request(
            method, f"{self.url}{path}", json=body, headers={"X-Auth-Token": self.token}, timeout=REQUEST_TIMEOUT
        )
        if response.status_code != expect:
            raise CloudFailure(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def create(self, kind: str, **attrs: Any) -> dict[str, Any]:
        return self.call("POST", f"{NET}/{kind}s", {kind: attrs}, 201)[kind]


def network_with_subnet(api: Api, name: str, cidr: str) -> dict[str, Any]:
    network = api.create("network", name=name)
    api.create("subnet", network_id=network["id"], cidr=cidr, ip_version=4, name=f"{name}-subnet")
    return network


# --- 1. creates ----------------------------------------------------------------------------------------------


def create_cells(api: Api, concurrencies: list[int], seconds: float, server_pid: int | None) -> list[Cell]:
    network = network_with_subnet(api, "bench-create", "10.20.0.0/16")
    url, headers = f"{api.url}{NET}/ports", {"X-Auth-Token": api.token}
    body = {"port": {"network_id": network["id"], "name": "bench-create"}}

    def send(session: requests.Session) -> requests.Response:
        return session.post(url, json=body, headers=headers, timeout=REQUEST_TIMEOUT)

    def connect(session: requests.Session) -> requests.Response:
        return session.get(f"{api.url}{NET}/networks/{network['id']}", headers=headers, timeout=REQUEST_TIMEOUT)

    warm_up(send, 0.5)
    cells = []
    for concurrency in concurrencies:
        cell = run_cell("create port", send, connect, concurrency, seconds, server_pid)
        print(f"  create port c={concurrency:<3} {cell.throughput:7.1f} ports/s", flush=True)
        cells.append(cell)
    return cells


# --- 2. wiring -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wired:
    """One port's timings from the start of its create, in seconds."""

    create: float  # the POST answered
    active: float  # the API shows it ACTIVE
    forwarding: float  # host 2 forwards its MAC to host 1's VTEP


def forwarding_macs(netns: str, device: str) -> set[str]:
    """MACs with a remote destination on ``device`` in ``netns``, read from the kernel (not the product)."""
    command = ["ip", "netns", "exec", netns, "bridge", "-j", "fdb", "show", "dev", device]
    result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    if result.returncode != 0:
        return set()
    return {entry["mac"] for entry in json.loads(result.stdout or "[]") if entry.get("dst")}


def wait_wired(api: Api, port_id: str, mac: str, netns: str, device: str, started: float) -> tuple[float, float]:
    """Poll the API and host 2's kernel until the port is ACTIVE and forwarded to; their times since ``started``."""
    active = forwarding = None
    deadline = time.monotonic() + WIRE_TIMEOUT
    with requests.Session() as session:
        while active is None or forwarding is None:
            if active is None:
                answer = session.get(
                    f"{api.url}{NET}/ports/{port_id}", headers={"X-Auth-Token": api.token}, timeout=REQUEST_TIMEOUT
                )
                if answer.status_code == 200 and answer.json()["port"]["status"] == "ACTIVE":
                    active = time.perf_counter() - started
            if forwarding is None and mac in forwarding_macs(netns, device):
                forwarding = time.perf_counter() - started
            if time.monotonic() > deadline:
                raise CloudFailure(f"port {port_id} not wired in {WIRE_TIMEOUT:.0f} s (ACTIVE: {active is not None})")
            time.sleep(POLL)
    assert active is not None and forwarding is not None
    return active, forwarding


def wiring_samples(api: Api, hosts: list[str], count: int) -> tuple[Wired, list[Wired]]:
    """The port right after the network's DHCP server moved to host 1, and ``count`` ports after that."""
    first, second = hosts
    netns = f"stratus-{second}"  # the namespace manage.services.host_environment gives a simulated host
    network = network_with_subnet(api, "bench-wiring", "10.21.0.0/16")
    device = f"vxlan-{network['provider:segmentation_id']}"

    def timed_port() -> Wired:
        started = time.perf_counter()
        port = port_on(first)
        created = time.perf_counter() - started
        active, forwarding = wait_wired(api, port["id"], port["mac_address"], netns, device, started)
        return Wired(created, active, forwarding)

    def port_on(host: str) -> dict[str, Any]:
        return api.create(
            "port", network_id=network["id"], device_owner="compute:bench", device_id=str(uuid.uuid4()),
            **{"binding:host_id": host},
        )  # fmt: skip

    anchor = port_on(second)
    wait_active(api, anchor["id"])
    mover = port_on(first)  # DHCP moves to host 1, the first host by name with the network (untimed)
    wait_wired(api, mover["id"], mover["mac_address"], netns, device, time.perf_counter())
    after_move = timed_port()
    return after_move, [timed_port() for _ in range(count)]


def wait_active(api: Api, port_id: str) -> None:
    deadline = time.monotonic() + WIRE_TIMEOUT
    while api.call("GET", f"{NET}/ports/{port_id}")["port"]["status"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise CloudFailure(f"port {port_id} bound to host 2 never became ACTIVE")
        time.sleep(POLL)


# --- 3. listings ---------------------------------------------------------------------------------------------


def lister_project(admin: Api, auth_url: str) -> tuple[Api, str]:
    """A project of its own for the listed resources, and a member's token for it."""
    project = admin.call("POST", "/identity/v3/projects", {"project": {"name": LISTER.project}}, 201)["project"]
    user = admin.call("POST", "/identity/v3/users", {"user": {"name": LISTER.user, "password": LISTER.password}}, 201)
    role = admin.call("GET", "/identity/v3/roles?name=member")["roles"][0]["id"]
    admin.call("PUT", f"/identity/v3/projects/{project['id']}/users/{user['user']['id']}/roles/{role}", expect=204)
    return Api(admin.url, login(auth_url, LISTER)), project["id"]  # main lifts its quotas


def unlimited(settings: Any, project_ids: list[str]) -> None:
    """The benchmark's projects hold more networks and ports than Neutron's default quotas (100 and 500) allow:
    an operator lifts them, here with the quota service's own function (a tree without quotas has none to lift)."""
    try:
        from quota import limits
    except ImportError:
        return
    from common.db import Database

    db = Database(settings.effective_database_url)
    try:
        with db.session() as session:
            for project_id in project_ids:
                limits.set_project_limits(session, project_id, {"network": -1, "subnet": -1, "port": -1})
    finally:
        db.dispose()


def seed(settings: Any, project_id: str, networks: int, ports: int) -> list[str]:
    """Networks with a DHCP /24 each and ports spread over them (DHCP ports included), through the product's
    service functions in one transaction per network; returns the device ids of the server-like ports."""
    import manage.models  # noqa: F401 - every table on the metadata
    from common.db import Database
    from network import networks as network_service
    from network import ports as port_service
    from network import subnets as subnet_service
    from network.access import Caller

    db = Database(settings.effective_database_url)
    caller = Caller(project_id=project_id)
    devices = []
    others = max(ports - networks, 0)  # every network's DHCP port is one of the ports
    try:
        for index in range(networks):
            with db.session() as session:
                network = network_service.create_network(session, caller, settings, {"name": f"bench-list-{index}"})
                session.flush()
                cidr = f"10.{100 + index // 256}.{index % 256}.0/24"
                subnet_service.create_subnet(session, caller, {"network_id": network.id, "cidr": cidr})
                for _ in range(others // networks + (index < others % networks)):
                    device = str(uuid.uuid4())
                    attrs = {"network_id": network.id, "device_id": device, "device_owner": "compute:nova"}
                    port_service.create_port(session, caller, attrs)
                    devices.append(device)
    finally:
        db.dispose()
    return devices


@dataclass(frozen=True)
class Listing:
    name: str
    path: str


def listings(api: Api, devices: list[str]) -> list[Listing]:
    ports = api.call("GET", f"{NET}/ports?fields=id&sort_key=id")["ports"]
    middle = ports[len(ports) // 2]["id"] if ports else ""
    return [
        Listing("networks", f"{NET}/networks"),
        Listing("networks limit=100", f"{NET}/networks?limit=100"),
        Listing("ports", f"{NET}/ports"),
        Listing("ports limit=100", f"{NET}/ports?limit=100"),
        Listing("ports limit=100 deep", f"{NET}/ports?limit=100&marker={middle}"),
        Listing("ports device_id=", f"{NET}/ports?device_id={random.choice(devices) if devices else ''}"),
    ]


def list_cells(api: Api, cases: list[Listing], seconds: float, server_pid: int | None) -> list[Cell]:
    cells = []
    for case in cases:

        def send(session: requests.Session, url: str = f"{api.url}{case.path}") -> requests.Response:
            return session.get(url, headers={"X-Auth-Token": api.token}, timeout=REQUEST_TIMEOUT)

        warm_up(send, 0.3)
        cell = run_cell(case.name, send, send, 1, seconds, server_pid)
        print(f"  {case.name:<22} p50 {cell.p50_ms:7.1f} ms, {cell.requests} requests", flush=True)
        cells.append(cell)
    return cells


def profile_listing(settings: Any, token: str, path: str, runs: int = 5) -> str:
    """Where the API's time goes for ``path``: the app in this process, timed with the cyclic garbage collector's
    pauses counted apart (cProfile does not show them, and a listing of thousands of records triggers full
    collections of every object the process holds), then under cProfile (top functions by own time)."""
    from api.app import create_app, settle_garbage_collector

    client = create_app(settings).test_client()
    headers = {"X-Auth-Token": token}
    client.get(path, headers=headers)  # warm: imports, policy and token caches
    settle_garbage_collector()  # as api.wsgi does after start-up
    pauses = {"full": 0, "seconds": 0.0, "started": 0.0}

    def on_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            pauses["started"] = time.perf_counter()
            return
        pauses["seconds"] += time.perf_counter() - pauses["started"]
        pauses["full"] += info["generation"] == 2

    gc.callbacks.append(on_collection)
    started = time.perf_counter()
    try:
        for _ in range(runs):
            response = client.get(path, headers=headers)
    finally:
        gc.callbacks.remove(on_collection)
    each = (time.perf_counter() - started) / runs * 1000
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        client.get(path, headers=headers)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return (
        f"in-process {path}: {each:.0f} ms per request ({len(response.data) / 1e6:.1f} MB), of which garbage"
        f" collection {pauses['seconds'] / runs * 1000:.0f} ms ({pauses['full'] / runs:.1f} full collections of"
        f" {len(gc.get_objects())} objects); cProfile's top functions:\n{out.getvalue()}"
    )


# --- the cloud -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    admin: Api
    demo: Api
    auth_url: str
    hosts: list[str]
    settings: Any  # common.settings.Settings of the cloud
    server_pid: int | None
    wiring: bool  # the hosts run the Linux dataplane


def cloud_env(tag: str, wiring: bool) -> dict[str, str]:
    return {
        "STRATUS_HOST": f"bnet{tag}",
        "STRATUS_HOSTS": "2",
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_NETWORK_DATAPLANE": "linux" if wiring else "fake",
        "STRATUS_NETWORK_UNDERLAY_BRIDGE": f"bnetul{tag}",
        "STRATUS_NETWORK_SIMULATED_UNDERLAY": f"198.19.{random.randrange(256)}.0/24",
        "STRATUS_NETWORK_RESYNC_INTERVAL": "30",
    }


def tear_down_hosts(env: dict[str, str]) -> None:
    """Remove the simulated hosts' namespaces, devices, DHCP servers and underlay bridge (the agents are stopped:
    nothing else would). Through the dataplane driver, which knows every object it made."""
    from common.hostnames import machine_hosts
    from common.settings import load
    from manage.services import host_environment
    from network.host.dataplane import driver_for, underlay_for

    settings = load(env)
    for host in machine_hosts(settings):
        host_settings = load(env | dict(host_environment(settings, host)))
        try:
            driver = driver_for(host_settings)
            driver.init_host(underlay_for(host_settings))
            driver.teardown()
        except Exception as exc:  # report and go on: the other host must go too
            print(f"warning: could not tear down host {host}: {exc}", file=sys.stderr)


@contextmanager
def private_cloud(args: argparse.Namespace) -> Iterator[Bench]:
    from common.hostnames import machine_hosts
    from common.settings import load
    from manage.private_cloud import running_cloud, start_postgres

    wiring = "wiring" in args.parts and os.geteuid() == 0
    env = cloud_env(secrets.token_hex(2), wiring)
    with tempfile.TemporaryDirectory(prefix="stratus-bench-") as tmp, ExitStack() as stack:
        if args.postgres:
            started = start_postgres(Path(tmp))
            if started is None:
                raise ApiFailure("--postgres: PostgreSQL is not installed")
            env["STRATUS_DATABASE_URL"], stop = started
            stack.callback(stop)
        # Callbacks run last in, first out: after the cloud is down, its logs are kept, then the hosts torn down.
        if wiring:
            stack.callback(tear_down_hosts, env | {"STRATUS_STATE_DIR": tmp})
        if args.keep_logs:
            stack.callback(shutil.copytree, Path(tmp) / "log", args.keep_logs, dirs_exist_ok=True)
        try:
            cloud = stack.enter_context(running_cloud(Path(tmp), env))
            cloud.bootstrap(ADMIN.password, DEMO.password)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            raise ApiFailure(str(exc)) from exc
        settings = load(cloud.env)
        pid = int((cloud.state_dir / "run" / "api.pid").read_text().split()[0])
        admin, demo = Api(cloud.url, login(cloud.auth_url, ADMIN)), Api(cloud.url, login(cloud.auth_url, DEMO))
        projects = admin.call("GET", "/identity/v3/projects")["projects"]
        unlimited(settings, [p["id"] for p in projects if p["name"] in (ADMIN.project, DEMO.project)])
        yield Bench(admin, demo, cloud.auth_url, machine_hosts(settings), settings, pid, wiring)


# --- the report ----------------------------------------------------------------------------------------------


def print_cells(title: str, unit: str, cells: list[Cell]) -> None:
    print(f"\n{title:<24} {'conc':>4} {'requests':>8} {unit:>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
          f" {'CPU ms/req: client':>18} {'API':>5}")  # fmt: skip
    for c in cells:
        print(
            f"{c.operation:<24} {c.concurrency:>4} {c.requests:>8} {c.throughput:>9.1f} {c.p50_ms:>8.1f}"
            f" {c.p99_ms:>8.1f} {c.errors:>6} {c.client_cpu_ms:>18.1f} {c.server_cpu_ms:>5.1f}"
        )


def print_wiring(after_move: Wired, samples: list[Wired]) -> tuple[float, float]:
    """The table of part 2 (with the median of the first and last quarter: every apply converges the whole host,
    so later ports may cost more); returns the p95 of ACTIVE and of forwarded."""
    quarter = max(1, len(samples) // 4)
    print(f"\n{'wiring, ' + str(len(samples)) + ' ports':<24} {'p50 s':>7} {'p95 s':>7} {'max s':>7}"
          f" {'first ' + str(quarter) + ' p50':>12} {'last ' + str(quarter) + ' p50':>12}")  # fmt: skip
    p95 = {}
    for name, pick in (("create answered", "create"), ("ACTIVE in the API", "active"),
                       ("forwarded on host 2", "forwarding")):  # fmt: skip
        in_order = [getattr(s, pick) for s in samples]
        values = sorted(in_order)
        first, last = percentile(sorted(in_order[:quarter]), 0.5), percentile(sorted(in_order[-quarter:]), 0.5)
        p95[pick] = percentile(values, 0.95)
        print(
            f"  {name:<22} {percentile(values, 0.5):>7.3f} {p95[pick]:>7.3f} {values[-1]:>7.3f}"
            f" {first:>12.3f} {last:>12.3f}"
        )
    print(
        f"  the port right after the DHCP server moved from host 2 to host 1 (not above): ACTIVE"
        f" {after_move.active:.3f} s, forwarded on host 2 {after_move.forwarding:.3f} s"
    )
    return p95["active"], p95["forwarding"]


def goals(wiring: tuple[float, float] | None, lists: list[Cell], sizes: str) -> list[Goal]:
    found = []
    if wiring is not None:
        active, forwarding = wiring
        found.append(
            Goal("port create -> wired on every host, p95", f"ACTIVE {active:.3f} s, forwarded {forwarding:.3f} s",
                 f"< {GOAL_WIRING_S:.0f} s both", max(active, forwarding) < GOAL_WIRING_S)
        )  # fmt: skip
    for cell in lists:
        found.append(
            Goal(f"GET {cell.operation} p99 at {sizes}", f"{cell.p99_ms:.1f} ms, {cell.errors} errors",
                 f"< {GOAL_LIST_P99_MS:.0f} ms", cell.p99_ms < GOAL_LIST_P99_MS and cell.errors == 0)
        )  # fmt: skip
    return found


# --- entry point ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short cells and 10 wired ports: about a minute")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8], help="port-create clients per cell")
    parser.add_argument("--create-seconds", type=float, default=10.0, help="duration of each create cell")
    parser.add_argument("--wire-ports", type=int, default=40, help="ports timed from create to wired")
    parser.add_argument("--networks", type=int, default=1000, help="networks in the listed project")
    parser.add_argument("--ports", type=int, default=5000, help="ports in the listed project (DHCP ports included)")
    parser.add_argument("--list-seconds", type=float, default=8.0, help="duration of each listing cell")
    parser.add_argument("--profile", action="store_true", help="profile the whole ports listing in-process")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="what to measure (without wiring: fake dataplane)",
    )
    parser.add_argument("--postgres", action="store_true", help="a private PostgreSQL instead of SQLite")
    parser.add_argument("--keep-logs", type=Path, help="copy the cloud's logs to this directory at the end")
    args = parser.parse_args(argv)
    if args.quick:
        args.create_seconds, args.wire_ports, args.list_seconds = 3.0, 10, 2.0
    if args.ports < args.networks:
        parser.error("--ports must be at least --networks (each network has its DHCP port)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run (other work skews the figures)")
    sizes = f"{args.networks} networks / {args.ports} ports"
    creates: list[Cell] = []
    lists: list[Cell] = []
    moved, samples, profile = None, [], ""
    try:
        with private_cloud(args) as bench:
            print(f"private cloud {bench.admin.url}, hosts {', '.join(bench.hosts)}", flush=True)
            if "create" in args.parts:
                creates = create_cells(bench.demo, args.concurrency, args.create_seconds, bench.server_pid)
            if bench.wiring:
                moved, samples = wiring_samples(bench.admin, bench.hosts, args.wire_ports)
            if "lists" in args.parts:
                lister, project_id = lister_project(bench.admin, bench.auth_url)
                unlimited(bench.settings, [project_id])
                started = time.perf_counter()
                devices = seed(bench.settings, project_id, args.networks, args.ports)
                print(f"  seeded {sizes} in {time.perf_counter() - started:.1f} s", flush=True)
                lists = list_cells(lister, listings(lister, devices), args.list_seconds, bench.server_pid)
                profile = profile_listing(bench.settings, lister.token, f"{NET}/ports") if args.profile else ""
            load_after = os.getloadavg()[0]
    except (ApiFailure, CloudFailure) as exc:
        print(f"the cloud failed: {exc}", file=sys.stderr)
        return 1
    if creates:
        print_cells("create (one network, /16)", "ports/s", creates)
    wiring = print_wiring(moved, samples) if moved is not None else None
    if wiring is None and "wiring" in args.parts:
        print("\nwiring: not measured (it needs root, for the Linux dataplane's namespaces)")
    if lists:
        print_cells(f"list ({sizes})", "req/s", lists)
    if profile:
        print(f"\n{profile}")
    print(f"\nload average {load_after:.1f} at the end; Neutron (published): about 0.4 s per port create or delete,")
    print("lists growing linearly to seconds at a few thousand objects")
    print("Goals:")
    for goal in goals(wiring, lists, sizes):
        print(f"  {goal.verdict:<4}  {goal.name}: {goal.measured} (goal {goal.wanted})")
    return 1 if any(c.errors for c in creates + lists) else 0


if __name__ == "__main__":
    sys.exit(main())
