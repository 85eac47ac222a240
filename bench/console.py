"""How long a user waits for a console: from asking for a serial console URL to the first byte of the guest's
console on the websocket.

Why: the path crosses every part of the console: the API asks the server's host where the console listens (a
request-reply task over the broker), mints a token in Redis, and the console proxy redeems it, re-reads the server
from the database and connects to the host's port. A private cloud (``manage.private_cloud``) with the fake
driver, whose consoles are loopback TCP servers that greet with the console log, measures that control path
without a guest's own delay; ``--rounds`` sequential URL→first-byte times give p50/p95.

Goal: p95 < 1 s (Nova's noVNC proxy answers a fresh URL in about that on small clouds). Exit status 0 unless the
cloud failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/console.py`

from websockets.sync.client import connect  # noqa: E402

from bench.compute import POLL, Client, percentile, private_cloud_client  # noqa: E402

GOAL_SECONDS = 1.0


def active_server(client: Client) -> str:
    body = {"server": {"name": "bench-console", "imageRef": client.image, "flavorRef": "1", "networks": "none"}}
    response = client.http.post(f"{client.url}/compute/v2.1/servers", json=body, headers=client.headers, timeout=60)
    response.raise_for_status()
    server_id = response.json()["server"]["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = client.http.get(f"{client.url}/compute/v2.1/servers/{server_id}", headers=client.headers, timeout=60)
        if shown.json()["server"]["status"] == "ACTIVE":
            return server_id
        time.sleep(POLL)
    raise RuntimeError(f"server {server_id} never became ACTIVE")


def url_to_first_byte(client: Client, server_id: str) -> float:
    started = time.perf_counter()
    response = client.http.post(
        f"{client.url}/compute/v2.1/servers/{server_id}/remote-consoles",
        json={"remote_console": {"protocol": "serial", "type": "serial"}},
        headers=client.headers,
        timeout=60,
    )
    response.raise_for_status()
    with connect(response.json()["remote_console"]["url"], open_timeout=10) as websocket:
        if not websocket.recv(timeout=10):
            raise RuntimeError("the console sent an empty first message")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stratus-bench-") as tmp, ExitStack() as stack:
        client = private_cloud_client(stack, Path(tmp))
        server_id = active_server(client)
        url_to_first_byte(client, server_id)  # warm-up: first connections and imports in every process
        timings = [url_to_first_byte(client, server_id) for _ in range(args.rounds)]
    p50, p95 = percentile(timings, 0.5), percentile(timings, 0.95)
    print(f"serial console URL -> first byte, {args.rounds} rounds: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
    verdict = "PASS" if p95 < GOAL_SECONDS else "MISS"
    print(f"  {verdict}  console URL -> first byte p95 {p95:.3f} s (goal < {GOAL_SECONDS:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
