"""The openstack CLI against volumes on servers: server add/remove volume, server create --volume,
--boot-from-volume and --block-device (fake hosts, the file volume backend)."""

from __future__ import annotations

from typing import Any

from tests.functional.compute import cli_json
from tests.functional.compute.test_volume_attachments import make_volume, volume, volume_quota, wait_volume
from tests.harness import wait_until

__all__ = ["volume_quota"]  # the module fixture that lifts the demo project's volume quota


def wait_active(cloud, name: str) -> dict[str, Any]:
    return wait_until(
        lambda: cli_json(cloud, "stratus", "server", "show", name),
        60,
        interval=0.5,
        message=f"server {name} never became ACTIVE",
        until=lambda server: server["status"] in ("ACTIVE", "ERROR"),
    )


def test_server_add_and_remove_volume(cloud, server_image, unique):
    token = cloud.demo().get_token()
    made = make_volume(cloud, token, f"cli-{unique}")
    name = f"cli-{unique}"
    cloud.openstack("stratus", "server", "create", "--flavor", "1", "--image", server_image, "--nic", "none", name)
    assert wait_active(cloud, name)["status"] == "ACTIVE"
    cloud.openstack("stratus", "server", "add", "volume", name, made["id"])
    wait_volume(cloud, token, made["id"], "in-use")
    listed = cli_json(cloud, "stratus", "server", "volume", "list", name)
    assert [(v["Volume ID"], v["Device"]) for v in listed] == [(made["id"], "/dev/vdb")]
    cloud.openstack("stratus", "server", "remove", "volume", name, made["id"])
    wait_volume(cloud, token, made["id"], "available")
    cloud.openstack("stratus", "server", "delete", "--wait", name)


def test_server_create_from_volume_boot_from_volume_and_block_device(cloud, server_image, unique):
    token = cloud.demo().get_token()
    made = make_volume(cloud, token, f"boot-{unique}", imageRef=server_image)
    assert made["bootable"] == "true"
    ways = {
        f"vol-{unique}": ["--volume", made["id"]],
        f"bfv-{unique}": ["--image", server_image, "--boot-from-volume", "1"],
        f"bd-{unique}": [
            "--block-device",
            f"uuid={server_image},source_type=image,destination_type=volume,volume_size=1,boot_index=0,"
            "delete_on_termination=true",
        ],
    }
    for name, how in ways.items():
        cloud.openstack("stratus", "server", "create", "--flavor", "1", "--nic", "none", *how, name)
    for name in ways:
        server = wait_active(cloud, name)
        assert server["status"] == "ACTIVE", server
        assert server["image"] in ("", "N/A (booted from volume)"), server["image"]
    assert volume(cloud, token, made["id"])["status"] == "in-use"
    for name in ways:
        cloud.openstack("stratus", "server", "delete", "--wait", name)
    wait_volume(cloud, token, made["id"], "available")
