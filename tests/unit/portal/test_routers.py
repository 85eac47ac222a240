"""The Routers pages' server side through the real API in-process: a router made with its gateway on an
external network, a subnet attached and detached, the gateway cleared, the router deleted; every refusal (a
missing name, a subnet that is not there, a tenant network as gateway) is a message on its form, never a 500;
another project's router is neither listed nor shown."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from portal.routers import gateway_body, gateway_text, interface_rows
from tests.unit.in_process import DEMO_PASSWORD
from tests.unit.portal.admin_support import admin_fixture, call, make_tenant, token, unique  # noqa: F401 - fixture
from tests.unit.portal.l3_support import PUBLIC, public_network, tenant_subnet


def error_of(html: str, form: str, field: str) -> str:
    found = re.search(rf'id="{form}-{field}-error"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


def test_gateway_body_clears_with_an_empty_choice() -> None:
    assert gateway_body("") == {}
    assert gateway_body("net-1") == {"network_id": "net-1"}


def test_gateway_text_names_the_network_and_its_addresses() -> None:
    router = {"external_gateway_info": {"network_id": "n1", "external_fixed_ips": [{"ip_address": "172.24.4.7"}]}}
    assert gateway_text(router, {"n1": "public"}) == "public (172.24.4.7)"
    assert gateway_text({"external_gateway_info": None}, {}) == ""
    assert gateway_text({"external_gateway_info": {"network_id": "n2"}}, {}) == "n2"


def test_interface_rows_are_one_per_subnet_address() -> None:
    ports = [{"status": "ACTIVE", "fixed_ips": [{"subnet_id": "s1", "ip_address": "10.0.0.1"}]}]
    rows = interface_rows(ports, {"s1": {"name": "web", "cidr": "10.0.0.0/24"}})
    assert rows == [
        {"subnet_id": "s1", "subnet": "web", "cidr": "10.0.0.0/24", "ip_address": "10.0.0.1", "status": "ACTIVE"}
    ]


def test_router_name_is_required_before_the_api(demo: tuple[FlaskClient, str]) -> None:
    client, csrf = demo
    response = client.post("/routers", data={"csrf_token": csrf, "name": "", "network": ""})
    assert response.status_code == 400
    assert error_of(response.get_data(as_text=True), "router", "name") == "This field is required."


def test_router_with_gateway_attach_detach_clear_delete(demo: tuple[FlaskClient, str]) -> None:
    client, csrf = demo
    external_id = public_network(client)
    member = token(client, "demo", DEMO_PASSWORD, "demo")
    _, subnet_id = tenant_subnet(client, member, "10.20.0.0/24")

    created = client.post("/routers", data={"csrf_token": csrf, "name": "edge", "network": external_id})
    assert created.status_code == 303, created.get_data(as_text=True)
    detail = created.headers["Location"]
    page = client.get(detail).get_data(as_text=True)
    assert "Router edge created." in page
    assert re.search(rf'id="router-gateway">{PUBLIC} \(172\.24\.4\.\d+\)<', page), page

    attached = client.post(f"{detail}/interfaces", data={"csrf_token": csrf, "subnet": subnet_id})
    assert attached.status_code == 303, attached.get_data(as_text=True)
    page = client.get(detail).get_data(as_text=True)
    assert "10.20.0.0/24" in page and "10.20.0.1" in page and "Detach" in page
    listing = client.get("/routers").get_data(as_text=True)
    assert ">edge<" in listing and f"{PUBLIC} (172.24.4." in listing

    detached = client.post(f"{detail}/interfaces/{subnet_id}/remove", data={"csrf_token": csrf})
    assert detached.status_code == 303
    assert "No subnets attached." in client.get(detail).get_data(as_text=True)

    cleared = client.post(f"{detail}/gateway", data={"csrf_token": csrf, "network": ""})
    assert cleared.status_code == 303
    assert 'id="router-gateway">none<' in client.get(detail).get_data(as_text=True)

    assert "Delete router edge?" in client.get(f"{detail}/delete").get_data(as_text=True)
    deleted = client.post(f"{detail}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303 and deleted.headers["Location"].endswith("/routers")
    assert ">edge<" not in client.get("/routers").get_data(as_text=True)


def test_attaching_a_subnet_that_is_not_there_is_a_message_on_the_form(demo: tuple[FlaskClient, str]) -> None:
    client, csrf = demo
    created = client.post("/routers", data={"csrf_token": csrf, "name": unique("r")})
    detail = created.headers["Location"]
    for forged in ("00000000-0000-0000-0000-000000000000", "not-an-id", "<script>"):
        response = client.post(f"{detail}/interfaces", data={"csrf_token": csrf, "subnet": forged})
        html = response.get_data(as_text=True)
        assert response.status_code == 400, html
        assert 'class="form-error"' in html or error_of(html, "interface", "subnet"), html
        assert "<script>" not in html
    empty = client.post(f"{detail}/interfaces", data={"csrf_token": csrf, "subnet": ""})
    assert error_of(empty.get_data(as_text=True), "interface", "subnet") == "This field is required."


def test_a_tenant_network_as_gateway_is_refused_on_the_form(demo: tuple[FlaskClient, str]) -> None:
    client, csrf = demo
    member = token(client, "demo", DEMO_PASSWORD, "demo")
    network_id, _ = tenant_subnet(client, member, "10.21.0.0/24")
    for network in (network_id, "no-such-network"):
        response = client.post("/routers", data={"csrf_token": csrf, "name": unique("r"), "network": network})
        html = response.get_data(as_text=True)
        assert response.status_code == 400, html
        assert error_of(html, "router", "network") or 'class="form-error"' in html, html


def test_deleting_a_router_with_a_subnet_says_why_on_its_page(demo: tuple[FlaskClient, str]) -> None:
    client, csrf = demo
    member = token(client, "demo", DEMO_PASSWORD, "demo")
    _, subnet_id = tenant_subnet(client, member, "10.22.0.0/24")
    detail = client.post("/routers", data={"csrf_token": csrf, "name": unique("r")}).headers["Location"]
    assert client.post(f"{detail}/interfaces", data={"csrf_token": csrf, "subnet": subnet_id}).status_code == 303
    refused = client.post(f"{detail}/delete", data={"csrf_token": csrf})
    assert refused.status_code == 303 and refused.headers["Location"] == detail
    page = client.get(detail).get_data(as_text=True)
    assert 'class="error notice-error"' in page and "10.22.0.0/24" in page


def test_another_projects_router_is_neither_listed_nor_shown(demo: tuple[FlaskClient, str]) -> None:
    client, _ = demo
    other = make_tenant(client)
    hidden_name = unique("hidden")
    router = call(client, "POST", "/network/v2.0/routers", other.token(client), json={"router": {"name": hidden_name}})
    assert hidden_name not in client.get("/routers").get_data(as_text=True)
    response = client.get(f"/routers/{router['router']['id']}")
    assert response.status_code == 404 and hidden_name not in response.get_data(as_text=True)


def test_detaching_a_subnet_that_is_not_attached_is_an_error_notice(demo: tuple[FlaskClient, str]) -> None:
    client, csrf = demo
    detail = client.post("/routers", data={"csrf_token": csrf, "name": unique("r")}).headers["Location"]
    for subnet in ("00000000-0000-0000-0000-000000000000", "<b>x"):
        response = client.post(f"{detail}/interfaces/{subnet}/remove", data={"csrf_token": csrf})
        assert response.status_code == 303 and response.headers["Location"] == detail
        page = client.get(detail).get_data(as_text=True)
        assert re.search(r'class="error notice-error" role="alert">[^<]+<', page), page
        assert "<b>x" not in page


def test_an_admin_sees_only_the_routers_and_subnets_of_the_project_signed_in_to(
    admin: tuple[FlaskClient, str],
) -> None:
    """Neutron lists every project's routers and subnets to an admin; the project's pages show its own."""
    client, csrf = admin
    other = make_tenant(client)
    hidden = unique("hidden")
    other_token = other.token(client)
    call(client, "POST", "/network/v2.0/routers", other_token, json={"router": {"name": hidden}})
    _, other_subnet = tenant_subnet(client, other_token, "10.23.0.0/24")
    assert hidden not in client.get("/routers").get_data(as_text=True)
    detail = client.post("/routers", data={"csrf_token": csrf, "name": unique("mine")}).headers["Location"]
    assert other_subnet not in client.get(detail).get_data(as_text=True)
