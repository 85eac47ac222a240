"""The broker (Redis) going away and coming back, on a cloud of its own: work that would have to be sent is
refused at once with a 503 and leaves nothing behind, reads and Neutron changes go on, and once Redis is back
the same requests succeed without restarting anything else."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from tests.functional.compute import BASE, fault, wait_for_hosts
from tests.functional.compute.conftest import COMPUTE, action, create_server, show, wait_for_status, wait_until_gone
from tests.functional.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, CloudClient
from tests.harness import running_cloud, wait_until

pytestmark = pytest.mark.functional

SLOWEST_REFUSAL = 3.0
"""Seconds a refused request may take: kombu's defaults alone waited 6 s per send on a refused connection."""


@pytest.fixture(scope="module")
def outage_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudClient]:
    state = tmp_path_factory.mktemp("outage-cloud")
    with running_cloud(state, {"STRATUS_COMPUTE_FAKE_HOSTS": "1"}) as server:
        server.bootstrap(ADMIN_PASSWORD, DEMO_PASSWORD)
        yield CloudClient(server, state / "clouds.yaml")


def _broker_port(cloud: CloudClient) -> int:
    return int(cloud.server.env["STRATUS_BROKER_URL"].rsplit(":", 1)[1].split("/")[0])


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _stop_redis(cloud: CloudClient) -> None:
    pid = int((cloud.server.state_dir / "run" / "redis.pid").read_text().split()[0])
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not _answers(_broker_port(cloud)), 10, interval=0.05, message="redis did not stop")


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _image_with_data(cloud: CloudClient, token: str, name: str, where: str, **attrs: str) -> str:
    """A raw image of 64 KiB, its data uploaded (``where="file"``) or only staged for an import (``"stage"``)."""
    body = {"name": name, "disk_format": "raw", "container_format": "bare", **attrs}
    image = cloud.request("POST", "/image/v2/images", token, json=body).json()
    headers = {"Content-Type": "application/octet-stream"}
    sent = cloud.request("PUT", f"/image/v2/images/{image['id']}/{where}", token, data=b"\0" * 65536, headers=headers)
    assert sent.status_code == 204, sent.text
    return image["id"]


def _import(cloud: CloudClient, token: str, image_id: str):
    body = {"method": {"name": "glance-direct"}}
    return cloud.request("POST", f"/image/v2/images/{image_id}/import", token, json=body)


def _image_status(cloud: CloudClient, token: str, image_id: str) -> str:
    return cloud.request("GET", f"/image/v2/images/{image_id}", token).json()["status"]


def test_without_the_broker_work_is_refused_at_once_and_nothing_changes(outage_cloud: CloudClient) -> None:
    cloud = outage_cloud
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    wait_for_hosts(cloud, admin, count=1)
    image = _image_with_data(cloud, admin, "outage", "file", visibility="public")
    running = create_server(cloud, demo, image, "before-outage")
    wait_for_status(cloud, demo, running["id"], "ACTIVE")
    staged = _image_with_data(cloud, demo, "outage-import", "stage")
    servers_before = {s["id"] for s in cloud.request("GET", f"{BASE}/servers", demo).json()["servers"]}

    _stop_redis(cloud)

    body = {"server": {"name": "during", "imageRef": image, "flavorRef": "1", "networks": "none"}}
    created, seconds = _timed(lambda: cloud.request("POST", f"{BASE}/servers", demo, json=body, headers=COMPUTE))
    assert "cannot be reached" in fault(created, "serviceUnavailable", 503)
    assert seconds < SLOWEST_REFUSAL
    stopped, seconds = _timed(lambda: action(cloud, demo, running["id"], {"os-stop": None}))
    fault(stopped, "serviceUnavailable", 503)
    assert seconds < SLOWEST_REFUSAL
    deleted = cloud.request("DELETE", f"{BASE}/servers/{running['id']}", demo)
    fault(deleted, "serviceUnavailable", 503)

    refused = _import(cloud, demo, staged)
    assert refused.status_code == 503 and refused.json()["code"] == "503 Service Unavailable", refused.text

    # Nothing was left behind: no new server, the running one untouched, no action recorded for it.
    listing = cloud.request("GET", f"{BASE}/servers", demo)
    assert listing.status_code == 200 and {s["id"] for s in listing.json()["servers"]} == servers_before
    server = show(cloud, demo, running["id"])
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", None)
    actions = cloud.request("GET", f"{BASE}/servers/{running['id']}/os-instance-actions", demo).json()
    assert [a["action"] for a in actions["instanceActions"]] == ["create"]
    assert _image_status(cloud, demo, staged) == "uploading"  # still staged: the import can be asked again

    # A Neutron change commits (the hosts' wiring converges at their next resync) and does not hang either.
    network, seconds = _timed(lambda: cloud.request("POST", "/network/v2.0/networks", demo, json={"network": {}}))
    assert network.status_code == 201, network.text
    assert seconds < SLOWEST_REFUSAL

    cloud.server.manage("services", "up")  # starts the missing Redis and leaves every other service running
    assert _answers(_broker_port(cloud))

    again = cloud.request("POST", f"{BASE}/servers", demo, json=body, headers=COMPUTE)
    assert again.status_code == 202, again.text
    wait_for_status(cloud, demo, again.json()["server"]["id"], "ACTIVE", timeout=60)
    assert _import(cloud, demo, staged).status_code == 202
    assert action(cloud, demo, running["id"], {"os-stop": None}).status_code == 202
    wait_for_status(cloud, demo, running["id"], "SHUTOFF")
    for server_id in (running["id"], again.json()["server"]["id"]):
        assert cloud.request("DELETE", f"{BASE}/servers/{server_id}", demo).status_code == 204
        wait_until_gone(cloud, demo, server_id)
    cloud.request("DELETE", f"/network/v2.0/networks/{network.json()['network']['id']}", demo)
    wait_until(
        lambda: _image_status(cloud, demo, staged),
        60,
        interval=0.2,
        message=f"image {staged} was not imported",
        until=lambda status: status == "active",
    )
