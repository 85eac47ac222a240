"""Reaching an instance from the outside, in a real browser: a router with its gateway on ``public`` and the
tenant's subnet attached, a floating IP allocated and associated with an instance (seen on the instance list),
then disassociated and released, and the router taken apart and deleted. Another project's router and floating
IP never appear on these pages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.harness import wait_until
from tests.portal.conftest import DEMO_PASSWORD, PortalCloud, sign_in

PUBLIC_CIDR = "172.24.4.0/24"


def public_network(cloud: PortalCloud) -> str:
    """The external flat network ``public`` as ``make up`` makes it (made here by the admin if it is missing)."""
    admin = cloud.token()
    found = cloud.call("GET", "/network/v2.0/networks?name=public", admin).json()["networks"]
    if found:
        return found[0]["id"]
    body = {
        "network": {
            "name": "public",
            "router:external": True,
            "provider:network_type": "flat",
            "provider:physical_network": "public",
        }
    }
    created = cloud.call("POST", "/network/v2.0/networks", admin, json=body)
    assert created.status_code == 201, created.text
    network_id = created.json()["network"]["id"]
    subnet = {"subnet": {"network_id": network_id, "cidr": PUBLIC_CIDR, "ip_version": 4, "enable_dhcp": False}}
    assert cloud.call("POST", "/network/v2.0/subnets", admin, json=subnet).status_code == 201
    return network_id


def _active_server(cloud: PortalCloud, token: str, name: str) -> str:
    networks = cloud.call("GET", "/network/v2.0/networks?name=demo-net", token).json()["networks"]
    body = {
        "server": {
            "name": name,
            "imageRef": cloud.image_id,
            "flavorRef": "1",
            "networks": [{"uuid": networks[0]["id"]}],
        }
    }
    created = cloud.call("POST", "/compute/v2.1/servers", token, json=body)
    assert created.status_code == 202, created.text
    server_id = created.json()["server"]["id"]
    wait_until(
        lambda: cloud.call("GET", f"/compute/v2.1/servers/{server_id}", token).json()["server"]["status"],
        30,
        message=f"{name} never became ACTIVE",
        until=lambda status: status == "ACTIVE",
    )
    return server_id


def test_router_gateway_floating_ip_on_an_instance_and_back(
    page: Any, portal_cloud: PortalCloud, artefacts: Path
) -> None:
    public_network(portal_cloud)
    demo = portal_cloud.token("demo", DEMO_PASSWORD, "demo")
    server_id = _active_server(portal_cloud, demo, "reach-1")
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if _a_problem(message) else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    sign_in(page)

    page.get_by_role("link", name="Routers").click()
    assert _unlabelled(page) == []
    page.get_by_role("button", name="Create router").click()
    assert page.locator("#router-name-error").inner_text() == "This field is required."
    page.get_by_label("Router name").fill("edge")
    page.get_by_label("External gateway").select_option(label="public")
    page.get_by_role("button", name="Create router").click()
    page.get_by_text("Router edge created.").wait_for()
    assert re.fullmatch(r"public \(172\.24\.4\.\d+\)", page.locator("#router-gateway").inner_text())
    subnet = page.get_by_label("Subnet").locator("option", has_text="10.0.0.0/24").get_attribute("value")
    page.get_by_label("Subnet").select_option(subnet)
    page.get_by_role("button", name="Attach subnet").click()
    page.get_by_text("Subnet attached.").wait_for()
    interface = page.locator("#interfaces tr", has_text="10.0.0.0/24")
    assert "10.0.0.1" in interface.inner_text()
    assert _unlabelled(page) == []
    page.screenshot(path=artefacts / "router-detail.png", full_page=True)

    page.get_by_role("link", name="Floating IPs").click()
    page.get_by_label("External network").select_option(label="public")
    page.get_by_role("button", name="Allocate").click()
    notice = page.get_by_text(re.compile(r"Floating IP 172\.24\.4\.\d+ allocated\."))
    notice.wait_for()
    address = notice.inner_text().split()[2]
    page.get_by_role("link", name=f"Associate {address}").click()
    page.get_by_role("button", name="Associate").click()
    assert page.locator("#associate-target-error").inner_text() == "Choose an instance address."
    assert _unlabelled(page) == []
    target = page.get_by_label("Instance address").locator("option", has_text="reach-1: 10.0.0.")
    fixed_ip = target.inner_text().removeprefix("reach-1: ")
    page.get_by_label("Instance address").select_option(target.get_attribute("value"))
    page.get_by_role("button", name="Associate").click()
    page.get_by_text(f"Floating IP {address} associated with {fixed_ip}.").wait_for()
    row = page.locator("#floating-ips tr", has_text=address)
    assert "reach-1" in row.inner_text() and fixed_ip in row.inner_text()
    page.screenshot(path=artefacts / "floating-ips.png", full_page=True)

    page.get_by_role("link", name="Instances").click()
    assert f"floating: {address}" in page.locator(f"#server-{server_id}").inner_text()
    page.locator(f"#server-{server_id}").get_by_role("link", name="reach-1", exact=True).click()
    assert page.locator("#instance-floating-ips").inner_text() == address

    page.get_by_role("link", name="Floating IPs").click()
    page.get_by_role("button", name=f"Disassociate {address}").click()
    page.get_by_text("Floating IP disassociated.").wait_for()
    assert "not associated" in page.locator("#floating-ips tr", has_text=address).inner_text()
    page.get_by_role("link", name=f"Release {address}").click()
    page.get_by_role("button", name=f"Delete floating IP {address}").click()
    page.get_by_text("Floating IP released.").wait_for()
    assert page.locator("#floating-ips tr", has_text=address).count() == 0

    page.get_by_role("link", name="Routers").click()
    page.get_by_role("link", name="edge", exact=True).click()
    page.locator("#interfaces").get_by_role("button", name=re.compile("^Detach ")).click()
    page.get_by_text("Subnet detached.").wait_for()
    page.get_by_role("link", name="Delete router").click()
    page.get_by_role("button", name="Delete router edge").click()
    page.get_by_text("Router deleted.").wait_for()
    assert page.locator("#routers").get_by_text("edge", exact=True).count() == 0
    portal_cloud.call("DELETE", f"/compute/v2.1/servers/{server_id}", demo)
    assert problems == []  # no script error and nothing the Content-Security-Policy had to block


def _a_problem(message: Any) -> bool:
    """A console error other than the browser noting the 400 of a form this test sends wrong on purpose."""
    return message.type == "error" and "status of 400" not in message.text


def _unlabelled(page: Any) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)"""
    )


def test_another_projects_router_and_floating_ip_never_appear(page: Any, portal_cloud: PortalCloud) -> None:
    public_id = public_network(portal_cloud)
    portal_cloud.make_member("l3-other", "l3-other-user", "l3-other-secret")
    theirs = portal_cloud.token("l3-other-user", "l3-other-secret", "l3-other")
    router = {"router": {"name": "their-router", "external_gateway_info": {"network_id": public_id}}}
    assert portal_cloud.call("POST", "/network/v2.0/routers", theirs, json=router).status_code == 201
    fip = portal_cloud.call(
        "POST", "/network/v2.0/floatingips", theirs, json={"floatingip": {"floating_network_id": public_id}}
    )
    assert fip.status_code == 201, fip.text
    address = fip.json()["floatingip"]["floating_ip_address"]
    sign_in(page)
    page.goto("/routers")
    assert page.get_by_text("their-router").count() == 0
    page.goto("/floating-ips")
    assert page.locator("#floating-ips").get_by_text(address, exact=True).count() == 0
