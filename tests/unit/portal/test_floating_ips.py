"""The Floating IPs page's server side through the real API in-process: allocated from ``public``, associated
with an instance's address (chosen by instance, the page finds the port), shown on the instance list, row and
page, disassociated and released; a missing, forged or unreachable choice is a message on the form, never a
500; another project's floating IPs never appear."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from portal.charts import quota_bars
from portal.floating_ips import parse_target
from portal.forms import Form
from tests.unit.in_process import DEMO_PASSWORD
from tests.unit.portal.admin_support import admin_fixture, call, make_tenant, token  # noqa: F401 - fixture
from tests.unit.portal.l3_support import public_network, router_to_public, server_on, tenant_subnet

OFFERED = [("port-1 10.0.0.5", "web: 10.0.0.5")]


def error_of(html: str, form: str, field: str) -> str:
    found = re.search(rf'id="{form}-{field}-error"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


def _allocate(client: FlaskClient, csrf: str) -> tuple[str, str]:
    """Allocates from ``public`` through the page; (floating IP id, address)."""
    response = client.post("/floating-ips", data={"csrf_token": csrf, "network": public_network(client)})
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get("/floating-ips").get_data(as_text=True)
    address = re.search(r"Floating IP (172\.24\.4\.\d+) allocated\.", page)
    assert address, page
    fip_id = re.search(rf'<tr id="fip-([0-9a-f-]+)"><td>{re.escape(address.group(1))}</td>', page)
    assert fip_id, page
    return fip_id.group(1), address.group(1)


def test_parse_target_reads_back_an_offered_choice_only() -> None:
    assert parse_target(Form("associate", MultiDict({"target": "port-1 10.0.0.5"})), OFFERED) == ("port-1", "10.0.0.5")
    missing = Form("associate", MultiDict({"target": ""}))
    assert parse_target(missing, OFFERED) is None and missing.errors["target"] == "Choose an instance address."
    forged = Form("associate", MultiDict({"target": "port-2 10.0.0.9"}))
    assert parse_target(forged, OFFERED) is None and "not one of yours" in forged.errors["target"]


def test_quota_bars_count_routers_and_floating_ips_when_neutron_does() -> None:
    network = {"network": {"used": 1, "limit": 100}, "router": {"used": 2, "limit": 10}}
    labels = [b.label for b in quota_bars({}, {**network, "floatingip": {"used": 1, "limit": 50}}, {})]
    assert labels == ["Instances", "vCPUs", "RAM", "Networks", "Ports", "Routers", "Floating IPs", "Images"]
    assert "Routers" not in [b.label for b in quota_bars({}, {"network": {"used": 1, "limit": 1}}, {})]


def test_the_overview_shows_router_and_floating_ip_quotas(demo: tuple[FlaskClient, str]) -> None:
    client, _ = demo
    html = client.get("/").get_data(as_text=True)
    for label in ("Routers", "Floating IPs"):
        assert re.search(rf'aria-label="{label}: \d+ of \d+ used"', html), html


def test_allocating_needs_an_external_network(demo: tuple[FlaskClient, str]) -> None:
    client, csrf = demo
    empty = client.post("/floating-ips", data={"csrf_token": csrf, "network": ""})
    assert empty.status_code == 400
    assert error_of(empty.get_data(as_text=True), "fip", "network") == "This field is required."
    member = token(client, "demo", DEMO_PASSWORD, "demo")
    network_id, _ = tenant_subnet(client, member, "10.30.0.0/24")
    for network in (network_id, "no-such-network", "'; drop table"):
        response = client.post("/floating-ips", data={"csrf_token": csrf, "network": network})
        html = response.get_data(as_text=True)
        assert response.status_code == 400, html
        assert error_of(html, "fip", "network") or 'class="form-error"' in html, html


def test_allocate_associate_show_on_instances_disassociate_release(demo: tuple[FlaskClient, str]) -> None:
    client, csrf = demo
    member = token(client, "demo", DEMO_PASSWORD, "demo")
    network_id, subnet_id = tenant_subnet(client, member, "10.31.0.0/24")
    router_to_public(client, member, subnet_id)
    server_id = server_on(client, member, network_id, "fip-web")
    fip_id, address = _allocate(client, csrf)

    chooser = client.get(f"/floating-ips/{fip_id}/associate").get_data(as_text=True)
    choice = re.search(r'<option value="([0-9a-f-]+ 10\.31\.0\.\d+)">fip-web: (10\.31\.0\.\d+)</option>', chooser)
    assert choice, chooser
    none = client.post(f"/floating-ips/{fip_id}/associate", data={"csrf_token": csrf, "target": ""})
    assert none.status_code == 400 and "Choose an instance address." in none.get_data(as_text=True)
    done = client.post(f"/floating-ips/{fip_id}/associate", data={"csrf_token": csrf, "target": choice.group(1)})
    assert done.status_code == 303, done.get_data(as_text=True)

    listing = client.get("/floating-ips").get_data(as_text=True)
    assert f"Floating IP {address} associated with {choice.group(2)}." in listing
    assert re.search(rf'/instances/{server_id}">fip-web</a></td>\s*<td>{re.escape(choice.group(2))}</td>', listing)
    assert f"floating: {address}" in client.get("/instances").get_data(as_text=True)
    assert f"floating: {address}" in client.get(f"/instances/{server_id}/row").get_data(as_text=True)
    detail = client.get(f"/instances/{server_id}").get_data(as_text=True)
    assert f'id="instance-floating-ips">{address}<' in detail

    off = client.post(f"/floating-ips/{fip_id}/disassociate", data={"csrf_token": csrf})
    assert off.status_code == 303
    assert "not associated" in client.get("/floating-ips").get_data(as_text=True)
    assert 'id="instance-floating-ips">none<' in client.get(f"/instances/{server_id}").get_data(as_text=True)

    assert f"Delete floating IP {address}?" in client.get(f"/floating-ips/{fip_id}/release").get_data(as_text=True)
    released = client.post(f"/floating-ips/{fip_id}/release", data={"csrf_token": csrf})
    assert released.status_code == 303
    assert f">{address}<" not in client.get("/floating-ips").get_data(as_text=True)


def test_an_instance_without_a_router_to_public_is_a_message_on_the_form(demo: tuple[FlaskClient, str]) -> None:
    client, csrf = demo
    member = token(client, "demo", DEMO_PASSWORD, "demo")
    network_id, _ = tenant_subnet(client, member, "10.32.0.0/24")
    server_on(client, member, network_id, "unrouted")
    fip_id, _ = _allocate(client, csrf)
    chooser = client.get(f"/floating-ips/{fip_id}/associate").get_data(as_text=True)
    choice = re.search(r'<option value="([0-9a-f-]+ 10\.32\.0\.\d+)">unrouted: ', chooser)
    assert choice, chooser
    response = client.post(f"/floating-ips/{fip_id}/associate", data={"csrf_token": csrf, "target": choice.group(1)})
    html = response.get_data(as_text=True)
    assert response.status_code == 400, html
    assert error_of(html, "associate", "target") or 'class="form-error"' in html, html
    client.post(f"/floating-ips/{fip_id}/release", data={"csrf_token": csrf})


def test_another_projects_floating_ip_never_appears(demo: tuple[FlaskClient, str]) -> None:
    client, csrf = demo
    other = make_tenant(client)
    body = {"floatingip": {"floating_network_id": public_network(client)}}
    theirs = call(client, "POST", "/network/v2.0/floatingips", other.token(client), json=body)["floatingip"]
    assert f">{theirs['floating_ip_address']}<" not in client.get("/floating-ips").get_data(as_text=True)
    assert client.get(f"/floating-ips/{theirs['id']}/associate").status_code == 404
    forged = client.post(f"/floating-ips/{theirs['id']}/disassociate", data={"csrf_token": csrf})
    assert forged.status_code == 303
    assert client.get(f"/floating-ips/{theirs['id']}/release").status_code == 404
    assert call(client, "GET", f"/network/v2.0/floatingips/{theirs['id']}", other.token(client))


def test_an_admin_sees_only_the_floating_ips_of_the_project_signed_in_to(admin: tuple[FlaskClient, str]) -> None:
    """Neutron lists every project's floating IPs to an admin; the project's page shows its own."""
    client, _ = admin
    other = make_tenant(client)
    body = {"floatingip": {"floating_network_id": public_network(client)}}
    theirs = call(client, "POST", "/network/v2.0/floatingips", other.token(client), json=body)["floatingip"]
    assert f">{theirs['floating_ip_address']}<" not in client.get("/floating-ips").get_data(as_text=True)
