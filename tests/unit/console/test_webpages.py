"""The proxy serves its noVNC page and noVNC's modules, and nothing outside them."""

from __future__ import annotations

import pytest

from console import webpages


def test_the_page_and_its_script_are_served() -> None:
    page = webpages.find("/vnc.html")
    assert page is not None and page.content_type.startswith("text/html") and b"vnc.js" in page.body
    assert webpages.find("/vnc.js").content_type.startswith("text/javascript")


@pytest.mark.skipif(not webpages.NOVNC_DIR.exists(), reason="noVNC not installed (deploy/install-deps.sh)")
def test_novnc_modules_are_served() -> None:
    page = webpages.find("/novnc/core/rfb.js")
    assert page is not None and b"export default class RFB" in page.body


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/novnc/core/../../../../../etc/passwd",
        "/novnc/core/../package.json",
        "/novnc/vendor/%2e%2e/x.js",
        "/novnc/core/",
        "/novnc/core/rfb.js\0.js",
        "/../console/server.py",
        "/novnc/docs/API.md",
        "/novnc/core\\..\\..\\x.js",
    ],
)
def test_nothing_outside_the_two_directories_is_served(path: str) -> None:
    assert webpages.find(path) is None
