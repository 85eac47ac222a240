"""Volumes through openstacksdk, the ``openstack`` CLI and raw HTTP: create, list, show, update, metadata,
extend, bootable, upload to an image, delete; wrong states are Cinder's 400 with a message."""

from __future__ import annotations

import openstack
import pytest

from tests.functional.volume.api_support import (
    available_volume,
    block_storage,
    call,
    cli_json,
    fault,
    sdk,
    wait_for_status,
    wait_until_gone,
)
from tests.harness import wait_until

__all__ = ["block_storage"]
pytestmark = pytest.mark.usefixtures("block_storage")


def test_sdk_volume_lifecycle(cloud, unique):
    conn = sdk(cloud)
    bs = conn.block_storage
    volume = bs.create_volume(size=1, name=unique, description="made by the sdk", metadata={"team": "blue"})
    volume = bs.wait_for_status(volume, "available", failures=["error"], interval=0.2, wait=60)
    assert (volume.size, volume.is_bootable, volume.volume_type) == (1, False, "__DEFAULT__")
    assert volume.metadata == {"team": "blue"} and volume.consumes_quota is True
    assert [v.id for v in bs.volumes(name=unique)] == [volume.id]

    bs.update_volume(volume, name=f"{unique}-renamed", description="renamed")
    assert bs.get_volume(volume).name == f"{unique}-renamed"
    bs.set_volume_metadata(volume, colour="green")
    assert bs.get_volume_metadata(volume).metadata == {"team": "blue", "colour": "green"}
    bs.delete_volume_metadata(volume, keys=["team"])
    assert bs.get_volume(volume).metadata == {"colour": "green"}

    bs.extend_volume(volume, 2)
    grown = bs.wait_for_status(bs.get_volume(volume), "available", failures=["error_extending"], wait=60)
    assert grown.size == 2
    bs.set_volume_bootable_status(volume, True)
    assert bs.get_volume(volume).is_bootable is True

    bs.delete_volume(volume)
    bs.wait_for_delete(volume, interval=0.2, wait=60)
    with pytest.raises(openstack.exceptions.NotFoundException):
        bs.get_volume(volume.id)


def test_cli_volume_create_list_show_set_delete(cloud, unique):
    made = cli_json(cloud, "stratus", "volume", "create", "--size", "1", "--property", "a=b", unique)
    assert made["name"] == unique and made["size"] == 1
    token = cloud.demo().get_token()
    wait_for_status(cloud, token, made["id"], "available")
    listed = cli_json(cloud, "stratus", "volume", "list", "--name", unique)
    assert [(v["ID"], v["Status"], v["Size"]) for v in listed] == [(made["id"], "available", 1)]
    cloud.openstack("stratus", "volume", "set", "--name", f"{unique}-2", "--property", "c=d", "--size", "3",
                    "--bootable", made["id"])  # fmt: skip
    shown = wait_for_status(cloud, token, made["id"], "available")
    assert shown["size"] == 3 and shown["bootable"] == "true"
    cli = cli_json(cloud, "stratus", "volume", "show", made["id"])
    assert cli["name"] == f"{unique}-2" and cli["properties"] == {"a": "b", "c": "d"}
    cloud.openstack("stratus", "volume", "delete", made["id"])
    wait_until_gone(cloud, token, f"/volumes/{made['id']}")


def test_listing_filters_sorts_and_pages(cloud, unique):
    token = cloud.demo().get_token()
    made = [available_volume(cloud, token, f"{unique}-{i}", metadata={"batch": unique}) for i in range(3)]
    ids = [v["id"] for v in made]
    listed = call(cloud, "GET", f"/volumes/detail?metadata={{'batch': '{unique}'}}&sort=name:asc", token, "3.70")
    assert [v["id"] for v in listed.json()["volumes"]] == ids
    first = call(cloud, "GET", f"/volumes?name~={unique}&sort=name:asc&limit=2", token, "3.70").json()
    assert [v["id"] for v in first["volumes"]] == ids[:2]
    (link,) = first["volumes_links"]
    rest = cloud.request("GET", link["href"].removeprefix(cloud.url), token,
                         headers={"OpenStack-API-Version": "volume 3.70"}).json()  # fmt: skip
    assert [v["id"] for v in rest["volumes"]] == ids[2:]
    unknown = call(cloud, "GET", "/volumes?colour=blue", token, "3.70")
    assert "Invalid filters colour" in fault(unknown, "badRequest", 400)
    assert call(cloud, "GET", "/volumes?colour=blue", token, "3.30").status_code == 200  # ignored before 3.31
    marker = call(cloud, "GET", "/volumes?marker=00000000-0000-0000-0000-000000000000", token)
    fault(marker, "itemNotFound", 404)
    summary = call(cloud, "GET", "/volumes/summary", token, "3.36").json()["volume-summary"]
    assert summary["total_count"] >= 3 and unique in summary["metadata"]["batch"]


def test_wrong_states_are_400_with_cinder_s_message(cloud, unique):
    token = cloud.demo().get_token()
    volume = available_volume(cloud, token, unique, size=2)
    smaller = call(cloud, "POST", f"/volumes/{volume['id']}/action", token, json={"os-extend": {"new_size": 1}})
    assert "must be greater than current size" in fault(smaller, "badRequest", 400)
    snap = call(cloud, "POST", "/snapshots", token, json={"snapshot": {"volume_id": volume["id"], "name": unique}})
    assert snap.status_code == 202, snap.text
    snapshot_path = f"/snapshots/{snap.json()['snapshot']['id']}"
    wait_until(
        lambda: call(cloud, "GET", snapshot_path, token).json()["snapshot"]["status"],
        60,
        message="the snapshot never became available",
        until=lambda status: status == "available",
    )
    with_snapshot = call(cloud, "DELETE", f"/volumes/{volume['id']}", token)
    assert "have snapshots" in fault(with_snapshot, "badRequest", 400)
    reset = call(cloud, "POST", f"/volumes/{volume['id']}/action", token,
                 json={"os-reset_status": {"status": "error"}})  # fmt: skip
    fault(reset, "forbidden", 403)
    unknown = call(cloud, "POST", f"/volumes/{volume['id']}/action", token, json={"os-fly": {}})
    assert fault(unknown, "badRequest", 400) == "There is no such action: os-fly"
    cascade = call(cloud, "DELETE", f"/volumes/{volume['id']}?cascade=true", token)
    assert cascade.status_code == 202, cascade.text
    wait_until_gone(cloud, token, f"/volumes/{volume['id']}")


def test_upload_to_image_makes_an_image_of_the_volume(cloud, unique):
    token = cloud.demo().get_token()
    volume = available_volume(cloud, token, unique)
    body = {"os-volume_upload_image": {"image_name": unique, "disk_format": "qcow2", "visibility": "private"}}
    response = call(cloud, "POST", f"/volumes/{volume['id']}/action", token, "3.1", json=body)
    assert response.status_code == 202, response.text
    uploaded = response.json()["os-volume_upload_image"]
    assert uploaded["status"] == "uploading" and uploaded["disk_format"] == "qcow2"
    assert uploaded["volume_type"]["name"] == "__DEFAULT__" and uploaded["visibility"] == "private"
    wait_for_status(cloud, token, volume["id"], "available")
    image = cloud.request("GET", f"/image/v2/images/{uploaded['image_id']}", token).json()
    assert image["name"] == unique and image["status"] in ("active", "saving", "queued")
    public = {"os-volume_upload_image": {"image_name": unique, "visibility": "public"}}
    refused = call(cloud, "POST", f"/volumes/{volume['id']}/action", token, "3.1", json=public)
    fault(refused, "forbidden", 403)
