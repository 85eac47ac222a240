"""The metadata API over HTTP on a running cloud (fake hosts, in-memory dataplane): a request signed for a
network and an address gets the one server holding that address there, whatever else the request claims."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from common.metadata_secret import metadata_secret, sign
from common.settings import load
from tests.functional.compute.conftest import COMPUTE, create_server, wait_for_status
from tests.harness import wait_until

pytestmark = [pytest.mark.functional]
NET = "/network/v2.0"
USER_DATA = b"#!/bin/sh\necho metadata functional\n"


def _network(cloud: Any, token: str, name: str, cidr: str) -> str:
    net = cloud.request("POST", f"{NET}/networks", token, json={"network": {"name": name}}).json()["network"]
    body = {"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4, "name": f"{name}-sub"}}
    assert cloud.request("POST", f"{NET}/subnets", token, json=body).status_code == 201
    return net["id"]


def _address(cloud: Any, token: str, server_id: str) -> str:
    ports = cloud.request("GET", f"{NET}/ports", token, params={"device_id": server_id}).json()["ports"]
    return ports[0]["fixed_ips"][0]["ip_address"]


@pytest.fixture(scope="module")
def world(cloud: Any, server_image: str) -> dict[str, Any]:
    """demo's server on its network, and admin's server on another network with the very same address."""
    demo, admin = cloud.demo().get_token(), cloud.admin_token()
    demo_net = _network(cloud, demo, "md-demo", "10.91.0.0/24")
    admin_net = _network(cloud, admin, "md-admin", "10.91.0.0/24")
    mine = create_server(
        cloud, demo, server_image, "md-mine", networks=[{"uuid": demo_net}],
        user_data=base64.b64encode(USER_DATA).decode(), metadata={"role": "mine"},
    )  # fmt: skip
    wait_for_status(cloud, demo, mine["id"], "ACTIVE")
    address = _address(cloud, demo, mine["id"])
    theirs = create_server(cloud, admin, server_image, "md-theirs", networks=[{"uuid": admin_net, "fixed_ip": address}])
    wait_for_status(cloud, admin, theirs["id"], "ACTIVE")
    assert _address(cloud, admin, theirs["id"]) == address
    secret = metadata_secret(load({"STRATUS_STATE_DIR": str(cloud.server.state_dir)}))
    return {"demo": demo, "admin": admin, "demo_net": demo_net, "admin_net": admin_net, "mine": mine["id"],
            "theirs": theirs["id"], "address": address, "secret": secret}  # fmt: skip


def get(cloud: Any, path: str, network: str, address: str, secret: bytes, **headers: str) -> requests.Response:
    signed = {"X-Stratus-Network-ID": network, "X-Forwarded-For": address,
              "X-Stratus-Signature": sign(secret, network, address)}  # fmt: skip
    return requests.get(f"{cloud.url}/metadata{path}", headers={**signed, **headers}, timeout=30)


def test_each_network_answers_for_its_own_server_at_the_same_address(cloud: Any, world: dict[str, Any]) -> None:
    for network, server in ((world["demo_net"], world["mine"]), (world["admin_net"], world["theirs"])):
        response = get(cloud, "/openstack/latest/meta_data.json", network, world["address"], world["secret"])
        assert response.status_code == 200, response.text
        assert response.json()["uuid"] == server


def test_the_servers_documents_over_both_layouts(cloud: Any, world: dict[str, Any]) -> None:
    args = (world["demo_net"], world["address"], world["secret"])
    meta = get(cloud, "/openstack/latest/meta_data.json", *args).json()
    assert meta["meta"] == {"role": "mine"} and meta["name"] == "md-mine"
    assert get(cloud, "/openstack/latest/user_data", *args).content == USER_DATA
    assert get(cloud, "/latest/user-data", *args).content == USER_DATA
    assert get(cloud, "/latest/meta-data/local-ipv4", *args).text == world["address"]
    network_data = get(cloud, "/openstack/latest/network_data.json", *args).json()
    assert [(n["type"], n["ip_address"]) for n in network_data["networks"]] == [("ipv4", world["address"])]
    assert get(cloud, "/openstack/latest/nothing", *args).status_code == 404


def test_a_forged_signature_gets_nothing(cloud: Any, world: dict[str, Any]) -> None:
    forged = {"X-Stratus-Network-ID": world["admin_net"], "X-Forwarded-For": world["address"],
              "X-Stratus-Signature": sign(b"guessed" * 8, world["admin_net"], world["address"])}  # fmt: skip
    for headers in (forged, {**forged, "X-Auth-Token": world["admin"]}, {}):
        response = requests.get(f"{cloud.url}/metadata/openstack/latest/meta_data.json", headers=headers, timeout=30)
        assert response.status_code == 403
        assert world["theirs"] not in response.text and world["mine"] not in response.text


def test_a_signature_for_one_network_does_not_open_another(cloud: Any, world: dict[str, Any]) -> None:
    signed = sign(world["secret"], world["demo_net"], world["address"])
    headers = {"X-Stratus-Network-ID": world["admin_net"], "X-Forwarded-For": world["address"],
               "X-Stratus-Signature": signed}  # fmt: skip
    response = requests.get(f"{cloud.url}/metadata/openstack/latest/meta_data.json", headers=headers, timeout=30)
    assert response.status_code == 403 and world["theirs"] not in response.text


def test_a_port_that_is_not_the_servers_speaks_for_nobody(cloud: Any, world: dict[str, Any]) -> None:
    """A port may name a server as its device without being one of its ports (Neutron lets a project write its own
    servers' ids, and refuses another project's): its address must not be answered for."""
    body = {"port": {"network_id": world["demo_net"], "device_id": world["theirs"], "device_owner": "compute:nova"}}
    assert cloud.request("POST", f"{NET}/ports", world["demo"], json=body).status_code == 409
    body["port"]["device_id"] = world["mine"]
    made = cloud.request("POST", f"{NET}/ports", world["demo"], json=body)
    assert made.status_code == 201, made.text
    address = made.json()["port"]["fixed_ips"][0]["ip_address"]
    response = get(cloud, "/openstack/latest/meta_data.json", world["demo_net"], address, world["secret"])
    assert response.status_code == 404 and world["mine"] not in response.text


def test_a_deleted_server_is_answered_for_no_more(cloud: Any, world: dict[str, Any], server_image: str) -> None:
    server = create_server(cloud, world["demo"], server_image, "md-gone", networks=[{"uuid": world["demo_net"]}])
    wait_for_status(cloud, world["demo"], server["id"], "ACTIVE")
    address = _address(cloud, world["demo"], server["id"])
    args = ("/openstack/latest/meta_data.json", world["demo_net"], address, world["secret"])
    assert json.loads(get(cloud, *args).text)["uuid"] == server["id"]
    deleted = cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", world["demo"], headers=COMPUTE)
    assert deleted.status_code == 204
    wait_until(lambda: get(cloud, *args).status_code == 404, timeout=30, message="deleted server still answered")
