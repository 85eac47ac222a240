"""The Hosts page in a real browser: an admin sees each host with its instances, drains one with its Drain
button (from the keyboard), and watches the moves in the page's migrations panel, which refreshes by itself until
they have ended: the running servers' live migrations completed, the stopped server's cold migration confirmed
by the panel; the host is then disabled with the drain's reason and its servers are on the other host, the
stopped one still stopped. Screenshots of the page while the moves run and after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness import wait_until
from tests.portal.conftest import ADMIN_PASSWORD, PortalCloud, sign_in

BASE = "/compute/v2.1"


def _boot(cloud: PortalCloud, token: str, name: str, host: str) -> str:
    body = {"server": {"name": name, "imageRef": cloud.image_id, "flavorRef": "1", "networks": "none",
                       "availability_zone": f"nova:{host}"}}  # fmt: skip
    response = cloud.call("POST", f"{BASE}/servers", token, json=body)
    assert response.status_code == 202, response.text
    server_id = response.json()["server"]["id"]
    wait_until(
        lambda: cloud.call("GET", f"{BASE}/servers/{server_id}", token).json()["server"],
        60,
        interval=0.2,
        message=f"{name} never became ACTIVE",
        until=lambda server: server["status"] == "ACTIVE" and server["OS-EXT-STS:task_state"] is None,
    )
    return server_id


def _show(cloud: PortalCloud, token: str, server_id: str) -> dict[str, Any]:
    return cloud.call("GET", f"{BASE}/servers/{server_id}", token).json()["server"]


def _host_of(cloud: PortalCloud, token: str, server_id: str) -> str:
    return _show(cloud, token, server_id)["OS-EXT-SRV-ATTR:host"]


def _stop(cloud: PortalCloud, token: str, server_id: str) -> None:
    assert cloud.call("POST", f"{BASE}/servers/{server_id}/action", token, json={"os-stop": None}).status_code == 202
    wait_until(
        lambda: _show(cloud, token, server_id),
        60,
        interval=0.2,
        message="the server never stopped",
        until=lambda server: server["status"] == "SHUTOFF" and server["OS-EXT-STS:task_state"] is None,
    )


def test_admin_drains_a_host_and_watches_the_migrations(page: Any, portal_cloud: PortalCloud, artefacts: Path) -> None:
    admin = portal_cloud.token()
    names = sorted(
        h["hypervisor_hostname"]
        for h in portal_cloud.call("GET", f"{BASE}/os-hypervisors", admin).json()["hypervisors"]
    )
    source, other = names[0], names[1]
    made = [_boot(portal_cloud, admin, f"drain-me-{i}", source) for i in range(3)]
    running, stopped = made[:2], made[2]
    _stop(portal_cloud, admin, stopped)
    try:
        sign_in(page, "admin", ADMIN_PASSWORD)
        page.goto("/admin/hosts")
        section = page.locator("section.host", has_text=source).first
        assert "3" in section.locator("dl").inner_text()
        page.get_by_role("button", name=f"Drain {source}").focus()
        page.keyboard.press("Enter")
        page.get_by_role("status").filter(
            has_text=f"Host {source} is disabled; 2 live and 1 cold migration(s) started."
        ).wait_for()
        page.screenshot(path=artefacts / "admin-hosts-draining.png", full_page=True)
        # The panel polls its fragment while a move is in flight; it ends with the live moves completed and the
        # cold one confirmed (by the panel itself, once it had finished).
        ended = page.locator("#migrations-ended")
        for server_id in running:
            ended.locator(f'tr[data-server="{server_id}"]', has_text="completed").first.wait_for(timeout=60_000)
        ended.locator(f'tr[data-server="{stopped}"]', has_text="confirmed").first.wait_for(timeout=60_000)
        page.locator("#migrations-none").wait_for()
        page.screenshot(path=artefacts / "admin-hosts-drained.png", full_page=True)
        assert {_host_of(portal_cloud, admin, s) for s in made} == {other}
        assert _show(portal_cloud, admin, stopped)["status"] == "SHUTOFF"
        service = portal_cloud.call("GET", f"{BASE}/os-services?host={source}", admin).json()["services"][0]
        assert (service["status"], service["disabled_reason"]) == ("disabled", "drained from the portal by admin")
        page.goto("/admin/hosts")
        drained = page.locator("section.host", has_text=source).first
        assert "drained from the portal by admin" in drained.inner_text()
        page.get_by_role("button", name=f"Enable {source}").click()
        page.get_by_role("status").filter(has_text=f"Host {source} is enabled").wait_for()
    finally:
        for server_id in made:
            portal_cloud.call("DELETE", f"{BASE}/servers/{server_id}", admin)
        body = {"host": source, "binary": "nova-compute"}
        portal_cloud.call("PUT", f"{BASE}/os-services/enable", admin, json=body)
