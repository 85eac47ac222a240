"""The Console page in Chromium against a real guest: a user opens an instance's console, types ``hostname`` into
the xterm.js terminal and sees the server's name come back from the guest's shell; the graphical tab shows the
guest's screen through noVNC (a canvas that is not blank). Libvirt and QEMU, so run it under the e2e lock."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from manage.clouds import write_clouds_yaml
from tests.e2e.conftest import libvirtd, libvirtd_gate, tiny_image  # noqa: F401 - the real guest's fixtures
from tests.e2e.kernel import remove_domains_under
from tests.e2e.libvirtd_gate import LibvirtdGate
from tests.harness import running_cloud, wait_until
from tests.portal.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, PortalCloud, _upload_image, sign_in

NAME = "console-vm"


@pytest.fixture(scope="module", autouse=True)
def _shares_libvirtd(libvirtd_gate: LibvirtdGate) -> Iterator[None]:  # noqa: F811
    """Its guest runs on the machine's libvirtd: held shared, as every e2e guest module holds it, so no test restarts
    the daemon under it (a restart during its spawn left it in BUILD for 180 s once in a full run)."""
    libvirtd_gate.enter()
    try:
        yield
    finally:
        libvirtd_gate.leave()


@pytest.fixture(scope="module")
def portal_cloud(tiny_image: Path, libvirtd: str) -> Iterator[PortalCloud]:  # noqa: F811
    """This module's cloud: libvirt hosts and the tiny image (the session's portal cloud has fake hosts, whose
    consoles only echo)."""
    state = Path(tempfile.mkdtemp(prefix="stratus-portal-console-", dir="/var/tmp"))  # QEMU must reach the disks
    state.chmod(0o711)
    env = {
        "STRATUS_COMPUTE_DRIVER": "libvirt",
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_LIBVIRT_URI": libvirtd,
        "STRATUS_INSTANCES_PATH": str(state / "instances"),
        "STRATUS_IMAGE_CACHE_PATH": str(state / "cache"),
    }
    try:
        with running_cloud(state, env) as server:
            server.bootstrap(ADMIN_PASSWORD, DEMO_PASSWORD)
            clouds_yaml = state / "clouds.yaml"
            write_clouds_yaml(clouds_yaml, server.auth_url, "RegionOne", {"stratus": ("demo", DEMO_PASSWORD)})
            admin = PortalCloud(server, clouds_yaml, "").token()
            cloud = PortalCloud(server, clouds_yaml, _upload_image(server, admin, tiny_image))
            try:
                yield cloud
            finally:
                remove_domains_under(state)
    finally:
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def server_id(portal_cloud: PortalCloud) -> str:
    token = portal_cloud.token("demo", DEMO_PASSWORD, "demo")
    body = {"server": {"name": NAME, "imageRef": portal_cloud.image_id, "flavorRef": "1", "networks": "none"}}
    made = portal_cloud.call("POST", "/compute/v2.1/servers", token, json=body)
    assert made.status_code == 202, made.text
    server = made.json()["server"]["id"]
    console = {"os-getConsoleOutput": {}}
    wait_until(
        lambda: portal_cloud.call("POST", f"/compute/v2.1/servers/{server}/action", token, json=console),
        180,
        interval=1,
        message=f"{NAME} never printed its ready marker",
        until=lambda answer: answer.ok and f"STRATUS-READY hostname={NAME}" in answer.json()["output"],
    )
    return server


def test_typing_hostname_in_the_console_tab_shows_the_servers_name(
    page: Any, portal_cloud: PortalCloud, server_id: str, artefacts: Path
) -> None:
    sign_in(page)
    page.goto(f"/instances/{server_id}")
    page.get_by_role("link", name="Open console").click()
    page.wait_for_url(f"**/instances/{server_id}/remote-console")
    page.locator("#remote-console[data-serial='connected']").wait_for(timeout=20_000)
    page.locator("#terminal .xterm").click()
    page.keyboard.press("Enter")
    page.keyboard.type("echo TYPED-$((6*7)); hostname")
    page.keyboard.press("Enter")
    rows = page.locator("#terminal .xterm-rows")
    deadline = time.monotonic() + 30
    while "TYPED-42" not in (text := rows.inner_text()) or not _answered(text):
        assert time.monotonic() < deadline, f"the terminal shows: {text!r}"
        time.sleep(0.2)
    page.screenshot(path=artefacts / "console-serial.png", full_page=True)


def _answered(text: str) -> bool:
    """The shell's answer, not the echo of our line: the computed marker, then the name on the next line."""
    lines = [line.strip() for line in text.splitlines()]
    return any(line == "TYPED-42" and lines[i + 1 : i + 2] == [NAME] for i, line in enumerate(lines))


def test_the_graphical_tab_shows_the_guests_screen(
    page: Any, portal_cloud: PortalCloud, server_id: str, artefacts: Path
) -> None:
    sign_in(page)
    page.goto(f"/instances/{server_id}/remote-console")
    page.get_by_role("tab", name="Graphical console").click()
    frame = page.frame_locator("#vnc-frame")
    frame.locator("body[data-state='connected']").wait_for(timeout=30_000)
    canvas = frame.locator("#screen canvas")
    canvas.wait_for()
    deadline = time.monotonic() + 30
    while canvas.evaluate(LIT_PIXELS) == 0:
        assert time.monotonic() < deadline, "the console's canvas stayed blank"
        time.sleep(0.5)
    page.screenshot(path=artefacts / "console-vnc.png", full_page=True)


LIT_PIXELS = """canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let lit = 0;
  for (let i = 0; i < data.length; i += 4) { if (data[i] + data[i + 1] + data[i + 2] > 60) { lit++; } }
  return lit;
}"""


def test_another_projects_user_gets_no_console_url(page: Any, portal_cloud: PortalCloud, server_id: str) -> None:
    portal_cloud.make_member("console-other", "console-other", "other-secret")
    sign_in(page, "console-other", "other-secret")
    page.goto("/")
    answer = page.evaluate(
        """url => fetch(url, {method: 'POST', headers: {'X-CSRF-Token': document.body.dataset.csrf}})
             .then(r => r.json().then(body => [r.status, body]))""",
        f"/instances/{server_id}/remote-console/serial",
    )
    assert answer[0] == 404 and "url" not in answer[1]
