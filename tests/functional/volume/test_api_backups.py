"""Volume backups through openstacksdk, the ``openstack`` CLI and raw HTTP on the file backend: full and incremental
backups copy what the volume holds (written with ``qemu-io`` as a guest would) and a restore brings it back, into
the same volume or a new one; wrong states are Cinder's 400 with a message, quotas its 413, other projects' backups
its 404, and a failed backup puts its volume back in the status it had."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import openstack
import pytest

from tests.functional.conftest import CloudClient
from tests.functional.volume.api_support import (
    available_volume,
    block_storage,
    call,
    cli_json,
    fault,
    member_of_new_project,
    project_id,
    sdk,
    show,
    wait_for_status,
    wait_until_gone,
)
from tests.harness import wait_until

__all__ = ["block_storage"]
pytestmark = pytest.mark.usefixtures("block_storage", "backup_quotas_lifted")

CHUNKS_PER_MIB = 16
"""The backup store keeps 64 KiB chunks: one MiB written is 16 of them."""


@pytest.fixture(scope="module")
def backup_quotas_lifted(cloud: CloudClient) -> None:
    """This module makes more than Cinder's default ten backups in the demo project."""
    admin = cloud.admin_token()
    lifted = {"quota_set": {"backups": -1, "backup_gigabytes": -1}}
    response = call(cloud, "PUT", f"/os-quota-sets/{project_id(cloud, admin, 'demo')}", admin, json=lifted)
    assert response.status_code == 200, response.text


def show_backup(cloud: CloudClient, token: str, backup_id: str) -> dict[str, Any]:
    response = call(cloud, "GET", f"/backups/{backup_id}", token, "3.70")
    assert response.status_code == 200, response.text
    return response.json()["backup"]


def wait_for_backup(cloud: CloudClient, token: str, backup_id: str, *wanted: str, timeout: float = 60) -> dict:
    return wait_until(
        lambda: show_backup(cloud, token, backup_id),
        timeout,
        interval=0.1,
        message=f"backup {backup_id} never became {'/'.join(wanted)}",
        until=lambda backup: backup["status"] in wanted,
    )


def create_backup(cloud: CloudClient, token: str, volume_id: str, **fields: Any) -> Any:
    return call(cloud, "POST", "/backups", token, "3.70", json={"backup": {"volume_id": volume_id, **fields}})


def available_backup(cloud: CloudClient, token: str, volume_id: str, **fields: Any) -> dict[str, Any]:
    made = create_backup(cloud, token, volume_id, **fields)
    assert made.status_code == 202, made.text
    backup = wait_for_backup(cloud, token, made.json()["backup"]["id"], "available", "error")
    assert backup["status"] == "available", backup["fail_reason"]
    return backup


def volume_file(cloud: CloudClient, volume_id: str) -> Path:
    """The file backend's qcow2 file of a volume, in the cloud's state directory."""
    return cloud.server.state_dir / "volumes" / f"volume-{volume_id}.qcow2"


def write(cloud: CloudClient, volume_id: str, pattern: int, offset_mib: int, mib: int = 1) -> None:
    """Write into a detached volume as a guest would: through QEMU's block layer, which keeps the qcow2 file's
    dirty bitmaps (the backups' change tracking) current."""
    command = f"write -P {pattern} {offset_mib}M {mib}M"
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, str(volume_file(cloud, volume_id))], check=True,
                   capture_output=True, timeout=60)  # fmt: skip


def same_data(cloud: CloudClient, one: str, other: str) -> bool:
    compared = subprocess.run(
        ["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", str(volume_file(cloud, one)),
         str(volume_file(cloud, other))], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert compared.returncode in (0, 1), compared.stderr
    return compared.returncode == 0


def test_sdk_full_and_incremental_backups_restore_the_volume_s_data(cloud, unique):
    token = cloud.demo().get_token()
    bs = sdk(cloud).block_storage
    volume = available_volume(cloud, token, unique)
    write(cloud, volume["id"], 0xAB, 0)
    full = bs.create_backup(volume_id=volume["id"], name=f"{unique}-full", description="first", metadata={"k": "v"})
    full = bs.wait_for_status(full, "available", failures=["error"], interval=0.2, wait=60)
    assert (full.size, full.is_incremental, full.object_count, full.metadata) == (1, False, CHUNKS_PER_MIB, {"k": "v"})
    assert full.volume_id == volume["id"] and full.data_timestamp and full.project_id is None  # not an admin
    assert show(cloud, token, volume["id"])["status"] == "available"

    write(cloud, volume["id"], 0xCD, 4)
    child = bs.create_backup(volume_id=volume["id"], name=f"{unique}-incr", is_incremental=True)
    child = bs.wait_for_status(child, "available", failures=["error"], interval=0.2, wait=60)
    assert child.is_incremental is True and child.object_count == CHUNKS_PER_MIB  # only the changed MiB
    assert bs.get_backup(full).has_dependent_backups is True
    assert {b.id for b in bs.backups(volume_id=volume["id"])} == {full.id, child.id}

    with pytest.raises(openstack.exceptions.BadRequestException, match="Incremental backups exist for this backup"):
        bs.delete_backup(full)
    bs.update_backup(child, name=f"{unique}-renamed")
    assert bs.get_backup(child).name == f"{unique}-renamed"

    restored = bs.restore_backup(child, name=f"{unique}-restored")
    target = wait_for_status(cloud, token, restored.volume_id, "available", "error")
    assert (target["status"], target["name"], target["size"]) == ("available", f"{unique}-restored", 1)
    assert same_data(cloud, volume["id"], target["id"])
    assert bs.get_backup(child).status == "available"

    bs.delete_backup(child)
    bs.wait_for_delete(child, interval=0.2, wait=60)
    bs.delete_backup(full)
    bs.wait_for_delete(full, interval=0.2, wait=60)
    assert not list(bs.backups(volume_id=volume["id"]))


def test_cli_backup_create_list_show_set_restore_delete(cloud, unique):
    token = cloud.demo().get_token()
    volume = available_volume(cloud, token, unique)
    write(cloud, volume["id"], 0x11, 0)
    made = cli_json(cloud, "stratus", "volume", "backup", "create", "--name", unique, volume["id"])
    assert made["name"] == unique
    wait_for_backup(cloud, token, made["id"], "available")
    listed = cli_json(cloud, "stratus", "volume", "backup", "list", "--long", "--volume", volume["id"])
    assert [(b["ID"], b["Status"], b["Size"], b["Incremental"], b["Volume"]) for b in listed] == [
        (made["id"], "available", 1, False, volume["id"])
    ]
    cloud.openstack("stratus", "--os-volume-api-version", "3.43", "volume", "backup", "set",
                    "--name", f"{unique}-2", "--description", "renamed", "--property", "a=b", made["id"])  # fmt: skip
    shown = cli_json(cloud, "stratus", "--os-volume-api-version", "3.64", "volume", "backup", "show", f"{unique}-2")
    assert (shown["id"], shown["description"], shown["metadata"]) == (made["id"], "renamed", {"a": "b"})
    assert shown["status"] == "available" and shown["has_dependent_backups"] is False

    snapshot = call(cloud, "POST", "/snapshots", token, json={"snapshot": {"volume_id": volume["id"]}})
    snapshot_id = snapshot.json()["snapshot"]["id"]
    wait_until(lambda: call(cloud, "GET", f"/snapshots/{snapshot_id}", token).json()["snapshot"]["status"], 60,
               message="the snapshot never became available", until=lambda status: status == "available")  # fmt: skip
    of_snapshot = cli_json(cloud, "stratus", "volume", "backup", "create", "--incremental", "--snapshot",
                           snapshot_id, "--name", f"{unique}-snap", volume["id"])  # fmt: skip
    from_snapshot = wait_for_backup(cloud, token, of_snapshot["id"], "available")
    assert from_snapshot["snapshot_id"] == snapshot_id and from_snapshot["is_incremental"] is True
    assert show(cloud, token, volume["id"])["status"] == "available"

    write(cloud, volume["id"], 0x22, 0)  # the volume changes; a restore brings the backed-up data back
    copy = cli_json(cloud, "stratus", "volume", "backup", "restore", made["id"], f"{unique}-copy")
    restored_copy = wait_for_status(cloud, token, copy["volume_id"], "available", "error")
    assert restored_copy["status"] == "available" and copy["volume_name"] == f"{unique}-copy"
    assert not same_data(cloud, volume["id"], copy["volume_id"])
    cli_json(cloud, "stratus", "volume", "backup", "restore", "--force", made["id"], volume["id"])
    assert wait_for_status(cloud, token, volume["id"], "available", "error")["status"] == "available"
    assert same_data(cloud, volume["id"], copy["volume_id"])

    cloud.openstack("stratus", "volume", "backup", "delete", of_snapshot["id"])
    wait_until_gone(cloud, token, f"/backups/{of_snapshot['id']}")
    call(cloud, "POST", f"/backups/{made['id']}/action", cloud.admin_token(),
         json={"os-reset_status": {"status": "error"}})  # fmt: skip
    cloud.openstack("stratus-admin", "volume", "backup", "delete", "--force", made["id"])
    wait_until_gone(cloud, token, f"/backups/{made['id']}")


def test_in_use_volumes_need_force_and_go_back_to_in_use(cloud, unique):
    token = cloud.demo().get_token()
    bs = sdk(cloud).block_storage
    volume = available_volume(cloud, token, unique)
    attachment = bs.create_attachment(volume["id"], instance="00000000-0000-4000-8000-00000000beef")
    reserved = create_backup(cloud, token, volume["id"], force=True)
    assert "current status is: reserved" in fault(reserved, "badRequest", 400)
    bs.update_attachment(attachment, connector={"host": "fake-host-1", "initiator": "iqn.2026-01.test:client"})
    bs.complete_attachment(attachment)
    assert show(cloud, token, volume["id"])["status"] == "in-use"
    refused = create_backup(cloud, token, volume["id"])
    assert "in-use" in fault(refused, "badRequest", 400)
    forced = cli_json(cloud, "stratus", "volume", "backup", "create", "--force", volume["id"])
    assert wait_for_backup(cloud, token, forced["id"], "available", "error")["status"] == "available"
    assert show(cloud, token, volume["id"])["status"] == "in-use"
    into_in_use = call(cloud, "POST", f"/backups/{forced['id']}/restore", token,
                       json={"restore": {"volume_id": volume["id"]}})  # fmt: skip
    assert "must be available" in fault(into_in_use, "badRequest", 400)
    bs.delete_attachment(attachment)


def test_wrong_states_are_cinder_s_400(cloud, unique):
    token, admin = cloud.demo().get_token(), cloud.admin_token()
    volume = available_volume(cloud, token, unique, size=2)
    no_full = create_backup(cloud, token, volume["id"], incremental=True)
    assert fault(no_full, "badRequest", 400) == "Invalid backup: No backups available to do an incremental backup."
    backup = available_backup(cloud, token, volume["id"])
    small = available_volume(cloud, token, f"{unique}-small", size=1)
    too_small = call(cloud, "POST", f"/backups/{backup['id']}/restore", token,
                     json={"restore": {"volume_id": small["id"]}})  # fmt: skip
    assert "too small" in fault(too_small, "badRequest", 400)
    assert show(cloud, token, small["id"])["status"] == "available"
    assert show_backup(cloud, token, backup["id"])["status"] == "available"
    reset = call(cloud, "POST", f"/backups/{backup['id']}/action", admin, json={"os-reset_status": {"status": "error"}})
    assert reset.status_code == 202, reset.text
    errored = call(cloud, "POST", f"/backups/{backup['id']}/restore", token, json={"restore": None})
    assert "Backup status must be available" in fault(errored, "badRequest", 400)
    refused = call(cloud, "POST", f"/backups/{backup['id']}/action", token,
                   json={"os-reset_status": {"status": "available"}})  # fmt: skip
    fault(refused, "forbidden", 403)
    unknown = call(cloud, "POST", f"/backups/{backup['id']}/action", admin, json={"os-reset_status": {"status": "x"}})
    assert fault(unknown, "badRequest", 400) == "Must specify a valid status"
    assert call(cloud, "DELETE", f"/backups/{backup['id']}", token).status_code == 202  # error backups may go
    wait_until_gone(cloud, token, f"/backups/{backup['id']}")


def test_a_failed_backup_is_error_and_its_volume_goes_back(cloud, unique):
    token = cloud.demo().get_token()
    volume = available_volume(cloud, token, unique)
    volume_file(cloud, volume["id"]).unlink()  # the data vanishes under the volume service
    made = create_backup(cloud, token, volume["id"])
    assert made.status_code == 202, made.text
    failed = wait_for_backup(cloud, token, made.json()["backup"]["id"], "available", "error")
    assert failed["status"] == "error" and failed["fail_reason"]
    assert show(cloud, token, volume["id"])["status"] == "available"
    assert call(cloud, "DELETE", f"/backups/{failed['id']}", token).status_code == 202
    wait_until_gone(cloud, token, f"/backups/{failed['id']}")


def test_quotas_and_other_projects(cloud, unique):
    member, project = member_of_new_project(cloud, unique)
    admin = cloud.admin_token()
    limits = {"quota_set": {"backups": 1, "backup_gigabytes": 2}}
    assert call(cloud, "PUT", f"/os-quota-sets/{project}", admin, json=limits).status_code == 200
    small, big = available_volume(cloud, member, f"{unique}-1"), available_volume(cloud, member, f"{unique}-3", 3)
    too_big = create_backup(cloud, member, big["id"])
    assert "exceeds allowed backup_gigabytes quota" in fault(too_big, "overLimit", 413)
    assert show(cloud, member, big["id"])["status"] == "available"
    backup = available_backup(cloud, member, small["id"])
    too_many = create_backup(cloud, member, small["id"])
    assert "Maximum number of backups allowed (1) exceeded" in fault(too_many, "overLimit", 413)
    usage = call(cloud, "GET", f"/os-quota-sets/{project}?usage=true", member).json()["quota_set"]
    assert usage["backups"]["in_use"] == 1 and usage["backup_gigabytes"]["in_use"] == 1

    demo = cloud.demo().get_token()
    message = f"Backup {backup['id']} could not be found."
    for method, path, body in (
        ("GET", f"/backups/{backup['id']}", None),
        ("PUT", f"/backups/{backup['id']}", {"backup": {"name": "stolen"}}),
        ("DELETE", f"/backups/{backup['id']}", None),
        ("POST", f"/backups/{backup['id']}/restore", {"restore": None}),
    ):
        assert fault(call(cloud, method, path, demo, "3.70", json=body), "itemNotFound", 404) == message, path
    theirs = create_backup(cloud, demo, small["id"])
    assert fault(theirs, "itemNotFound", 404) == f"Volume {small['id']} could not be found."
    assert backup["id"] not in [b["id"] for b in call(cloud, "GET", "/backups?all_tenants=1", demo).json()["backups"]]
    everyone = call(cloud, "GET", f"/backups/detail?all_tenants=1&project_id={project}", admin, "3.70").json()
    (seen,) = everyone["backups"]
    assert (seen["id"], seen["os-backup-project-attr:project_id"]) == (backup["id"], project) and seen["user_id"]
    with_project = cloud.request("GET", f"/volume/v3/{project}/backups/{backup['id']}", member)
    assert with_project.status_code == 200 and with_project.json()["backup"]["id"] == backup["id"]
    assert call(cloud, "DELETE", f"/backups/{backup['id']}", member).status_code == 202
    wait_until_gone(cloud, member, f"/backups/{backup['id']}")
    assert available_backup(cloud, member, small["id"])["status"] == "available"  # the quota is free again
