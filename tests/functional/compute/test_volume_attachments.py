"""Nova's os-volume_attachments on the whole cloud (fake hosts, the file volume backend): shapes, states, faults,
a failed attach that leaves nothing behind, detach, a server delete that lets its volumes go, boot from volume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.functional.compute.conftest import COMPUTE, create_server, show, wait_for_status, wait_until_gone
from tests.harness import wait_until


@pytest.fixture(scope="module", autouse=True)
def volume_quota(cloud) -> None:
    """The suites share the demo project: its volumes here go beyond Cinder's default quota of 10."""
    token = cloud.admin_token()
    project = cloud.request("GET", "/identity/v3/projects?name=demo", token).json()["projects"][0]["id"]
    body = {"quota_set": {"volumes": -1, "gigabytes": -1}}
    response = cloud.request("PUT", f"/volume/v3/os-quota-sets/{project}", token, json=body)
    assert response.ok, response.text


def make_volume(cloud, token: str, name: str, size: int = 1, **extra: Any) -> dict[str, Any]:
    response = cloud.request(
        "POST", "/volume/v3/volumes", token, json={"volume": {"name": name, "size": size, **extra}}
    )
    assert response.status_code == 202, response.text
    return wait_volume(cloud, token, response.json()["volume"]["id"], "available")


def volume(cloud, token: str, volume_id: str) -> dict[str, Any]:
    response = cloud.request("GET", f"/volume/v3/volumes/{volume_id}", token)
    assert response.status_code == 200, response.text
    return response.json()["volume"]


def wait_volume(cloud, token: str, volume_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    return wait_until(
        lambda: volume(cloud, token, volume_id),
        timeout,
        interval=0.05,
        message=f"volume {volume_id} never became {status}",
        until=lambda found: found["status"] == status,
    )


def attachments(cloud, token: str, server_id: str):
    return cloud.request("GET", f"/compute/v2.1/servers/{server_id}/os-volume_attachments", token, headers=COMPUTE)


def attach(cloud, token: str, server_id: str, volume_id: str, **extra: Any):
    body = {"volumeAttachment": {"volumeId": volume_id, **extra}}
    path = f"/compute/v2.1/servers/{server_id}/os-volume_attachments"
    return cloud.request("POST", path, token, json=body, headers=COMPUTE)


def detach(cloud, token: str, server_id: str, volume_id: str):
    path = f"/compute/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}"
    return cloud.request("DELETE", path, token, headers=COMPUTE)


@pytest.fixture
def demo(cloud) -> str:
    return cloud.demo().get_token()


@pytest.fixture
def running(cloud, demo: str, server_image: str, unique: str) -> dict[str, Any]:
    server = create_server(cloud, demo, server_image, f"vol-{unique}")
    yield wait_for_status(cloud, demo, server["id"], "ACTIVE")
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo)


def test_attach_show_list_and_detach(cloud, demo: str, running: dict[str, Any], unique: str):
    made = make_volume(cloud, demo, f"data-{unique}")
    response = attach(cloud, demo, running["id"], made["id"])
    assert response.status_code == 200, response.text
    expected = {"id": made["id"], "volumeId": made["id"], "serverId": running["id"], "device": "/dev/vdb"}
    assert response.json() == {"volumeAttachment": expected}
    attached = wait_volume(cloud, demo, made["id"], "in-use")
    assert attached["attachments"][0]["server_id"] == running["id"]
    assert attachments(cloud, demo, running["id"]).json() == {"volumeAttachments": [expected]}
    path = f"/compute/v2.1/servers/{running['id']}/os-volume_attachments/{made['id']}"
    assert cloud.request("GET", path, demo, headers=COMPUTE).json() == {"volumeAttachment": expected}
    server = show(cloud, demo, running["id"])
    assert server["os-extended-volumes:volumes_attached"] == [{"id": made["id"], "delete_on_termination": False}]
    old = cloud.request("GET", f"/compute/v2.1/servers/{running['id']}", demo).json()["server"]  # 2.1
    assert old["os-extended-volumes:volumes_attached"] == [{"id": made["id"]}]

    assert detach(cloud, demo, running["id"], made["id"]).status_code == 202
    wait_volume(cloud, demo, made["id"], "available")
    assert attachments(cloud, demo, running["id"]).json() == {"volumeAttachments": []}
    assert cloud.request("GET", path, demo, headers=COMPUTE).status_code == 404
    assert cloud.request("DELETE", f"/volume/v3/volumes/{made['id']}", demo).status_code == 202


def test_a_second_volume_takes_the_next_device_and_a_named_one_its_own(cloud, demo, running, unique):
    first, second = (make_volume(cloud, demo, f"{n}-{unique}") for n in ("a", "b"))
    assert attach(cloud, demo, running["id"], first["id"], device="/dev/vdd").json()["volumeAttachment"]["device"] == (
        "/dev/vdd"
    )
    assert attach(cloud, demo, running["id"], second["id"]).json()["volumeAttachment"]["device"] == "/dev/vdb"
    for made in (first, second):
        wait_volume(cloud, demo, made["id"], "in-use")


@pytest.mark.parametrize("device", ["vdb", "/dev/vdb/", "/dev/1", "/dev/"])
def test_a_device_name_nova_refuses_is_400(cloud, demo, running, unique, device):
    made = make_volume(cloud, demo, f"dev-{unique}")
    response = attach(cloud, demo, running["id"], made["id"], device=device)
    assert response.status_code == 400, response.text
    assert volume(cloud, demo, made["id"])["status"] == "available"


@pytest.mark.parametrize("device", ["/dev/xvdb", "/dev/sdb", "/dev/vda", "/dev/vdb1"])
def test_a_device_name_nova_accepts_but_libvirt_cannot_honour_gets_the_next_free_virtio_disk(
    cloud, demo, server_image, unique, device
):
    """Tempest's live migration with an attached volume asks for /dev/xvdb: Nova's API takes any name of its
    pattern and its libvirt driver ignores the ones it cannot honour."""
    server = wait_for_status(cloud, demo, create_server(cloud, demo, server_image, f"dev-{unique}")["id"], "ACTIVE")
    made = make_volume(cloud, demo, f"dev-{unique}")
    response = attach(cloud, demo, server["id"], made["id"], device=device)
    assert response.status_code == 200, response.text
    assert response.json()["volumeAttachment"]["device"] == "/dev/vdb"
    wait_volume(cloud, demo, made["id"], "in-use")
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo)


def test_a_volume_in_use_is_400_and_a_device_in_use_too(cloud, demo, running, server_image, unique):
    made, other = make_volume(cloud, demo, f"busy-{unique}"), make_volume(cloud, demo, f"other-{unique}")
    assert attach(cloud, demo, running["id"], made["id"]).status_code == 200
    wait_volume(cloud, demo, made["id"], "in-use")
    second = wait_for_status(cloud, demo, create_server(cloud, demo, server_image, f"two-{unique}")["id"], "ACTIVE")
    response = attach(cloud, demo, second["id"], made["id"])
    assert response.status_code == 400, response.text
    assert response.json()["badRequest"]["message"]
    response = attach(cloud, demo, running["id"], other["id"], device="/dev/vdb")
    assert response.status_code == 400
    assert "in use" in response.json()["badRequest"]["message"]
    assert volume(cloud, demo, other["id"])["status"] == "available"
    cloud.request("DELETE", f"/compute/v2.1/servers/{second['id']}", demo)


def test_another_projects_volume_and_server_are_404(cloud, demo, running, unique):
    admin = cloud.admin_token()
    theirs = make_volume(cloud, admin, f"admins-{unique}")
    response = attach(cloud, demo, running["id"], theirs["id"])
    assert response.status_code == 404, response.text
    assert response.json()["itemNotFound"]["message"] == f"Volume {theirs['id']} could not be found."
    assert attach(cloud, demo, "0" * 8 + "-0000-4000-8000-" + "0" * 12, theirs["id"]).status_code == 404
    assert volume(cloud, admin, theirs["id"])["status"] == "available"


def test_a_stopped_server_takes_a_volume_and_a_locked_one_does_not(cloud, demo, running, unique):
    made = make_volume(cloud, demo, f"stopped-{unique}")
    action = f"/compute/v2.1/servers/{running['id']}/action"
    assert cloud.request("POST", action, demo, json={"os-stop": None}).status_code == 202
    wait_for_status(cloud, demo, running["id"], "SHUTOFF")
    assert attach(cloud, demo, running["id"], made["id"]).status_code == 200
    wait_volume(cloud, demo, made["id"], "in-use")
    assert cloud.request("POST", action, demo, json={"lock": None}).status_code == 202
    response = detach(cloud, demo, running["id"], made["id"])
    assert response.status_code == 409, response.text


def test_a_suspended_server_is_409(cloud, demo, running, unique):
    made = make_volume(cloud, demo, f"susp-{unique}")
    action = f"/compute/v2.1/servers/{running['id']}/action"
    assert cloud.request("POST", action, demo, json={"suspend": None}).status_code == 202
    wait_for_status(cloud, demo, running["id"], "SUSPENDED")
    response = attach(cloud, demo, running["id"], made["id"])
    assert response.status_code == 409, response.text
    assert "suspended" in response.json()["conflictingRequest"]["message"]


def test_a_failed_attach_leaves_the_volume_available_and_no_mapping(cloud, demo, running, unique):
    """The volume's file vanishes behind the cloud's back: the host refuses it, and nothing is left half done."""
    made = make_volume(cloud, demo, f"gone-{unique}")
    files = list(Path(cloud.server.state_dir, "volumes").rglob(f"*{made['id']}*"))
    assert files, "the file backend keeps the volume under <state_dir>/volumes"
    for found in files:
        found.unlink()
    assert attach(cloud, demo, running["id"], made["id"]).status_code == 200
    wait_volume(cloud, demo, made["id"], "available")
    assert attachments(cloud, demo, running["id"]).json() == {"volumeAttachments": []}
    actions = cloud.request("GET", f"/compute/v2.1/servers/{running['id']}/os-instance-actions", demo).json()
    attach_action = next(a for a in actions["instanceActions"] if a["action"] == "attach_volume")
    assert attach_action["message"] == "Error"


def test_deleting_a_server_detaches_its_volumes(cloud, demo, server_image, unique):
    kept, dropped = make_volume(cloud, demo, f"kept-{unique}"), make_volume(cloud, demo, f"drop-{unique}")
    server = wait_for_status(cloud, demo, create_server(cloud, demo, server_image, f"del-{unique}")["id"], "ACTIVE")
    for made in (kept, dropped):
        assert attach(cloud, demo, server["id"], made["id"]).status_code == 200
        wait_volume(cloud, demo, made["id"], "in-use")
    assert cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo).status_code == 204
    wait_until_gone(cloud, demo, server["id"])
    wait_volume(cloud, demo, kept["id"], "available")
    wait_volume(cloud, demo, dropped["id"], "available")


def test_swap_is_for_admins_and_not_supported(cloud, demo, running, unique):
    made = make_volume(cloud, demo, f"swap-{unique}")
    path = f"/compute/v2.1/servers/{running['id']}/os-volume_attachments/{made['id']}"
    body = {"volumeAttachment": {"volumeId": made["id"]}}
    assert cloud.request("PUT", path, demo, json=body, headers=COMPUTE).status_code == 403


def test_boot_from_a_new_volume_and_keep_it(cloud, demo, server_image, unique):
    body = {
        "server": {
            "name": f"bfv-{unique}",
            "imageRef": "",
            "flavorRef": "1",
            "networks": "none",
            "block_device_mapping_v2": [
                {
                    "boot_index": 0,
                    "uuid": server_image,
                    "source_type": "image",
                    "destination_type": "volume",
                    "volume_size": 1,
                    "delete_on_termination": False,
                }
            ],
        }
    }
    response = cloud.request("POST", "/compute/v2.1/servers", demo, json=body, headers=COMPUTE)
    assert response.status_code == 202, response.text
    server = wait_for_status(cloud, demo, response.json()["server"]["id"], "ACTIVE", timeout=60)
    assert server["image"] == ""
    (root,) = server["os-extended-volumes:volumes_attached"]
    assert root["delete_on_termination"] is False
    assert volume(cloud, demo, root["id"])["status"] == "in-use"
    listed = attachments(cloud, demo, server["id"]).json()["volumeAttachments"]
    assert [a["device"] for a in listed] == ["/dev/vda"]
    assert detach(cloud, demo, server["id"], root["id"]).status_code == 400  # the root volume stays
    assert cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo).status_code == 204
    wait_until_gone(cloud, demo, server["id"])
    wait_volume(cloud, demo, root["id"], "available")

    again = {"server": {**body["server"], "name": f"bfv2-{unique}"}}
    again["server"]["block_device_mapping_v2"] = [
        {"boot_index": "0", "uuid": root["id"], "source_type": "volume", "destination_type": "volume",
         "delete_on_termination": True}
    ]  # fmt: skip
    response = cloud.request("POST", "/compute/v2.1/servers", demo, json=again, headers=COMPUTE)
    assert response.status_code == 202, response.text
    second = wait_for_status(cloud, demo, response.json()["server"]["id"], "ACTIVE")
    assert second["os-extended-volumes:volumes_attached"] == [{"id": root["id"], "delete_on_termination": True}]
    assert cloud.request("DELETE", f"/compute/v2.1/servers/{second['id']}", demo).status_code == 204
    wait_until_gone(cloud, demo, second["id"])
    wait_until(
        lambda: cloud.request("GET", f"/volume/v3/volumes/{root['id']}", demo).status_code == 404,
        30,
        interval=0.1,
        message="the volume with delete_on_termination was not deleted with its server",
    )
