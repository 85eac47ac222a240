"""The client's address behind a load balancer: believed from the proxies the operator named, from no one else.

Behind HAProxy (``manage.api_proxy``) every connection the API sees comes from the proxy, so the per-address
sign-in limit (``identity.lockout``) would count every client in the world as one. HAProxy appends the address it
accepted the connection from to ``X-Forwarded-For``; when, and only when, the connection comes from an address of
``api_trusted_proxies``, that last entry becomes ``REMOTE_ADDR`` and is taken off the header again. Taking it off
matters: what is left is the header as the client sent it, which the metadata API checks against the signature of
a metadata proxy (``api.metadata.views``), so a signed request still verifies after passing through HAProxy.

Anything before the last entry is the client's own claim and is never believed (a client that sends
``X-Forwarded-For: 192.0.2.7`` is still counted at its own address). A request that does not come from a trusted
proxy is left exactly as it arrived. Werkzeug's ``ProxyFix`` is not used: it believes the header from whoever
sends it, and would leave the proxy's entry on the header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from common.exceptions import ConfigError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ORIGINAL_ADDRESS = "stratus.proxy_address"
"""The environ key that keeps the proxy's own address once ``REMOTE_ADDR`` holds the client's."""


def trusted_networks(text: str) -> tuple[Network, ...]:
    """The networks of ``api_trusted_proxies`` (space-separated addresses or networks); a bad one is a ConfigError,
    so the API refuses to start rather than trust something the operator did not mean."""
    networks = []
    for word in text.split():
        try:
            networks.append(ipaddress.ip_network(word, strict=True))
        except ValueError as exc:
            raise ConfigError(setting="api_trusted_proxies", reason=f"{word!r}: {exc}") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


class TrustedProxies:
    """WSGI middleware: the client's address from ``X-Forwarded-For`` on connections from ``networks`` only."""

    def __init__(self, app: WSGIApplication, networks: Iterable[Network]) -> None:
        self.app = app
        self.networks = tuple(networks)

    def trusted(self, remote: str) -> bool:
        address = _address(remote)
        return address is not None and any(address in network for network in self.networks)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        if forwarded is not None and self.trusted(environ.get("REMOTE_ADDR", "")):
            rest, _, last = forwarded.rpartition(",")
            client = _address(last)
            if client is not None:  # the proxy wrote it; a garbled one leaves the proxy's address (never a client's)
                environ[ORIGINAL_ADDRESS] = environ.get("REMOTE_ADDR", "")
                environ["REMOTE_ADDR"] = str(client)
                if rest.strip():
                    environ["HTTP_X_FORWARDED_FOR"] = rest.strip()
                else:
                    del environ["HTTP_X_FORWARDED_FOR"]
        return self.app(environ, start_response)


def install(wsgi_app: WSGIApplication, trusted: str) -> WSGIApplication:
    """``wsgi_app`` wrapped when ``trusted`` (``api_trusted_proxies``) names any proxy; as it is otherwise."""
    networks = trusted_networks(trusted)
    return TrustedProxies(wsgi_app, networks) if networks else wsgi_app
