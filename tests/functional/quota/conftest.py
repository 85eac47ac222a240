"""Quota test helpers: a fresh project per test (with a member and a reader of its own, so no test shares
limits or usage with another), its credentials for the ``openstack`` and ``stratus`` CLIs, and short calls."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests import warm_cli
from tests.functional.compute.conftest import server_image  # noqa: F401 - the image servers boot
from tests.functional.conftest import ADMIN_PASSWORD
from tests.harness import VENV_BIN

PASSWORD = "tenant-secret"
COMPUTE = "/compute/v2.1"
NETWORK = "/network/v2.0"
LATEST = {"OpenStack-API-Version": "compute 2.37"}


@dataclass(frozen=True)
class Tenant:
    name: str
    project_id: str
    member: str
    reader: str
    member_name: str

    def env(self, user: str | None = None) -> dict[str, str]:
        """``OS_*`` variables that authenticate as ``user`` (the member by default) in this project."""
        return {
            "OS_USERNAME": user or self.member_name,
            "OS_PASSWORD": PASSWORD,
            "OS_PROJECT_NAME": self.name,
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_IDENTITY_API_VERSION": "3",
        }


def _role_id(cloud, admin: str, name: str) -> str:
    return cloud.request("GET", f"/identity/v3/roles?name={name}", admin).json()["roles"][0]["id"]


def _user_in(cloud, admin: str, project_id: str, user: str, role: str) -> None:
    created = cloud.request("POST", "/identity/v3/users", admin, json={"user": {"name": user, "password": PASSWORD}})
    assert created.status_code == 201, created.text
    user_id, role_id = created.json()["user"]["id"], _role_id(cloud, admin, role)
    grant = f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"
    assert cloud.request("PUT", grant, admin).status_code == 204


@pytest.fixture
def new_tenant(cloud, unique) -> Callable[[str], Tenant]:
    """Make a project with a member and a reader; ``new_tenant("a")`` names it after the test and ``a``."""
    admin = cloud.admin_token()

    def make(suffix: str = "") -> Tenant:
        name = f"{unique}{suffix}"[:60]
        created = cloud.request("POST", "/identity/v3/projects", admin, json={"project": {"name": name}})
        assert created.status_code == 201, created.text
        project_id = created.json()["project"]["id"]
        _user_in(cloud, admin, project_id, f"{name}-m", "member")
        _user_in(cloud, admin, project_id, f"{name}-r", "reader")
        member = cloud.session(f"{name}-m", PASSWORD, project=name).get_token()
        reader = cloud.session(f"{name}-r", PASSWORD, project=name).get_token()
        return Tenant(name, project_id, member, reader, f"{name}-m")

    return make


@pytest.fixture
def tenant(new_tenant) -> Tenant:
    return new_tenant()


def set_compute(cloud, project_id: str, **values: Any) -> dict[str, Any]:
    response = cloud.request(
        "PUT", f"{COMPUTE}/os-quota-sets/{project_id}", cloud.admin_token(), json={"quota_set": values}, headers=LATEST
    )
    assert response.status_code == 200, response.text
    return response.json()["quota_set"]


def set_network(cloud, project_id: str, **values: Any) -> dict[str, Any]:
    response = cloud.request("PUT", f"{NETWORK}/quotas/{project_id}", cloud.admin_token(), json={"quota": values})
    assert response.status_code == 200, response.text
    return response.json()["quota"]


def run(cloud, tool: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``openstack`` or ``stratus`` as a subprocess, with ``env``'s credentials (the admin's by default)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    credentials = env or {
        "OS_USERNAME": "admin",
        "OS_PASSWORD": ADMIN_PASSWORD,
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_IDENTITY_API_VERSION": "3",
    }
    full_env = clean | credentials | {"OS_AUTH_URL": cloud.server.auth_url}
    if tool == "openstack":
        return warm_cli.run(args, full_env)
    return subprocess.run(
        [str(VENV_BIN / tool), *args], env=full_env, capture_output=True, text=True, timeout=300, check=False
    )


def run_json(cloud, tool: str, *args: str, env: dict[str, str] | None = None) -> Any:
    result = run(cloud, tool, *args, "-f", "json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
