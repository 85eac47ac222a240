"""The metadata API (``/metadata``) in-process: only a request signed for a network and address gets the documents
of the server holding that address there; anything else is 403 or 404, never a 500 or another server's data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from common.metadata_secret import metadata_secret, sign
from tests.unit.api.conftest import InProcessCloud


def _post(client: FlaskClient, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers={"X-Auth-Token": token})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


@pytest.fixture(scope="module")
def guest(api_cloud: InProcessCloud) -> dict[str, str]:
    """A server of ``demo`` with a port on its own network: its id, network and address."""
    client, token = api_cloud.client(), api_cloud.demo_token
    network = _post(client, token, "/network/v2.0/networks", {"network": {"name": "md-net"}})["network"]
    subnet = {"network_id": network["id"], "cidr": "10.77.0.0/24", "ip_version": 4, "name": "md-sub"}
    _post(client, token, "/network/v2.0/subnets", {"subnet": subnet})
    image = api_cloud.image(token, "md-image")
    body = {"server": {"name": "md-vm", "imageRef": image, "flavorRef": "1", "networks": [{"uuid": network["id"]}]}}
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.37"}
    created = client.post("/compute/v2.1/servers", json=body, headers=headers)
    assert created.status_code == 202, created.get_data(as_text=True)
    server_id = created.json["server"]["id"]
    ports = client.get(f"/network/v2.0/ports?device_id={server_id}", headers={"X-Auth-Token": token}).json["ports"]
    return {"id": server_id, "network": network["id"], "address": ports[0]["fixed_ips"][0]["ip_address"]}


def _secret(api_cloud: InProcessCloud) -> bytes:
    return metadata_secret(api_cloud.app.extensions["stratus"].settings)


def signed(api_cloud: InProcessCloud, network: str, address: str) -> dict[str, str]:
    signature = sign(_secret(api_cloud), network, address)
    return {"X-Stratus-Network-ID": network, "X-Forwarded-For": address, "X-Stratus-Signature": signature}


def test_a_signed_request_gets_its_servers_meta_data(api_cloud: InProcessCloud, guest: dict[str, str]) -> None:
    headers = signed(api_cloud, guest["network"], guest["address"])
    response = api_cloud.client().get("/metadata/openstack/latest/meta_data.json", headers=headers)
    assert response.status_code == 200 and response.content_type == "application/json"
    assert json.loads(response.data)["uuid"] == guest["id"]
    ec2 = api_cloud.client().get("/metadata/latest/meta-data/local-ipv4", headers=headers)
    assert ec2.status_code == 200 and ec2.data.decode() == guest["address"]
    assert api_cloud.client().get("/metadata/", headers=headers).data.decode().endswith("latest")


def test_head_answers_like_get_without_a_body(api_cloud: InProcessCloud, guest: dict[str, str]) -> None:
    headers = signed(api_cloud, guest["network"], guest["address"])
    response = api_cloud.client().head("/metadata/openstack/latest/meta_data.json", headers=headers)
    assert response.status_code == 200 and response.data == b""


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_only_get_and_head(api_cloud: InProcessCloud, guest: dict[str, str], method: str) -> None:
    headers = signed(api_cloud, guest["network"], guest["address"])
    response = getattr(api_cloud.client(), method)("/metadata/openstack/latest/meta_data.json", headers=headers)
    assert response.status_code == 405


def test_no_signature_is_403(api_cloud: InProcessCloud, guest: dict[str, str]) -> None:
    headers = {"X-Stratus-Network-ID": guest["network"], "X-Forwarded-For": guest["address"]}
    response = api_cloud.client().get("/metadata/openstack/latest/meta_data.json", headers=headers)
    assert response.status_code == 403 and guest["id"] not in response.get_data(as_text=True)
    assert response.json["error"]["code"] == 403
    assert api_cloud.client().get("/metadata/openstack/latest/meta_data.json").status_code == 403


@pytest.mark.parametrize(
    "forge",
    [
        lambda h: {**h, "X-Stratus-Signature": "0" * 64},
        lambda h: {**h, "X-Stratus-Signature": h["X-Stratus-Signature"][:-1]},
        lambda h: {**h, "X-Stratus-Signature": "ü" * 64},
        lambda h: {**h, "X-Forwarded-For": "10.77.0.250"},  # another address under this signature
        lambda h: {**h, "X-Stratus-Network-ID": "00000000-0000-0000-0000-000000000000"},
        lambda h: {**h, "X-Forwarded-For": h["X-Forwarded-For"] + ", 10.77.0.250"},
    ],
)
def test_a_forged_or_altered_signature_is_403(api_cloud: InProcessCloud, guest: dict[str, str], forge: Any) -> None:
    headers = forge(signed(api_cloud, guest["network"], guest["address"]))
    response = api_cloud.client().get("/metadata/openstack/latest/meta_data.json", headers=headers)
    assert response.status_code == 403 and guest["id"] not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("network", "address"),
    [
        ("00000000-0000-0000-0000-000000000000", None),  # the right address on a network it is not on
        (None, "10.77.0.250"),  # an address nobody holds
        (None, "not-an-address"),
        (None, "::1"),
    ],
)
def test_a_signed_identity_no_server_holds_is_404(
    api_cloud: InProcessCloud, guest: dict[str, str], network: str | None, address: str | None
) -> None:
    headers = signed(api_cloud, network or guest["network"], address or guest["address"])
    response = api_cloud.client().get("/metadata/openstack/latest/meta_data.json", headers=headers)
    assert response.status_code == 404 and guest["id"] not in response.get_data(as_text=True)


def test_unknown_document_is_404(api_cloud: InProcessCloud, guest: dict[str, str]) -> None:
    headers = signed(api_cloud, guest["network"], guest["address"])
    for path in ("/metadata/openstack/latest/user_data", "/metadata/openstack/1999-01-01/meta_data.json"):
        assert api_cloud.client().get(path, headers=headers).status_code == 404
