"""``createImage`` of a server booted from a volume, as Nova (Tempest's image/volume/server snapshot dependency):
each volume is snapshotted in the block storage service (``snapshot for <image name>``) and an image with no
data (active, size 0) names the snapshots in its ``block_device_mapping``; the base image may be deleted
afterwards, and a server created from the snapshot image boots from a new volume made from the snapshot. Over
the volume snapshot quota nothing is made. On the shared cloud (fake hosts, file volumes), with one
``openstack server image create --wait``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.compute import cli_json, fault
from tests.functional.compute.conftest import COMPUTE, wait_for_status, wait_until_gone
from tests.functional.compute.test_volume_attachments import (
    attach,
    detach,
    make_volume,
    volume,
    volume_quota,
    wait_volume,
)
from tests.functional.compute.test_volume_snapshots_in_use import wait_snapshot
from tests.harness import wait_until

__all__ = ["volume_quota"]  # the module fixture that lifts the demo project's volume quota

V245 = {"OpenStack-API-Version": "compute 2.45"}


def _raw_image(cloud, token: str, name: str) -> str:
    body = {"name": name, "disk_format": "raw", "container_format": "bare", "visibility": "private"}
    made = cloud.request("POST", "/image/v2/images", token, json=body).json()
    headers = {"Content-Type": "application/octet-stream"}
    cloud.request("PUT", f"/image/v2/images/{made['id']}/file", token, data=b"\0" * 65536, headers=headers)
    return made["id"]


def _boot(cloud, token: str, name: str, **server: Any) -> dict[str, Any]:
    body = {"server": {"name": name, "flavorRef": "1", "networks": "none", **server}}
    response = cloud.request("POST", "/compute/v2.1/servers", token, json=body, headers=COMPUTE)
    assert response.status_code == 202, response.text
    return wait_for_status(cloud, token, response.json()["server"]["id"], "ACTIVE", timeout=60)


def _create_image(cloud, token: str, server_id: str, name: str, **extra: Any):
    body = {"createImage": {"name": name, **extra}}
    return cloud.request("POST", f"/compute/v2.1/servers/{server_id}/action", token, json=body, headers=V245)


def _images_named(cloud, token: str, name: str) -> list[dict[str, Any]]:
    return cloud.request("GET", f"/image/v2/images?name={name}", token).json()["images"]


@pytest.fixture(scope="module")
def booted(cloud, volume_quota) -> Iterator[dict[str, Any]]:
    """A server of the demo project booted from a bootable volume made from a private raw image (Tempest's
    ``volume_backed=True``), with the image's id under ``base_image``."""
    token = cloud.demo().get_token()
    base = _raw_image(cloud, token, "vbs-base")
    root = make_volume(cloud, token, "vbs-root", imageRef=base)
    mapping = {"boot_index": 0, "uuid": root["id"], "source_type": "volume", "destination_type": "volume"}
    server = _boot(cloud, token, "vbs-server", imageRef="", block_device_mapping_v2=[mapping])
    yield {**server, "base_image": base, "root_volume": root["id"]}
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", token)
    wait_until_gone(cloud, token, server["id"])
    cloud.request("DELETE", f"/volume/v3/volumes/{root['id']}?cascade=true", token)


def test_volume_backed_server_image_names_its_volume_snapshot_and_a_server_boots_from_it(cloud, booted, unique):
    token = cloud.demo().get_token()
    name = f"vbs-snap-{unique}"
    answer = _create_image(cloud, token, booted["id"], name, metadata={"purpose": "test"})
    assert answer.status_code == 202, answer.text
    image_id = answer.json()["image_id"]

    image = cloud.request("GET", f"/image/v2/images/{image_id}", token).json()
    assert (image["status"], image["size"], image["disk_format"], image["container_format"]) == (
        "active", 0, "raw", "bare"
    )  # fmt: skip
    assert (image["bdm_v2"], image["root_device_name"], image["purpose"]) == ("True", "/dev/vda", "test")
    assert (image["image_type"], image["instance_uuid"]) == ("snapshot", booted["id"])
    (entry,) = json.loads(image["block_device_mapping"])
    assert {k: entry[k] for k in ("source_type", "destination_type", "boot_index", "volume_size", "device_name")} == {
        "source_type": "snapshot",
        "destination_type": "volume",
        "boot_index": 0,
        "volume_size": 1,
        "device_name": "/dev/vda",
    }
    snapshot = wait_snapshot(cloud, token, entry["snapshot_id"], "available")
    assert (snapshot["status"], snapshot["name"], snapshot["volume_id"]) == (
        "available", f"snapshot for {name}", booted["root_volume"]
    )  # fmt: skip
    assert cloud.request("GET", f"/image/v2/images/{image_id}/file", token).status_code == 204  # no data

    assert cloud.request("DELETE", f"/image/v2/images/{booted['base_image']}", token).status_code == 204
    listed = [i["id"] for i in cloud.request("GET", "/image/v2/images", token).json()["images"]]
    assert image_id in listed and booted["base_image"] not in listed

    again = _boot(cloud, token, f"vbs-again-{unique}", imageRef=image_id)
    assert again["image"] == ""
    (attached,) = again["os-extended-volumes:volumes_attached"]
    made = volume(cloud, token, attached["id"])
    assert attached["id"] != booted["root_volume"]
    assert (made["snapshot_id"], made["size"], made["bootable"], made["status"]) == (
        entry["snapshot_id"], 1, "true", "in-use"
    )  # fmt: skip
    assert cloud.request("DELETE", f"/compute/v2.1/servers/{again['id']}", token).status_code == 204
    wait_until_gone(cloud, token, again["id"])
    if not attached["delete_on_termination"]:
        wait_until(lambda: volume(cloud, token, attached["id"])["status"] == "available", 30, interval=0.1)
        assert cloud.request("DELETE", f"/volume/v3/volumes/{attached['id']}", token).status_code == 202
    assert cloud.request("DELETE", f"/image/v2/images/{image_id}", token).status_code == 204


def test_volume_backed_server_image_over_the_snapshot_quota_makes_nothing(cloud, booted, unique):
    admin = cloud.admin_token()
    token = cloud.demo().get_token()
    project = cloud.request("GET", "/identity/v3/projects?name=demo", admin).json()["projects"][0]["id"]
    quotas = f"/volume/v3/os-quota-sets/{project}"
    before = cloud.request("GET", quotas, admin).json()["quota_set"]["snapshots"]
    assert cloud.request("PUT", quotas, admin, json={"quota_set": {"snapshots": 0}}).ok
    try:
        name = f"vbs-over-{unique}"
        message = fault(_create_image(cloud, token, booted["id"], name), "forbidden", 403)
        assert "snapshots" in message
    finally:
        assert cloud.request("PUT", quotas, admin, json={"quota_set": {"snapshots": before}}).ok
    assert _images_named(cloud, token, name) == []
    snapshots = cloud.request("GET", f"/volume/v3/snapshots?volume_id={booted['root_volume']}", token).json()
    assert [s for s in snapshots["snapshots"] if s["name"] == f"snapshot for {name}"] == []


def test_cli_server_image_create_waits_for_the_volume_backed_servers_image(cloud, booted, unique):
    token = cloud.demo().get_token()
    name = f"vbs-cli-{unique}"
    made = cli_json(cloud, "stratus", "server", "image", "create", "--wait", "--name", name, booted["id"])
    assert (made["name"], made["status"]) == (name, "active")
    image = cloud.request("GET", f"/image/v2/images/{made['id']}", token).json()
    (entry,) = json.loads(image["block_device_mapping"])
    assert wait_snapshot(cloud, token, entry["snapshot_id"], "available")["status"] == "available"
    assert cloud.request("DELETE", f"/image/v2/images/{made['id']}", token).status_code == 204
    assert cloud.request("DELETE", f"/volume/v3/snapshots/{entry['snapshot_id']}", token).status_code == 202


def test_volume_backed_server_with_a_data_volume_images_both_and_its_image_is_not_booted(cloud, booted, unique):
    token = cloud.demo().get_token()
    data = make_volume(cloud, token, f"vbs-data-{unique}")
    assert attach(cloud, token, booted["id"], data["id"]).status_code == 200
    wait_volume(cloud, token, data["id"], "in-use")
    try:
        answer = _create_image(cloud, token, booted["id"], f"vbs-two-{unique}")
        assert answer.status_code == 202, answer.text
        image_id = answer.json()["image_id"]
        image = cloud.request("GET", f"/image/v2/images/{image_id}", token).json()
        root, other = json.loads(image["block_device_mapping"])
        assert (root["boot_index"], other["boot_index"]) == (0, None)
        assert other["device_name"] != "/dev/vda" and root["snapshot_id"] != other["snapshot_id"]
        for entry, source in ((root, booted["root_volume"]), (other, data["id"])):
            snapshot = wait_snapshot(cloud, token, entry["snapshot_id"], "available")
            assert (snapshot["status"], snapshot["volume_id"]) == ("available", source)
        body = {"server": {"name": f"vbs-two-{unique}", "imageRef": image_id, "flavorRef": "1", "networks": "none"}}
        refused = cloud.request("POST", "/compute/v2.1/servers", token, json=body, headers=COMPUTE)
        assert "only the root volume" in fault(refused, "badRequest", 400)
        assert cloud.request("DELETE", f"/image/v2/images/{image_id}", token).status_code == 204
        for entry in (root, other):
            assert cloud.request("DELETE", f"/volume/v3/snapshots/{entry['snapshot_id']}", token).status_code == 202
    finally:
        assert detach(cloud, token, booted["id"], data["id"]).status_code == 202
        wait_volume(cloud, token, data["id"], "available")
        cloud.request("DELETE", f"/volume/v3/volumes/{data['id']}?cascade=true", token)
