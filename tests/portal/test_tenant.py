"""The tenant's everyday tasks in a real browser: sign in, launch and watch, console, stop, delete, upload an
image with its progress, a quota limit's message, CSRF refusal, keyboard use."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

from tests.harness import wait_until
from tests.portal.conftest import DEMO_PASSWORD, PortalCloud, sign_in


def test_sign_in_launch_watch_console_stop_delete(page: Any, portal_cloud: PortalCloud, artefacts: Path) -> None:
    sign_in(page)
    page.screenshot(path=artefacts / "overview.png", full_page=True)
    page.get_by_role("link", name="Instances").click()
    page.get_by_role("link", name="Launch instances").click()
    page.get_by_label("Name").fill("web-1")
    page.get_by_label("Image").select_option(label="tiny")
    page.get_by_label("Flavor").select_option(index=1)
    page.get_by_label("Network").select_option(label="demo-net")
    page.get_by_label("default").check()
    page.get_by_label("User data").fill("#!/bin/sh\necho hello\n")
    page.screenshot(path=artefacts / "launch.png", full_page=True)
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url("**/instances")
    row = page.locator("tr", has_text="web-1")
    assert row.locator(".status").inner_text() == "BUILD"
    page.evaluate("window.__stillTheSamePage = true")
    row.locator(".status-ACTIVE").wait_for(timeout=20_000)
    assert page.evaluate("window.__stillTheSamePage") is True  # it turned ACTIVE without a reload
    page.screenshot(path=artefacts / "instances.png", full_page=True)

    row.get_by_role("link", name="web-1", exact=True).click()
    page.get_by_role("link", name="Show console log").click()
    console = page.locator("#console-output")
    console.wait_for()
    assert console.inner_text()
    assert page.locator("#action-history").get_by_text("create").count() >= 1
    now = page.locator("#resize-flavor-now").inner_text().removeprefix("Now: ")
    offered = [text.split(" (")[0] for text in page.get_by_label("New flavor").locator("option").all_inner_texts()]
    assert offered[0] == "Choose a flavor" and now and now not in offered  # a resize must change the flavor
    page.screenshot(path=artefacts / "instance-detail.png", full_page=True)

    page.get_by_role("button", name="Stop web-1").click()
    page.locator("#instance-status.status-SHUTOFF").wait_for(timeout=20_000)
    page.get_by_role("link", name="Delete web-1").click()
    page.get_by_role("button", name="Delete instance web-1").click()
    page.wait_for_url("**/instances")
    page.locator("tr", has_text="web-1").wait_for(state="detached", timeout=20_000)


def test_upload_an_image_with_progress(page: Any, portal_cloud: PortalCloud, tmp_path: Path, artefacts: Path) -> None:
    disk = tmp_path / "upload.raw"
    disk.write_bytes(b"\0" * (8 << 20))
    sign_in(page)
    page.goto("/images/upload")
    page.get_by_label("Name").fill("uploaded-raw")
    page.get_by_label("Disk format").select_option("raw")
    page.get_by_label("Image file").set_input_files(str(disk))
    seen: list[str] = []
    page.expose_function("noteProgress", lambda text: seen.append(text))
    page.evaluate(
        """() => {
            const status = document.getElementById('upload-status');
            new MutationObserver(() => window.noteProgress(status.textContent))
                .observe(status, {childList: true, characterData: true, subtree: true});
        }"""
    )
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/images", timeout=30_000)
    assert any("Uploading:" in text for text in seen), seen
    assert any("100 %" in text for text in seen), seen
    row = page.locator("tr", has_text="uploaded-raw")
    row.wait_for()
    page.screenshot(path=artefacts / "images.png", full_page=True)


def test_over_quota_is_a_message_next_to_the_count(page: Any, portal_cloud: PortalCloud) -> None:
    project = portal_cloud.make_member("quota-ui", "quota-user", "quota-secret")
    admin = portal_cloud.token()
    limits = {"quota_set": {"instances": 1}}
    assert portal_cloud.call("PUT", f"/compute/v2.1/os-quota-sets/{project}", admin, json=limits).ok
    sign_in(page, "quota-user", "quota-secret")
    page.goto("/instances/launch")
    page.get_by_label("Name").fill("many")
    page.get_by_label("Image").select_option(label="tiny")
    page.get_by_label("Flavor").select_option(index=1)
    page.get_by_label("Count").fill("3")
    page.get_by_role("button", name="Launch").click()
    error = page.locator("#launch-count-error")
    error.wait_for()
    assert "Quota exceeded" in error.inner_text() and "instances" in error.inner_text()
    assert page.get_by_label("Count").get_attribute("aria-invalid") == "true"


def test_invalid_cidr_and_wrong_state_are_readable(page: Any, portal_cloud: PortalCloud) -> None:
    sign_in(page)
    page.goto("/networks")
    page.get_by_label("Network name").fill("typo-net")
    page.get_by_label("Subnet CIDR").fill("10.0.0.300/24")
    page.get_by_role("button", name="Create network").click()
    error = page.locator("#network-cidr-error")
    error.wait_for()
    assert "10.0.0.300/24" in error.inner_text()
    assert page.locator("#networks").get_by_text("typo-net").count() == 0  # nothing left half made


def test_post_without_csrf_is_refused(portal_cloud: PortalCloud, page: Any) -> None:
    sign_in(page)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    response = requests.post(
        f"{portal_cloud.url}/networks", data={"name": "forged"}, cookies=cookies, allow_redirects=False, timeout=30
    )
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    demo = portal_cloud.token("demo", DEMO_PASSWORD, "demo")
    names = [n["name"] for n in portal_cloud.call("GET", "/network/v2.0/networks", demo).json()["networks"]]
    assert "forged" not in names


def test_keyboard_only_sign_in_and_labels_everywhere(page: Any, portal_cloud: PortalCloud) -> None:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto("/sign-in")
    page.keyboard.type("demo")  # the user name field has focus on arrival
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/")
    for path in ("/instances/launch", "/images/upload", "/networks", "/key-pairs", "/security-groups"):
        page.goto(path)
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                   .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)"""
        )
        assert unlabelled == [], (path, unlabelled)
    started = time.monotonic()
    page.goto("/instances")
    assert time.monotonic() - started < 5
    assert problems == []  # no script error and nothing the Content-Security-Policy had to block


def test_an_action_in_the_wrong_state_is_refused_next_to_its_row(page: Any, portal_cloud: PortalCloud) -> None:
    demo = portal_cloud.token("demo", DEMO_PASSWORD, "demo")
    body = {"server": {"name": "stale-1", "imageRef": portal_cloud.image_id, "flavorRef": "1", "networks": "none"}}
    server = portal_cloud.call("POST", "/compute/v2.1/servers", demo, json=body).json()["server"]
    _wait_status(portal_cloud, demo, server["id"], "ACTIVE")
    sign_in(page)
    page.goto("/instances")
    row = page.locator(f"#server-{server['id']}")
    row.locator(".status-ACTIVE").wait_for()
    # Someone else stops it; this page still offers Stop.
    assert (
        portal_cloud.call(
            "POST", f"/compute/v2.1/servers/{server['id']}/action", demo, json={"os-stop": None}
        ).status_code
        == 202
    )
    _wait_status(portal_cloud, demo, server["id"], "SHUTOFF")
    row.get_by_role("button", name="Stop stale-1").click()
    error = page.locator(f"#server-{server['id']} .error[role=alert]")
    error.wait_for()
    assert "os-stop" in error.inner_text() or "state" in error.inner_text()
    assert page.locator(f"#server-{server['id']} .status-SHUTOFF").count() == 1  # the row shows the truth now
    portal_cloud.call("DELETE", f"/compute/v2.1/servers/{server['id']}", demo)


def _wait_status(cloud: PortalCloud, token: str, server_id: str, status: str, timeout: float = 30) -> None:
    wait_until(
        lambda: cloud.call("GET", f"/compute/v2.1/servers/{server_id}", token).json()["server"],
        timeout,
        message=f"{server_id} never became {status}",
        until=lambda server: server["status"] == status and not server["OS-EXT-STS:task_state"],
    )
