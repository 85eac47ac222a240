"""``os-simple-tenant-usage`` over real HTTP with the fake driver: totals from launch and termination times (deleted
servers of the period count), who may read whose usage, bad periods, 2.40 paging and ``openstack usage``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.functional.compute.conftest import create_server, wait_for_status, wait_until_gone

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

USAGE_KEYS = {
    "server_usages", "start", "stop", "tenant_id", "total_hours", "total_local_gb_usage", "total_memory_mb_usage",
    "total_vcpus_usage",
}  # fmt: skip
SERVER_KEYS = {
    "ended_at", "flavor", "hours", "instance_id", "local_gb", "memory_mb", "name", "started_at", "state",
    "tenant_id", "uptime", "vcpus",
}  # fmt: skip


def _period(days: int = 1) -> str:
    now = datetime.now(UTC).replace(tzinfo=None)
    fmt = "%Y-%m-%dT%H:%M:%S.%f"
    return f"start={(now - timedelta(days=days)).strftime(fmt)}&end={(now + timedelta(days=days)).strftime(fmt)}"


@pytest.fixture
def project_servers(cloud, server_image, unique):
    """Two servers of the demo project: one running, one deleted (terminated) after it ran."""
    demo = cloud.demo()
    token = demo.get_token()
    running = create_server(cloud, token, server_image, f"{unique}-running")
    gone = create_server(cloud, token, server_image, f"{unique}-gone")
    for server in (running, gone):
        wait_for_status(cloud, token, server["id"], "ACTIVE")
    cloud.request("DELETE", f"/compute/v2.1/servers/{gone['id']}", token)
    wait_until_gone(cloud, token, gone["id"])
    yield token, demo.get_project_id(), running["id"], gone["id"]
    cloud.request("DELETE", f"/compute/v2.1/servers/{running['id']}", token)


def test_a_project_reads_its_usage_with_deleted_servers(cloud, project_servers):
    token, project_id, running, gone = project_servers
    response = cloud.request("GET", f"/compute/v2.1/os-simple-tenant-usage/{project_id}?{_period()}", token)
    assert response.status_code == 200, response.text
    usage = response.json()["tenant_usage"]
    assert set(usage) == USAGE_KEYS and usage["tenant_id"] == project_id
    servers = {s["instance_id"]: s for s in usage["server_usages"]}
    assert {running, gone} <= set(servers)
    assert all(set(s) == SERVER_KEYS for s in servers.values())
    assert servers[gone]["state"] == "terminated" and servers[gone]["ended_at"] is not None
    assert servers[running]["state"] == "active" and servers[running]["ended_at"] is None
    assert servers[running]["hours"] > 0 and servers[running]["vcpus"] >= 1 and servers[running]["flavor"]
    assert usage["total_hours"] == pytest.approx(sum(s["hours"] for s in usage["server_usages"]))
    assert usage["total_vcpus_usage"] == pytest.approx(sum(s["hours"] * s["vcpus"] for s in usage["server_usages"]))


def test_admins_list_every_project_and_others_are_refused(cloud, project_servers):
    token, project_id, running, _ = project_servers
    admin = cloud.admin_token()
    listed = cloud.request("GET", f"/compute/v2.1/os-simple-tenant-usage?{_period()}&detailed=1", admin)
    assert listed.status_code == 200, listed.text
    mine = [u for u in listed.json()["tenant_usages"] if u["tenant_id"] == project_id]
    assert len(mine) == 1 and set(mine[0]) == USAGE_KEYS
    brief = cloud.request("GET", f"/compute/v2.1/os-simple-tenant-usage?{_period()}", admin).json()["tenant_usages"]
    assert all("server_usages" not in u for u in brief)
    assert cloud.request("GET", f"/compute/v2.1/os-simple-tenant-usage?{_period()}", token).status_code == 403
    admin_project = cloud.admin().get_project_id()
    other = cloud.request("GET", f"/compute/v2.1/os-simple-tenant-usage/{admin_project}?{_period()}", token)
    assert other.status_code == 403 and "forbidden" in other.json()
    shown = cloud.request("GET", f"/compute/v2.1/os-simple-tenant-usage/{project_id}?{_period()}", admin)
    assert running in {s["instance_id"] for s in shown.json()["tenant_usage"]["server_usages"]}


@pytest.mark.parametrize(
    "query",
    [
        "start=yesterday&end=2030-01-01T00:00:00",
        "start=2020-01-01T00:00:00&end=2020-13-45T00:00:00",
        "start=2030-01-01T00:00:00&end=2020-01-01T00:00:00",
        "start=2020-01-01T00:00:00&end=2020-01-01T00:00:00",
    ],
)
def test_bad_periods_are_400(cloud, query):
    demo = cloud.demo()
    path = f"/compute/v2.1/os-simple-tenant-usage/{demo.get_project_id()}?{query}"
    response = cloud.request("GET", path, demo.get_token())
    assert response.status_code == 400 and "badRequest" in response.json(), response.text


def test_a_period_before_any_server_is_empty(cloud, project_servers):
    token, project_id, _, _ = project_servers
    query = "start=2000-01-01T00:00:00&end=2000-02-01T00:00:00"
    response = cloud.request("GET", f"/compute/v2.1/os-simple-tenant-usage/{project_id}?{query}", token)
    assert response.status_code == 200 and response.json() == {"tenant_usage": {}}
    assert cloud.request("GET", "/compute/v2.1/os-simple-tenant-usage/", token).status_code == 404
    assert cloud.request("GET", "/compute/v2.1/os-simple-tenant-usage/", cloud.admin_token()).status_code == 404


def test_2_40_pages_through_servers(cloud, project_servers):
    token, project_id, running, gone = project_servers
    v240 = {"OpenStack-API-Version": "compute 2.40"}
    base = f"/compute/v2.1/os-simple-tenant-usage/{project_id}?{_period()}"
    seen: list[str] = []
    url = f"{base}&limit=2"
    for _ in range(2000):  # the shared cloud's demo project holds every server other modules made today
        body = cloud.request("GET", url, token, headers=v240).json()
        seen += [s["instance_id"] for s in body["tenant_usage"].get("server_usages", [])]
        links = body.get("tenant_usage_links")
        if not links:
            break
        url = links[0]["href"].split("/compute/v2.1", 1)[1]
        url = f"/compute/v2.1{url}"
    assert {running, gone} <= set(seen) and len(seen) == len(set(seen))
    bad = cloud.request("GET", f"{base}&marker=nope", token, headers=v240)
    assert bad.status_code == 400
    zero = cloud.request("GET", f"{base}&limit=0", token, headers=v240)
    assert zero.status_code == 400
    old = cloud.request("GET", f"{base}&limit=1", token)  # before 2.40: no paging
    assert {running, gone} <= {s["instance_id"] for s in old.json()["tenant_usage"]["server_usages"]}


def test_openstack_usage_list_and_show(cloud, project_servers):
    _, project_id, _, _ = project_servers
    start = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    end = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    listed = cloud.openstack("stratus-admin", "usage", "list", "--start", start, "--end", end, "-f", "json")
    rows = json.loads(listed.stdout)
    assert project_id in {row["Project"] for row in rows}, rows
    shown = cloud.openstack(
        "stratus", "usage", "show", "--project", project_id, "--start", start, "--end", end, "-f", "json"
    )
    usage = json.loads(shown.stdout)
    assert len(usage["Servers"]) >= 2, usage  # the server usages (a count in a table)
