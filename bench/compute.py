"""How fast the control plane places and builds servers, next to Nova measured on the same machine.

Why: boot-and-delete (Rally's ``NovaServers.boot_and_delete_server``) with a fake hypervisor measures only the
control plane: API, queue, scheduler, host agent and back. A placement micro-benchmark times the scheduler's
decision and atomic claim alone, over 1,000 registered hosts.

1. Placement: an in-process SQLite database with ``--hosts`` fake hosts; ``--placements`` requests each run what
   the scheduler runs: the host picture (its cache, reloaded every 2 s), the filters, the weighers and the claim
   transaction. Reports p50/p99 per decision.
2. Boot-and-delete: a private cloud (``manage.private_cloud.running_cloud``) with ten fake hosts; at each concurrency,
   closed-loop workers create a server, poll (every 0.05 s) until ACTIVE, delete it and poll until it is gone.
   Reports p50/p95 of API→ACTIVE and API→gone and cycles per second.

Nova on this machine (fake driver, openstacksdk polling every 0.2 s): API→ACTIVE p50 0.59 s at concurrency 1 and
3.4 s at 10; boot-and-delete 0.9 s and 5.8 s; 1.1 and 1.5 cycles/s; its scheduler was profiled at about 2 s per
decision with 50 fake hosts. Goals: at concurrency 10 API→ACTIVE p50 < 0.3 s and >= 15 cycles/s; placement p99 <
10 ms with 1,000 hosts. Exit status 0 unless the cloud failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/compute.py`

import manage.models  # noqa: E402, F401 - every table on the metadata
from common.db import Base, Database  # noqa: E402
from compute.control import scheduler  # noqa: E402
from compute.control.host_cache import HostStateCache  # noqa: E402
from compute.models import ComputeHost  # noqa: E402

NOVA = {"active_p50_c1": 0.59, "active_p50_c10": 3.4, "cycles_c1": 1.1, "cycles_c10": 1.5}
POLL = 0.05


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else float("nan")


def placement(hosts: int, placements: int) -> list[float]:
    """Seconds per placement decision (filters, weighers, claim) over ``hosts`` registered hosts."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        try:
            return placement_on(db, hosts, placements)
        finally:
            db.dispose()


def placement_on(db: Database, hosts: int, placements: int) -> list[float]:
    """The same on ``db``, an empty database of any kind (``bench/scale.py`` runs it on PostgreSQL)."""
    Base.metadata.create_all(db.engine)
    now = datetime.now(UTC)
    with db.session() as session:
        session.add_all(
            ComputeHost(name=f"host-{i:05d}", vcpus=64, memory_mb=262144, disk_gb=4000, last_heartbeat=now)
            for i in range(hosts)
        )
    timings = []
    cache = HostStateCache(ttl=2.0)  # the scheduler's own setting, scheduler_host_state_ttl
    for index in range(placements):
        request = scheduler.Request(instance_id=f"i-{index}", vcpus=2, memory_mb=2048, disk_gb=20)
        started = time.perf_counter()
        with db.session() as session:
            states, _ = cache.states(session)
        decision = scheduler.select_hosts(states, request)
        for candidate in decision.ranked():
            with db.session() as session:
                if scheduler.claim(session, candidate.host.name, request):
                    cache.claimed(candidate.host.name, request)
                    break
            cache.invalidate()
        timings.append(time.perf_counter() - started)
    return timings


class Client:
    def __init__(self, url: str, token: str, image: str) -> None:
        self.url, self.image = url, image
        self.headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.37"}
        self.local = threading.local()

    @property
    def http(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def cycle(self, name: str) -> tuple[float, float]:
        """(API→ACTIVE, API→gone) of one boot-and-delete, in seconds."""
        body = {"server": {"name": name, "imageRef": self.image, "flavorRef": "1", "networks": "none"}}
        started = time.perf_counter()
        response = self.http.post(f"{self.url}/compute/v2.1/servers", json=body, headers=self.headers, timeout=60)
        response.raise_for_status()
        server_id = response.json()["server"]["id"]
        while True:
            status = self.http.get(
                f"{self.url}/compute/v2.1/servers/{server_id}", headers=self.headers, timeout=60
            ).json()["server"]["status"]
            if status in ("ACTIVE", "ERROR"):
                break
            time.sleep(POLL)
        if status != "ACTIVE":
            raise RuntimeError(f"server {server_id} went to {status}")
        active = time.perf_counter() - started
        deleting = time.perf_counter()
        self.http.delete(f"{self.url}/compute/v2.1/servers/{server_id}", headers=self.headers, timeout=60)
        while (
            self.http.get(f"{self.url}/compute/v2.1/servers/{server_id}", headers=self.headers, timeout=60).status_code
            != 404
        ):
            time.sleep(POLL)
        return active, time.perf_counter() - deleting + active


def boot_and_delete(client: Client, concurrency: int, seconds: float) -> tuple[list[tuple[float, float]], float]:
    results: list[tuple[float, float]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(number: int) -> None:
        count = 0
        while time.monotonic() < deadline and count < 10_000:
            outcome = client.cycle(f"bench-{number}-{count}")
            with lock:
                results.append(outcome)
            count += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.monotonic() - started


def private_cloud_client(stack: object, tmp: Path) -> Client:
    from manage.private_cloud import running_cloud

    cloud = running_cloud(tmp, {"STRATUS_COMPUTE_FAKE_HOSTS": "10"})
    server = cloud.__enter__()
    stack.callback(cloud.__exit__, None, None, None)  # type: ignore[attr-defined]
    server.bootstrap("bench-admin", "bench-demo")
    auth = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": "bench-admin"}},
            },
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
        }
    }
    issued = requests.post(f"{server.auth_url}/auth/tokens", json=auth, timeout=30)
    token, project = issued.headers["X-Subject-Token"], issued.json()["token"]["project"]["id"]
    headers = {"X-Auth-Token": token}
    unlimited = {"quota_set": {"instances": -1, "cores": -1, "ram": -1}}  # 50 clients go past Nova's defaults
    requests.put(f"{server.url}/compute/v2.1/os-quota-sets/{project}", json=unlimited, headers=headers, timeout=30)
    image = requests.post(
        f"{server.url}/image/v2/images",
        headers=headers,
        timeout=30,
        json={"name": "bench", "disk_format": "raw", "container_format": "bare", "visibility": "public"},
    ).json()["id"]
    requests.put(
        f"{server.url}/image/v2/images/{image}/file",
        data=b"\0" * 65536,
        timeout=30,
        headers=headers | {"Content-Type": "application/octet-stream"},
    )
    time.sleep(3)  # the ten fake hosts report in
    return Client(server.url, token, image)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--placements", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=15.0, help="Duration of each boot-and-delete cell.")
    args = parser.parse_args()

    timings = placement(args.hosts, args.placements)
    p50, p99 = percentile(timings, 0.5) * 1000, percentile(timings, 0.99) * 1000
    print(f"placement over {args.hosts} hosts, {args.placements} decisions: p50 {p50:.2f} ms, p99 {p99:.2f} ms")

    from contextlib import ExitStack

    rows = {}
    with tempfile.TemporaryDirectory(prefix="stratus-bench-") as tmp, ExitStack() as stack:
        client = private_cloud_client(stack, Path(tmp))
        print(
            f"\n{'conc':>4} {'cycles':>7} {'cycles/s':>9} {'ACTIVE p50':>11} {'ACTIVE p95':>11} "
            f"{'gone p50':>9} {'gone p95':>9}"
        )
        for concurrency in args.concurrency:
            results, elapsed = boot_and_delete(client, concurrency, args.seconds)
            active = [a for a, _ in results]
            gone = [g for _, g in results]
            rows[concurrency] = (len(results) / elapsed, percentile(active, 0.5))
            print(
                f"{concurrency:>4} {len(results):>7} {len(results) / elapsed:>9.1f} {percentile(active, 0.5):>10.3f}s "
                f"{percentile(active, 0.95):>10.3f}s {percentile(gone, 0.5):>8.3f}s {percentile(gone, 0.95):>8.3f}s"
            )

    print("\nGoals (Nova on this machine: ACTIVE p50 0.59 s / 3.4 s, 1.1 / 1.5 cycles/s at concurrency 1 / 10):")
    if 10 in rows:
        cycles, active_p50 = rows[10]
        verdict = "PASS" if active_p50 < 0.3 and cycles >= 15 else "MISS"
        print(
            f"  {verdict}  concurrency 10: ACTIVE p50 {active_p50:.3f} s (goal < 0.3 s), {cycles:.1f} cycles/s "
            f"(goal >= 15; {cycles / NOVA['cycles_c10']:.1f}x Nova)"
        )
    print(f"  {'PASS' if p99 < 10 else 'MISS'}  placement p99 {p99:.2f} ms over {args.hosts} hosts (goal < 10 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
