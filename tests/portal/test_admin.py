"""The admin pages in a real browser: an admin edits a project's quotas (a limit below usage refused next to
its field until forced) and ``stratus quota show`` agrees; a member sees no admin menu and gets 403 on every
admin URL; a host is disabled with a reason from the keyboard and enabled again; screenshots of each page."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.harness import VENV_BIN
from tests.portal.conftest import ADMIN_PASSWORD, PortalCloud, sign_in

ADMIN_PATHS = ("/admin/projects", "/admin/users", "/admin/quotas", "/admin/hosts")
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)"""


def stratus_json(cloud: PortalCloud, *args: str) -> Any:
    """``stratus`` as an operator runs it, with the test cloud's clouds.yaml."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")} | {
        "OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml)
    }
    result = subprocess.run(
        [str(VENV_BIN / "stratus"), "--os-cloud", "stratus-admin", *args, "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_admin_edits_a_quota_and_stratus_quota_show_agrees(
    page: Any, portal_cloud: PortalCloud, artefacts: Path
) -> None:
    project = portal_cloud.make_member("admin-ui-quota", "admin-ui-member", "member-secret")
    member = portal_cloud.token("admin-ui-member", "member-secret", "admin-ui-quota")
    assert portal_cloud.call("POST", "/network/v2.0/networks", member, json={"network": {"name": "n1"}}).ok

    sign_in(page, "admin", ADMIN_PASSWORD, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Quotas").click()
    page.get_by_label("Project").select_option(label="admin-ui-quota")
    page.get_by_role("button", name="Edit its quotas").click()
    page.wait_for_url(f"**/admin/quotas/{project}")
    assert "1 in use" in page.locator("#quota-network-usage").inner_text()
    page.get_by_label("Instances").fill("7")
    page.get_by_label("Ports").fill("42")
    page.get_by_label("Images", exact=True).fill("3")
    page.get_by_label("Networks").fill("0")  # below the one network the project has
    page.get_by_role("button", name="Save quotas").click()
    error = page.locator("#quota-network-error")
    error.wait_for()
    assert "below what the project holds now (1 in use)" in error.inner_text()
    assert page.get_by_label("Networks").get_attribute("aria-invalid") == "true"
    page.screenshot(path=artefacts / "admin-quotas-refused.png", full_page=True)
    assert stratus_limits(portal_cloud, project)["instances"] == 10  # nothing was written

    page.get_by_label("Set limits below usage").check()
    page.get_by_role("button", name="Save quotas").click()
    page.get_by_role("status").filter(has_text="Quotas of project admin-ui-quota saved").wait_for()
    assert page.get_by_label("Instances").input_value() == "7"
    page.screenshot(path=artefacts / "admin-quotas.png", full_page=True)
    limits = stratus_limits(portal_cloud, project)
    assert (limits["instances"], limits["port"], limits["image_count_total"], limits["network"]) == (7, 42, 3, 0)


def stratus_limits(cloud: PortalCloud, project_id: str) -> dict[str, int]:
    return {row["resource"]: row["limit"] for row in stratus_json(cloud, "quota", "show", project_id)}


def test_a_member_sees_no_admin_menu_and_gets_403(page: Any, portal_cloud: PortalCloud) -> None:
    sign_in(page)
    menu = page.get_by_role("navigation", name="Main")
    assert menu.get_by_role("link", name="Overview").count() == 1
    for label in ("Projects", "Users", "Quotas", "Hosts"):
        assert menu.get_by_role("link", name=label, exact=True).count() == 0, label
    for path in (*ADMIN_PATHS, f"/admin/quotas/{portal_cloud.project_id('demo')}"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        assert page.get_by_role("alert").inner_text() == "This page is for cloud administrators."


def test_admin_pages_by_keyboard_with_labels_and_screenshots(
    page: Any, portal_cloud: PortalCloud, artefacts: Path
) -> None:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    sign_in(page, "admin", ADMIN_PASSWORD, "admin")
    shots = {
        "/admin/projects": "admin-projects",
        "/admin/users": "admin-users",
        "/admin/quotas": "admin-quota-pick",
        "/admin/hosts": "admin-hosts",
        f"/admin/projects/{portal_cloud.project_id('demo')}": "admin-project",
    }
    for path, shot in shots.items():
        page.goto(path)
        assert page.evaluate(UNLABELLED) == [], path
        page.screenshot(path=artefacts / f"{shot}.png", full_page=True)
    assert problems == []  # no script error and nothing the Content-Security-Policy had to block

    page.goto("/admin/hosts")
    host = page.locator("section.host").first
    name = host.locator("h2").inner_text().split()[0]
    assert "up" in host.locator("h2").inner_text() and "allocated" in host.locator(".bars").inner_text()
    try:
        page.get_by_label(f"Reason for disabling {name}").focus()  # then keyboard only: type, Enter submits
        page.keyboard.type("disk swap")
        page.keyboard.press("Enter")
        page.get_by_role("status").filter(has_text=f"Host {name} is disabled (disk swap)").wait_for()
        assert "disk swap" in page.locator("section.host", has_text=name).first.inner_text()
        page.screenshot(path=artefacts / "admin-hosts-disabled.png", full_page=True)
    finally:
        page.goto("/admin/hosts")
        button = page.get_by_role("button", name=f"Enable {name}")
        if button.count():
            button.focus()
            page.keyboard.press("Enter")
            page.get_by_role("status").filter(has_text=f"Host {name} is enabled").wait_for()
    services = portal_cloud.call("GET", f"/compute/v2.1/os-services?host={name}", portal_cloud.token()).json()
    assert services["services"][0]["status"] == "enabled"
