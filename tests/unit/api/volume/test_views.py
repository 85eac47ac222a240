"""The Block Storage API's views are Cinder's, field for field, at each microversion and for each role."""

from __future__ import annotations

from tests.unit.api.volume.conftest import VolumeApi

BASE_FIELDS = {
    "attachments", "availability_zone", "bootable", "consistencygroup_id", "created_at", "description",
    "encrypted", "id", "links", "metadata", "multiattach", "name", "replication_status", "size", "snapshot_id",
    "source_volid", "status", "updated_at", "user_id", "volume_type",
}  # fmt: skip
ADMIN_EXTENSIONS = {
    "os-vol-host-attr:host", "os-vol-mig-status-attr:migstat", "os-vol-mig-status-attr:name_id",
    "os-vol-tenant-attr:tenant_id", "migration_status",
}  # fmt: skip


def test_a_volume_at_3_0_has_cinder_s_base_fields_and_bootable_as_a_string(volume_api: VolumeApi):
    cloud = volume_api.cloud
    created = volume_api.create(cloud.demo_token, name="view-base", metadata={"k": "v"})
    assert set(created) == BASE_FIELDS
    shown = volume_api.call("GET", f"/volumes/{created['id']}", cloud.demo_token).json["volume"]
    assert set(shown) == BASE_FIELDS
    assert shown["bootable"] == "false" and shown["encrypted"] is False and shown["metadata"] == {"k": "v"}
    assert shown["volume_type"] == "__DEFAULT__" and shown["attachments"] == []
    assert [link["rel"] for link in shown["links"]] == ["self", "bookmark"]
    assert "/volume/v3/" in shown["links"][0]["href"] and "/volume/v3/" not in shown["links"][1]["href"]


def test_a_volume_at_3_70_has_every_later_field(volume_api: VolumeApi):
    cloud = volume_api.cloud
    created = volume_api.create(cloud.demo_token, "3.70", name="view-latest")
    later = {"group_id", "shared_targets", "service_uuid", "volume_type_id", "consumes_quota"}
    assert set(created) == BASE_FIELDS | later
    assert created["consumes_quota"] is True and created["shared_targets"] is False
    as_admin = volume_api.call("GET", f"/volumes/{created['id']}", cloud.admin_token, "3.70").json["volume"]
    assert set(as_admin) == BASE_FIELDS | later | ADMIN_EXTENSIONS | {"provider_id", "cluster_name"}
    assert (
        as_admin["os-vol-tenant-attr:tenant_id"]
        == volume_api.call("GET", f"/volumes/{created['id']}", cloud.admin_token, "3.70").json["volume"][
            "os-vol-tenant-attr:tenant_id"
        ]
    )


def test_listings_summary_and_detail(volume_api: VolumeApi):
    cloud = volume_api.cloud
    created = volume_api.create(cloud.demo_token, name="view-listed")
    summary = volume_api.call("GET", "/volumes?name=view-listed", cloud.demo_token).json["volumes"]
    assert summary == [{"id": created["id"], "name": "view-listed", "links": created["links"]}]
    detail = volume_api.call("GET", "/volumes/detail?name=view-listed", cloud.demo_token, "3.45").json
    assert [v["id"] for v in detail["volumes"]] == [created["id"]] and "count" not in detail
    counted = volume_api.call("GET", "/volumes/detail?name=view-listed&with_count=true", cloud.demo_token, "3.45")
    assert counted.json["count"] == 1


def test_a_snapshot_and_a_type_as_cinder_shows_them(volume_api: VolumeApi):
    cloud = volume_api.cloud
    volume = volume_api.create(cloud.demo_token, name="view-snapshot-source")
    types = volume_api.call("GET", "/types", cloud.demo_token).json["volume_types"]
    default = next(t for t in types if t["name"] == "__DEFAULT__")
    assert set(default) == {"id", "name", "description", "is_public", "os-volume-type-access:is_public"}
    as_admin = volume_api.call("GET", f"/types/{default['id']}", cloud.admin_token).json["volume_type"]
    assert as_admin["extra_specs"] == {"volume_backend_name": "file"} and as_admin["qos_specs_id"] is None
    # A snapshot needs an available volume: the in-process cloud runs no worker, so an admin sets it.
    reset = {"os-reset_status": {"status": "available"}}
    assert volume_api.call("POST", f"/volumes/{volume['id']}/action", cloud.admin_token, json=reset).status_code == 202
    made = volume_api.call(
        "POST", "/snapshots", cloud.demo_token, "3.65", json={"snapshot": {"volume_id": volume["id"], "name": "s"}}
    )
    assert made.status_code == 202, made.get_data(as_text=True)
    snapshot = made.json["snapshot"]
    assert set(snapshot) == {
        "id", "created_at", "updated_at", "name", "description", "volume_id", "status", "size", "metadata",
        "group_snapshot_id", "user_id", "consumes_quota",
    }  # fmt: skip
    shown = volume_api.call("GET", f"/snapshots/{snapshot['id']}", cloud.demo_token).json["snapshot"]
    assert shown["os-extended-snapshot-attributes:progress"] == "0%" and "user_id" not in shown
