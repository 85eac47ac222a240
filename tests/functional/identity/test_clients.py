"""The clients people already use work unchanged: keystoneauth1, openstacksdk and the openstack CLI."""

from __future__ import annotations

import json
import os
import subprocess

import openstack
import pytest

from tests.functional.conftest import ADMIN_PASSWORD
from tests.harness import VENV_BIN

pytestmark = pytest.mark.functional


def _conn(cloud, user: str = "admin", password: str = ADMIN_PASSWORD) -> openstack.connection.Connection:
    return openstack.connect(
        auth_url=cloud.server.auth_url,
        username=user,
        password=password,
        project_name=user,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
    )


def test_openstacksdk_manages_projects_users_and_roles(cloud, unique):
    conn = _conn(cloud)
    project = conn.identity.create_project(name=unique, description="sdk")
    user = conn.identity.create_user(name=unique, password="pw", default_project_id=project.id)
    role = conn.identity.find_role("member")
    conn.identity.assign_project_role_to_user(project, user, role)

    assert conn.identity.find_project(unique).id == project.id
    assert conn.identity.find_user(unique).id == user.id
    assert conn.identity.validate_user_has_project_role(project, user, role)
    user_conn = _conn(cloud, unique, "pw")
    assert user_conn.current_project_id == project.id

    conn.identity.delete_user(user)
    conn.identity.delete_project(project)
    assert conn.identity.find_project(unique) is None


def test_openstack_cli_token_catalog_and_admin_commands(cloud, unique):
    token = json.loads(cloud.openstack("stratus", "token", "issue", "-f", "json").stdout)
    assert token["id"] and token["project_id"]

    catalog = json.loads(cloud.openstack("stratus", "catalog", "list", "-f", "json").stdout)
    assert {c["Type"] for c in catalog} == {
        "identity", "compute", "network", "image", "block-storage", "volumev3", "placement"
    }  # fmt: skip

    cloud.openstack("stratus-admin", "project", "create", unique)
    cloud.openstack("stratus-admin", "user", "create", "--project", unique, "--password", "pw", unique)
    cloud.openstack("stratus-admin", "role", "add", "--user", unique, "--project", unique, "member")
    listing = json.loads(
        cloud.openstack("stratus-admin", "role", "assignment", "list", "--names", "--user", unique, "-f", "json").stdout
    )
    assert [(a["Role"], a["Project"]) for a in listing] == [("member", f"{unique}@Default")]

    shown = json.loads(cloud.openstack("stratus-admin", "project", "show", unique, "-f", "json").stdout)
    assert shown["name"] == unique
    cloud.openstack("stratus-admin", "user", "delete", unique)
    cloud.openstack("stratus-admin", "project", "delete", unique)


def test_openstack_cli_refuses_a_member_creating_projects(cloud, unique):
    result = cloud.openstack("stratus", "project", "create", unique, check=False)
    assert result.returncode != 0
    assert "403" in result.stderr


def test_openstack_cli_lists_endpoints_and_services(cloud):
    endpoints = json.loads(cloud.openstack("stratus-admin", "endpoint", "list", "-f", "json").stdout)
    assert len(endpoints) == 21  # seven catalog entries (block storage twice) on three interfaces
    services = json.loads(cloud.openstack("stratus-admin", "service", "list", "-f", "json").stdout)
    assert {s["Type"] for s in services} == {
        "identity", "compute", "network", "image", "block-storage", "volumev3", "placement"
    }  # fmt: skip


def _stratus(cloud, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(cloud.clouds_yaml)
    return subprocess.run([str(VENV_BIN / "stratus"), *args], env=env, capture_output=True, text=True, timeout=60)


def test_stratus_cli_authenticates_from_clouds_yaml(cloud):
    whoami = _stratus(cloud, "--os-cloud", "stratus-admin", "whoami")
    endpoints = _stratus(cloud, "--os-cloud", "stratus", "endpoints")
    missing = _stratus(cloud, "--os-cloud", "no-such-cloud", "whoami")

    assert whoami.returncode == 0 and "roles:   admin, manager, member, reader" in whoami.stdout
    assert endpoints.returncode == 0 and endpoints.stdout.count(" up") == 7
    assert missing.returncode != 0 and "no-such-cloud" in missing.stderr
