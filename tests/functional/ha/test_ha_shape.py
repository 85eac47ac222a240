"""``make up HA=1`` on a cloud that ran ``make up`` before: its settings step (``deploy/bootstrap.py --prepare
--ha 1``) stops the cloud, makes the PostgreSQL pair and moves the SQLite file's records there, and the next
``services up`` starts the whole highly available shape: three API processes behind HAProxy, two copies of each
control worker, the broker's primary, replicas and Sentinels, the database's primary and standby. What the cloud
held before is there after, and it builds servers. The fake hypervisor; ports of this test's own (the
Sentinels', the replicas' and the API processes' given in the environment, which outranks the settings file)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from manage.database_move import MOVED_SUFFIX
from manage.private_cloud import Cloud, cloud_environment
from tests.functional.compute import wait_for_hosts
from tests.functional.compute.conftest import create_server, public_raw_image, wait_for_status, wait_until_gone
from tests.functional.conftest import CloudClient
from tests.harness import free_port

pytestmark = pytest.mark.functional

ROOT = Path(__file__).resolve().parents[3]
BASE = "/compute/v2.1"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudClient]:
    # As on a machine's own disk (`make up`'s .stratus): PostgreSQL runs as its own user, which must reach the
    # pair's directory, and pytest's temporary directories are closed to others.
    state = Path(tempfile.mkdtemp(prefix="stratus-ha-shape-"))
    state.chmod(0o711)
    server = Cloud(state, cloud_environment(state, {}))
    try:
        server.manage("services", "up")  # `make up`: one copy of everything, on SQLite
        server.bootstrap("shape-admin", "shape-demo")
        yield CloudClient(server, state / "clouds.yaml")
    finally:
        server.manage("services", "down", check=False)  # the shape the test left, the database pair too
        shutil.rmtree(state, ignore_errors=True)


def _token(cloud: CloudClient, user: str, password: str) -> str:
    return cloud.session(user, password, project=user).get_token()


def test_make_up_ha_1_keeps_the_clouds_records_and_runs_every_part_more_than_once(cloud):
    admin = _token(cloud, "admin", "shape-admin")
    wait_for_hosts(cloud, admin, 3)
    image = public_raw_image(cloud, admin, "before-ha")
    demo = _token(cloud, "demo", "shape-demo")
    before = create_server(cloud, demo, image, "before-ha")
    wait_for_status(cloud, demo, before["id"], "ACTIVE", timeout=60)

    state = cloud.server.state_dir
    ports = {
        "STRATUS_BROKER_REPLICA_PORTS": f"{free_port()} {free_port()}",
        "STRATUS_BROKER_SENTINELS": " ".join(f"127.0.0.1:{free_port()}" for _ in range(3)),
        "STRATUS_API_BACKEND_PORT": str(free_port()),
    }
    env = cloud.server.env | ports
    prepare = [sys.executable, str(ROOT / "deploy" / "bootstrap.py"), "--prepare", "--ha", "1"]
    done = subprocess.run(prepare, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "moved" in done.stdout and (state / f"stratus.db{MOVED_SUFFIX}").exists()
    assert not (state / "stratus.db").exists()
    settings_file = (state / "stratus.toml").read_text()
    assert "control_copies = 2" in settings_file and "api_copies = 3" in settings_file
    assert "target_session_attrs=read-write" in settings_file

    cloud.server.env = env
    cloud.server.manage("services", "up")
    running = {path.stem for path in (state / "run").glob("*.pid")}
    assert {"api-1", "api-2", "api-3", "haproxy", "compute-worker", "compute-worker-2"} <= running
    assert {"network-worker-2", "image-worker-2", "volume-worker-2"} <= running
    assert "api" not in running
    status = cloud.server.manage("database", "status").stdout
    assert "accepting writes" in status and "standby (in recovery)" in status

    # What the cloud held on SQLite, now on PostgreSQL, through HAProxy: the same tokens' users, the server.
    admin, demo = _token(cloud, "admin", "shape-admin"), _token(cloud, "demo", "shape-demo")
    listed = cloud.request("GET", f"{BASE}/servers", demo).json()["servers"]
    assert [s["id"] for s in listed] == [before["id"]]
    after = create_server(cloud, demo, image, "after-ha")
    assert wait_for_status(cloud, demo, after["id"], "ACTIVE", timeout=60)["status"] == "ACTIVE"
    for server in (before, after):
        assert cloud.request("DELETE", f"{BASE}/servers/{server['id']}", demo).status_code == 204
    for server in (before, after):
        wait_until_gone(cloud, demo, server["id"])
    assert requests.get(f"{cloud.url}/identity/v3", timeout=10).status_code == 200
