"""Shelve / unshelve, rescue / unrescue, lock with a reason and the refusals of each, over real HTTP and the
openstack CLI on fake hosts, on the shared cloud (``shelved_offload_time`` 0: a shelved server leaves its host at
once; ``reclaim_instance_interval`` 0: deletes are immediate). Soft delete and the periodic offload are in
``test_soft_delete``, on a cloud of their own."""

from __future__ import annotations

import pytest

from tests.functional.compute import BASE, cli_json, fault, version, wait_for_hosts
from tests.functional.compute.conftest import action, create_server, show
from tests.functional.compute.conftest import wait_for_status as _wait_for_status
from tests.functional.compute.test_server_networks import network_with_subnet, ports_of
from tests.functional.compute.test_volume_attachments import (  # noqa: F401  (volume_quota: an autouse fixture)
    attach,
    attachments,
    detach,
    make_volume,
    volume_quota,
    wait_volume,
)
from tests.harness import wait_until

pytestmark = [pytest.mark.functional]


def wait_for_status(cloud, token: str, server_id: str, *wanted: str, timeout: float = 90) -> dict:
    """The conftest's bounded wait, with room for a loaded machine (a shelve is a snapshot, a stop and a
    destroy; an unshelve a placement, a bind and a spawn)."""
    return _wait_for_status(cloud, token, server_id, *wanted, timeout=timeout)


def _active(cloud, token: str, image: str, name: str) -> str:
    server_id = create_server(cloud, token, image, name)["id"]
    wait_for_status(cloud, token, server_id, "ACTIVE")
    return server_id


def _admin_view(cloud, server_id: str) -> dict:
    return cloud.request("GET", f"{BASE}/servers/{server_id}", cloud.admin_token()).json()["server"]


def _images_named(cloud, token: str, name: str) -> list[dict]:
    return cloud.request("GET", f"/image/v2/images?name={name}", token).json()["images"]


def _actions(cloud, token: str, server_id: str) -> list[str]:
    listing = cloud.request("GET", f"{BASE}/servers/{server_id}/os-instance-actions", token).json()
    return [entry["action"] for entry in listing["instanceActions"]]


def test_shelve_snapshots_and_offloads_and_unshelve_spawns_again_and_deletes_the_image(cloud, server_image, unique):
    token = cloud.demo().get_token()
    wait_for_hosts(cloud, cloud.admin_token())
    server_id = _active(cloud, token, server_image, unique)
    assert action(cloud, token, server_id, {"shelve": None}).status_code == 202
    shelved = wait_for_status(cloud, token, server_id, "SHELVED_OFFLOADED")
    assert shelved["OS-EXT-STS:vm_state"] == "shelved_offloaded" and shelved["OS-EXT-STS:power_state"] == 0
    assert _admin_view(cloud, server_id)["OS-EXT-SRV-ATTR:host"] is None
    (image,) = _images_named(cloud, token, f"{unique}-shelved")
    assert image["status"] == "active" and image["visibility"] == "private"
    assert image["image_type"] == "snapshot" and image["instance_uuid"] == server_id
    assert image["base_image_ref"] == server_image

    assert action(cloud, token, server_id, {"unshelve": None}).status_code == 202
    back = wait_for_status(cloud, token, server_id, "ACTIVE")
    assert back["OS-EXT-STS:power_state"] == 1 and back["image"]["id"] == server_image
    assert _admin_view(cloud, server_id)["OS-EXT-SRV-ATTR:host"]
    wait_until(
        lambda: cloud.request("GET", f"/image/v2/images/{image['id']}", token).status_code,
        20,
        interval=0.1,
        message="the shelved image was not deleted after the unshelve",
        until=lambda status: status == 404,
    )
    assert {"shelve", "unshelve"} <= set(_actions(cloud, token, server_id))
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)


def test_a_server_on_a_network_keeps_its_port_unbound_while_offloaded_and_gets_it_wired_again(
    cloud, server_image, unique
):
    token = cloud.demo().get_token()
    net_id, _ = network_with_subnet(cloud, token, unique, cidr="10.77.0.0/24")
    made = create_server(cloud, token, server_image, unique, networks=[{"uuid": net_id}])
    wait_for_status(cloud, token, made["id"], "ACTIVE")
    (port,) = ports_of(cloud, token, device_id=made["id"])
    assert port["status"] == "ACTIVE"
    assert action(cloud, token, made["id"], {"shelve": None}).status_code == 202
    wait_for_status(cloud, token, made["id"], "SHELVED_OFFLOADED")
    (kept,) = ports_of(cloud, token, device_id=made["id"])  # the same port, address and all, unbound
    assert kept["id"] == port["id"] and kept["fixed_ips"] == port["fixed_ips"]
    admin_port = cloud.request("GET", f"/network/v2.0/ports/{port['id']}", cloud.admin_token()).json()["port"]
    assert admin_port["binding:host_id"] == "" and kept["status"] == "DOWN"
    assert action(cloud, token, made["id"], {"unshelve": None}).status_code == 202
    back = wait_for_status(cloud, token, made["id"], "ACTIVE")
    host = _admin_view(cloud, made["id"])["OS-EXT-SRV-ATTR:host"]
    assert [a["addr"] for a in back["addresses"][unique]] == [ip["ip_address"] for ip in port["fixed_ips"]]
    wait_until(
        lambda: cloud.request("GET", f"/network/v2.0/ports/{port['id']}", cloud.admin_token()).json()["port"],
        30,
        interval=0.1,
        message="the port was not wired on the unshelved server's new host",
        until=lambda p: p["status"] == "ACTIVE" and p["binding:host_id"] == host,
    )
    cloud.request("DELETE", f"{BASE}/servers/{made['id']}", token)


def test_volumes_attach_to_and_detach_from_a_shelved_offloaded_server_and_come_back_with_it(
    cloud, server_image, unique
):
    token = cloud.demo().get_token()
    server_id = _active(cloud, token, server_image, unique)
    assert action(cloud, token, server_id, {"shelve": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "SHELVED_OFFLOADED")
    made = make_volume(cloud, token, f"data-{unique}")
    response = attach(cloud, token, server_id, made["id"])
    assert response.status_code == 200, response.text
    assert response.json()["volumeAttachment"]["device"] == "/dev/vdb"
    assert wait_volume(cloud, token, made["id"], "in-use")["attachments"][0]["server_id"] == server_id
    assert action(cloud, token, server_id, {"unshelve": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "ACTIVE")
    (listed,) = attachments(cloud, token, server_id).json()["volumeAttachments"]
    assert listed["volumeId"] == made["id"] and listed["device"] == "/dev/vdb"
    assert action(cloud, token, server_id, {"shelve": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "SHELVED_OFFLOADED")
    assert detach(cloud, token, server_id, made["id"]).status_code == 202
    wait_volume(cloud, token, made["id"], "available")
    assert attachments(cloud, token, server_id).json()["volumeAttachments"] == []
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)


def test_a_paused_server_shelves(cloud, server_image, unique):
    token = cloud.demo().get_token()
    server_id = _active(cloud, token, server_image, unique)
    assert action(cloud, token, server_id, {"pause": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "PAUSED")
    assert action(cloud, token, server_id, {"shelve": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "SHELVED_OFFLOADED")
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)


def test_shelve_and_unshelve_requests_that_cannot_be_done_are_refused(cloud, server_image, unique):
    token = cloud.demo().get_token()
    missing = "6b3f4a62-4f2f-4c2e-9d4f-0b8d6f7a1e11"
    fault(action(cloud, token, missing, {"shelve": None}), "itemNotFound", 404)
    fault(action(cloud, token, missing, {"unshelve": None}), "itemNotFound", 404)
    server_id = _active(cloud, token, server_image, unique)
    fault(action(cloud, token, server_id, {"unshelve": None}), "conflictingRequest", 409)  # not shelved
    for hostile in ({"junk": 1}, "now", 5, ["x"]):
        fault(action(cloud, token, server_id, {"shelve": hostile}), "badRequest", 400)
    fault(action(cloud, token, server_id, {"shelveOffload": None}), "forbidden", 403)  # admins only, as Nova
    assert show(cloud, token, server_id)["status"] == "ACTIVE"
    assert not _images_named(cloud, token, f"{unique}-shelved")  # no half-made image

    assert action(cloud, token, server_id, {"shelve": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "SHELVED_OFFLOADED")
    fault(action(cloud, token, server_id, {"shelve": None}), "conflictingRequest", 409)
    fault(action(cloud, token, server_id, {"os-start": None}), "conflictingRequest", 409)
    fault(action(cloud, token, server_id, {"rescue": None}), "conflictingRequest", 409)
    assert len(_images_named(cloud, token, f"{unique}-shelved")) == 1
    # 2.77's availability zone is not taken at 2.37: the body is ignored, as Nova ignores it below 2.77
    assert action(cloud, token, server_id, {"unshelve": {"availability_zone": "nowhere"}}).status_code == 202
    wait_for_status(cloud, token, server_id, "ACTIVE")
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)


def test_unshelve_into_an_availability_zone_from_2_77(cloud, server_image, unique):
    token = cloud.demo().get_token()
    if not _supports(cloud, token, "2.77"):
        pytest.skip("this cloud's compute API does not offer microversion 2.77 yet")
    server_id = _active(cloud, token, server_image, unique)
    assert action(cloud, token, server_id, {"shelve": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "SHELVED_OFFLOADED")
    url, v277 = f"{BASE}/servers/{server_id}/action", version("2.77")
    for hostile in ({"availability_zone": 5}, {"availability_zone": ""}, {"host": "x"}, {"availability_zone": None}):
        fault(cloud.request("POST", url, token, json={"unshelve": hostile}, headers=v277), "badRequest", 400)
    missing = {"unshelve": {"availability_zone": "no-such-zone"}}
    fault(cloud.request("POST", url, token, json=missing, headers=v277), "badRequest", 400)
    assert show(cloud, token, server_id)["status"] == "SHELVED_OFFLOADED"
    zone = {"unshelve": {"availability_zone": "nova"}}
    assert cloud.request("POST", url, token, json=zone, headers=v277).status_code == 202
    assert wait_for_status(cloud, token, server_id, "ACTIVE")["OS-EXT-AZ:availability_zone"] == "nova"
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)


def test_a_locked_server_cannot_be_shelved_or_rescued_by_its_user(cloud, server_image, unique):
    token = cloud.demo().get_token()
    server_id = _active(cloud, token, server_image, unique)
    assert action(cloud, token, server_id, {"lock": None}).status_code == 202
    fault(action(cloud, token, server_id, {"shelve": None}), "conflictingRequest", 409)
    fault(action(cloud, token, server_id, {"rescue": None}), "conflictingRequest", 409)
    assert action(cloud, token, server_id, {"unlock": None}).status_code == 202
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)


def test_rescue_boots_the_rescue_image_and_unrescue_brings_the_server_back(cloud, server_image, unique):
    token = cloud.demo().get_token()
    server_id = _active(cloud, token, server_image, unique)
    response = action(cloud, token, server_id, {"rescue": {"adminPass": "s3cret-Pass"}})
    assert response.status_code == 200 and response.json() == {"adminPass": "s3cret-Pass"}
    rescued = wait_for_status(cloud, token, server_id, "RESCUE")
    assert rescued["OS-EXT-STS:vm_state"] == "rescued" and rescued["OS-EXT-STS:power_state"] == 1
    fault(action(cloud, token, server_id, {"reboot": {"type": "HARD"}}), "conflictingRequest", 409)
    fault(action(cloud, token, server_id, {"rescue": None}), "conflictingRequest", 409)
    fault(action(cloud, token, server_id, {"rebuild": {"imageRef": server_image}}), "conflictingRequest", 409)
    assert action(cloud, token, server_id, {"unrescue": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "ACTIVE")
    fault(action(cloud, token, server_id, {"unrescue": None}), "conflictingRequest", 409)
    # a password is made up when none is given; the server's own image, or another one, boots the rescue
    made = action(cloud, token, server_id, {"rescue": {"rescue_image_ref": server_image}})
    assert made.status_code == 200 and len(made.json()["adminPass"]) >= 8
    wait_for_status(cloud, token, server_id, "RESCUE")
    assert action(cloud, token, server_id, {"unrescue": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "ACTIVE")
    assert {"rescue", "unrescue"} <= set(_actions(cloud, token, server_id))
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)


def test_rescue_requests_that_cannot_be_done_are_refused_and_change_nothing(cloud, server_image, unique):
    token = cloud.demo().get_token()
    fault(action(cloud, token, "6b3f4a62-4f2f-4c2e-9d4f-0b8d6f7a1e12", {"rescue": None}), "itemNotFound", 404)
    server_id = _active(cloud, token, server_image, unique)
    for hostile in ({"junk": 1}, {"adminPass": 5}, {"rescue_image_ref": ""}, "x", [1]):
        fault(action(cloud, token, server_id, {"rescue": hostile}), "badRequest", 400)
    missing_image = {"rescue_image_ref": "6b3f4a62-4f2f-4c2e-9d4f-0b8d6f7a1e13"}
    fault(action(cloud, token, server_id, {"rescue": missing_image}), "badRequest", 400)
    assert action(cloud, token, server_id, {"pause": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "PAUSED")
    fault(action(cloud, token, server_id, {"rescue": None}), "conflictingRequest", 409)  # Nova: not paused
    assert show(cloud, token, server_id)["status"] == "PAUSED"
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)


def test_restore_and_force_delete_of_servers_that_are_not_soft_deleted(cloud, server_image, unique):
    token = cloud.demo().get_token()
    missing = "6b3f4a62-4f2f-4c2e-9d4f-0b8d6f7a1e14"
    fault(action(cloud, token, missing, {"restore": None}), "itemNotFound", 404)
    fault(action(cloud, token, missing, {"forceDelete": None}), "itemNotFound", 404)
    server_id = _active(cloud, token, server_image, unique)
    fault(action(cloud, token, server_id, {"restore": None}), "conflictingRequest", 409)
    fault(action(cloud, token, server_id, {"restore": {"junk": 1}}), "badRequest", 400)
    # with reclaim_instance_interval 0 a delete is immediate, and forceDelete deletes whatever the state
    assert cloud.request("DELETE", f"{BASE}/servers/{server_id}", token).status_code == 204
    wait_until(
        lambda: cloud.request("GET", f"{BASE}/servers/{server_id}", token).status_code,
        30,
        interval=0.05,
        message="the server was not deleted",
        until=lambda status: status == 404,
    )
    other = _active(cloud, token, server_image, unique + "-b")
    assert action(cloud, token, other, {"forceDelete": None}).status_code == 202
    wait_until(
        lambda: cloud.request("GET", f"{BASE}/servers/{other}", token).status_code,
        30,
        interval=0.05,
        message="the server was not force-deleted",
        until=lambda status: status == 404,
    )


def _supports(cloud, token: str, microversion: str) -> bool:
    return cloud.request("GET", f"{BASE}/servers", token, headers=version(microversion)).status_code == 200


def test_lock_with_a_reason_is_shown_and_filtered_from_2_73(cloud, server_image, unique):
    token = cloud.demo().get_token()
    if not _supports(cloud, token, "2.73"):
        pytest.skip("this cloud's compute API does not offer microversion 2.73 yet")
    v273 = version("2.73")
    server_id = _active(cloud, token, server_image, unique)
    url = f"{BASE}/servers/{server_id}/action"
    for hostile in ({"locked_reason": ""}, {"locked_reason": "x" * 256}, {"locked_reason": 5}, {"other": "x"},
                    {"locked_reason": "bad\u0007bell"}, "why"):  # fmt: skip
        fault(cloud.request("POST", url, token, json={"lock": hostile}, headers=v273), "badRequest", 400)
    assert cloud.request("POST", url, token, json={"lock": {"locked_reason": "maintenance"}}, headers=v273).ok
    shown = cloud.request("GET", f"{BASE}/servers/{server_id}", token, headers=v273).json()["server"]
    assert shown["locked"] is True and shown["locked_reason"] == "maintenance"
    older = cloud.request("GET", f"{BASE}/servers/{server_id}", token, headers=version("2.72")).json()["server"]
    assert "locked_reason" not in older
    listed = cloud.request("GET", f"{BASE}/servers/detail?locked=true", token, headers=v273).json()["servers"]
    assert server_id in {s["id"] for s in listed}
    unlocked = cloud.request("GET", f"{BASE}/servers?locked=false", token, headers=v273).json()["servers"]
    assert server_id not in {s["id"] for s in unlocked}
    fault(cloud.request("GET", f"{BASE}/servers?locked=maybe", token, headers=v273), "badRequest", 400)
    assert cloud.request("POST", url, token, json={"unlock": None}, headers=v273).ok
    shown = cloud.request("GET", f"{BASE}/servers/{server_id}", token, headers=v273).json()["server"]
    assert shown["locked"] is False and shown["locked_reason"] is None
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)


def test_the_openstack_cli_shelves_unshelves_rescues_and_locks(cloud, server_image, unique):
    token = cloud.demo().get_token()
    server_id = _active(cloud, token, server_image, unique)
    cloud.openstack("stratus", "server", "shelve", "--offload", "--wait", server_id)
    assert cli_json(cloud, "stratus", "server", "show", server_id)["status"] == "SHELVED_OFFLOADED"
    cloud.openstack("stratus", "server", "unshelve", "--wait", server_id)
    assert cli_json(cloud, "stratus", "server", "show", server_id)["status"] == "ACTIVE"
    cloud.openstack("stratus", "server", "shelve", server_id)
    wait_for_status(cloud, token, server_id, "SHELVED_OFFLOADED")
    cloud.openstack("stratus", "server", "unshelve", server_id)
    wait_for_status(cloud, token, server_id, "ACTIVE")

    cloud.openstack("stratus", "server", "rescue", "--image", server_image, server_id)
    wait_for_status(cloud, token, server_id, "RESCUE")
    cloud.openstack("stratus", "server", "unrescue", server_id)
    wait_for_status(cloud, token, server_id, "ACTIVE")

    if _supports(cloud, token, "2.73"):
        cloud.openstack("stratus", "--os-compute-api-version", "2.73", "server", "lock", "--reason", "audit", server_id)
        shown = cli_json(cloud, "stratus", "--os-compute-api-version", "2.73", "server", "show", server_id)
        assert shown["locked"] is True and shown["locked_reason"] == "audit"
        cloud.openstack("stratus", "server", "unlock", server_id)
    else:
        cloud.openstack("stratus", "server", "lock", server_id)
        assert _admin_view(cloud, server_id)["id"] == server_id
        cloud.openstack("stratus", "server", "unlock", server_id)
    cloud.openstack("stratus", "server", "delete", "--wait", server_id)
