"""What the quota check costs a create, with an empty project and with 10,000 resources already in it.

Why: the check runs in every create's transaction (lock the project's quota row, read its limits, count what
it holds), so a big project must not make creates slow: what it holds is counted by one index-only scan per
resource. The goal is p99 < 5 ms with 10,000 existing resources.

For each database (SQLite file in WAL mode as the cloud runs it; PostgreSQL when installed, a private server
started for the run) and each project size (``--existing``: 0 and 10,000 servers and 10,000 ports):

- server create: what ``api.compute.server_quota.admitted`` runs (metadata items, then instances, cores and
  RAM for one server, counted as one aggregate over the covering index);
- port create: what ``network.quota.check`` runs (ports counted by project).

Each of ``--checks`` samples is one transaction: begin, the check (timed, lock included), roll back, so the
project keeps its size. Limits are set high enough to pass but not unlimited, so every resource is counted.
Reports wall-clock p50/p99/max in ms, the p99 CPU time of the checking thread (on a shared machine the wall
p99 also holds the waits for a CPU; run it under ``nice -n -10`` to see less of them), the load average, and
the query plan of the instance count. Exit status 0 unless a database failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/quota.py`

import manage.models  # noqa: E402, F401 - every table on the metadata
from common.db import Base, Database  # noqa: E402
from compute import quota as compute_quota  # noqa: E402
from compute.models import Instance  # noqa: E402
from network import quota as network_quota  # noqa: E402
from network.models import Network, Port  # noqa: E402
from quota import engine, limits  # noqa: E402

GOAL_P99_MS = 5.0
PROJECT = "bench-project"
LIMITS = {"instances": 100_000, "cores": 1_000_000, "ram": 10**9, "metadata_items": 128, "port": 100_000}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else float("nan")


def prepare(db: Database, project_id: str) -> str:
    """The project's limits (high, not unlimited) and a network for its ports; returns the network id."""
    with db.session() as session:
        limits.set_project_limits(session, project_id, LIMITS)
        engine.lock(session, project_id)  # its lock row exists from the project's first check on
        network = Network(project_id=project_id, mtu=1450, segmentation_id=4242)
        session.add(network)
        session.flush()
        return network.id


def seed(db: Database, project_id: str, network_id: str, first: int, last: int) -> None:
    """Servers ``first``..``last`` (mixed flavors, one in ten deleted) and as many ports, in batches."""
    for start in range(first, last, 2000):
        with db.session() as session:
            for index in range(start, min(last, start + 2000)):
                vcpus = 1 + index % 4
                session.add(
                    Instance(
                        name=f"s-{index}",
                        project_id=project_id,
                        user_id="bench-user",
                        hostname=f"s-{index}",
                        reservation_id="r-bench",
                        flavor={"id": str(vcpus), "name": f"f{vcpus}", "vcpus": vcpus, "ram": 512 * vcpus, "disk": 1},
                        image_ref="bench-image",
                        requested_networks="none",
                        deleted=index % 10 == 9,
                    )
                )
                mac = f"fa:16:3e:{index >> 16 & 255:02x}:{index >> 8 & 255:02x}:{index & 255:02x}"
                session.add(Port(network_id=network_id, project_id=project_id, mac_address=mac))


def server_check(session: Session) -> None:
    engine.allowed_count(session, PROJECT, {"instances": 1, "cores": 2, "ram": 2048}, 1, 1, None, {"metadata_items": 3})


def port_check(session: Session) -> None:
    network_quota.check(session, PROJECT, "port")


def measure(db: Database, check: Callable[[Session], None], samples: int) -> tuple[list[float], list[float]]:
    """Milliseconds of ``check`` in a fresh transaction each time (rolled back, so nothing accumulates): wall
    time, and the checking thread's CPU time (what the check costs without a shared machine's waits; for
    PostgreSQL the server's share is not in it)."""
    wall, cpu = [], []
    for _ in range(samples):
        with db.sessionmaker() as session:
            session.begin()
            # A create has its connection and its transaction by then (it read the flavor, the image ...).
            session.execute(text("SELECT 1"))
            started, started_cpu = time.perf_counter(), time.thread_time()
            check(session)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
            session.rollback()
    return wall, cpu


def plan(db: Database) -> str:
    """How the database runs the instance count (it should read ix_instances_project_usage alone)."""
    bound = compute_quota.INSTANCES.params(project_id=PROJECT)
    statement = bound.compile(db.engine, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN" if db.engine.dialect.name == "sqlite" else "EXPLAIN"
    with db.engine.connect() as connection:
        rows = [str(row[-1]).strip() for row in connection.execute(text(f"{explain} {statement}"))]
    return "; ".join(r for r in rows if "INDEX" in r.upper() or "SCAN" in r.upper())


def vacuum(db: Database) -> None:
    """What PostgreSQL's autovacuum does soon after a bulk insert: statistics, and the visibility map that lets
    a count be an index-only scan."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


Result = tuple[str, int, str, tuple[list[float], list[float]]]


def run_database(label: str, url: str, sizes: list[int], samples: int) -> list[Result]:
    db = Database(url)
    Base.metadata.drop_all(db.engine)
    Base.metadata.create_all(db.engine)
    results = []
    seeded = 0
    try:
        network_id = prepare(db, PROJECT)
        for size in sorted(sizes):
            seed(db, PROJECT, network_id, seeded, size)
            seeded = size
            vacuum(db)
            for name, check in (("server create", server_check), ("port create", port_check)):
                measure(db, check, min(50, samples))  # warm the caches and the connection pool
                results.append((label, size, name, measure(db, check, samples)))
        print(f"{label}: instance count plan: {plan(db)}")
    finally:
        db.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--existing", type=int, nargs="+", default=[0, 10_000], help="project sizes to measure")
    parser.add_argument("--checks", type=int, default=2000, help="samples per measurement")
    parser.add_argument("--postgres-url", default="", help="a PostgreSQL to use (default: start a private one)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    results = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        results += run_database("sqlite", f"sqlite:///{tmp}/quota.db", args.existing, args.checks)
        if not args.no_postgres:
            results += _postgres(Path(tmp), args)
    cores = os.cpu_count()
    load_after = os.getloadavg()[0]
    print(f"\nload average {load_before:.1f} before, {load_after:.1f} after, on {cores} CPUs shared with others")
    header = f"{'database':<10} {'existing':>9}  {'check':<14} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    print(f"{header} {'cpu p99':>8}  goal p99")
    for label, size, name, (wall, cpu) in results:
        p99 = percentile(wall, 0.99)
        verdict = "ok" if p99 < GOAL_P99_MS else "OVER"
        line = f"{label:<10} {size:>9}  {name:<14} {percentile(wall, 0.5):7.3f} {p99:7.3f} {max(wall):7.3f}"
        print(f"{line} {percentile(cpu, 0.99):8.3f}  < {GOAL_P99_MS:g} ms {verdict}")
    return 0


def _postgres(tmp: Path, args: argparse.Namespace) -> list[Result]:
    if args.postgres_url:
        return run_database("postgresql", args.postgres_url, args.existing, args.checks)
    from manage.private_cloud import start_postgres

    started = start_postgres(tmp / "postgres")
    if started is None:
        print("postgresql: not installed, skipped")
        return []
    url, stop = started
    try:
        return run_database("postgresql", url, args.existing, args.checks)
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
