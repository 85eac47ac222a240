"""The account host agents sign in with is no admin: its tokens carry the ``host`` role alone, and with one a
compromised host can list no server, user or image, and cannot read a tenant's image no host is building; what a
host may do it does on requests signed with its own key (``common.hostauth``), as the agent signs its snapshots."""

from __future__ import annotations

import subprocess

from common import hostauth, signing
from common.accounts import HOST_ROLE, SERVICE_PROJECT, SERVICE_USER
from common.hostauth import HostSigner
from tests.harness import wait_until

IMAGE = {"Content-Type": "application/json"}
COMPUTE = {"OpenStack-API-Version": "compute 2.37"}


def test_the_hosts_account_has_only_the_host_role_and_no_admin_power(cloud, unique):
    password = cloud.server.env["STRATUS_SERVICE_PASSWORD"]
    session = cloud.session(SERVICE_USER, password, project=SERVICE_PROJECT)
    token = session.get_token()
    validated = cloud.request("GET", "/identity/v3/auth/tokens", token, headers={"X-Subject-Token": token})
    assert {role["name"] for role in validated.json()["token"]["roles"]} == {HOST_ROLE}

    demo = cloud.demo().get_token()
    body = {"name": unique, "disk_format": "raw", "container_format": "bare"}
    image = cloud.request("POST", "/image/v2/images", demo, json=body, headers=IMAGE).json()
    try:
        assert cloud.request("GET", f"/image/v2/images/{image['id']}/file", token).status_code == 404
        assert cloud.request("PUT", f"/image/v2/images/{image['id']}/file", token, data=b"x" * 512,
                             headers={"Content-Type": "application/octet-stream"}).status_code == 404  # fmt: skip
        for path in ("/compute/v2.1/servers?all_tenants=1", "/identity/v3/users", "/image/v2/images"):
            assert cloud.request("GET", path, token).status_code == 403, path
        network = {"network": {"name": unique}}
        assert cloud.request("POST", "/network/v2.0/networks", token, json=network).status_code == 403
    finally:
        cloud.request("DELETE", f"/image/v2/images/{image['id']}", demo)


def _host_signed(cloud, host: str, method: str, path: str) -> dict[str, str]:
    """The headers the agent of ``host`` adds (its key, derived from the cloud's master key as its key file is)."""
    master = signing.read_master_key(cloud.server.state_dir / "queue-keys" / "master.key")
    return HostSigner({host: signing.host_key(master, host)}).headers(host, method, f"{cloud.url}{path}")


def _wait_for_server(cloud, token: str, server_id: str, timeout: float = 60) -> dict:
    return wait_until(
        lambda: cloud.request("GET", f"/compute/v2.1/servers/{server_id}", token).json()["server"],
        timeout,
        message=f"server {server_id} stayed in BUILD",
        until=lambda server: server["status"] != "BUILD",
    )


def _wait_for_image(cloud, token: str, image_id: str, timeout: float = 60) -> dict:
    return wait_until(
        lambda: cloud.request("GET", f"/image/v2/images/{image_id}", token).json(),
        timeout,
        message=f"image {image_id} stayed in upload",
        until=lambda image: image["status"] not in ("queued", "saving", "importing"),
    )


def test_a_host_signs_its_snapshot_upload_and_its_signature_opens_only_its_own_work(cloud, unique, tmp_path):
    # The fake host's agent uploads the snapshot signed as the server's host: the API takes it from no other.
    demo = cloud.demo().get_token()
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True, timeout=60)
    body = {"name": unique, "disk_format": "qcow2", "container_format": "bare"}
    image = cloud.request("POST", "/image/v2/images", demo, json=body, headers=IMAGE).json()["id"]
    octets = {"Content-Type": "application/octet-stream"}
    assert cloud.request("PUT", f"/image/v2/images/{image}/file", demo, data=disk.read_bytes(),
                         headers=octets).status_code == 204  # fmt: skip
    server_body = {"server": {"name": unique, "imageRef": image, "flavorRef": "1", "networks": "none"}}
    server = cloud.request("POST", "/compute/v2.1/servers", demo, json=server_body, headers=COMPUTE).json()["server"]
    snapshot = None
    try:
        assert _wait_for_server(cloud, demo, server["id"])["status"] == "ACTIVE"
        admin_view = cloud.request("GET", f"/compute/v2.1/servers/{server['id']}", cloud.admin_token()).json()
        host = admin_view["server"]["OS-EXT-SRV-ATTR:host"]

        password = cloud.server.env["STRATUS_SERVICE_PASSWORD"]
        token = cloud.session(SERVICE_USER, password, project=SERVICE_PROJECT).get_token()
        path = f"/image/v2/images/{image}/file"
        # Its own signature opens nothing once the build is over; a forged one is refused and says why.
        assert cloud.request("GET", path, token, headers=_host_signed(cloud, host, "GET", path)).status_code == 404
        forged = _host_signed(cloud, host, "GET", path) | {hostauth.SIGNATURE_HEADER: "0" * 64}
        refused = cloud.request("GET", path, token, headers=forged)
        assert refused.status_code == 401 and "host signature" in refused.json()["message"], refused.text

        action = {"createImage": {"name": f"{unique}-snap"}}
        taken = cloud.request("POST", f"/compute/v2.1/servers/{server['id']}/action", demo, json=action)
        assert taken.status_code == 202, taken.text
        snapshot = taken.headers["Location"].rsplit("/", 1)[1]
        assert _wait_for_image(cloud, demo, snapshot)["status"] == "active"
    finally:
        cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", demo)
        for image_id in (image, snapshot):
            if image_id:
                cloud.request("DELETE", f"/image/v2/images/{image_id}", demo)
