"""Deletes in the portal: a confirmation page first, then the API's answer on the page the user lands on."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from tests.unit.in_process import DEMO_PASSWORD
from tests.unit.portal.admin_support import token as api_token

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl portal@test"


def test_a_key_pair_is_deleted_only_from_its_confirmation_form(demo: tuple[FlaskClient, str]) -> None:
    client, token = demo
    name = f"k-{uuid.uuid4().hex[:8]}"
    assert client.post("/key-pairs", data={"csrf_token": token, "name": name, "public_key": KEY}).status_code == 303

    confirm = client.get(f"/key-pairs/{name}/delete").get_data(as_text=True)
    assert f'action="/key-pairs/{name}/delete"' in confirm and 'href="/key-pairs"' in confirm
    assert name in client.get("/key-pairs").get_data(as_text=True)  # the confirmation page changed nothing

    done = client.post(f"/key-pairs/{name}/delete", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith("/key-pairs")
    page = client.get("/key-pairs").get_data(as_text=True)
    assert f"Key pair {name} deleted." in page and f">{name}<" not in page


def test_a_missing_key_pair_gives_the_apis_message_not_a_success(demo: tuple[FlaskClient, str]) -> None:
    client, token = demo
    done = client.post("/key-pairs/never-imported/delete", data={"csrf_token": token})
    assert done.status_code == 303
    page = client.get("/key-pairs").get_data(as_text=True)
    assert "never-imported" in page and "deleted." not in page


def test_a_network_in_use_stays_and_its_page_says_why(demo: tuple[FlaskClient, str]) -> None:
    client, token = demo
    name = f"busy-{uuid.uuid4().hex[:8]}"
    created = client.post("/networks", data={"csrf_token": token, "name": name, "cidr": "10.44.0.0/24"})
    assert created.status_code == 303
    network_page = created.headers["Location"]
    network_id = network_page.rstrip("/").rsplit("/", 1)[-1]
    api = {"X-Auth-Token": api_token(client, "demo", DEMO_PASSWORD, "demo")}
    port = client.post("/network/v2.0/ports", json={"port": {"network_id": network_id}}, headers=api)
    assert port.status_code == 201, port.get_data(as_text=True)

    refused = client.post(f"/networks/{network_id}/delete", data={"csrf_token": token})
    assert refused.status_code == 303 and refused.headers["Location"].endswith(network_page)
    page = client.get(network_page).get_data(as_text=True)
    assert "in use" in page and "Network deleted." not in page

    client.delete(f"/network/v2.0/ports/{port.get_json()['port']['id']}", headers=api)
    deleted = client.post(f"/networks/{network_id}/delete", data={"csrf_token": token})
    assert deleted.headers["Location"].endswith("/networks")
    listing = client.get("/networks").get_data(as_text=True)
    assert "Network deleted." in listing and name not in listing


def test_deleting_an_instance_that_is_already_gone_counts_as_done(demo: tuple[FlaskClient, str]) -> None:
    client, token = demo
    done = client.post(f"/instances/{uuid.uuid4()}/delete", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith("/instances")
    assert "The instance is being deleted." in client.get("/instances").get_data(as_text=True)
