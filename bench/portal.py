"""The portal's instances page with 500 instances: server time and bytes transferred, against the goals.

Why: the portal must be quicker to use than Horizon and Proxmox's UI for the everyday tasks, and the instance list
is the page people open most. Goals (issue #7): under 300 ms server time and under 200 KB transferred.

A private cloud (``manage.private_cloud.running_cloud``, the real launcher: gunicorn workers, Redis, every service) with
40 fake hosts; the demo tenant's quotas are lifted and 500 servers (m1.tiny, no network) are created in batches of
50 (``min_count``) and waited for until ACTIVE. Then a browser-like client signs in through the portal's form and:

* fetches ``/instances`` ``--warmup`` times (not counted: each API worker's first pages compile templates), then
  ``--samples`` times with ``Accept-Encoding: gzip``; the server time is the page's own
  ``Server-Timing: portal;dur=`` (from the portal's first hook to its last: the in-process API calls for servers,
  flavors and images, rendering and gzip) and the wall time is the whole HTTP round trip on loopback; p50 and p99.
* adds the bytes of a first visit: the gzipped HTML plus each asset the page links (CSS, htmx, the portal's script),
  as sent on the wire (assets are cached for a year after that, so later visits transfer the HTML alone).

Prints PASS or MISS per goal; exit status 0 unless the cloud failed (a benchmark reports, it does not fail).
``--servers`` and ``--samples`` change the load.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/portal.py`

GOAL_SERVER_MS = 300.0
GOAL_BYTES = 200 * 1024
DEMO_PASSWORD = "bench-demo"
COMPUTE = {"OpenStack-API-Version": "compute 2.37"}
BATCH = 50


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else float("nan")


def _token(url: str, user: str, password: str, project: str) -> tuple[str, str]:
    auth = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }
    issued = requests.post(f"{url}/identity/v3/auth/tokens", json=auth, timeout=30)
    issued.raise_for_status()
    return issued.headers["X-Subject-Token"], issued.json()["token"]["project"]["id"]


def populate(url: str, servers: int) -> None:
    """``servers`` ACTIVE servers in the demo project, made in batches (Nova's min_count) and waited for."""
    admin, _ = _token(url, "admin", "bench-admin", "admin")
    demo, project = _token(url, "demo", DEMO_PASSWORD, "demo")
    unlimited = {"quota_set": {"instances": -1, "cores": -1, "ram": -1}}
    headers = {"X-Auth-Token": admin, **COMPUTE}
    requests.put(f"{url}/compute/v2.1/os-quota-sets/{project}", json=unlimited, headers=headers, timeout=30)
    image_body = {"name": "bench", "disk_format": "raw", "container_format": "bare", "visibility": "public"}
    image = requests.post(f"{url}/image/v2/images", json=image_body, headers=headers, timeout=30).json()["id"]
    octets = headers | {"Content-Type": "application/octet-stream"}
    requests.put(f"{url}/image/v2/images/{image}/file", data=b"\0" * 65536, headers=octets, timeout=30)
    time.sleep(3)  # the fake hosts report in
    demo_headers = {"X-Auth-Token": demo, **COMPUTE}
    made = 0
    while made < servers:
        count = min(BATCH, servers - made)
        body = {
            "server": {
                "name": f"bench-{made}",
                "imageRef": image,
                "flavorRef": "1",
                "networks": "none",
                "min_count": count,
                "max_count": count,
            }
        }
        response = requests.post(f"{url}/compute/v2.1/servers", json=body, headers=demo_headers, timeout=120)
        response.raise_for_status()
        made += count
    deadline = time.monotonic() + 600
    while True:
        listing = requests.get(f"{url}/compute/v2.1/servers/detail", headers=demo_headers, timeout=120).json()
        statuses = [s["status"] for s in listing["servers"]]
        if statuses.count("ACTIVE") >= servers:
            return
        if "ERROR" in statuses or time.monotonic() > deadline:
            raise RuntimeError(f"servers did not all become ACTIVE: {sorted(set(statuses))}")
        time.sleep(2)


def signed_in_browser(url: str) -> requests.Session:
    browser = requests.Session()
    browser.headers["Accept-Encoding"] = "gzip"
    page = browser.get(f"{url}/sign-in", timeout=30).text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert token, "no CSRF field on the sign-in page"
    form = {"csrf_token": token.group(1), "username": "demo", "password": DEMO_PASSWORD, "project": "demo"}
    response = browser.post(f"{url}/sign-in", data=form, timeout=30, allow_redirects=False)
    assert response.status_code == 303, response.text
    return browser


def wire_bytes(response: requests.Response) -> int:
    """Body bytes as sent (gzipped when the server gzipped), plus the status line and headers."""
    raw = int(response.headers.get("Content-Length") or len(response.content))
    head = len(f"HTTP/1.1 {response.status_code} {response.reason}\r\n") + sum(
        len(k) + len(v) + 4 for k, v in response.headers.items()
    )
    return raw + head + 2


def measure(url: str, samples: int, warmup: int) -> dict[str, float]:
    browser = signed_in_browser(url)
    server_ms, wall_ms, html_bytes, rows = [], [], 0, 0
    cold = []
    for _ in range(warmup):  # each API worker compiles the templates and fills its caches on its first pages
        response = browser.get(f"{url}/instances", timeout=60)
        timing = re.search(r"portal;dur=([0-9.]+)", response.headers.get("Server-Timing", ""))
        cold.append(float(timing.group(1)) if timing else float("nan"))
    for _ in range(samples):
        started = time.perf_counter()
        response = browser.get(f"{url}/instances", timeout=60, stream=True)
        raw = response.raw.read(decode_content=False)
        wall_ms.append((time.perf_counter() - started) * 1000)
        timing = re.search(r"portal;dur=([0-9.]+)", response.headers.get("Server-Timing", ""))
        server_ms.append(float(timing.group(1)) if timing else float("nan"))
        html_bytes = len(raw)
        rows = response.headers.get("Content-Encoding") == "gzip"
    page = browser.get(f"{url}/instances", timeout=60)
    rows = page.text.count('<tr id="server-')
    assets = re.findall(r'(?:href|src)="(/assets/[^"]+)"', page.text)
    asset_bytes = sum(wire_bytes(browser.get(f"{url}{path}", timeout=30)) for path in assets)
    return {
        "rows": rows,
        "cold_max": max(cold, default=float("nan")),
        "server_p50": percentile(server_ms, 0.5),
        "server_p99": percentile(server_ms, 0.99),
        "wall_p50": percentile(wall_ms, 0.5),
        "wall_p99": percentile(wall_ms, 0.99),
        "html_gzip": html_bytes,
        "html_raw": len(page.content),
        "assets": asset_bytes,
        "assets_count": len(assets),
    }


def args_warmup(figures: dict[str, float]) -> str:
    return f"{figures.get('warmup', 0):.0f}"


def report(figures: dict[str, float], servers: int, samples: int) -> None:
    first_visit = figures["html_gzip"] + figures["assets"]
    print(f"portal /instances with {servers} ACTIVE instances ({figures['rows']:.0f} rows), {samples} samples")
    print(f"  server time (Server-Timing)   p50 {figures['server_p50']:7.1f} ms   p99 {figures['server_p99']:7.1f} ms")
    print(f"  first {args_warmup(figures)} pages (warm-up, not counted): slowest {figures['cold_max']:.1f} ms")
    print(f"  wall time on loopback         p50 {figures['wall_p50']:7.1f} ms   p99 {figures['wall_p99']:7.1f} ms")
    print(
        f"  HTML                          {figures['html_gzip'] / 1024:7.1f} KB gzipped "
        f"({figures['html_raw'] / 1024:.1f} KB uncompressed)"
    )
    print(f"  assets ({figures['assets_count']:.0f} files, gzipped)     {figures['assets'] / 1024:7.1f} KB")
    later = figures["html_gzip"] / 1024
    print(f"  first visit                   {first_visit / 1024:7.1f} KB; later visits {later:.1f} KB")
    verdict = "PASS" if figures["server_p99"] < GOAL_SERVER_MS else "MISS"
    print(f"  goal server time < {GOAL_SERVER_MS:.0f} ms (p99): {verdict}")
    verdict = "PASS" if first_visit < GOAL_BYTES else "MISS"
    print(f"  goal transferred < {GOAL_BYTES // 1024} KB (first visit, HTML + assets): {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=4, help="pages fetched first and not counted")
    args = parser.parse_args()
    from manage.private_cloud import running_cloud

    hosts = max(3, args.servers // 12)  # a fake host has 16 vCPUs; m1.tiny takes one
    with tempfile.TemporaryDirectory(prefix="bench-portal-") as tmp, contextlib.ExitStack() as stack:
        cloud = stack.enter_context(running_cloud(Path(tmp), {"STRATUS_COMPUTE_FAKE_HOSTS": str(hosts)}))
        cloud.bootstrap("bench-admin", DEMO_PASSWORD)
        populate(cloud.url, args.servers)
        figures = measure(cloud.url, args.samples, args.warmup) | {"warmup": args.warmup}
        report(figures, args.servers, args.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
