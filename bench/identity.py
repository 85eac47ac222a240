"""How fast the identity API issues and validates tokens, next to Keystone measured on the same machine.

Why: every OpenStack client session starts by getting a token and every service call has one validated, so
the identity API bounds the whole cloud. Password authentication is dominated by bcrypt at the production cost
(12; the test helper's low cost is overridden here, never used), so for it the figure that matters is what the
API adds *beyond* the hash, which is measured in-process alongside. Token-method issuance and validation do no
hashing and should be far faster than Keystone's.

By default the benchmark starts its own private cloud (``manage.private_cloud.running_cloud``) in a temporary
directory, so its figures are reproducible and no user's cloud is touched; ``--url`` targets a running API instead
and then uses only the credentials given on the command line.

Each operation is first warmed up alone for a moment. Then each cell (operation x concurrency) runs
closed-loop: N threads each open their own keep-alive ``requests.Session`` and, all starting together, send
requests back to back for ``--seconds``. A request counts when it completes inside that window, and its
latency is recorded; a non-2xx answer (or none) is an error and flags the cell. Goals print PASS, MISS or
N/A and the exit status is 0 either way; it is 1 only when the API failed: it did not start, refused the
benchmark's own logins, or answered a request with an error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCIES = (1, 8, 32)
DEFAULT_SECONDS = 5.0
WARMUP_SECONDS = 0.5
REQUEST_TIMEOUT = 30.0  # seconds; bounds every request, so every loop below is bounded in time
MAX_REQUESTS_PER_THREAD = 100_000  # ... and in count
HASH_ROUNDS = 12  # the production default (common.settings); the test helper's 4 would make the figures meaningless
HASH_RUNS = 10
DEFAULT_DOMAIN = "Default"

OPERATIONS = {
    "password": "password auth",  # POST /auth/tokens, password method, project scope
    "token": "token auth",  # POST /auth/tokens, token method, re-scoping a valid token to the project
    "validate": "validate token",  # GET /auth/tokens, X-Auth-Token: admin's, X-Subject-Token: demo's
}

# Keystone, measured on this same machine (the reference figures the goals were set from; Keystone hashes with
# bcrypt at cost 12 by default, as here). Only these cells were measured:
# (operation, concurrency) -> (requests per second, p50 latency in ms).
KEYSTONE: dict[tuple[str, int], tuple[float, float]] = {
    ("password", 1): (3.6, 270.0),
    ("password", 8): (7.0, 1100.0),
    ("validate", 8): (34.0, 220.0),
}
# Goals. Validation and token-method issuance: at least 20x Keystone's validation rate with p99 under 50 ms at
# concurrency 8. Password issuance is bounded by the hash: at concurrency 1 its p50 may exceed one bcrypt
# verification by under 10 ms.
GOAL_CONCURRENCY = 8
GOAL_SPEEDUP = 20.0
GOAL_P99_MS = 50.0
GOAL_PASSWORD_OVERHEAD_MS = 10.0
HASH_FLOOR = 0.8  # a password login faster than this fraction of one local hash means the server's cost is lower

Send = Callable[[requests.Session], requests.Response]


class ApiFailure(Exception):
    """The API could not be benchmarked: it did not start or refused the benchmark's own logins."""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str
    project: str
    domain: str = DEFAULT_DOMAIN


@dataclass(frozen=True)
class Target:
    """Where to send traffic, and as whom."""

    auth_url: str  # ends in /identity/v3
    subject: Credentials  # authenticates in every measured request; its token is the one validated
    validator: Credentials  # its token validates the subject's (admin on the private API)
    log_path: Path | None = None  # the server log, when the benchmark runs the server
    server_pid: int | None = None  # gunicorn's master, when the benchmark runs the server


@dataclass(frozen=True)
class Sample:
    finished: float  # time.perf_counter() when the answer was read
    latency: float  # seconds
    outcome: str  # the HTTP status, or the exception's class name when there was no answer

    @property
    def ok(self) -> bool:
        return self.outcome.isdigit() and 200 <= int(self.outcome) < 300


@dataclass
class Cell:
    operation: str
    concurrency: int
    seconds: float
    requests: int
    throughput: float  # requests completed in the window per second
    p50_ms: float
    p99_ms: float
    errors: int
    error_kinds: dict[str, int] = field(default_factory=dict)
    client_cpu_ms: float = math.nan  # CPU time per request of this process (all its threads)
    server_cpu_ms: float = math.nan  # ... of the private API's processes; NaN with --url or without /proc


@dataclass(frozen=True)
class Goal:
    name: str
    measured: str
    wanted: str
    passed: bool
    applicable: bool = True  # False when the figures cannot answer the question (printed N/A, not a PASS)

    @property
    def verdict(self) -> str:
        return "N/A" if not self.applicable else "PASS" if self.passed else "MISS"


# --- requests ------------------------------------------------------------------------------------------------


def _scope(creds: Credentials) -> dict[str, Any]:
    return {"project": {"name": creds.project, "domain": {"name": creds.domain}}}


def password_request(creds: Credentials) -> dict[str, Any]:
    user = {"name": creds.user, "domain": {"name": creds.domain}, "password": creds.password}
    identity = {"methods": ["password"], "password": {"user": user}}
    return {"auth": {"identity": identity, "scope": _scope(creds)}}


def token_request(token: str, creds: Credentials) -> dict[str, Any]:
    identity = {"methods": ["token"], "token": {"id": token}}
    return {"auth": {"identity": identity, "scope": _scope(creds)}}


def login(auth_url: str, creds: Credentials) -> str:
    """A project-scoped token for ``creds``; the API has failed when it refuses one."""
    try:
        response = requests.post(f"{auth_url}/auth/tokens", json=password_request(creds), timeout=REQUEST_TIMEOUT)
    except requests.RequestException as exc:
        raise ApiFailure(f"logging in as {creds.user}: {exc}") from exc
    if response.status_code != 201 or "X-Subject-Token" not in response.headers:
        raise ApiFailure(f"logging in as {creds.user}: HTTP {response.status_code} {response.text[:500]}")
    return response.headers["X-Subject-Token"]


def senders(target: Target) -> dict[str, Send]:
    """One request function per operation, with the tokens it needs obtained once up front."""
    url = f"{target.auth_url}/auth/tokens"
    subject_token = login(target.auth_url, target.subject)
    validator_token = login(target.auth_url, target.validator)
    by_password = password_request(target.subject)
    by_token = token_request(subject_token, target.subject)
    validate_headers = {"X-Auth-Token": validator_token, "X-Subject-Token": subject_token}
    return {
        "password": lambda s: s.post(url, json=by_password, timeout=REQUEST_TIMEOUT),
        "token": lambda s: s.post(url, json=by_token, timeout=REQUEST_TIMEOUT),
        "validate": lambda s: s.get(url, headers=validate_headers, timeout=REQUEST_TIMEOUT),
    }


def version_request(auth_url: str) -> Send:
    """The cheapest request there is (the version document): it opens a connection and measures nothing."""
    return lambda s: s.get(auth_url, timeout=REQUEST_TIMEOUT)


# --- CPU accounting: client and server share this machine's CPUs, so say who spent them ---------------------


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def process_children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return found


def server_cpu_seconds(master: int | None) -> float:
    """CPU time of gunicorn's master and workers so far (Linux /proc); NaN when it cannot be read."""
    if master is None:
        return math.nan
    try:
        return sum(_proc_cpu_seconds(pid) for pid in [master, *process_children(master)])
    except (OSError, ValueError, IndexError):
        return math.nan


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- one cell: N threads, closed loop --------------------------------------------------------------------------


class Window:
    """The measurement window, opened for every thread at once when the last one has its connection."""

    def __init__(self, parties: int, seconds: float) -> None:
        self.seconds = seconds
        self.start = self.end = 0.0
        self.barrier = threading.Barrier(parties, action=self._open, timeout=REQUEST_TIMEOUT + 10)

    def _open(self) -> None:
        self.start = time.perf_counter()
        self.end = self.start + self.seconds


def timed(send: Send, session: requests.Session) -> Sample:
    started = time.perf_counter()
    try:
        outcome = str(send(session).status_code)
    except requests.RequestException as exc:
        outcome = type(exc).__name__
    finished = time.perf_counter()
    return Sample(finished, finished - started, outcome)


def warm_up(send: Send, seconds: float = WARMUP_SECONDS) -> None:
    """Run an operation alone for a moment, so first-request costs (imports, caches, pools) are not measured.

    Once per operation, on one connection: warming up every cell at its own concurrency would cost a queue of
    bcrypt hashes (32 of them take seconds) per password cell and measure nothing more.
    """
    deadline = time.perf_counter() + seconds
    with requests.Session() as session:
        for _ in range(MAX_REQUESTS_PER_THREAD):
            if time.perf_counter() >= deadline:
                break
            timed(send, session)


def worker(send: Send, connect: Send, window: Window, samples: list[Sample]) -> None:
    """Open the keep-alive connection, wait for the other threads, then send until the window closes."""
    with requests.Session() as session:
        timed(connect, session)  # a cheap request; an error here shows up in the measured ones
        try:
            window.barrier.wait()
        except threading.BrokenBarrierError:
            samples.append(Sample(0.0, 0.0, "BrokenBarrierError"))  # counted as an error: a connection hung
            return
        for _ in range(MAX_REQUESTS_PER_THREAD):
            if time.perf_counter() >= window.end:
                break
            samples.append(timed(send, session))


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN when there is nothing to rank."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def run_cell(operation: str, send: Send, connect: Send, concurrency: int, seconds: float, server: int | None) -> Cell:
    window = Window(concurrency, seconds)
    cpu_before = client_cpu_seconds(), server_cpu_seconds(server)
    per_thread: list[list[Sample]] = [[] for _ in range(concurrency)]
    threads = [threading.Thread(target=worker, args=(send, connect, window, out), daemon=True) for out in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:  # each thread is bounded by the window plus one request timeout
        thread.join(timeout=seconds + 2 * REQUEST_TIMEOUT + 10)
    sent = sum(len(out) for out in per_thread)
    client_cpu, server_cpu = client_cpu_seconds() - cpu_before[0], server_cpu_seconds(server) - cpu_before[1]
    # Requests still in flight when the window closed are not counted, so throughput is over exactly `seconds`;
    # they are waited for all the same, so they do not load the next cell.
    samples = [s for out in per_thread for s in out if s.finished <= window.end]
    cell = summarise(operation, concurrency, seconds, samples)
    cell.client_cpu_ms, cell.server_cpu_ms = 1000 * client_cpu / max(sent, 1), 1000 * server_cpu / max(sent, 1)
    return cell


def summarise(operation: str, concurrency: int, seconds: float, samples: list[Sample]) -> Cell:
    latencies = sorted(s.latency * 1000 for s in samples)
    kinds = Counter(s.outcome for s in samples if not s.ok)
    return Cell(
        operation=operation,
        concurrency=concurrency,
        seconds=seconds,
        requests=len(samples),
        throughput=len(samples) / seconds,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        errors=sum(kinds.values()),
        error_kinds=dict(kinds),
    )


def run_all(target: Target, seconds: float) -> list[Cell]:
    cells = []
    connect = version_request(target.auth_url)
    for operation, send in senders(target).items():
        warm_up(send)
        for concurrency in CONCURRENCIES:
            cell = run_cell(operation, send, connect, concurrency, seconds, target.server_pid)
            print(f"  {OPERATIONS[operation]:<15} c={concurrency:<3} {cell.throughput:8.1f} req/s", flush=True)
            cells.append(cell)
    return cells


# --- the hash alone ------------------------------------------------------------------------------------------


def hash_median_ms(rounds: int = HASH_ROUNDS, runs: int = HASH_RUNS) -> float:
    """Median time of one password verification at the production cost, in this process."""
    from identity.passwords import hash_password, verify_password

    stored = hash_password("benchmark password", rounds)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        verify_password("benchmark password", stored, rounds)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# --- the API under test --------------------------------------------------------------------------------------


@contextmanager
def private_api() -> Iterator[Target]:
    """A fresh API in a temporary directory with the production hash cost; admin validates demo's tokens."""
    from manage.private_cloud import running_cloud

    admin = Credentials("admin", "bench-admin-password", "admin")
    demo = Credentials("demo", "bench-demo-password", "demo")
    with tempfile.TemporaryDirectory(prefix="stratus-bench-") as tmp, ExitStack() as stack:
        try:
            cloud = stack.enter_context(running_cloud(Path(tmp), {"STRATUS_PASSWORD_HASH_ROUNDS": str(HASH_ROUNDS)}))
            cloud.bootstrap(admin.password, demo.password)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            raise ApiFailure(str(exc)) from exc
        pid = int((cloud.state_dir / "run" / "api.pid").read_text().split()[0])
        log = cloud.log_dir / "api.log"
        yield Target(cloud.auth_url, subject=demo, validator=admin, log_path=log, server_pid=pid)


@contextmanager
def running_api(args: argparse.Namespace) -> Iterator[Target]:
    """The API at ``--url``; its one user's tokens both validate and are validated."""
    url = args.url.rstrip("/")
    auth_url = url if url.endswith("/identity/v3") else f"{url}/identity/v3"
    creds = Credentials(args.user, args.password, args.project, args.domain)
    yield Target(auth_url, subject=creds, validator=creds)


def last_traceback(log_path: Path, max_lines: int = 60) -> str:
    """The server log from its last traceback on (or its tail), to show why requests failed."""
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    first = starts[-1] if starts else max(0, len(lines) - max_lines)
    return "\n".join(lines[first : first + max_lines])


# --- the report ----------------------------------------------------------------------------------------------


def cell_at(cells: list[Cell], operation: str, concurrency: int) -> Cell | None:
    return next((c for c in cells if c.operation == operation and c.concurrency == concurrency), None)


def keystone_comparison(cells: list[Cell]) -> list[dict[str, Any]]:
    rows = []
    for (operation, concurrency), (rate, p50) in KEYSTONE.items():
        ours = cell_at(cells, operation, concurrency)
        if ours is None:
            continue
        rows.append(
            {
                "operation": operation,
                "concurrency": concurrency,
                "keystone_rps": rate,
                "keystone_p50_ms": p50,
                "ours_rps": ours.throughput,
                "ours_p50_ms": ours.p50_ms,
                "rps_ratio": ours.throughput / rate,
                "p50_ratio": ours.p50_ms / p50,
            }
        )
    return rows


def fast_path_goal(cells: list[Cell], operation: str) -> Goal:
    wanted_rate = GOAL_SPEEDUP * KEYSTONE[("validate", GOAL_CONCURRENCY)][0]
    wanted = f">= {wanted_rate:.0f} req/s ({GOAL_SPEEDUP:.0f}x Keystone validation), p99 < {GOAL_P99_MS:.0f} ms"
    name = f"{OPERATIONS[operation]} c={GOAL_CONCURRENCY}"
    cell = cell_at(cells, operation, GOAL_CONCURRENCY)
    if cell is None:
        return Goal(name, "not measured", wanted, False)
    measured = f"{cell.throughput:.0f} req/s, p99 {cell.p99_ms:.1f} ms, {cell.errors} errors"
    passed = cell.throughput >= wanted_rate and cell.p99_ms < GOAL_P99_MS and cell.errors == 0
    return Goal(name, measured, wanted, passed)


def password_goal(cells: list[Cell], hash_ms: float) -> Goal:
    name = "password auth c=1 overhead beyond the hash"
    wanted = f"< {GOAL_PASSWORD_OVERHEAD_MS:.0f} ms"
    cell = cell_at(cells, "password", 1)
    if cell is None:
        return Goal(name, "not measured", wanted, False)
    overhead = cell.p50_ms - hash_ms
    measured = f"p50 {cell.p50_ms:.1f} ms - bcrypt {hash_ms:.1f} ms = {overhead:.1f} ms, {cell.errors} errors"
    if cell.p50_ms < HASH_FLOOR * hash_ms:  # faster than one hash: the server cannot be hashing at cost 12
        return Goal(name, f"{measured}; the server hashes at a lower cost than {HASH_ROUNDS}", wanted, False, False)
    return Goal(name, measured, wanted, overhead < GOAL_PASSWORD_OVERHEAD_MS and cell.errors == 0)


def goals(cells: list[Cell], hash_ms: float) -> list[Goal]:
    return [fast_path_goal(cells, "validate"), fast_path_goal(cells, "token"), password_goal(cells, hash_ms)]


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def print_table(cells: list[Cell]) -> None:
    print(
        f"\n{'operation':<15} {'conc':>4} {'requests':>8} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>6}"
        f" {'CPU ms/req: client':>18} {'server':>6}"
    )
    for c in cells:
        flag = f"  <- errors: {c.error_kinds}" if c.errors else ""
        print(
            f"{OPERATIONS[c.operation]:<15} {c.concurrency:>4} {c.requests:>8} {c.throughput:>9.1f}"
            f" {c.p50_ms:>9.1f} {c.p99_ms:>9.1f} {c.errors:>6} {c.client_cpu_ms:>18.1f} {_ms(c.server_cpu_ms):>6}{flag}"
        )


def print_comparison(rows: list[dict[str, Any]]) -> None:
    print("\nKeystone on this machine (constants KEYSTONE in bench/identity.py); ratio = ours / Keystone")
    print(f"{'cell':<21} {'Keystone':>17} {'ours':>19} {'req/s ratio':>12} {'p50 ratio':>10}")
    for r in rows:
        cell = f"{OPERATIONS[r['operation']]} c={r['concurrency']}"
        keystone = f"{r['keystone_rps']:.1f}/s {r['keystone_p50_ms']:.0f} ms"
        ours = f"{r['ours_rps']:.1f}/s {r['ours_p50_ms']:.1f} ms"
        print(f"{cell:<21} {keystone:>17} {ours:>19} {r['rps_ratio']:>11.1f}x {r['p50_ratio']:>9.3f}x")


def print_goals(results: list[Goal], hash_ms: float) -> None:
    print(f"\nbcrypt verification alone (cost {HASH_ROUNDS}, median of {HASH_RUNS}, in-process): {hash_ms:.1f} ms")
    print("Goals:")
    for g in results:
        print(f"  {g.verdict:<4}  {g.name}: {g.measured} (goal {g.wanted})")


def run_config(target: Target, seconds: float, load_before: float) -> dict[str, Any]:
    return {
        "auth_url": target.auth_url,
        "private_api": target.server_pid is not None,
        "seconds": seconds,
        "warmup_seconds": WARMUP_SECONDS,
        "concurrencies": list(CONCURRENCIES),
        "hash_rounds": HASH_ROUNDS,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
    }


def json_safe(value: Any) -> Any:
    """NaN (a figure that could not be measured) becomes null, which JSON can carry."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, config: dict[str, Any], cells: list[Cell], hash_ms: float) -> None:
    document = {
        "config": config,
        "hash_median_ms": hash_ms,
        "cells": [asdict(c) for c in cells],
        "keystone": keystone_comparison(cells),
        "goals": [asdict(g) | {"verdict": g.verdict} for g in goals(cells, hash_ms)],
        "errors": sum(c.errors for c in cells),
    }
    path.write_text(json.dumps(json_safe(document), indent=2) + "\n")


# --- entry point ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="measured duration of each cell")
    parser.add_argument("--json", type=Path, help="also write every figure to this file as JSON")
    parser.add_argument("--url", help="benchmark the API at this URL instead of a private one")
    parser.add_argument("--user", help="with --url: the user to authenticate as")
    parser.add_argument("--password", help="with --url: that user's password")
    parser.add_argument("--project", help="with --url: the project to scope tokens to")
    parser.add_argument("--domain", default=DEFAULT_DOMAIN, help="with --url: the user's and project's domain")
    args = parser.parse_args(argv)
    if args.url and not (args.user and args.password and args.project):
        parser.error("--url needs --user, --password and --project")
    if not 0 < args.seconds <= 600:
        parser.error("--seconds must be in (0, 600]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as `python bench/identity.py`: `manage` and `api` live at the root
    load_before = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load_before:.1f} before the run (other work skews every figure)")
    hash_ms = hash_median_ms()
    try:
        with running_api(args) if args.url else private_api() as target:
            print(f"benchmarking {target.auth_url} for {args.seconds:g} s per cell", flush=True)
            config = run_config(target, args.seconds, load_before)
            cells = run_all(target, args.seconds)
            if any(c.errors for c in cells) and target.log_path:
                print(f"\nserver log ({target.log_path}) from its last traceback:\n{last_traceback(target.log_path)}")
    except ApiFailure as exc:
        print(f"the API failed: {exc}", file=sys.stderr)
        return 1
    print_table(cells)
    print_comparison(keystone_comparison(cells))
    print_goals(goals(cells, hash_ms), hash_ms)
    if args.json:
        write_json(args.json, config, cells, hash_ms)
    return 1 if any(c.errors for c in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
