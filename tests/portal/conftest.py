"""A private cloud (fake hosts, fake dataplane) and headless Chromium from Debian's package, driven by Playwright.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (installed by
``deploy/install-deps.sh``) with the flags a root, offline machine needs. Screenshots of the main pages go to
``test-artefacts/portal/`` (git-ignored), where CI keeps them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from manage.clouds import write_clouds_yaml
from tests.harness import Cloud, running_cloud

ADMIN_PASSWORD = "admin-secret"
DEMO_PASSWORD = "demo-secret"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "portal"
COMPUTE = {"OpenStack-API-Version": "compute 2.37"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/portal/" in str(item.fspath):
            item.add_marker(pytest.mark.portal)


@dataclass
class PortalCloud:
    server: Cloud
    clouds_yaml: Path
    image_id: str

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, user: str = "admin", password: str = ADMIN_PASSWORD, project: str = "admin") -> str:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
                },
                "scope": {"project": {"name": project, "domain": {"id": "default"}}},
            }
        }
        response = requests.post(f"{self.url}/identity/v3/auth/tokens", json=body, timeout=30)
        response.raise_for_status()
        return response.headers["X-Subject-Token"]

    def call(self, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
        headers = {"X-Auth-Token": token, **COMPUTE, **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def project_id(self, name: str) -> str:
        found = self.call("GET", f"/identity/v3/projects?name={name}", self.token()).json()["projects"]
        return found[0]["id"]

    def make_member(self, project: str, user: str, password: str) -> str:
        """A new project with one member user; returns the project id."""
        admin = self.token()
        project_id = self.call(
            "POST", "/identity/v3/projects", admin, json={"project": {"name": project, "domain_id": "default"}}
        ).json()["project"]["id"]
        user_body = {
            "user": {"name": user, "password": password, "domain_id": "default", "default_project_id": project_id}
        }
        user_id = self.call("POST", "/identity/v3/users", admin, json=user_body).json()["user"]["id"]
        role = self.call("GET", "/identity/v3/roles?name=member", admin).json()["roles"][0]["id"]
        assert self.call("PUT", f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role}", admin).ok
        return project_id


def _upload_image(cloud: Cloud, token: str, path: Path) -> str:
    call = lambda method, p, **kw: requests.request(  # noqa: E731
        method, f"{cloud.url}{p}", headers={"X-Auth-Token": token, **kw.pop("headers", {})}, timeout=60, **kw
    )
    body = {"name": "tiny", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"}
    image_id = call("POST", "/image/v2/images", json=body).json()["id"]
    response = call(
        "PUT",
        f"/image/v2/images/{image_id}/file",
        data=path.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 204, response.text
    return image_id


@pytest.fixture(scope="session")
def portal_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalCloud]:
    """The whole cloud with the demo tenant, a public image and demo-net, as ``make up`` leaves it. Builds take
    a moment on the fake hosts (compute_fake_delay) so a test can watch BUILD turn ACTIVE."""
    state_dir = tmp_path_factory.mktemp("portal-cloud")
    env = {
        "STRATUS_IMAGE_IMPORT_TARGET_FORMAT": "raw",
        "STRATUS_COMPUTE_FAKE_DELAY": "0.7",
        "STRATUS_COMPUTE_FAKE_HOSTS": "2",
    }
    with running_cloud(state_dir, env) as server:
        server.bootstrap(ADMIN_PASSWORD, DEMO_PASSWORD)
        clouds_yaml = state_dir / "clouds.yaml"
        accounts = {"stratus-admin": ("admin", ADMIN_PASSWORD), "stratus": ("demo", DEMO_PASSWORD)}
        write_clouds_yaml(clouds_yaml, server.auth_url, "RegionOne", accounts)
        disk = state_dir / "tiny.qcow2"
        subprocess.run(["qemu-img", "create", "-f", "qcow2", str(disk), "16M"], check=True, capture_output=True)
        admin = PortalCloud(server, clouds_yaml, "").token()
        cloud = PortalCloud(server, clouds_yaml, _upload_image(server, admin, disk))
        demo = cloud.token("demo", DEMO_PASSWORD, "demo")
        network = cloud.call("POST", "/network/v2.0/networks", demo, json={"network": {"name": "demo-net"}})
        subnet = {"subnet": {"network_id": network.json()["network"]["id"], "cidr": "10.0.0.0/24", "ip_version": 4}}
        assert cloud.call("POST", "/network/v2.0/subnets", demo, json=subnet).status_code == 201
        yield cloud


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: deploy/install-deps.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artefacts() -> Path:
    if ARTEFACTS.exists():
        shutil.rmtree(ARTEFACTS)
    ARTEFACTS.mkdir(parents=True)
    return ARTEFACTS


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Any, portal_cloud: PortalCloud, artefacts: Path) -> Iterator[Any]:
    """A fresh browser context (its own cookies) for each test, at the portal's address. When the test failed,
    the page as it was is kept (screenshot and HTML) beside the screenshots."""
    context = browser.new_context(base_url=portal_cloud.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
        if request.node.stash.get(FAILED, False):
            name = request.node.name
            tab.screenshot(path=artefacts / f"failed-{name}.png", full_page=True)
            (artefacts / f"failed-{name}.html").write_text(tab.content())
    finally:
        context.close()


def sign_in(page: Any, user: str = "demo", password: str = DEMO_PASSWORD, project: str = "") -> None:
    page.goto("/sign-in")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    if project:
        page.get_by_label("Project", exact=True).fill(project)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
