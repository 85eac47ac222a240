"""Which pages may open console websockets: the portal's, the proxy's own and configured extras; no other."""

from __future__ import annotations

import pytest

from common.settings import Settings
from console import origins

SETTINGS = Settings(public_url="https://cloud.example.com", console_allowed_origins="http://ops.example:8080, ")
ALLOWED = origins.allowed_origins(SETTINGS, "wss://console.example.com:6083")


@pytest.mark.parametrize(
    "origin",
    [
        "https://cloud.example.com",
        "https://CLOUD.example.com:443",
        "https://console.example.com:6083",  # the proxy's own noVNC page
        "http://ops.example:8080",
    ],
)
def test_the_portal_the_proxy_and_configured_origins_are_allowed(origin: str) -> None:
    assert origins.is_allowed(origin, ALLOWED)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://cloud.example.com",  # another scheme is another origin
        "https://cloud.example.com:8443",
        "https://cloud.example.com.evil.example",
        "null",
        "",
        "https://cloud.example.com:99999",
        "javascript:alert(1)",
    ],
)
def test_any_other_origin_is_refused(origin: str) -> None:
    assert not origins.is_allowed(origin, ALLOWED)


def test_a_client_that_is_no_web_page_sends_no_origin_and_is_let_through() -> None:
    assert origins.is_allowed(None, ALLOWED)
