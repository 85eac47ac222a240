"""The account host agents sign in with is no admin: its tokens carry the ``host`` role alone, and with one a
compromised host can list no server, user or image, and cannot read a tenant's image no host is building."""

from __future__ import annotations

from common.accounts import HOST_ROLE, SERVICE_PROJECT, SERVICE_USER

IMAGE = {"Content-Type": "application/json"}


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
