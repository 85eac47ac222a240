"""What the Routers and Floating IPs page tests share: the external network ``public`` as ``make up`` makes it
(made once per application, since a flat physical network carries one network), and a tenant's own subnet."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.unit.portal.admin_support import admin_token, call, unique

PUBLIC = "public"
PUBLIC_CIDR = "172.24.4.0/24"


def public_network(client: FlaskClient) -> str:
    """The id of the external flat network ``public`` with its subnet, made by the admin if it is missing."""
    admin = admin_token(client)
    found = call(client, "GET", f"/network/v2.0/networks?name={PUBLIC}", admin)["networks"]
    if found:
        return found[0]["id"]
    body = {
        "network": {
            "name": PUBLIC,
            "router:external": True,
            "provider:network_type": "flat",
            "provider:physical_network": "public",
        }
    }
    network_id = call(client, "POST", "/network/v2.0/networks", admin, json=body)["network"]["id"]
    subnet = {"subnet": {"network_id": network_id, "cidr": PUBLIC_CIDR, "ip_version": 4, "enable_dhcp": False}}
    call(client, "POST", "/network/v2.0/subnets", admin, json=subnet)
    return network_id


def tenant_subnet(client: FlaskClient, auth: str, cidr: str) -> tuple[str, str]:
    """A network of the caller's with one subnet; (network id, subnet id)."""
    network = call(client, "POST", "/network/v2.0/networks", auth, json={"network": {"name": unique("net")}})
    network_id = network["network"]["id"]
    body = {"subnet": {"network_id": network_id, "cidr": cidr, "ip_version": 4, "name": unique("sub")}}
    return network_id, call(client, "POST", "/network/v2.0/subnets", auth, json=body)["subnet"]["id"]


def router_to_public(client: FlaskClient, auth: str, subnet_id: str) -> str:
    """A router of the caller's with its gateway on ``public`` and ``subnet_id`` attached; its id."""
    body = {"router": {"name": unique("router"), "external_gateway_info": {"network_id": public_network(client)}}}
    router_id = call(client, "POST", "/network/v2.0/routers", auth, json=body)["router"]["id"]
    call(client, "PUT", f"/network/v2.0/routers/{router_id}/add_router_interface", auth, json={"subnet_id": subnet_id})
    return router_id


def server_on(client: FlaskClient, auth: str, network_id: str, name: str) -> str:
    """A server of the caller's with a port on ``network_id`` (made by the API); it stays in BUILD, since no
    worker takes the in-process broker's messages, which is all a floating IP needs."""
    image = {"name": unique("image"), "disk_format": "raw", "container_format": "bare"}
    image_id = call(client, "POST", "/image/v2/images", auth, json=image)["id"]
    headers = {"X-Auth-Token": auth, "Content-Type": "application/octet-stream"}
    uploaded = client.put(f"/image/v2/images/{image_id}/file", data=bytes(65536), headers=headers)
    assert uploaded.status_code == 204, uploaded.get_data(as_text=True)
    body = {"server": {"name": name, "imageRef": image_id, "flavorRef": "1", "networks": [{"uuid": network_id}]}}
    return call(client, "POST", "/compute/v2.1/servers", auth, json=body)["server"]["id"]
