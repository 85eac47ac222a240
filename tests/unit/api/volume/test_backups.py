"""``/backups`` in-process: Cinder's shapes at each microversion and for each role, its schemas' 400s, its
version gates, the admins' actions, and the states a request may start from. No worker runs here: a test puts a
backup where the worker would have (``finish``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.unit.api.conftest import _token
from tests.unit.api.volume.conftest import VolumeApi
from volume.models import Volume, VolumeBackup

DETAIL = {
    "id", "name", "description", "status", "availability_zone", "container", "created_at", "updated_at",
    "volume_id", "snapshot_id", "size", "object_count", "is_incremental", "has_dependent_backups", "fail_reason",
    "data_timestamp", "links",
}  # fmt: skip
LIFTED = {"volumes": -1, "gigabytes": -1, "backups": -1, "backup_gigabytes": -1}
PASSWORD = "backups-secret"


@dataclass
class Api:
    """The in-process Block Storage API as the member of a project of these tests' own (the session's other
    modules count volumes in the member project against its quota) and as the admin."""

    volumes: VolumeApi
    member: str
    admin: str

    def call(self, method: str, path: str, token: str | None = None, version: str | None = None, **kw: Any) -> Any:
        return self.volumes.call(method, path, token or self.member, version, **kw)


@pytest.fixture(scope="module")
def api(volume_api: Api) -> Api:
    cloud, client = volume_api.cloud, volume_api.cloud.client()
    admin = {"X-Auth-Token": cloud.admin_token}
    project = client.post("/identity/v3/projects", json={"project": {"name": "backups"}}, headers=admin).json
    project_id = project["project"]["id"]
    user = {"user": {"name": "backups", "password": PASSWORD, "default_project_id": project_id}}
    user_id = client.post("/identity/v3/users", json=user, headers=admin).json["user"]["id"]
    role = client.get("/identity/v3/roles?name=member", headers=admin).json["roles"][0]["id"]
    client.put(f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role}", headers=admin)
    lifted = volume_api.call("PUT", f"/os-quota-sets/{project_id}", cloud.admin_token, json={"quota_set": LIFTED})
    assert lifted.status_code == 200, lifted.get_data(as_text=True)
    return Api(volume_api, _token(cloud.app, "backups", PASSWORD), cloud.admin_token)


def _set(api: Api, model: type, record_id: str, **values: Any) -> None:
    with api.volumes.cloud.app.extensions["stratus"].db.session() as session:
        record = session.get(model, record_id)
        for name, value in values.items():
            setattr(record, name, value)


def finish(api: Api, backup_id: str, volume_id: str | None = None) -> None:
    """What ``stratus-volume`` does when a backup is made: the backup ``available``, its volume back."""
    _set(api, VolumeBackup, backup_id, status="available", object_count=3)
    if volume_id:
        _set(api, Volume, volume_id, status="available")


def volume(api: Api, name: str, size: int = 1) -> dict[str, Any]:
    made = api.volumes.create(api.member, name=name, size=size)
    api.volumes.made(made["id"])
    return made


def create(api: Api, version: str | None = None, **fields: Any) -> Any:
    return api.call("POST", "/backups", None, version, json={"backup": fields})


def backup(api: Api, volume_id: str, version: str | None = None, **fields: Any) -> dict[str, Any]:
    response = create(api, version, volume_id=volume_id, **fields)
    assert response.status_code == 202, response.get_data(as_text=True)
    made = response.json["backup"]
    finish(api, made["id"], volume_id)
    return made


def fault(response: Any, name: str, code: int) -> str:
    assert response.status_code == code, response.get_data(as_text=True)
    assert list(response.json) == [name] and response.json[name]["code"] == code, response.json
    return response.json[name]["message"]


def test_create_answers_the_summary_and_show_the_detail_of_3_0(api: Api):
    source = volume(api, "backup-views")
    made = create(api, volume_id=source["id"], name="b1", description="first", container="c1")
    assert made.status_code == 202 and set(made.json["backup"]) == {"id", "links", "name"}
    assert made.json["backup"]["name"] == "b1"
    assert [link["rel"] for link in made.json["backup"]["links"]] == ["self", "bookmark"]
    assert "/volume/v3/" in made.json["backup"]["links"][0]["href"]
    shown = api.call("GET", f"/backups/{made.json['backup']['id']}", api.member).json["backup"]
    assert set(shown) == DETAIL
    assert (shown["status"], shown["volume_id"], shown["size"]) == ("creating", source["id"], 1)
    assert (shown["container"], shown["description"], shown["is_incremental"]) == ("c1", "first", False)
    assert shown["has_dependent_backups"] is False and shown["snapshot_id"] is None
    assert api.call("GET", f"/volumes/{source['id']}", api.member).json["volume"]["status"] == "backing-up"


def test_later_fields_per_microversion_and_role(api: Api):
    source = volume(api, "backup-later-fields")
    made = backup(api, source["id"], "3.43", name="b", metadata={"k": "v"})
    path, member, admin = f"/backups/{made['id']}", api.member, api.admin
    assert set(api.call("GET", path, member, "3.42").json["backup"]) == DETAIL
    assert api.call("GET", path, member, "3.43").json["backup"]["metadata"] == {"k": "v"}
    as_member = api.call("GET", path, member, "3.70").json["backup"]
    assert set(as_member) == DETAIL | {"metadata", "encryption_key_id"} and as_member["encryption_key_id"] is None
    assert set(api.call("GET", path, admin, "3.17").json["backup"]) == DETAIL
    assert set(api.call("GET", path, admin, "3.18").json["backup"]) == DETAIL | {"os-backup-project-attr:project_id"}
    as_admin = api.call("GET", path, admin, "3.70").json["backup"]
    owner = {"os-backup-project-attr:project_id", "user_id"}
    assert set(as_admin) == DETAIL | {"metadata", "encryption_key_id"} | owner
    assert as_admin["os-backup-project-attr:project_id"] == made["links"][0]["href"].split("/")[-3]
    own_only = api.call("GET", f"/backups/detail?volume_id={source['id']}", admin, "3.70").json["backups"]
    assert own_only == []  # without all_tenants an admin lists its own project's
    everyone = api.call("GET", f"/backups/detail?all_tenants=1&volume_id={source['id']}", admin, "3.70")
    assert [set(b) for b in everyone.json["backups"]] == [set(as_admin)]


def test_the_schemas_refuse_what_cinder_s_refuse(api: Api):
    source = volume(api, "backup-schemas")
    for version, fields in (
        (None, {"volume_id": source["id"], "colour": "blue"}),
        (None, {"volume_id": source["id"], "metadata": {"k": "v"}}),  # metadata from 3.43
        ("3.50", {"volume_id": source["id"], "availability_zone": "nova"}),  # the zone from 3.51
        (None, {"volume_id": source["id"], "incremental": "maybe"}),
        (None, {"volume_id": source["id"], "force": 2}),
        (None, {"volume_id": "not-a-uuid"}),
        (None, {"volume_id": source["id"], "snapshot_id": "nope"}),
        (None, {"volume_id": source["id"], "name": "n" * 256}),
        (None, {"volume_id": source["id"], "container": ["c"]}),
        ("3.43", {"volume_id": source["id"], "metadata": {"k": 1}}),
        (None, {}),
    ):
        fault(create(api, version, **fields), "badRequest", 400)
    fault(api.call("POST", "/backups", api.member, json={"backups": {}}), "badRequest", 400)
    fault(create(api, "3.51", volume_id=source["id"], availability_zone="moon"), "badRequest", 400)
    missing = create(api, volume_id="00000000-0000-0000-0000-000000000000")
    assert fault(missing, "itemNotFound", 404) == "Volume 00000000-0000-0000-0000-000000000000 could not be found."
    assert api.call("GET", f"/volumes/{source['id']}", api.member).json["volume"]["status"] == "available"
    zoned = create(api, "3.51", volume_id=source["id"], availability_zone="nova", incremental="false", force=True)
    assert zoned.status_code == 202, zoned.get_data(as_text=True)


def test_update_is_3_9s_and_answers_the_summary(api: Api):
    made = backup(api, volume(api, "backup-update")["id"], name="before")
    path, member = f"/backups/{made['id']}", api.member
    too_early = api.call("PUT", path, member, "3.8", json={"backup": {"name": "x"}})
    assert fault(too_early, "itemNotFound", 404) == "API version 3.8 is not supported on this method."
    renamed = api.call("PUT", path, member, "3.9", json={"backup": {"name": "after", "description": "d"}})
    assert renamed.status_code == 200 and renamed.json == {"backup": {**made, "name": "after"}}
    fault(api.call("PUT", path, member, "3.42", json={"backup": {"metadata": {"k": "v"}}}), "badRequest", 400)
    tagged = api.call("PUT", path, member, "3.43", json={"backup": {"metadata": {"k": "v"}}})
    assert tagged.status_code == 200, tagged.get_data(as_text=True)
    shown = api.call("GET", path, member, "3.43").json["backup"]
    assert (shown["name"], shown["description"], shown["metadata"]) == ("after", "d", {"k": "v"})
    assert api.call("PUT", path, member, "3.9", json={"backup": None}).status_code == 200
    fault(api.call("PUT", path, member, "3.9", json={"backup": {"size": 5}}), "badRequest", 400)


def test_listing_filters_sorts_pages_and_counts(api: Api):
    source = volume(api, "backup-listing")
    made = [backup(api, source["id"], name=f"listed-{i}") for i in range(3)]
    member = api.member
    listed = api.call("GET", f"/backups?volume_id={source['id']}&sort=display_name:asc", member).json["backups"]
    assert listed == made
    by_name = api.call("GET", f"/backups?volume_id={source['id']}&sort=name:desc", member, "3.37").json["backups"]
    assert [b["id"] for b in by_name] == [b["id"] for b in made[::-1]]
    fault(api.call("GET", "/backups?sort=name:asc", member, "3.36"), "badRequest", 400)
    page = api.call("GET", f"/backups?volume_id={source['id']}&sort=display_name:asc&limit=2", member).json
    assert page["backups"] == made[:2] and "marker=" in page["backups_links"][0]["href"]
    rest = api.call("GET", f"/backups?volume_id={source['id']}&sort=display_name:asc&marker={made[1]['id']}", member)
    assert rest.json["backups"] == made[2:]
    counted = api.call("GET", f"/backups/detail?volume_id={source['id']}&with_count=true", member, "3.45").json
    assert counted["count"] == 3 and {b["status"] for b in counted["backups"]} == {"available"}
    assert [b["id"] for b in api.call("GET", "/backups?name=listed-1", member).json["backups"]] == [made[1]["id"]]
    assert api.call("GET", "/backups?status=error&name=listed-1", member).json["backups"] == []
    assert len(api.call("GET", "/backups?name~=listed-", member, "3.34").json["backups"]) == 3
    assert "Invalid filters colour" in fault(api.call("GET", "/backups?colour=1", member, "3.31"), "badRequest", 400)
    assert api.call("GET", "/backups?colour=1", member, "3.30").status_code == 200
    fault(api.call("GET", "/backups?all_tenants=perhaps", member), "badRequest", 400)


def test_both_path_forms_answer_alike(api: Api):
    made = backup(api, volume(api, "backup-paths")["id"], name="paths")
    project = made["links"][0]["href"].split("/")[-3]
    member = api.member
    with_project = api.call("GET", f"/{project}/backups/{made['id']}", member)
    assert with_project.status_code == 200
    assert with_project.json == api.call("GET", f"/backups/{made['id']}", member).json
    assert api.call("GET", f"/{project}/backups/detail", member).status_code == 200


def test_wrong_states_are_cinder_s_400(api: Api):
    source = volume(api, "backup-states", size=2)
    member = api.member
    first = create(api, volume_id=source["id"]).json["backup"]
    busy = create(api, volume_id=source["id"])
    assert "backing-up" in fault(busy, "badRequest", 400)
    fault(api.call("DELETE", f"/backups/{first['id']}", member), "badRequest", 400)
    restore = api.call("POST", f"/backups/{first['id']}/restore", member, json={"restore": None})
    assert "Backup status must be available" in fault(restore, "badRequest", 400)
    finish(api, first["id"], source["id"])
    _set(api, Volume, source["id"], status="in-use")
    in_use = create(api, volume_id=source["id"])
    assert "in-use" in fault(in_use, "badRequest", 400)
    _set(api, Volume, source["id"], status="available")
    small = volume(api, "backup-states-small", size=1)
    too_small = api.call(
        "POST", f"/backups/{first['id']}/restore", member, json={"restore": {"volume_id": small["id"]}}
    )
    fault(too_small, "badRequest", 400)
    child = create(api, volume_id=source["id"], incremental=True).json["backup"]
    finish(api, child["id"], source["id"])
    shown = api.call("GET", f"/backups/{first['id']}", member).json["backup"]
    assert shown["has_dependent_backups"] is True
    assert api.call("GET", f"/backups/{child['id']}", member).json["backup"]["is_incremental"] is True
    parent = api.call("DELETE", f"/backups/{first['id']}", member)
    assert fault(parent, "badRequest", 400) == "Invalid backup: Incremental backups exist for this backup."
    alone = volume(api, "backup-states-alone")
    no_full = create(api, volume_id=alone["id"], incremental=True)
    assert "No backups available to do an incremental backup." in fault(no_full, "badRequest", 400)


def test_restore_answers_cinder_s_shape(api: Api):
    made = backup(api, volume(api, "backup-restore")["id"])
    member = api.member
    into_new = api.call("POST", f"/backups/{made['id']}/restore", member, json={"restore": {"name": "restored"}})
    assert into_new.status_code == 202, into_new.get_data(as_text=True)
    answer = into_new.json["restore"]
    assert set(answer) == {"backup_id", "volume_id", "volume_name"}
    assert (answer["backup_id"], answer["volume_name"]) == (made["id"], "restored")
    target = api.call("GET", f"/volumes/{answer['volume_id']}", member).json["volume"]
    assert (target["status"], target["size"]) == ("restoring-backup", 1)
    assert api.call("GET", f"/backups/{made['id']}", member).json["backup"]["status"] == "restoring"
    fault(api.call("POST", f"/backups/{made['id']}/restore", member, json={"restore": {"size": 1}}), "badRequest", 400)
    fault(api.call("POST", f"/backups/{made['id']}/restore", member, json={}), "badRequest", 400)


def test_admin_actions(api: Api):
    made = backup(api, volume(api, "backup-actions")["id"])
    path, member, admin = f"/backups/{made['id']}/action", api.member, api.admin
    fault(api.call("POST", path, member, json={"os-reset_status": {"status": "error"}}), "forbidden", 403)
    fault(api.call("POST", path, member, json={"os-force_delete": {}}), "forbidden", 403)
    bad = api.call("POST", path, admin, json={"os-reset_status": {"status": "creating"}})
    assert fault(bad, "badRequest", 400) == "Must specify a valid status"
    assert fault(api.call("POST", path, admin, json={"os-fly": {}}), "badRequest", 400) == (
        "There is no such action: os-fly"
    )
    fault(api.call("POST", path, admin, json={"os-force_delete": {"now": True}}), "badRequest", 400)
    assert api.call("POST", path, admin, json={"os-reset_status": {"status": "error"}}).status_code == 202
    assert api.call("GET", f"/backups/{made['id']}", member).json["backup"]["status"] == "error"
    _set(api, VolumeBackup, made["id"], status="creating")
    fault(api.call("DELETE", f"/backups/{made['id']}", member), "badRequest", 400)
    assert api.call("POST", path, admin, json={"os-force_delete": None}).status_code == 202
    assert api.call("GET", f"/backups/{made['id']}", member).json["backup"]["status"] == "deleting"


def test_another_project_s_backup_is_404_everywhere(api: Api):
    made = backup(api, volume(api, "backup-foreign")["id"])
    other = api.volumes.cloud.demo_token
    message = f"Backup {made['id']} could not be found."
    for method, path, body in (
        ("GET", f"/backups/{made['id']}", None),
        ("PUT", f"/backups/{made['id']}", {"backup": {"name": "stolen"}}),
        ("DELETE", f"/backups/{made['id']}", None),
        ("POST", f"/backups/{made['id']}/restore", {"restore": None}),
    ):
        assert fault(api.call(method, path, other, "3.70", json=body), "itemNotFound", 404) == message, path
    assert made["id"] not in [b["id"] for b in api.call("GET", "/backups?all_tenants=1", other).json["backups"]]
    admin_sees = api.call("GET", "/backups?all_tenants=1", api.admin).json["backups"]
    assert made["id"] in [b["id"] for b in admin_sees]


def test_unknown_backups_and_unoffered_records_are_404(api: Api):
    member = api.member
    missing = "00000000-0000-0000-0000-000000000000"
    for method, path in (("GET", f"/backups/{missing}"), ("DELETE", f"/backups/{missing}"),
                         ("GET", f"/backups/{'x' * 5000}"), ("GET", f"/backups/{missing}/export_record"),
                         ("POST", "/backups/import_record")):  # fmt: skip
        fault(api.call(method, path, member, "3.70"), "itemNotFound", 404)
    assert fault(api.call("GET", f"/backups/{missing}", member), "itemNotFound", 404) == (
        f"Backup {missing} could not be found."
    )
