"""Helpers of the Block Storage API's functional tests: SDK connections (compute's ``sdk``), raw calls at a
microversion, Cinder's fault bodies, bounded waits on a volume's status, a second project's member, and lifted
quotas."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.functional.compute import sdk
from tests.functional.conftest import CloudClient
from tests.harness import wait_until

BASE = "/volume/v3"
LIFTED = {"volumes": -1, "gigabytes": -1, "snapshots": -1}

__all__ = ["sdk"]  # shared with the compute tests, used by the volume test modules through this one


def call(cloud: CloudClient, method: str, path: str, token: str, version: str | None = None, **kw: Any) -> Any:
    headers = dict(kw.pop("headers", {}))
    if version:
        headers["OpenStack-API-Version"] = f"volume {version}"
    return cloud.request(method, f"{BASE}{path}", token, headers=headers, **kw)


def fault(response: requests.Response, name: str, code: int) -> str:
    """Assert Cinder's fault body (``{"badRequest": {"code", "message"}}``) and return its message."""
    assert response.status_code == code, response.text
    body = response.json()
    assert list(body) == [name] and body[name]["code"] == code, body
    return body[name]["message"]


def cli_json(cloud: CloudClient, cloud_name: str, *args: str) -> Any:
    return json.loads(cloud.openstack(cloud_name, *args, "-f", "json").stdout)


def project_id(cloud: CloudClient, token: str, name: str) -> str:
    return cloud.request("GET", f"/identity/v3/projects?name={name}", token).json()["projects"][0]["id"]


def lift_volume_quotas(cloud: CloudClient) -> None:
    """The suites create far more than Cinder's default ten volumes in the shared projects."""
    token = cloud.admin_token()
    for name in ("admin", "demo"):
        path = f"/os-quota-sets/{project_id(cloud, token, name)}"
        updated = call(cloud, "PUT", path, token, json={"quota_set": LIFTED})
        assert updated.status_code == 200, updated.text


def show(cloud: CloudClient, token: str, volume_id: str) -> dict[str, Any]:
    response = call(cloud, "GET", f"/volumes/{volume_id}", token, "3.70")
    assert response.status_code == 200, response.text
    return response.json()["volume"]


def wait_for_status(cloud: CloudClient, token: str, volume_id: str, *wanted: str, timeout: float = 60) -> dict:
    return wait_until(
        lambda: show(cloud, token, volume_id),
        timeout,
        interval=0.1,
        message=f"volume {volume_id} never became {'/'.join(wanted)}",
        until=lambda volume: volume["status"] in wanted,
    )


def wait_until_gone(cloud: CloudClient, token: str, path: str, timeout: float = 60) -> None:
    wait_until(
        lambda: call(cloud, "GET", path, token).status_code == 404,
        timeout,
        interval=0.1,
        message=f"{path} was not deleted",
    )


def create_volume(cloud: CloudClient, token: str, name: str, size: int = 1, **fields: Any) -> dict[str, Any]:
    response = call(cloud, "POST", "/volumes", token, "3.70", json={"volume": {"size": size, "name": name, **fields}})
    assert response.status_code == 202, response.text
    return response.json()["volume"]


def available_volume(cloud: CloudClient, token: str, name: str, size: int = 1, **fields: Any) -> dict[str, Any]:
    made = create_volume(cloud, token, name, size, **fields)
    return wait_for_status(cloud, token, made["id"], "available")


def member_of_new_project(cloud: CloudClient, name: str) -> tuple[str, str]:
    """A new project with a member user of the same name; the member's token and the project's id."""
    admin = cloud.admin_token()
    made = cloud.request("POST", "/identity/v3/projects", admin, json={"project": {"name": name}})
    project = made.json()["project"]["id"]
    user = {"user": {"name": name, "password": "other-secret", "default_project_id": project}}
    user_id = cloud.request("POST", "/identity/v3/users", admin, json=user).json()["user"]["id"]
    role = cloud.request("GET", "/identity/v3/roles?name=member", admin).json()["roles"][0]["id"]
    granted = cloud.request("PUT", f"/identity/v3/projects/{project}/users/{user_id}/roles/{role}", admin)
    assert granted.status_code == 204, granted.text
    return cloud.session(name, "other-secret", project=name).get_token(), project


@pytest.fixture(scope="session")
def block_storage(cloud: CloudClient) -> CloudClient:
    """The cloud, with its bootstrap volume types checked and the shared projects' volume quotas lifted."""
    token = cloud.admin_token()
    default = call(cloud, "GET", "/types/default", token)
    assert default.status_code == 200, f"stratus-manage bootstrap made no default volume type: {default.text}"
    lift_volume_quotas(cloud)
    return cloud
