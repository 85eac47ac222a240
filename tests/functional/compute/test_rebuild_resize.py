"""Rebuild and resize (with confirm and revert) over real HTTP and the openstack CLI, on fake hosts: what the
server becomes, what its host holds for it at each step, and the answers to requests that cannot be done."""

from __future__ import annotations

import pytest

from tests.functional.compute import BASE, cli_json, fault, version, wait_for_hosts
from tests.functional.compute.conftest import (
    action,
    create_server,
    show,
    wait_for_pending_deletes,
    wait_for_status,
)
from tests.harness import wait_until

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def host_usage(cloud, admin_token: str, host: str) -> tuple[int, int]:
    """(vcpus_used, memory_mb_used) of one hypervisor, as os-hypervisors reports them."""
    for hypervisor in cloud.request("GET", f"{BASE}/os-hypervisors/detail", admin_token).json()["hypervisors"]:
        if hypervisor["hypervisor_hostname"] == host:
            return hypervisor["vcpus_used"], hypervisor["memory_mb_used"]
    raise AssertionError(f"no hypervisor {host}")


def active_server(cloud, token: str, image: str, name: str, flavor: str = "1") -> tuple[str, str]:
    """(server id, host) of a new ACTIVE server."""
    server_id = create_server(cloud, token, image, name, flavor=flavor)["id"]
    wait_for_status(cloud, token, server_id, "ACTIVE")
    admin_view = cloud.request("GET", f"{BASE}/servers/{server_id}", cloud.admin_token()).json()["server"]
    return server_id, admin_view["OS-EXT-SRV-ATTR:host"]


def test_resize_then_confirm_keeps_only_the_new_flavors_claim(cloud, server_image, unique):
    token, admin = cloud.demo().get_token(), cloud.admin_token()
    wait_for_hosts(cloud, admin)
    server_id, host = active_server(cloud, token, server_image, unique)
    wait_for_pending_deletes(cloud)
    hosts = [h["hypervisor_hostname"] for h in wait_for_hosts(cloud, admin)]
    before = {name: host_usage(cloud, admin, name) for name in hosts}

    assert action(cloud, token, server_id, {"resize": {"flavorRef": "3"}}).status_code == 202
    server = wait_for_status(cloud, token, server_id, "VERIFY_RESIZE")
    assert server["flavor"]["id"] == "3" and server["OS-EXT-STS:vm_state"] == "resized"
    # Waiting for confirmation, the server holds both flavors (m1.tiny 1/128 and m1.medium 2/2048): the old on its
    # host, the new on the host it was resized to (another one when one has room, else the same).
    new_host = cloud.request("GET", f"{BASE}/servers/{server_id}", admin).json()["server"]["OS-EXT-SRV-ATTR:host"]
    expected = dict(before)
    expected[new_host] = (expected[new_host][0] + 2, expected[new_host][1] + 2048)
    assert {name: host_usage(cloud, admin, name) for name in {host, new_host}} == {
        name: expected[name] for name in {host, new_host}
    }

    assert action(cloud, token, server_id, {"confirmResize": None}).status_code == 204
    server = wait_for_status(cloud, token, server_id, "ACTIVE")
    assert server["flavor"]["id"] == "3"
    expected[host] = (expected[host][0] - 1, expected[host][1] - 128)
    assert {name: host_usage(cloud, admin, name) for name in {host, new_host}} == {
        name: expected[name] for name in {host, new_host}
    }
    actions = cloud.request("GET", f"{BASE}/servers/{server_id}/os-instance-actions", token).json()
    assert [a["action"] for a in actions["instanceActions"]][:2] == ["confirmResize", "resize"]


def test_resize_then_revert_gives_the_old_flavor_back(cloud, server_image, unique):
    token, admin = cloud.demo().get_token(), cloud.admin_token()
    server_id, host = active_server(cloud, token, server_image, unique)
    wait_for_pending_deletes(cloud)
    before = host_usage(cloud, admin, host)
    assert action(cloud, token, server_id, {"os-stop": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "SHUTOFF")

    assert action(cloud, token, server_id, {"resize": {"flavorRef": "2"}}).status_code == 202
    wait_for_status(cloud, token, server_id, "VERIFY_RESIZE")
    assert action(cloud, token, server_id, {"revertResize": None}).status_code == 202
    server = wait_for_status(cloud, token, server_id, "SHUTOFF")  # stopped before the resize, stopped after
    assert server["flavor"]["id"] == "1"
    assert host_usage(cloud, admin, host) == before


def test_resize_requests_that_cannot_be_done_are_refused_and_change_nothing(cloud, server_image, unique):
    token = cloud.demo().get_token()
    server_id, _ = active_server(cloud, token, server_image, unique, flavor="2")
    same = action(cloud, token, server_id, {"resize": {"flavorRef": "2"}})
    assert "must change flavor" in fault(same, "badRequest", 400)
    smaller = action(cloud, token, server_id, {"resize": {"flavorRef": "1"}})
    assert "smaller root disk" in fault(smaller, "badRequest", 400)
    unknown = action(cloud, token, server_id, {"resize": {"flavorRef": "no-such-flavor"}})
    fault(unknown, "badRequest", 400)
    missing = action(cloud, token, server_id, {"resize": {}})
    assert "flavorRef" in fault(missing, "badRequest", 400)
    not_resized = action(cloud, token, server_id, {"confirmResize": None})
    fault(not_resized, "conflictingRequest", 409)
    fault(action(cloud, token, server_id, {"revertResize": None}), "conflictingRequest", 409)
    server = show(cloud, token, server_id)
    assert (server["status"], server["flavor"]["id"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", "2", None)


def test_a_resize_the_host_has_no_room_for_ends_with_the_server_unchanged(cloud, server_image, unique):
    admin = cloud.admin_token()
    huge = cloud.request(
        "POST",
        f"{BASE}/flavors",
        admin,
        json={"flavor": {"name": f"huge-{unique}", "vcpus": 1, "ram": 10_000_000, "disk": 5}},
    ).json()["flavor"]
    try:
        server_id, _ = active_server(cloud, admin, server_image, unique)
        assert action(cloud, admin, server_id, {"resize": {"flavorRef": huge["id"]}}).status_code == 202
        server = wait_until(
            lambda: show(cloud, admin, server_id),
            30,
            interval=0.05,
            message="the resize never ended",
            until=lambda server: server["OS-EXT-STS:task_state"] is None,
        )
        assert (server["status"], server["flavor"]["id"]) == ("ACTIVE", "1")
        request_id = cloud.request("GET", f"{BASE}/servers/{server_id}/os-instance-actions", admin).json()[
            "instanceActions"
        ][0]["request_id"]
        events = cloud.request("GET", f"{BASE}/servers/{server_id}/os-instance-actions/{request_id}", admin).json()
        (event,) = events["instanceAction"]["events"]
        assert event["result"] == "Error" and "no room for flavor" in event["traceback"]
    finally:
        cloud.request("DELETE", f"{BASE}/flavors/{huge['id']}", admin)


def test_rebuild_gives_a_new_image_name_and_metadata_and_keeps_a_stopped_server_stopped(cloud, server_image, unique):
    token = cloud.demo().get_token()
    server_id, host = active_server(cloud, token, server_image, unique)
    body = {"rebuild": {"imageRef": server_image, "name": f"{unique}-2", "metadata": {"rebuilt": "yes"}}}
    answer = cloud.request("POST", f"{BASE}/servers/{server_id}/action", token, json=body, headers=version("2.26"))
    assert answer.status_code == 202, answer.text
    rebuilt = answer.json()["server"]
    assert rebuilt["status"] == "REBUILD" and rebuilt["adminPass"] and rebuilt["name"] == f"{unique}-2"
    assert "OS-EXT-STS:vm_state" not in rebuilt and "key_name" not in rebuilt and "tags" in rebuilt
    server = wait_for_status(cloud, token, server_id, "ACTIVE")
    assert server["metadata"] == {"rebuilt": "yes"} and server["image"]["id"] == server_image

    assert action(cloud, token, server_id, {"os-stop": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "SHUTOFF")
    assert action(cloud, token, server_id, {"rebuild": {"imageRef": server_image}}).status_code == 202
    server = wait_for_status(cloud, token, server_id, "SHUTOFF")
    assert server["OS-EXT-STS:power_state"] == 4
    admin_view = cloud.request("GET", f"{BASE}/servers/{server_id}", cloud.admin_token()).json()["server"]
    assert admin_view["OS-EXT-SRV-ATTR:host"] == host


def test_rebuild_with_a_bad_image_is_refused_and_changes_nothing(cloud, server_image, unique):
    token = cloud.demo().get_token()
    server_id, _ = active_server(cloud, token, server_image, unique)
    missing = action(cloud, token, server_id, {"rebuild": {"imageRef": "8d8b2f7c-0000-4000-8000-000000000000"}})
    assert "could not be found" in fault(missing, "badRequest", 400)
    assert "imageRef" in fault(action(cloud, token, server_id, {"rebuild": {}}), "badRequest", 400)
    body = {"rebuild": {"imageRef": server_image, "description": "x"}}
    described = cloud.request("POST", f"{BASE}/servers/{server_id}/action", token, json=body, headers=version("2.18"))
    assert "2.19" in fault(described, "badRequest", 400)
    server = show(cloud, token, server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", None)


@pytest.mark.one_database  # a CLI walk-through: the same requests on either database
def test_the_openstack_cli_resizes_confirms_and_rebuilds(cloud, server_image, unique):
    server_id = create_server(cloud, cloud.demo().get_token(), server_image, unique)["id"]
    wait_for_status(cloud, cloud.demo().get_token(), server_id, "ACTIVE")
    cloud.openstack("stratus", "server", "resize", "--flavor", "m1.small", "--wait", server_id)
    assert cli_json(cloud, "stratus", "server", "show", server_id)["status"] == "VERIFY_RESIZE"
    cloud.openstack("stratus", "server", "resize", "confirm", server_id)
    server = wait_for_status(cloud, cloud.demo().get_token(), server_id, "ACTIVE")
    assert server["flavor"]["id"] == "2"
    cloud.openstack("stratus", "server", "rebuild", "--image", server_image, "--wait", server_id)
    shown = cli_json(cloud, "stratus", "server", "show", server_id)
    assert shown["status"] == "ACTIVE"
