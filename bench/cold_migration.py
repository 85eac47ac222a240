"""What a cold migration costs the control plane: migrate, confirm and revert through the API on fake hosts.

Why: a cold move is five messages between the scheduler and two hosts (claim, disk copy, finish; then confirm or
revert), each a compare-and-swap on the server and its migration record, and a drain moves every server of a host
this way at once. With the fake driver (the copy is a record handed between hosts of one agent) the figures are
the workflow's own cost, not the disks'.

A private cloud (``manage.private_cloud``) with ten fake hosts; ``--servers`` servers are built, then at each
concurrency workers migrate servers (POST migrate, poll every 0.05 s until VERIFY_RESIZE) and confirm or revert
them alternately (poll until ACTIVE). Reports p50/p95 of API→VERIFY_RESIZE, of the confirm or revert, and moves per
second. Goal: at concurrency 10, a move to VERIFY_RESIZE p50 < 1 s. Exit status 0 unless a move failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/cold_migration.py`

from bench.compute import POLL, Client, percentile, private_cloud_client  # noqa: E402


def _status(client: Client, server_id: str) -> str:
    url = f"{client.url}/compute/v2.1/servers/{server_id}"
    return client.http.get(url, headers=client.headers, timeout=60).json()["server"]["status"]


def _until(client: Client, server_id: str, wanted: str) -> None:
    while (status := _status(client, server_id)) != wanted:
        if status == "ERROR":
            raise RuntimeError(f"server {server_id} went to ERROR")
        time.sleep(POLL)


def _act(client: Client, server_id: str, body: dict) -> None:
    url = f"{client.url}/compute/v2.1/servers/{server_id}/action"
    client.http.post(url, json=body, headers=client.headers, timeout=60).raise_for_status()


def move(client: Client, server_id: str, revert: bool) -> tuple[float, float]:
    """(API→VERIFY_RESIZE, confirm or revert→ACTIVE) of one cold migration, in seconds."""
    started = time.perf_counter()
    _act(client, server_id, {"migrate": None})
    _until(client, server_id, "VERIFY_RESIZE")
    moved = time.perf_counter() - started
    ending = time.perf_counter()
    _act(client, server_id, {"revertResize" if revert else "confirmResize": None})
    while _status(client, server_id) != "ACTIVE":  # VERIFY_RESIZE until the ending is under way
        time.sleep(POLL)
    return moved, time.perf_counter() - ending


def build(client: Client, count: int) -> list[str]:
    ids = []
    for number in range(count):
        body = {"server": {"name": f"cold-{number}", "imageRef": client.image, "flavorRef": "1", "networks": "none"}}
        response = client.http.post(f"{client.url}/compute/v2.1/servers", json=body, headers=client.headers, timeout=60)
        response.raise_for_status()
        ids.append(response.json()["server"]["id"])
    for server_id in ids:
        _until(client, server_id, "ACTIVE")
    return ids


def run(client: Client, servers: list[str], concurrency: int, rounds: int) -> tuple[list[tuple[float, float]], float]:
    results: list[tuple[float, float]] = []
    lock = threading.Lock()

    def worker(mine: list[str]) -> None:
        for turn in range(rounds):
            for server_id in mine:
                outcome = move(client, server_id, revert=bool(turn % 2))
                with lock:
                    results.append(outcome)

    started = time.monotonic()
    shares = [servers[n::concurrency] for n in range(concurrency)]
    threads = [threading.Thread(target=worker, args=(share,)) for share in shares if share]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--rounds", type=int, default=2, help="Moves of each server per cell (confirm, revert, ...).")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="stratus-bench-") as tmp, ExitStack() as stack:
        client = private_cloud_client(stack, Path(tmp))
        servers = build(client, args.servers)
        print(
            f"cold migration, {len(servers)} servers on ten fake hosts\n"
            f"{'conc':>4} {'moves':>6} {'moves/s':>8} {'VERIFY p50':>11} {'VERIFY p95':>11} {'end p50':>8} "
            f"{'end p95':>8}"
        )
        for concurrency in args.concurrency:
            results, elapsed = run(client, servers, concurrency, args.rounds)
            moved, ended = [m for m, _ in results], [e for _, e in results]
            rows[concurrency] = percentile(moved, 0.5)
            print(
                f"{concurrency:>4} {len(results):>6} {len(results) / elapsed:>8.1f} {percentile(moved, 0.5):>10.3f}s "
                f"{percentile(moved, 0.95):>10.3f}s {percentile(ended, 0.5):>7.3f}s {percentile(ended, 0.95):>7.3f}s"
            )
    if 10 in rows:
        verdict = "PASS" if rows[10] < 1.0 else "MISS"
        print(f"\n  {verdict}  concurrency 10: to VERIFY_RESIZE p50 {rows[10]:.3f} s (goal < 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
