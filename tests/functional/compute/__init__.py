"""Helpers for the compute API's functional tests: microversion headers, SDK connections, JSON from the CLI."""

from __future__ import annotations

import json
from typing import Any

import openstack

from tests.functional.conftest import ADMIN_PASSWORD, DEMO_PASSWORD
from tests.harness import wait_until

BASE = "/compute/v2.1"


def version(microversion: str) -> dict[str, str]:
    """The header asking for a compute microversion."""
    return {"OpenStack-API-Version": f"compute {microversion}"}


def sdk(cloud: Any, admin: bool = False) -> openstack.connection.Connection:
    """An openstacksdk connection as the admin or the demo member (it negotiates the highest microversion)."""
    user, password = ("admin", ADMIN_PASSWORD) if admin else ("demo", DEMO_PASSWORD)
    return openstack.connect(
        auth_url=cloud.server.auth_url,
        username=user,
        password=password,
        project_name=user,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
    )


def cli_json(cloud: Any, cloud_name: str, *args: str) -> Any:
    """Run an ``openstack`` command with ``-f json`` and decode what it prints."""
    return json.loads(cloud.openstack(cloud_name, *args, "-f", "json").stdout)


def fault(response: Any, name: str, code: int) -> str:
    """Assert a Nova fault body (``{"itemNotFound": {"code", "message"}}``) and return its message."""
    assert response.status_code == code, response.text
    body = response.json()
    assert list(body) == [name] and body[name]["code"] == code, body
    return body[name]["message"]


def wait_for_hosts(cloud: Any, token: str, count: int = 3, timeout: float = 30) -> list[dict[str, Any]]:
    """The fake compute hosts register a few seconds after the cloud starts: poll (bounded) until they are up."""
    return wait_until(
        lambda: cloud.request("GET", f"{BASE}/os-hypervisors", token).json()["hypervisors"],
        timeout,
        interval=0.2,
        message=f"fewer than {count} hosts up",
        until=lambda found: len([h for h in found if h["state"] == "up"]) >= count,
    )
