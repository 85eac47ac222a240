"""Server diagnostics over real HTTP with the fake driver: the pre-2.48 dict and 2.48's standard shape, read from
the server's host each time; admins only; 409 for a server that does not run."""

from __future__ import annotations

import json

import pytest

from api.compute import microversions
from tests.functional.compute.conftest import action, create_server, wait_for_status

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

STANDARD_KEYS = {
    "state", "driver", "hypervisor", "hypervisor_os", "uptime", "config_drive", "num_cpus", "num_nics",
    "num_disks", "memory_details", "cpu_details", "nic_details", "disk_details",
}  # fmt: skip


@pytest.fixture
def running_server(cloud, server_image, unique):
    admin = cloud.admin_token()
    server = create_server(cloud, admin, server_image, unique)
    wait_for_status(cloud, admin, server["id"], "ACTIVE")
    yield admin, server["id"]
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", admin)


def test_admins_read_the_legacy_diagnostics(cloud, running_server):
    admin, server_id = running_server
    response = cloud.request("GET", f"/compute/v2.1/servers/{server_id}/diagnostics", admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cpu0_time"] == 0 and body["memory"] > 0 and "vda_read" in body


def test_2_48_answers_the_standard_shape(cloud, running_server):
    if microversions.MAX_VERSION < (2, 48):
        pytest.skip("the cloud serves microversions below 2.48")
    admin, server_id = running_server
    headers = {"OpenStack-API-Version": "compute 2.48"}
    body = cloud.request("GET", f"/compute/v2.1/servers/{server_id}/diagnostics", admin, headers=headers).json()
    assert set(body) == STANDARD_KEYS
    assert body["state"] == "running" and body["driver"] == "libvirt" and body["num_cpus"] == len(body["cpu_details"])
    assert body["memory_details"]["maximum"] > 0 and body["uptime"] >= 0 and body["num_disks"] >= 1


def test_members_are_refused_and_unknown_servers_are_404(cloud, server_image, unique):
    demo = cloud.demo().get_token()
    server = create_server(cloud, demo, server_image, unique)
    wait_for_status(cloud, demo, server["id"], "ACTIVE")
    refused = cloud.request("GET", f"/compute/v2.1/servers/{server['id']}/diagnostics", demo)
    assert refused.status_code == 403 and "forbidden" in refused.json()
    missing = cloud.request("GET", "/compute/v2.1/servers/not-there/diagnostics", cloud.admin_token())
    assert missing.status_code == 404
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo)


def test_a_stopped_server_has_no_diagnostics(cloud, running_server):
    admin, server_id = running_server
    assert action(cloud, admin, server_id, {"os-stop": None}).status_code == 202
    wait_for_status(cloud, admin, server_id, "SHUTOFF")
    response = cloud.request("GET", f"/compute/v2.1/servers/{server_id}/diagnostics", admin)
    assert response.status_code == 409 and "conflictingRequest" in response.json()


def test_openstack_server_show_diagnostics(cloud, running_server):
    _, server_id = running_server
    shown = cloud.openstack("stratus-admin", "server", "show", "--diagnostics", "-f", "json", server_id)
    assert json.loads(shown.stdout), shown.stdout
