"""Where an import task may fetch image data from, and the one way it opens such a source.

A URL a tenant names is never fetched on its word: the operator lists the web sources imports may use
(``image_import_allowed_sources``: ``http(s)://host[:port]`` each), and a source is allowed only when its scheme,
host and port are exactly one of them. Nothing else is tried: no ``file://`` (host files), no other scheme, no
other host or port (the cloud's own services, metadata addresses, the LAN), and a redirect is followed only to
an allowed source. The opener has only HTTP and HTTPS handlers and no proxy taken from the environment.

``check_shape`` is what the API checks when a task is created (a URL at all, http or https, a host); ``check``
is what the image service checks before it connects, each time, redirects included.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from typing import IO, Any
from urllib.error import HTTPError, URLError
from urllib.parse import SplitResult, urlsplit

from common.exceptions import BadRequest, StratusError

SCHEMES = {"http": 80, "https": 443}
MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 30.0
"""Seconds to connect, and to wait for each read of the source's data."""


class SourceNotAllowed(StratusError):
    msg_fmt = "{reason}"
    code = 400
    title = "Bad Request"


class SourceUnreachable(StratusError):
    msg_fmt = "Could not fetch image data from {url}: {reason}"
    code = 502
    title = "Bad Gateway"


@dataclass(frozen=True)
class Source:
    """One allowed origin: a scheme, a lower-case host name or address, and a port."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def _parts(url: str) -> SplitResult:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is no number or out of range
    except ValueError as exc:
        raise SourceNotAllowed(reason=f"The import source {url!r} is not a valid URL: {exc}") from None
    return parts


def check_shape(url: str) -> None:
    """400 unless ``url`` is an http or https URL with a host (Glance refuses other import sources)."""
    parts = _parts(url)
    if parts.scheme.lower() not in SCHEMES:
        raise BadRequest(
            f"The import source {url!r} is not valid: only http and https URLs are accepted (file-based and other "
            "sources are not allowed)."
        )
    if not parts.hostname:
        raise BadRequest(f"The import source {url!r} is not valid: it names no host.")


def parse_allowed(setting: str) -> frozenset[Source]:
    """The sources of the ``image_import_allowed_sources`` setting; an entry that is no http(s) origin is an error
    (the operator's typo must not silently allow nothing or everything)."""
    found = set()
    for entry in (e.strip() for e in setting.split(",")):
        if not entry:
            continue
        parts = _parts(entry)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES or not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise ValueError(f"image_import_allowed_sources: {entry!r} is not an http(s)://host[:port] origin")
        found.add(Source(scheme, parts.hostname.lower(), parts.port or SCHEMES[scheme]))
    return frozenset(found)


def source_of(url: str) -> Source:
    parts = _parts(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not parts.hostname:
        raise SourceNotAllowed(reason=f"Import from {url} is not allowed: only http and https sources are.")
    return Source(scheme, parts.hostname.lower(), parts.port or SCHEMES[scheme])


def check(url: str, allowed: Iterable[Source]) -> None:
    """``SourceNotAllowed`` unless ``url``'s scheme, host and port are one of the ``allowed`` sources."""
    allowed = frozenset(allowed)
    if not allowed:
        raise SourceNotAllowed(
            reason=f"Import from {url} is not allowed: this cloud allows image imports from no web source "
            "(the operator lists them in image_import_allowed_sources)."
        )
    source = source_of(url)
    if source not in allowed:
        raise SourceNotAllowed(
            reason=f"Import from {url} is not allowed: {source} is not one of the sources this cloud imports from."
        )


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def __init__(self, allowed: frozenset[Source]) -> None:
        self.allowed = allowed

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Message, newurl: str
    ) -> urllib.request.Request | None:
        try:
            check(newurl, self.allowed)  # raised inside the opener: the redirect is never followed
        except SourceNotAllowed:
            fp.close()
            raise
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def open_source(url: str, allowed: frozenset[Source]) -> Any:
    """The response to ``GET url`` (its ``read(n)`` streams the body; close it), after ``check``. Redirects are
    followed only to allowed sources. ``SourceNotAllowed`` or ``SourceUnreachable`` otherwise."""
    check(url, allowed)
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        _CheckedRedirects(allowed),
    ):
        opener.add_handler(handler)
    request = urllib.request.Request(url, headers={"User-Agent": "stratus-image"})
    try:
        return opener.open(request, timeout=CONNECT_TIMEOUT)
    except HTTPError as exc:
        exc.close()
        raise SourceUnreachable(url=url, reason=f"HTTP {exc.code} {exc.reason}") from None
    except URLError as exc:
        raise SourceUnreachable(url=url, reason=str(exc.reason)) from None
    except (OSError, ValueError) as exc:
        raise SourceUnreachable(url=url, reason=str(exc) or type(exc).__name__) from None
