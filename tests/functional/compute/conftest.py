"""Compute test helpers: a bootable image in the cloud, and bounded waits on server state."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.harness import wait_until

COMPUTE = {"OpenStack-API-Version": "compute 2.37"}


@pytest.fixture(scope="session")
def server_image(cloud, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small public qcow2 image the fake hosts 'boot'."""
    path = Path(tmp_path_factory.mktemp("server-image")) / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(path), "16M"], check=True, capture_output=True)
    token = cloud.admin_token()
    image = cloud.request(
        "POST",
        "/image/v2/images",
        token,
        json={"name": "server-test-image", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"},
    )
    image_id = image.json()["id"]
    cloud.request(
        "PUT",
        f"/image/v2/images/{image_id}/file",
        token,
        data=path.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    return image_id


def public_raw_image(cloud, token: str, name: str) -> str:
    """A public raw image of 64 KiB of zeros (what the fake hosts 'boot') on a module's own cloud; its id."""
    body = {"name": name, "disk_format": "raw", "container_format": "bare", "visibility": "public"}
    made = cloud.request("POST", "/image/v2/images", token, json=body).json()
    headers = {"Content-Type": "application/octet-stream"}
    cloud.request("PUT", f"/image/v2/images/{made['id']}/file", token, data=b"\0" * 65536, headers=headers)
    return made["id"]


def create_server(cloud, token: str, image: str, name: str, flavor: str = "1", **extra: Any) -> dict[str, Any]:
    body = {"server": {"name": name, "imageRef": image, "flavorRef": flavor, "networks": "none", **extra}}
    hints = body["server"].pop("hints", None)
    if hints:
        body["os:scheduler_hints"] = hints
    response = cloud.request("POST", "/compute/v2.1/servers", token, json=body, headers=COMPUTE)
    assert response.status_code == 202, response.text
    return response.json()["server"]


def show(cloud, token: str, server_id: str, admin: bool = False) -> dict[str, Any]:
    response = cloud.request("GET", f"/compute/v2.1/servers/{server_id}", token, headers=COMPUTE)
    assert response.status_code == 200, response.text
    return response.json()["server"]


def wait_for_status(cloud, token: str, server_id: str, *wanted: str, timeout: float = 30) -> dict[str, Any]:
    """Poll (bounded) until the server's status is one of ``wanted``; fail with its last state."""
    return wait_until(
        lambda: show(cloud, token, server_id),
        timeout,
        interval=0.05,
        message=f"server {server_id} never became {'/'.join(wanted)} with no task",
        until=lambda server: server["status"] in wanted and server["OS-EXT-STS:task_state"] is None,
    )


def wait_for_task_state(cloud, token: str, server_id: str, task: str, timeout: float = 20) -> dict[str, Any]:
    """Poll (bounded) until the server's task state is ``task`` (a build at a given step); the server then."""
    return wait_until(
        lambda: show(cloud, token, server_id),
        timeout,
        interval=0.05,
        message=f"server {server_id} never reached task_state {task}",
        until=lambda server: server["OS-EXT-STS:task_state"] == task,
    )


def wait_until_gone(cloud, token: str, server_id: str, timeout: float = 30) -> None:
    wait_until(
        lambda: cloud.request("GET", f"/compute/v2.1/servers/{server_id}", token).status_code == 404,
        timeout,
        interval=0.05,
        message=f"server {server_id} was not deleted",
    )


def wait_for_pending_deletes(cloud, timeout: float = 30) -> None:
    """Wait until no server anywhere is still being deleted.

    Tests share one cloud, and many end with a DELETE they do not wait for; a test that compares
    counts or usage before and after must not see such a server vanish in between.
    """
    admin = cloud.admin_token()

    def deleting() -> list[str]:
        listing = cloud.request("GET", "/compute/v2.1/servers/detail?all_tenants=1", admin, headers=COMPUTE)
        return [s["id"] for s in listing.json()["servers"] if s["OS-EXT-STS:task_state"] == "deleting"]

    wait_until(deleting, timeout, interval=0.05, message="servers stayed in deletion", until=lambda ids: not ids)


def action(cloud, token: str, server_id: str, body: dict[str, Any]):
    return cloud.request("POST", f"/compute/v2.1/servers/{server_id}/action", token, json=body, headers=COMPUTE)
