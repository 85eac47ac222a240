"""``make up HA=1`` on a cloud that ran ``make up`` before, and what its shape then bears.

The settings step (``deploy/bootstrap.py --prepare --ha 1``) stops the cloud, makes the PostgreSQL pair and moves
the SQLite file's records there; the next ``services up`` starts the whole highly available shape: three API
processes behind HAProxy, two copies of each control worker, the broker's primary, replicas and Sentinels, the
database's primary and standby. Then, on that shape: two schedulers taking a burst of builds at once never
overcommit a host (the claim is one atomic statement per host, ``compute.control.scheduler``), and with one copy
killed the other goes on, periodic safety nets included.

The fake hypervisor (three fake hosts); ports of this module's own (the Sentinels', the replicas' and the API
processes', given in the environment, which outranks the settings file). The tests run in order on one cloud.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from manage.database_move import MOVED_SUFFIX
from manage.private_cloud import Cloud, cloud_environment
from tests.functional.compute import wait_for_hosts
from tests.functional.compute.conftest import create_server, public_raw_image, show, wait_for_status, wait_until_gone
from tests.functional.conftest import CloudClient
from tests.harness import free_port, wait_until

pytestmark = pytest.mark.functional

ROOT = Path(__file__).resolve().parents[3]
BASE = "/compute/v2.1"


@dataclass
class Shape:
    cloud: CloudClient
    image: str
    before: str
    """A server made while the cloud ran on SQLite."""
    prepared: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def shape() -> Iterator[Shape]:
    # As on a machine's own disk (`make up`'s .stratus): PostgreSQL runs as its own user, which must reach the
    # pair's directory, and pytest's temporary directories are closed to others.
    state = Path(tempfile.mkdtemp(prefix="stratus-ha-shape-"))
    state.chmod(0o711)
    # A build a dying scheduler took off Redis as it died (BRPOP answered to a closed socket) is lost in flight:
    # the sweeper sends it again after compute_resend_after, here soon (the default is two minutes).
    server = Cloud(state, cloud_environment(state, {"STRATUS_COMPUTE_SWEEP_INTERVAL": "2",
                                                   "STRATUS_COMPUTE_RESEND_AFTER": "3"}))  # fmt: skip
    try:
        server.manage("services", "up")  # `make up`: one copy of everything, on SQLite
        server.bootstrap("shape-admin", "shape-demo")
        cloud = CloudClient(server, state / "clouds.yaml")
        admin = _token(cloud, "admin", "shape-admin")
        wait_for_hosts(cloud, admin, 3)
        image = public_raw_image(cloud, admin, "before-ha")
        demo = _token(cloud, "demo", "shape-demo")
        before = create_server(cloud, demo, image, "before-ha")["id"]
        wait_for_status(cloud, demo, before, "ACTIVE", timeout=60)

        server.env |= {
            "STRATUS_BROKER_REPLICA_PORTS": f"{free_port()} {free_port()}",
            "STRATUS_BROKER_SENTINELS": " ".join(f"127.0.0.1:{free_port()}" for _ in range(3)),
            "STRATUS_API_BACKEND_PORT": str(free_port()),
        }
        prepare = [sys.executable, str(ROOT / "deploy" / "bootstrap.py"), "--prepare", "--ha", "1"]
        prepared = subprocess.run(
            prepare, env=server.env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
        )
        assert prepared.returncode == 0, prepared.stdout + prepared.stderr
        server.manage("services", "up")
        yield Shape(cloud, image, before, prepared)
    finally:
        server.manage("services", "down", check=False)  # the shape left, the database pair too
        shutil.rmtree(state, ignore_errors=True)


def _token(cloud: CloudClient, user: str, password: str) -> str:
    return cloud.session(user, password, project=user).get_token()


def _pid(cloud: CloudClient, service: str) -> int:
    return int((cloud.server.state_dir / "run" / f"{service}.pid").read_text().split()[0])


def _placed_by(cloud: CloudClient, service: str, server_ids: list[str]) -> set[str]:
    """The servers whose placement ``service`` logged (its own log file)."""
    log = (cloud.server.log_dir / f"{service}.log").read_text()
    return {server_id for server_id in server_ids if f"instance {server_id} placed on" in log}


def test_make_up_ha_1_keeps_the_clouds_records_and_runs_every_part_more_than_once(shape):
    cloud, state = shape.cloud, shape.cloud.server.state_dir
    assert "moved" in shape.prepared.stdout and (state / f"stratus.db{MOVED_SUFFIX}").exists()
    assert not (state / "stratus.db").exists()
    settings_file = (state / "stratus.toml").read_text()
    assert "control_copies = 2" in settings_file and "api_copies = 3" in settings_file
    assert "target_session_attrs=read-write" in settings_file
    running = {path.stem for path in (state / "run").glob("*.pid")}
    assert {"api-1", "api-2", "api-3", "haproxy", "compute-worker", "compute-worker-2"} <= running
    assert {"network-worker-2", "image-worker-2", "volume-worker-2"} <= running
    assert "api" not in running
    status = cloud.server.manage("database", "status").stdout
    assert "accepting writes" in status and "standby (in recovery)" in status

    # What the cloud held on SQLite, now on PostgreSQL, through HAProxy: the same users, the server.
    demo = _token(cloud, "demo", "shape-demo")
    listed = cloud.request("GET", f"{BASE}/servers", demo).json()["servers"]
    assert [s["id"] for s in listed] == [shape.before]
    after = create_server(cloud, demo, shape.image, "after-ha")
    assert wait_for_status(cloud, demo, after["id"], "ACTIVE", timeout=60)["status"] == "ACTIVE"
    for server_id in (shape.before, after["id"]):
        assert cloud.request("DELETE", f"{BASE}/servers/{server_id}", demo).status_code == 204
    for server_id in (shape.before, after["id"]):
        wait_until_gone(cloud, demo, server_id)
    assert requests.get(f"{cloud.url}/identity/v3", timeout=10).status_code == 200


def test_two_schedulers_taking_a_burst_of_builds_at_once_never_overcommit_a_host(shape):
    cloud = shape.cloud
    admin, demo = _token(cloud, "admin", "shape-admin"), _token(cloud, "demo", "shape-demo")
    flavor = cloud.request(
        "POST", f"{BASE}/flavors", admin, json={"flavor": {"name": "half-host", "ram": 30000, "vcpus": 1, "disk": 1}}
    ).json()["flavor"]["id"]  # two fit on a 64 GiB fake host, three hosts: six fit
    project = cloud.request("GET", "/identity/v3/projects?name=demo", admin).json()["projects"][0]["id"]
    unlimited = {"quota_set": {"ram": -1, "instances": -1, "cores": -1}}
    assert cloud.request("PUT", f"{BASE}/os-quota-sets/{project}", admin, json=unlimited).status_code == 200
    with ThreadPoolExecutor(16) as pool:
        servers = list(
            pool.map(lambda i: create_server(cloud, demo, shape.image, f"burst-{i}", flavor=flavor), range(16))
        )
    ids = [s["id"] for s in servers]
    final = [wait_for_status(cloud, demo, server_id, "ACTIVE", "ERROR", timeout=90) for server_id in ids]
    try:
        assert Counter(s["status"] for s in final) == {"ACTIVE": 6, "ERROR": 10}
        per_host = Counter(
            show(cloud, admin, s["id"])["OS-EXT-SRV-ATTR:host"] for s in final if s["status"] == "ACTIVE"
        )
        assert sorted(per_host.values()) == [2, 2, 2]
        refused = next(s for s in final if s["status"] == "ERROR")
        assert "No valid host" in refused["fault"]["message"]
        first, second = _placed_by(cloud, "compute-worker", ids), _placed_by(cloud, "compute-worker-2", ids)
        assert first and second, "one scheduler placed every build: the test proved nothing about two"
    finally:
        for server_id in ids:
            cloud.request("DELETE", f"{BASE}/servers/{server_id}", demo)
        for server_id in ids:
            wait_until_gone(cloud, demo, server_id)


def test_with_one_scheduler_killed_the_other_builds_and_runs_the_periodic_jobs(shape):
    cloud = shape.cloud
    demo = _token(cloud, "demo", "shape-demo")
    victim = psutil.Process(_pid(cloud, "compute-worker"))
    processes = [victim, *victim.children(recursive=True)]
    for process in processes:
        os.kill(process.pid, signal.SIGKILL)
    psutil.wait_procs(processes, timeout=10)
    killed_at = time.monotonic()
    server = create_server(cloud, demo, shape.image, "after-kill")
    assert wait_for_status(cloud, demo, server["id"], "ACTIVE", timeout=60)["status"] == "ACTIVE"
    # The sweeper (every 2 s here) still runs: the survivor's log shows a sweep after the kill.
    log = cloud.server.log_dir / "compute-worker-2.log"
    size = log.stat().st_size
    wait_until(
        lambda: log.read_text()[size:],
        30,
        message="the surviving copy never swept",
        until=lambda tail: "compute.sweep" in tail and "succeeded" in tail,
    )
    assert time.monotonic() - killed_at < 60
    cloud.request("DELETE", f"{BASE}/servers/{server['id']}", demo)
    wait_until_gone(cloud, demo, server["id"])
