"""A snapshot of a volume attached to a running server, on the file backend (fake hosts, real qemu-img): QEMU's
image lock forbids the volume service an internal snapshot of a qcow2 a guest holds, so the server's host copies
the disk into ``snapshot-<id>.qcow2`` beside the volume and the snapshot goes ``creating`` -> ``available``; a
volume made from it holds what the volume held at that moment. A copy the host cannot make ends the snapshot in
``error`` with the host's reason in the server's action, and leaves no file. Through the ``openstack`` CLI (the
issue's own ``volume snapshot create --force``) and openstacksdk."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.compute import cli_json, sdk
from tests.functional.compute.conftest import create_server, wait_for_status
from tests.functional.compute.test_volume_attachments import attach, make_volume, volume_quota, wait_volume
from tests.harness import wait_until

__all__ = ["volume_quota"]  # the module fixture that lifts the demo project's volume quota

MiB = 1 << 20


def volume_dir(cloud) -> Path:
    return cloud.server.state_dir / "volumes"


def write(path: Path, byte: int) -> None:
    """Write 1 MiB of ``byte`` at the start of a volume file (a fake guest holds no lock on it)."""
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"write -P {byte} 0 1M", str(path)], check=True, capture_output=True
    )


def holds(path: Path, byte: int) -> bool:
    result = subprocess.run(
        ["qemu-io", "-r", "-f", "qcow2", "-c", f"read -P {byte} 0 1M", str(path)], capture_output=True, text=True
    )
    assert "read 1048576/1048576" in result.stdout, result.stdout + result.stderr
    return "Pattern verification failed" not in result.stdout


def snapshot_of(cloud, token: str, snapshot_id: str) -> dict[str, Any]:
    response = cloud.request("GET", f"/volume/v3/snapshots/{snapshot_id}", token)
    assert response.status_code == 200, response.text
    return response.json()["snapshot"]


def wait_snapshot(cloud, token: str, snapshot_id: str, status: str) -> dict[str, Any]:
    return wait_until(
        lambda: snapshot_of(cloud, token, snapshot_id),
        30,
        interval=0.1,
        message=f"snapshot {snapshot_id} never became {status}",
        until=lambda found: found["status"] in (status, "error"),
    )


def files_named_after(directory: Path, snapshot_id: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if snapshot_id in p.name)


@pytest.fixture
def attached(cloud, server_image: str, unique: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """A running server of the demo project with a 1 GiB file volume in use on it."""
    token = cloud.demo().get_token()
    server = create_server(cloud, token, server_image, f"snap-{unique}")
    wait_for_status(cloud, token, server["id"], "ACTIVE")
    made = make_volume(cloud, token, f"snap-{unique}")
    assert attach(cloud, token, server["id"], made["id"]).status_code == 200
    yield server, wait_volume(cloud, token, made["id"], "in-use")
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", token)


def test_cli_snapshot_of_an_in_use_volume_is_the_hosts_copy_at_that_moment(cloud, attached, unique):
    server, volume = attached
    token = cloud.demo().get_token()
    volume_file = volume_dir(cloud) / f"volume-{volume['id']}.qcow2"
    write(volume_file, 0xA1)
    # At 3.65, the highest openstacksdk's snapshot speaks: this client sends --force only below 3.66 (where Cinder
    # needs it for an in-use volume), yet without a version it omits it and the SDK still speaks 3.65.
    made = cli_json(cloud, "stratus", "--os-volume-api-version", "3.65", "volume", "snapshot", "create", "--force",
                    "--volume", volume["id"], f"s1-{unique}")  # fmt: skip
    assert made["status"] == "creating"
    assert wait_snapshot(cloud, token, made["id"], "available")["status"] == "available"
    write(volume_file, 0xB2)  # after the snapshot: not in it

    copy = volume_dir(cloud) / f"snapshot-{made['id']}.qcow2"
    assert files_named_after(volume_dir(cloud), made["id"]) == [copy.name]
    assert wait_volume(cloud, token, volume["id"], "in-use")["status"] == "in-use"
    events = [a.action for a in sdk(cloud).compute.server_actions(server["id"])]
    assert "snapshot_volume" in events

    restored = make_volume(cloud, token, f"from-s1-{unique}", snapshot_id=made["id"])
    restored_file = volume_dir(cloud) / f"volume-{restored['id']}.qcow2"
    assert holds(restored_file, 0xA1) and not holds(restored_file, 0xB2)
    assert holds(volume_file, 0xB2)

    cloud.openstack("stratus", "volume", "snapshot", "delete", made["id"])
    wait_until(
        lambda: files_named_after(volume_dir(cloud), made["id"]),
        30,
        interval=0.1,
        message="the snapshot's file outlived the snapshot",
        until=lambda names: names == [],
    )
    assert cloud.request("DELETE", f"/volume/v3/volumes/{restored['id']}", token).status_code == 202


def test_sdk_snapshot_the_host_cannot_copy_ends_in_error_with_its_reason_and_leaves_no_file(cloud, attached, unique):
    server, volume = attached
    token = cloud.demo().get_token()
    volume_file = volume_dir(cloud) / f"volume-{volume['id']}.qcow2"
    aside = volume_file.with_name(f"aside-{volume['id']}")
    volume_file.rename(aside)  # the volume's file is gone behind the cloud's back: the host cannot read it
    try:
        demo = sdk(cloud)
        made = demo.block_storage.create_snapshot(volume_id=volume["id"], name=f"s2-{unique}", is_forced=True)
        assert wait_snapshot(cloud, token, made.id, "error")["status"] == "error"
    finally:
        aside.rename(volume_file)
    assert files_named_after(volume_dir(cloud), made.id) == []
    assert wait_volume(cloud, token, volume["id"], "in-use")["status"] == "in-use"

    admin = sdk(cloud, admin=True)
    (action,) = [a for a in admin.compute.server_actions(server["id"]) if a.action == "snapshot_volume"]
    (event,) = admin.compute.get_server_action(action.request_id, server["id"]).events
    assert (event.event, event.result) == ("compute_snapshot_volume", "Error")
    assert "volume file does not exist" in event.traceback, event

    demo.block_storage.delete_snapshot(made.id)
    wait_until(
        lambda: cloud.request("GET", f"/volume/v3/snapshots/{made.id}", token).status_code,
        30,
        interval=0.1,
        message="the failed snapshot was not deleted",
        until=lambda code: code == 404,
    )
