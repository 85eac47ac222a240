"""The Volumes page and the launch dialog's boot sources, server side, through the real API in-process: what a
form sends to the API, what a row offers in each status, every refusal a notice or a message on its field
(never a 500), user strings escaped and kept out of API paths. No worker runs here: a volume stays
``creating`` until the test marks it made, as ``stratus-volume`` would."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from portal.forms import Form
from portal.launch import boot_mapping, check_boot_source
from portal.volume_backups import backup_body, backup_row
from portal.volumes import attachment_text, create_body, server_choices, source_body, volume_row
from tests.unit.in_process import DEMO_PASSWORD
from tests.unit.portal.admin_support import call, make_tenant, token, unique
from volume import types
from volume.models import Volume


def form(**values: str) -> Form:
    return Form("f", MultiDict(values))


def test_source_body_is_empty_an_image_or_a_snapshot_and_nothing_else() -> None:
    assert source_body("") == {}
    assert source_body("image:i-1") == {"imageRef": "i-1"}
    assert source_body("snapshot:s-1") == {"snapshot_id": "s-1"}
    for forged in ("volume:v-1", "image:", "backup:b-1", "i-1"):
        with pytest.raises(ValueError):
            source_body(forged)


def test_create_body_needs_a_size_for_an_empty_volume_only() -> None:
    empty = form(name="v", size="", source="")
    assert create_body(empty) is None and empty.errors == {"size": "An empty volume needs a size."}
    assert create_body(form(name="v", size="", source="image:i-1")) == {"volume": {"name": "v", "imageRef": "i-1"}}
    typed = create_body(form(name="v", size="3", source="snapshot:s-1", volume_type="file"))
    assert typed == {"volume": {"name": "v", "snapshot_id": "s-1", "size": 3, "volume_type": "file"}}
    bad = form(name="", size="0", source="volume:x")
    assert create_body(bad) is None and bad.errors["source"] == "Choose a source from the list."
    worse = form(name="", size="zero", source="")
    assert create_body(worse) is None
    assert worse.errors == {"name": "This field is required.", "size": "Enter a whole number."}


def test_attachment_text_names_the_instance_and_its_device() -> None:
    volume = {"attachments": [{"server_id": "s1", "device": "/dev/vdb"}, {"server_id": "s2", "device": None}]}
    assert attachment_text(volume, {"s1": "web-1"}) == "web-1 on /dev/vdb, s2"
    assert attachment_text({"attachments": []}, {}) == ""


def test_only_settled_active_or_shutoff_instances_are_offered_for_attach() -> None:
    servers = [
        {"id": "a", "name": "b-active", "status": "ACTIVE"},
        {"id": "b", "name": "a-off", "status": "SHUTOFF"},
        {"id": "c", "name": "building", "status": "BUILD"},
        {"id": "d", "name": "stopping", "status": "ACTIVE", "OS-EXT-STS:task_state": "powering-off"},
        {"id": "e", "name": "paused", "status": "PAUSED"},
    ]
    assert server_choices(servers) == [("b", "a-off"), ("a", "b-active")]


def test_a_volume_row_polls_only_while_its_status_is_changing(portal_app: Flask) -> None:
    with portal_app.test_request_context("/volumes"):
        creating = volume_row({"id": "v1", "status": "creating", "bootable": "false"}, {})
        settled = volume_row({"id": "v1", "name": "data", "status": "in-use", "bootable": "true", "size": 2}, {})
    assert creating["changing"] and creating["name"] == "v1"
    assert not settled["changing"] and settled["bootable"] and settled["url"] == "/volumes/v1"


def test_backup_body_is_full_or_incremental_and_nothing_else() -> None:
    assert backup_body("v1", "nightly", "full") == {
        "backup": {"volume_id": "v1", "name": "nightly", "incremental": False}
    }
    assert backup_body("v1", "", "incremental") == {"backup": {"volume_id": "v1", "name": None, "incremental": True}}
    with pytest.raises(ValueError):
        backup_body("v1", "x", "differential")


def test_a_backup_row_says_its_kind_and_polls_while_it_changes(portal_app: Flask) -> None:
    backup = {"id": "b1", "volume_id": "v1", "status": "restoring", "is_incremental": True, "size": 1}
    with portal_app.test_request_context("/volumes"):
        row = backup_row(backup | {"created_at": "2026-12-01T10:00:00.123456"}, {"v1": "data"})
    assert row["kind"] == "incremental" and row["changing"] and row["volume"] == "data" and row["name"] == "b1"
    assert row["created"] == "2026-12-01 10:00:00" and row["url"] == "/volumes/backups/b1"


def test_boot_mapping_for_each_boot_source() -> None:
    assert boot_mapping(form(boot_source="image", image="i-1"), None) == []
    on_volume = boot_mapping(form(boot_source="volume", volume="v-1", delete_on_termination="1"), None)
    assert on_volume == [
        {
            "boot_index": 0,
            "destination_type": "volume",
            "delete_on_termination": True,
            "source_type": "volume",
            "uuid": "v-1",
        }
    ]
    new = boot_mapping(form(boot_source="new-volume", image="i-1"), 4)
    assert new == [
        {
            "boot_index": 0,
            "destination_type": "volume",
            "delete_on_termination": False,
            "source_type": "image",
            "uuid": "i-1",
            "volume_size": 4,
        }
    ]


def test_each_boot_source_says_what_it_still_needs() -> None:
    on_volume = form(boot_source="volume")
    check_boot_source(on_volume)
    assert on_volume.errors == {"volume": "This field is required."}
    new = form(boot_source="new-volume", image="i-1")
    assert check_boot_source(new) is None and new.errors == {"volume_size": "This field is required."}
    sized = form(boot_source="new-volume", image="i-1", volume_size="2")
    assert check_boot_source(sized) == 2 and sized.ok
    forged = form(boot_source="network")
    check_boot_source(forged)
    assert forged.errors == {"boot_source": "Choose a boot source from the list."}


# --- server side, through the in-process API -------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_types(portal_app: Flask) -> Iterator[None]:
    runtime = portal_app.extensions["stratus"]
    with runtime.db.session() as session:
        types.ensure_types(session, runtime.settings)
    yield


@pytest.fixture
def volumes(demo: tuple[FlaskClient, str], with_types: None) -> tuple[FlaskClient, str]:
    return demo


def made(app: Flask, name: str) -> str:
    """Mark the volume named ``name`` made (``available``), as the volume service would; returns its id."""
    with app.extensions["stratus"].db.session() as session:
        volume = session.query(Volume).filter(Volume.name == name, Volume.deleted.is_(False)).one()
        volume.status, volume.location = "available", f"volume-{volume.id}.qcow2"
        return volume.id


def row_of(html: str, volume_id: str) -> str:
    found = re.search(rf'<tr id="volume-{volume_id}".*?</tr>', html, re.S)
    assert found, html
    return found.group(0)


def notice_of(client: FlaskClient) -> str:
    found = re.search(r'<p class="(?:notice|error notice-error)" role="\w+">([^<]*)</p>', client.get("/volumes").text)
    return found.group(1) if found else ""


def test_create_extend_snapshot_and_delete_a_volume(volumes: tuple[FlaskClient, str], portal_app: Flask) -> None:
    client, csrf = volumes
    name = unique("<b>data")
    created = client.post("/volumes", data={"csrf_token": csrf, "name": name, "size": "1", "source": ""})
    assert created.status_code == 303, created.text
    page = client.get("/volumes").text
    assert "<b>data" not in page and "&lt;b&gt;data" in page  # the name is text, never markup
    with portal_app.extensions["stratus"].db.session() as session:
        volume_id = session.query(Volume.id).filter(Volume.name == name).scalar()
    creating = row_of(page, volume_id)
    assert 'data-status="creating"' in creating and f'hx-get="/volumes/{volume_id}/row"' in creating
    assert "Attach" not in creating  # nothing to do to a volume being made

    made_id = made(portal_app, name)
    row = row_of(client.get(f"/volumes/{volume_id}/row").text, made_id)
    assert "hx-get" not in row and "Attach" in row and "Extend" in row and f"/volumes/{volume_id}/delete" in row

    refused = client.post(f"/volumes/{volume_id}/extend", data={"csrf_token": csrf, "new_size": "abc"})
    assert refused.status_code == 303 and notice_of(client) == "New size: Enter a whole number."
    smaller = client.post(f"/volumes/{volume_id}/extend", data={"csrf_token": csrf, "new_size": "1"})
    assert smaller.status_code == 303 and "size" in notice_of(client).lower()  # Cinder's 400, in its words
    extended = client.post(f"/volumes/{volume_id}/extend", data={"csrf_token": csrf, "new_size": "2"})
    assert extended.status_code == 303 and notice_of(client) == "The volume is being extended to 2 GB."
    assert 'data-status="extending"' in row_of(client.get("/volumes").text, volume_id)

    made(portal_app, name)
    snap = client.post(f"/volumes/{volume_id}/snapshot", data={"csrf_token": csrf, "name": f"{name}-snap"})
    assert snap.status_code == 303 and "is being created" in notice_of(client)
    page = client.get("/volumes").text
    assert re.search(r'<tr id="snapshot-[^"]+" data-status="creating" hx-get="/volumes/snapshots/', page), page

    confirm = client.get(f"/volumes/{volume_id}/delete").text
    assert "Delete volume &lt;b&gt;data" in confirm
    deleted = client.post(f"/volumes/{volume_id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303 and notice_of(client) != "The volume is being deleted."  # it has a snapshot


def test_create_refusals_are_messages_on_their_fields(volumes: tuple[FlaskClient, str]) -> None:
    client, csrf = volumes
    no_size = client.post("/volumes", data={"csrf_token": csrf, "name": "v", "size": "", "source": ""})
    assert no_size.status_code == 400 and 'id="volume-size-error"' in no_size.text
    no_type = client.post("/volumes", data={"csrf_token": csrf, "name": "v", "size": "1", "volume_type": "<i>gold</i>"})
    assert no_type.status_code == 400 and 'id="volume-volume_type-error"' in no_type.text
    assert "<i>gold</i>" not in no_type.text
    no_image = client.post("/volumes", data={"csrf_token": csrf, "name": "v", "source": "image:no-such-image"})
    assert no_image.status_code == 400 and 'id="volume-source-error"' in no_image.text


def test_row_actions_on_what_is_not_there_are_notices_never_errors(volumes: tuple[FlaskClient, str]) -> None:
    client, csrf = volumes
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/volumes/{missing}/row").text == ""  # a deleted volume's row goes away
    for action, data in (
        ("detach", {}),
        ("extend", {"new_size": "5"}),
        ("snapshot", {"name": "s"}),
        ("attach", {"server": "../../../identity/v3/users"}),
    ):
        response = client.post(f"/volumes/{missing}/{action}", data={"csrf_token": csrf, **data})
        assert response.status_code == 303, (action, response.text)
        assert re.search(r'class="error notice-error"', client.get("/volumes").text), action
    unsigned = client.post(f"/volumes/{missing}/extend", data={"new_size": "5"})
    assert unsigned.status_code == 403  # no CSRF token, no action


def test_another_projects_volume_is_neither_listed_nor_acted_on(
    volumes: tuple[FlaskClient, str], portal_app: Flask
) -> None:
    client, csrf = volumes
    other = make_tenant(client)
    hidden = unique("hidden")
    body = {"volume": {"name": hidden, "size": 1}}
    theirs = call(client, "POST", "/volume/v3/volumes", other.token(client), json=body)["volume"]
    made(portal_app, hidden)
    assert hidden not in client.get("/volumes").text
    assert client.get(f"/volumes/{theirs['id']}/delete").status_code == 404
    client.post(f"/volumes/{theirs['id']}/extend", data={"csrf_token": csrf, "new_size": "3"})
    admin = token(client, "admin", "admin-secret", "admin")
    shown = call(client, "GET", f"/volume/v3/volumes/{theirs['id']}", admin)["volume"]
    assert shown["size"] == 1 and shown["status"] == "available"


def test_backups_of_a_volume_and_their_refusals(volumes: tuple[FlaskClient, str], portal_app: Flask) -> None:
    client, csrf = volumes
    name = unique("kept")
    client.post("/volumes", data={"csrf_token": csrf, "name": name, "size": "1"})
    volume_id = made(portal_app, name)
    assert "Back up" in row_of(client.get("/volumes").text, volume_id)
    first = client.post(f"/volumes/{volume_id}/backup", data={"csrf_token": csrf, "name": "", "kind": "incremental"})
    assert first.status_code == 303 and "No backups available to do an incremental backup." in notice_of(client)
    forged = client.post(f"/volumes/{volume_id}/backup", data={"csrf_token": csrf, "name": "x", "kind": "<i>"})
    assert forged.status_code == 303 and notice_of(client) == "Choose a full or an incremental backup."
    full = client.post(f"/volumes/{volume_id}/backup", data={"csrf_token": csrf, "name": "<b>nightly", "kind": "full"})
    assert full.status_code == 303 and notice_of(client) == "A full backup &lt;b&gt;nightly is being made."
    page = client.get("/volumes").text
    backup = re.search(r'<tr id="backup-([^"]+)" data-status="creating" hx-get="/volumes/backups/', page)
    assert backup, page
    assert 'data-status="backing-up"' in row_of(page, volume_id)  # the volume is busy while it is copied
    backup_id = backup.group(1)
    restore = client.post(f"/volumes/backups/{backup_id}/restore", data={"csrf_token": csrf, "name": "again"})
    assert restore.status_code == 303 and "Backup status must be available" in notice_of(client)
    assert "Delete backup &lt;b&gt;nightly?" in client.get(f"/volumes/backups/{backup_id}/delete").text
    assert client.get("/volumes/backups/no-such-backup/row").text == ""


def test_launch_from_a_volume_needs_one_before_the_api(volumes: tuple[FlaskClient, str]) -> None:
    client, csrf = volumes
    member = token(client, "demo", DEMO_PASSWORD, "demo")
    flavor = call(client, "GET", "/compute/v2.1/flavors", member)["flavors"][0]["id"]
    data = {"csrf_token": csrf, "name": "vm", "flavor": flavor, "count": "1"}
    on_volume = client.post("/instances/launch", data={**data, "boot_source": "volume"})
    assert on_volume.status_code == 400 and 'id="launch-volume-error"' in on_volume.text
    forged = client.post("/instances/launch", data={**data, "boot_source": "volume", "volume": "no-such-volume"})
    assert forged.status_code == 400 and 'id="launch-volume-error"' in forged.text, forged.text
    page = client.get("/instances/launch").text
    assert 'name="boot_source"' in page and 'id="launch-delete_on_termination"' in page
