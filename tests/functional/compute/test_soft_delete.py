"""Soft delete (``reclaim_instance_interval``) with restore, forceDelete and the periodic reclaim, and shelve with
``shelved_offload_time`` -1 (a shelved server keeps its host until an admin offloads it), on a cloud of their
own: those settings hold deletes and offloads back for every server of a cloud."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from manage.clouds import write_clouds_yaml
from tests.functional.compute import BASE, fault, wait_for_hosts
from tests.functional.compute.conftest import action, create_server, public_raw_image, show
from tests.functional.compute.conftest import wait_for_status as _wait_for_status
from tests.functional.conftest import CloudClient
from tests.harness import running_cloud, wait_until

pytestmark = [pytest.mark.functional]


def wait_for_status(cloud, token: str, server_id: str, *wanted: str, timeout: float = 90) -> dict:
    """The conftest's bounded wait, with room for a loaded machine (a shelve is a snapshot, a stop and a
    destroy; an unshelve a placement, a bind and a spawn)."""
    return _wait_for_status(cloud, token, server_id, *wanted, timeout=timeout)


RECLAIM_SECONDS = 8


@pytest.fixture(scope="module")
def held_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CloudClient, str, str]]:
    """Deletes held back RECLAIM_SECONDS (checked every second), shelved servers never offloaded by themselves."""
    state = tmp_path_factory.mktemp("held-cloud")
    env = {
        "STRATUS_RECLAIM_INSTANCE_INTERVAL": str(RECLAIM_SECONDS),
        "STRATUS_SHELVED_POLL_INTERVAL": "1",
        "STRATUS_SHELVED_OFFLOAD_TIME": "-1",
    }
    with running_cloud(state, env) as server:
        server.bootstrap("held-admin", "held-demo")
        auth = v3.Password(
            auth_url=server.auth_url,
            username="admin",
            password="held-admin",
            project_name="admin",
            user_domain_id="default",
            project_domain_id="default",
        )
        token = ks_session.Session(auth=auth).get_token()
        clouds_yaml = state / "clouds.yaml"
        write_clouds_yaml(clouds_yaml, server.auth_url, "RegionOne", {"stratus-admin": ("admin", "held-admin")})
        cloud = CloudClient(server, clouds_yaml)
        wait_for_hosts(cloud, token)
        yield cloud, token, public_raw_image(cloud, token, "held-image")


def _active(cloud, token: str, image: str, name: str) -> str:
    server_id = create_server(cloud, token, image, name)["id"]
    wait_for_status(cloud, token, server_id, "ACTIVE")
    return server_id


def _status_code(cloud, token: str, server_id: str) -> int:
    return cloud.request("GET", f"{BASE}/servers/{server_id}", token).status_code


def _listed(cloud, token: str, query: str = "") -> set[str]:
    return {s["id"] for s in cloud.request("GET", f"{BASE}/servers{query}", token).json()["servers"]}


def test_a_delete_is_held_back_and_restore_brings_the_server_back(held_cloud, unique):
    cloud, admin, image = held_cloud
    server_id = _active(cloud, admin, image, unique)
    assert cloud.request("DELETE", f"{BASE}/servers/{server_id}", admin).status_code == 204
    held = wait_for_status(cloud, admin, server_id, "SOFT_DELETED")
    assert held["OS-EXT-STS:vm_state"] == "soft-delete" and held["OS-EXT-STS:power_state"] == 4
    assert held["OS-EXT-SRV-ATTR:host"]  # it keeps its host and its claim
    assert server_id not in _listed(cloud, admin)  # Nova lists soft-deleted servers only when asked
    assert server_id in _listed(cloud, admin, "?status=SOFT_DELETED")
    fault(action(cloud, admin, server_id, {"os-start": None}), "conflictingRequest", 409)
    fault(action(cloud, admin, server_id, {"shelve": None}), "conflictingRequest", 409)
    assert action(cloud, admin, server_id, {"restore": None}).status_code == 202
    back = wait_for_status(cloud, admin, server_id, "ACTIVE")
    assert back["OS-EXT-STS:power_state"] == 1
    fault(action(cloud, admin, server_id, {"restore": None}), "conflictingRequest", 409)
    listing = cloud.request("GET", f"{BASE}/servers/{server_id}/os-instance-actions", admin).json()
    assert {"delete", "restore"} <= {entry["action"] for entry in listing["instanceActions"]}
    assert action(cloud, admin, server_id, {"forceDelete": None}).status_code == 202
    wait_until(lambda: _status_code(cloud, admin, server_id), 30, interval=0.1, message="not deleted",
               until=lambda code: code == 404)  # fmt: skip


def test_force_delete_removes_a_soft_deleted_server_at_once(held_cloud, unique):
    cloud, admin, image = held_cloud
    server_id = _active(cloud, admin, image, unique)
    assert cloud.request("DELETE", f"{BASE}/servers/{server_id}", admin).status_code == 204
    wait_for_status(cloud, admin, server_id, "SOFT_DELETED")
    assert action(cloud, admin, server_id, {"forceDelete": None}).status_code == 202
    wait_until(lambda: _status_code(cloud, admin, server_id), 30, interval=0.1, message="not force-deleted",
               until=lambda code: code == 404)  # fmt: skip


def test_a_soft_deleted_server_is_reclaimed_after_the_interval(held_cloud, unique):
    cloud, admin, image = held_cloud
    server_id = _active(cloud, admin, image, unique)
    assert cloud.request("DELETE", f"{BASE}/servers/{server_id}", admin).status_code == 204
    wait_for_status(cloud, admin, server_id, "SOFT_DELETED")
    wait_until(lambda: _status_code(cloud, admin, server_id), RECLAIM_SECONDS + 30, interval=0.2,
               message="the soft-deleted server was never reclaimed", until=lambda code: code == 404)  # fmt: skip


def test_shelved_servers_keep_their_host_until_an_admin_offloads_them(held_cloud, unique):
    cloud, admin, image = held_cloud
    server_id = _active(cloud, admin, image, unique)
    assert action(cloud, admin, server_id, {"shelve": None}).status_code == 202
    shelved = wait_for_status(cloud, admin, server_id, "SHELVED")
    assert shelved["OS-EXT-SRV-ATTR:host"] and shelved["OS-EXT-STS:power_state"] == 4
    # unshelve of a server still on its host powers it on there
    assert action(cloud, admin, server_id, {"unshelve": None}).status_code == 202
    assert wait_for_status(cloud, admin, server_id, "ACTIVE")["OS-EXT-SRV-ATTR:host"] == shelved["OS-EXT-SRV-ATTR:host"]
    assert action(cloud, admin, server_id, {"shelve": None}).status_code == 202
    wait_for_status(cloud, admin, server_id, "SHELVED")
    fault(action(cloud, admin, server_id, {"shelveOffload": {"junk": 1}}), "badRequest", 400)
    assert action(cloud, admin, server_id, {"shelveOffload": None}).status_code == 202
    offloaded = wait_for_status(cloud, admin, server_id, "SHELVED_OFFLOADED")
    assert offloaded["OS-EXT-SRV-ATTR:host"] is None
    fault(action(cloud, admin, server_id, {"shelveOffload": None}), "conflictingRequest", 409)
    # deleting a shelved server deletes it at once (nothing to hold back) and its image with it
    image_id = cloud.request("GET", f"/image/v2/images?name={unique}-shelved", admin).json()["images"][0]["id"]
    assert cloud.request("DELETE", f"{BASE}/servers/{server_id}", admin).status_code == 204
    wait_until(lambda: _status_code(cloud, admin, server_id), 30, interval=0.1, message="not deleted",
               until=lambda code: code == 404)  # fmt: skip
    wait_until(lambda: cloud.request("GET", f"/image/v2/images/{image_id}", admin).status_code, 20, interval=0.1,
               message="the shelved image outlived its server", until=lambda code: code == 404)  # fmt: skip


def test_the_openstack_cli_deletes_and_restores(held_cloud, unique):
    cloud, admin, image = held_cloud
    server_id = _active(cloud, admin, image, unique)
    cloud.openstack("stratus-admin", "server", "delete", server_id)
    wait_for_status(cloud, admin, server_id, "SOFT_DELETED")
    cloud.openstack("stratus-admin", "server", "restore", server_id)
    assert wait_for_status(cloud, admin, server_id, "ACTIVE")["id"] == server_id
    assert show(cloud, admin, server_id)["status"] == "ACTIVE"
    cloud.openstack("stratus-admin", "server", "shelve", "--offload", "--wait", server_id)
    assert show(cloud, admin, server_id)["status"] == "SHELVED_OFFLOADED"
    cloud.openstack("stratus-admin", "server", "unshelve", "--wait", server_id)
    assert show(cloud, admin, server_id)["status"] == "ACTIVE"
