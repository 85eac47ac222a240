"""Tenant pages' server side through the real API in-process: errors next to their fields, fragments, headers."""

from __future__ import annotations

import re

from flask import Flask, g
from flask.testing import FlaskClient

from portal.client import ApiClient
from portal.errors import ApiError


def test_keypair_import_error_is_next_to_the_public_key(demo: tuple[FlaskClient, str]) -> None:
    client, token = demo
    response = client.post("/key-pairs", data={"csrf_token": token, "name": "k1", "public_key": "not a key"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="keypair-public_key-error"' in html
    assert 'aria-invalid="true"' in html


def test_keypair_import_and_list(demo: tuple[FlaskClient, str]) -> None:
    client, token = demo
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl portal@test"
    response = client.post("/key-pairs", data={"csrf_token": token, "name": "laptop", "public_key": key})
    assert response.status_code == 303
    page = client.get("/key-pairs").get_data(as_text=True)
    assert "laptop" in page and "Key pair laptop imported." in page


def test_required_fields_are_checked_before_the_api(demo: tuple[FlaskClient, str]) -> None:
    client, token = demo
    response = client.post("/key-pairs", data={"csrf_token": token, "name": "", "public_key": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert html.count("This field is required.") == 2


def test_invalid_cidr_is_next_to_the_cidr_and_leaves_no_network(demo: tuple[FlaskClient, str]) -> None:
    client, token = demo
    response = client.post("/networks", data={"csrf_token": token, "name": "typo", "cidr": "10.0.0.300/24"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="network-cidr-error"' in html and "10.0.0.300/24" in html
    assert ">typo<" not in html


def test_security_group_rule_editor(demo: tuple[FlaskClient, str]) -> None:
    client, token = demo
    response = client.post("/security-groups", data={"csrf_token": token, "name": "web", "description": "http"})
    assert response.status_code == 303
    group_path = response.headers["Location"]
    rule = {"csrf_token": token, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp"}
    bad = client.post(f"{group_path}/rules", data={**rule, "port_min": "eighty"})
    assert bad.status_code == 400 and "Enter a whole number." in bad.get_data(as_text=True)
    good = client.post(f"{group_path}/rules", data={**rule, "port_min": "80", "remote_cidr": "0.0.0.0/0"})
    assert good.status_code == 303
    page = client.get(group_path).get_data(as_text=True)
    assert "<td>80</td>" in page and "0.0.0.0/0" in page


def test_row_of_a_deleted_instance_is_empty(demo: tuple[FlaskClient, str]) -> None:
    client, _ = demo
    response = client.get("/instances/00000000-0000-0000-0000-000000000000/row", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.get_data() == b""


def test_missing_instance_is_a_readable_404_page(demo: tuple[FlaskClient, str]) -> None:
    client, _ = demo
    response = client.get("/instances/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "text/html" in response.headers["Content-Type"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_htmx_request_of_a_signed_out_user_redirects_the_whole_page(client: FlaskClient) -> None:
    response = client.get("/instances/x/row", headers={"HX-Request": "true"})
    assert response.status_code == 204 and response.headers["HX-Redirect"].startswith("/sign-in")


def test_pages_carry_security_headers_and_compress(demo: tuple[FlaskClient, str]) -> None:
    client, _ = demo
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Server-Timing"].startswith("portal;dur=")


def test_assets_are_versioned_and_cached(client: FlaskClient) -> None:
    page = client.get("/sign-in").get_data(as_text=True)
    assert "/assets/" in page and "portal.css" in page
    css = re.search(r'rel="stylesheet" href="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.get(css, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    assert "immutable" in response.headers["Cache-Control"]
    assert client.get("/assets/x/secrets.txt").status_code == 404


def test_the_client_leaves_the_callers_request_state_alone(portal_app: Flask) -> None:
    with portal_app.test_request_context("/"):
        g.marker = "portal"
        try:
            ApiClient("not-a-token").get("/compute/v2.1/flavors")
        except ApiError as exc:
            assert exc.status == 401
        assert g.marker == "portal" and "context" not in g
