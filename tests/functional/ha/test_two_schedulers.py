"""Two copies of every control worker on one cloud (``control_copies = 2``), on PostgreSQL as a production cloud
runs them: a burst of builds taken by both schedulers at once never overcommits a host (the claim is one atomic
statement per host, ``compute.control.scheduler``); with one copy killed the other goes on, periodic safety nets
included."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from tests.functional.compute import wait_for_hosts
from tests.functional.compute.conftest import create_server, public_raw_image, show, wait_for_status, wait_until_gone
from tests.functional.conftest import CloudClient
from tests.harness import private_postgres, running_cloud, wait_until

pytestmark = pytest.mark.functional

BASE = "/compute/v2.1"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudClient]:
    with private_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield from _cloud(tmp_path_factory, url)


def _cloud(tmp_path_factory: pytest.TempPathFactory, url: str) -> Iterator[CloudClient]:
    env = {
        "STRATUS_DATABASE_URL": url,
        "STRATUS_CONTROL_COPIES": "2",
        "STRATUS_COMPUTE_FAKE_HOSTS": "3",
        "STRATUS_COMPUTE_SWEEP_INTERVAL": "2",
    }
    state = tmp_path_factory.mktemp("two-schedulers")
    with running_cloud(state, env) as server:
        server.bootstrap("copies-admin", "copies-demo")
        yield CloudClient(server, state / "clouds.yaml")


def _pid(cloud: CloudClient, service: str) -> int:
    return int((cloud.server.state_dir / "run" / f"{service}.pid").read_text().split()[0])


def _placed_by(cloud: CloudClient, service: str, server_ids: list[str]) -> set[str]:
    """The servers whose placement ``service`` logged (its own log file)."""
    log = (cloud.server.log_dir / f"{service}.log").read_text()
    return {server_id for server_id in server_ids if f"instance {server_id} placed on" in log}


def test_two_schedulers_taking_a_burst_of_builds_at_once_never_overcommit_a_host(cloud):
    admin, demo = _token(cloud, "admin", "copies-admin"), _token(cloud, "demo", "copies-demo")
    wait_for_hosts(cloud, admin, 3)
    image = public_raw_image(cloud, admin, "copies")
    flavor = cloud.request(
        "POST", f"{BASE}/flavors", admin, json={"flavor": {"name": "half-host", "ram": 30000, "vcpus": 1, "disk": 1}}
    ).json()["flavor"]["id"]  # two fit on a 64 GiB fake host, three hosts: six fit
    cloud.request(
        "PUT",
        f"{BASE}/os-quota-sets/{_project(cloud, admin)}",
        admin,
        json={"quota_set": {"ram": -1, "instances": -1, "cores": -1}},
    )
    with ThreadPoolExecutor(16) as pool:
        servers = list(pool.map(lambda i: create_server(cloud, demo, image, f"burst-{i}", flavor=flavor), range(16)))
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
        assert not first & second
    finally:
        for server_id in ids:
            cloud.request("DELETE", f"{BASE}/servers/{server_id}", demo)
        for server_id in ids:
            wait_until_gone(cloud, demo, server_id)


def test_with_one_scheduler_killed_the_other_builds_and_runs_the_periodic_jobs(cloud):
    admin, demo = _token(cloud, "admin", "copies-admin"), _token(cloud, "demo", "copies-demo")
    image = public_raw_image(cloud, admin, "after-kill")
    victim = psutil.Process(_pid(cloud, "compute-worker"))
    for process in [victim, *victim.children(recursive=True)]:
        os.kill(process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    server = create_server(cloud, demo, image, "after-kill")
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


def _token(cloud: CloudClient, user: str, password: str) -> str:
    return cloud.session(user, password, project=user).get_token()


def _project(cloud: CloudClient, admin: str) -> str:
    projects = cloud.request("GET", "/identity/v3/projects?name=demo", admin).json()["projects"]
    return projects[0]["id"]
