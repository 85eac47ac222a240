"""The client's address behind a load balancer (``api.proxies``): believed from the named proxies only."""

from __future__ import annotations

from typing import Any

import pytest

from api.proxies import ORIGINAL_ADDRESS, TrustedProxies, install, trusted_networks
from common.exceptions import ConfigError


def _seen(remote: str, forwarded: str | None, trusted: str = "127.0.1.1 10.20.0.0/24") -> dict[str, Any]:
    """The environ the application behind the middleware gets for a request from ``remote``."""
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return []

    environ = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    TrustedProxies(app, trusted_networks(trusted))(environ, lambda *a: None)
    return seen


def test_a_trusted_proxy_gives_the_client_address_and_the_header_as_the_client_sent_it():
    seen = _seen("127.0.1.1", "203.0.113.5")
    assert seen["REMOTE_ADDR"] == "203.0.113.5" and "HTTP_X_FORWARDED_FOR" not in seen
    assert seen[ORIGINAL_ADDRESS] == "127.0.1.1"
    # The metadata proxy's signed header stays exactly as it signed it; HAProxy's entry comes off.
    seen = _seen("10.20.0.7", "10.0.0.12, 198.51.100.9")
    assert seen["REMOTE_ADDR"] == "198.51.100.9" and seen["HTTP_X_FORWARDED_FOR"] == "10.0.0.12"


def test_a_client_claim_is_never_believed():
    # Not from a trusted proxy: untouched, whatever the header says.
    seen = _seen("198.51.100.9", "127.0.1.1")
    assert seen["REMOTE_ADDR"] == "198.51.100.9" and seen["HTTP_X_FORWARDED_FOR"] == "127.0.1.1"
    # Through the proxy, only the entry the proxy appended counts, not the client's own before it.
    assert _seen("127.0.1.1", "192.0.2.7,203.0.113.5")["REMOTE_ADDR"] == "203.0.113.5"
    # A garbled last entry leaves the proxy's address, never a client-chosen one.
    seen = _seen("127.0.1.1", "192.0.2.7, not-an-address")
    assert seen["REMOTE_ADDR"] == "127.0.1.1" and ORIGINAL_ADDRESS not in seen


def test_ipv6_and_mapped_ipv4_addresses():
    assert _seen("::ffff:127.0.1.1", "2001:db8::5")["REMOTE_ADDR"] == "2001:db8::5"
    assert _seen("2001:db8::1", "203.0.113.5", trusted="2001:db8::/64")["REMOTE_ADDR"] == "203.0.113.5"


def test_no_trusted_proxy_installs_nothing_and_a_bad_one_is_a_config_error():
    def app(environ: Any, start_response: Any) -> list[bytes]:
        return []

    assert install(app, "") is app
    for bad in ("127.0.0.300", "10.0.0.1/8", "proxy.example"):
        with pytest.raises(ConfigError):
            trusted_networks(bad)
