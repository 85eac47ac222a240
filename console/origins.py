"""Which web pages may open a console websocket.

A browser sends the page's Origin with every websocket handshake and lets any page open a websocket to any
host: without this check, a page of another site could drive a console with a token it got hold of. Allowed are
the portal (the API's public URL), the proxy's own pages (its noVNC page) and the operator's extra origins
(``console_allowed_origins``). A request without Origin comes from no browser page (the CLI, a script) and is
let through, as Nova's proxy does: the token is what authorises it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from common.settings import Settings

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_WEB_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}

Origin = tuple[str, str, int]
"""(scheme, host, port), lower-cased, the scheme as a page's (``http``/``https``), the port always explicit."""


def parse(url: str) -> Origin | None:
    """The origin of ``url``, or None when it is none we could compare (no scheme or host, a path-only string,
    ``null`` from a sandboxed page or a file)."""
    try:
        parts = urlsplit(url.strip())
        scheme = _WEB_SCHEME.get(parts.scheme.lower())
        host = (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:  # a port that is no number, or out of range
        return None
    if scheme is None or not host:
        return None
    return scheme, host, port


def allowed_origins(settings: Settings, proxy_url: str) -> frozenset[Origin]:
    candidates = [settings.effective_public_url, proxy_url, *settings.console_allowed_origins.split(",")]
    return frozenset(origin for url in candidates if url.strip() and (origin := parse(url)) is not None)


def is_allowed(origin_header: str | None, allowed: frozenset[Origin]) -> bool:
    """Whether a handshake with this Origin header (None: absent) may go on."""
    if origin_header is None:
        return True
    origin = parse(origin_header)
    return origin is not None and origin in allowed
