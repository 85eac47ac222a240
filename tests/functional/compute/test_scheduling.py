"""Placement on three fake hosts: claims never overcommit under concurrency, server groups are honoured,
failed builds are retried elsewhere, and "no valid host" says why."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.functional.compute.conftest import create_server, show, wait_for_status, wait_until_gone
from tests.functional.conftest import CloudClient
from tests.harness import running_cloud

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def _flavor(cloud, admin: str, name: str, ram: int, vcpus: int = 1, disk: int = 1) -> str:
    response = cloud.request(
        "POST",
        "/compute/v2.1/flavors",
        admin,
        json={"flavor": {"name": name, "ram": ram, "vcpus": vcpus, "disk": disk}},
    )
    assert response.status_code == 200, response.text
    return response.json()["flavor"]["id"]


def _host(cloud, admin: str, server_id: str) -> str:
    return show(cloud, admin, server_id)["OS-EXT-SRV-ATTR:host"]


def test_concurrent_builds_never_overcommit_a_host(cloud, server_image, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    flavor = _flavor(cloud, admin, unique, ram=30000)  # two fit on a 64 GiB fake host, three hosts: six fit
    with ThreadPoolExecutor(10) as pool:
        servers = list(
            pool.map(lambda i: create_server(cloud, demo, server_image, f"{unique}-{i}", flavor=flavor), range(10))
        )
    final = [wait_for_status(cloud, demo, s["id"], "ACTIVE", "ERROR", timeout=60) for s in servers]
    statuses = Counter(s["status"] for s in final)
    hosts = Counter(_host(cloud, admin, s["id"]) for s in final if s["status"] == "ACTIVE")
    try:
        assert statuses == {"ACTIVE": 6, "ERROR": 4}
        assert all(count <= 2 for count in hosts.values()) and len(hosts) == 3
        refused = next(s for s in final if s["status"] == "ERROR")
        assert "No valid host" in refused["fault"]["message"] and "RamFilter removed 3" in refused["fault"]["message"]
    finally:
        for server in servers:
            cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo)
        for server in servers:
            wait_until_gone(cloud, demo, server["id"])
        cloud.request("DELETE", f"/compute/v2.1/flavors/{flavor}", admin)


def test_anti_affinity_spreads_and_fails_cleanly_when_it_cannot(cloud, server_image, unique):
    demo, admin = cloud.demo().get_token(), cloud.admin_token()
    group = cloud.request(
        "POST",
        "/compute/v2.1/os-server-groups",
        demo,
        json={"server_group": {"name": unique, "policies": ["anti-affinity"]}},
    )
    assert group.status_code == 200, group.text
    group_id = group.json()["server_group"]["id"]
    servers = [create_server(cloud, demo, server_image, f"{unique}-{i}", hints={"group": group_id}) for i in range(4)]
    final = [wait_for_status(cloud, demo, s["id"], "ACTIVE", "ERROR", timeout=60) for s in servers]
    try:
        active = [s for s in final if s["status"] == "ACTIVE"]
        assert len(active) == 3 and len({_host(cloud, admin, s["id"]) for s in active}) == 3
        refused = next(s for s in final if s["status"] == "ERROR")
        assert "ServerGroupAntiAffinityFilter removed 3" in refused["fault"]["message"]
        members = cloud.request("GET", f"/compute/v2.1/os-server-groups/{group_id}", demo).json()
        assert {s["id"] for s in active} <= set(members["server_group"]["members"])
    finally:
        for server in servers:
            cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo)


def test_affinity_keeps_members_together(cloud, server_image, unique):
    demo, admin = cloud.demo().get_token(), cloud.admin_token()
    group_id = cloud.request(
        "POST",
        "/compute/v2.1/os-server-groups",
        demo,
        json={"server_group": {"name": unique, "policies": ["affinity"]}},
    ).json()["server_group"]["id"]
    servers = [create_server(cloud, demo, server_image, f"{unique}-{i}", hints={"group": group_id}) for i in range(3)]
    for server in servers:
        wait_for_status(cloud, demo, server["id"], "ACTIVE")
    try:
        assert len({_host(cloud, admin, s["id"]) for s in servers}) == 1
    finally:
        for server in servers:
            cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo)


@pytest.fixture(scope="module")
def flaky_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CloudClient, str, str, str]]:
    """Three fake hosts of which the first fails every spawn."""
    failing = f"{socket.gethostname()}-1"
    state = tmp_path_factory.mktemp("flaky-cloud")
    with running_cloud(state, {"STRATUS_COMPUTE_FAKE_FAILING_HOSTS": failing}) as server:
        server.bootstrap("flaky-admin", "flaky-demo")
        auth = v3.Password(
            auth_url=server.auth_url,
            username="admin",
            password="flaky-admin",
            project_name="admin",
            user_domain_id="default",
            project_domain_id="default",
        )
        token = ks_session.Session(auth=auth).get_token()
        cloud = CloudClient(server, state / "clouds.yaml")
        image = cloud.request(
            "POST",
            "/image/v2/images",
            token,
            json={"name": "flaky", "disk_format": "raw", "container_format": "bare", "visibility": "public"},
        ).json()
        cloud.request(
            "PUT",
            f"/image/v2/images/{image['id']}/file",
            token,
            data=b"\0" * 4096,
            headers={"Content-Type": "application/octet-stream"},
        )
        yield cloud, token, image["id"], failing


def test_a_build_that_fails_on_a_host_is_rescheduled_elsewhere(flaky_cloud):
    cloud, admin, image, failing = flaky_cloud
    servers = [create_server(cloud, admin, image, f"flaky-{i}") for i in range(6)]
    final = [wait_for_status(cloud, admin, s["id"], "ACTIVE", "ERROR", timeout=60) for s in servers]
    assert {s["status"] for s in final} == {"ACTIVE"}
    assert failing not in {s["OS-EXT-SRV-ATTR:host"] for s in final}


def test_a_build_with_nowhere_left_to_go_is_error_with_the_reason(flaky_cloud):
    cloud, admin, image, failing = flaky_cloud
    server = create_server(cloud, admin, image, "forced-onto-failing", availability_zone=f"nova:{failing}")
    final = wait_for_status(cloud, admin, server["id"], "ERROR", "ACTIVE", timeout=60)
    assert final["status"] == "ERROR"
    assert "RetryFilter removed 1" in final["fault"]["message"]  # why no other host was tried
    assert "injected failure" in final["fault"]["message"]  # and why the one that was tried failed
    assert final["fault"]["code"] == 500 and "details" in final["fault"]
    assert cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", admin).status_code == 204
    wait_until_gone(cloud, admin, server["id"])


def test_no_valid_host_names_each_filter_and_count(cloud, server_image, unique):
    admin = cloud.admin_token()
    flavor = _flavor(cloud, admin, unique, ram=10_000_000)
    server = create_server(cloud, admin, server_image, unique, flavor=flavor)
    final = wait_for_status(cloud, admin, server["id"], "ERROR", timeout=30)
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", admin)
    cloud.request("DELETE", f"/compute/v2.1/flavors/{flavor}", admin)
    assert final["fault"]["message"].startswith("No valid host was found. 3 hosts considered; RamFilter removed 3")
