"""Volume types (with extra specs and access) and snapshots through the ``openstack`` CLI and openstacksdk."""

from __future__ import annotations

import pytest

from tests.functional.volume.api_support import (
    available_volume,
    block_storage,
    call,
    cli_json,
    fault,
    sdk,
    wait_until_gone,
)

__all__ = ["block_storage"]
pytestmark = pytest.mark.usefixtures("block_storage")


def test_cli_volume_type_create_list_set_delete(cloud, unique):
    made = cli_json(cloud, "stratus-admin", "volume", "type", "create", "--property", "volume_backend_name=file",
                    "--description", "cli type", "--private", unique)  # fmt: skip
    assert made["name"] == unique and made["is_public"] is False
    listed = cli_json(cloud, "stratus-admin", "volume", "type", "list", "--long")
    assert unique in [t["Name"] for t in listed]
    cloud.openstack("stratus-admin", "volume", "type", "set", "--name", f"{unique}-2", "--description", "renamed",
                    "--property", "tier=gold", "--project", "demo", made["id"])  # fmt: skip
    shown = cli_json(cloud, "stratus-admin", "volume", "type", "show", made["id"])
    assert shown["name"] == f"{unique}-2" and shown["properties"] == {"volume_backend_name": "file", "tier": "gold"}
    assert cli_json(cloud, "stratus", "volume", "type", "show", made["id"])["name"] == f"{unique}-2"
    cloud.openstack("stratus-admin", "volume", "type", "unset", "--property", "tier", made["id"])
    cloud.openstack("stratus-admin", "volume", "type", "delete", made["id"])
    token = cloud.admin_token()
    fault(call(cloud, "GET", f"/types/{made['id']}", token), "itemNotFound", 404)


def test_type_in_use_and_default_type_cannot_be_deleted(cloud, unique):
    admin = cloud.admin_token()
    made = call(cloud, "POST", "/types", admin, json={"volume_type": {"name": unique}}).json()["volume_type"]
    volume = available_volume(cloud, cloud.demo().get_token(), unique, volume_type=unique)
    assert volume["volume_type"] == unique
    fault(call(cloud, "DELETE", f"/types/{made['id']}", admin), "badRequest", 400)
    default = call(cloud, "GET", "/types/default", admin).json()["volume_type"]
    fault(call(cloud, "DELETE", f"/types/{default['id']}", admin), "badRequest", 400)
    taken = call(cloud, "POST", "/types", admin, json={"volume_type": {"name": unique}})
    fault(taken, "conflictingRequest", 409)


def test_cli_snapshot_create_list_set_delete(cloud, unique):
    token = cloud.demo().get_token()
    volume = available_volume(cloud, token, unique)
    made = cli_json(cloud, "stratus", "volume", "snapshot", "create", "--volume", volume["id"], "--property", "a=b",
                    unique)  # fmt: skip
    conn = sdk(cloud)
    snapshot = conn.block_storage.wait_for_status(conn.block_storage.get_snapshot(made["id"]), "available", wait=60)
    assert snapshot.volume_id == volume["id"] and snapshot.size == 1
    listed = cli_json(cloud, "stratus", "volume", "snapshot", "list", "--name", unique)
    assert [s["ID"] for s in listed] == [made["id"]]
    cloud.openstack("stratus", "volume", "snapshot", "set", "--name", f"{unique}-2", "--property", "c=d", made["id"])
    shown = cli_json(cloud, "stratus", "volume", "snapshot", "show", made["id"])
    assert shown["name"] == f"{unique}-2" and shown["properties"] == {"a": "b", "c": "d"}
    from_snapshot = available_volume(cloud, token, f"{unique}-copy", snapshot_id=made["id"])
    assert from_snapshot["snapshot_id"] == made["id"]
    cloud.openstack("stratus", "volume", "snapshot", "delete", made["id"])
    wait_until_gone(cloud, token, f"/snapshots/{made['id']}")


def test_snapshot_of_an_in_use_volume_needs_force_before_3_66(cloud, unique):
    token = cloud.demo().get_token()
    volume = available_volume(cloud, token, unique)
    admin = cloud.admin_token()
    reset = {"os-reset_status": {"status": "in-use"}}
    assert call(cloud, "POST", f"/volumes/{volume['id']}/action", admin, json=reset).status_code == 202
    body = {"snapshot": {"volume_id": volume["id"], "name": unique}}
    fault(call(cloud, "POST", "/snapshots", token, "3.65", json=body), "badRequest", 400)
    refused = call(cloud, "POST", "/snapshots", token, "3.66", json={"snapshot": {**body["snapshot"], "force": False}})
    fault(refused, "badRequest", 400)
    made = call(cloud, "POST", "/snapshots", token, "3.66", json=body)
    assert made.status_code == 202, made.text
