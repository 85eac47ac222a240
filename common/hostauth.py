"""Host-signed API requests: a compute host proves, on each request it makes to the API, which host it is.

Why: every host signs in with the one ``stratus-service`` account (``common.accounts``), so its token cannot tell
hosts apart, and the ``host`` role's powers (read the image of a server being built, upload the data of a snapshot
being taken) must be those of the host doing that work, not of every host: a host that is broken into must not read
each image being built anywhere in the cloud. Each host already holds a key that only it and the control side know
(``common.signing``: ``HMAC(master, "host:" + name)``), so the request carries the host's name, the time, and an
HMAC over the method, path, query, time and name, made with a key derived from the host's for this use alone (a
request signature can never pass for a task message's, or the reverse). The API derives the same key from the
master key and puts the verified host into the request context; ``api.image.access`` grants the host role only what
that host's own builds and snapshots need.

What it does not do: the signature narrows what a valid host-role token may do and grants nothing by itself (the
token is still checked first, and any other caller's signature headers are ignored). It does not cover the body: a
snapshot upload's data is inspected by the image service like any upload. A request replayed within ``MAX_AGE``
repeats the same method on the same path for the same host, which gives the replayer nothing the host did not
already get; TLS keeps requests off the wire.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from common import signing

HOST_HEADER = "X-Stratus-Host"
TIME_HEADER = "X-Stratus-Host-Time"
SIGNATURE_HEADER = "X-Stratus-Host-Signature"
HEADERS = (HOST_HEADER, TIME_HEADER, SIGNATURE_HEADER)

MAX_AGE = 120.0
"""Seconds a signed request stays valid: long enough for a slow request to reach the API, short enough that a
signature that leaks (a log, a proxy) is soon worth nothing."""

HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_DIGITS = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


class ForgedRequest(Exception):
    """A request whose host signature does not verify; the reason says why (never which key was expected)."""


def request_key(host_key: bytes) -> bytes:
    """The key a host signs API requests with, derived from its message key (``common.signing.host_key``)."""
    return signing.derive(host_key, "api-request")


def _mac(key: bytes, host: str, method: str, path: str, query: str, sent: str) -> str:
    # JSON keeps the fields apart whatever they hold (a decoded path may contain any character).
    payload = json.dumps(["stratus-host-request-v1", host, method.upper(), path, query, sent]).encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


class HostSigner:
    """Signs a host agent's API requests, each as the host whose work it is: an agent serving several simulated
    hosts holds each one's key (its message key file, ``common.signing.read_host_keys``)."""

    def __init__(self, host_keys: Mapping[str, bytes]) -> None:
        self._keys = {host: request_key(key) for host, key in host_keys.items()}

    def headers(self, host: str, method: str, url: str, now: float | None = None) -> dict[str, str]:
        """The headers that prove a request to ``url`` comes from ``host``; KeyError when this agent has no key
        for it (it does not serve that host)."""
        key = self._keys[host]
        parts = urlsplit(url)
        sent = str(int(time.time() if now is None else now))
        signature = _mac(key, host, method, unquote(parts.path), parts.query, sent)
        return {HOST_HEADER: host, TIME_HEADER: sent, SIGNATURE_HEADER: signature}


class HostVerifier:
    """The API's side: which host a request proves it comes from, with every host's key derived from the master
    key the control side holds (no list of hosts to keep in sync)."""

    def __init__(self, master: bytes) -> None:
        self._master = master

    def verify(
        self, headers: Mapping[str, str], method: str, path: str, query: str, now: float | None = None
    ) -> str | None:
        """The verified host; None when the request carries none of the headers; ForgedRequest when it carries any
        of them and they do not prove a host. ``path`` is the decoded path (script root included) and ``query``
        the raw query string, as the client sent them."""
        host, sent, signature = (headers.get(name) for name in HEADERS)
        if host is None and sent is None and signature is None:
            return None
        if not (host and sent and signature):
            raise ForgedRequest(f"a host-signed request needs all of {', '.join(HEADERS)}")
        if not HOST_NAME.fullmatch(host) or host == signing.CONTROL:
            raise ForgedRequest(f"{HOST_HEADER} does not name a host")
        if not _DIGITS.fullmatch(sent):
            raise ForgedRequest(f"{TIME_HEADER} is not a time in whole seconds")
        if not _HEX_SHA256.fullmatch(signature):
            raise ForgedRequest(f"{SIGNATURE_HEADER} is not a hex SHA-256 HMAC")
        key = request_key(signing.host_key(self._master, host))
        expected = _mac(key, host, method, path, query, sent)
        if not hmac.compare_digest(expected, signature):
            raise ForgedRequest(f"the host signature does not match (host {host})")
        age = (time.time() if now is None else now) - int(sent)
        if age > MAX_AGE:
            raise ForgedRequest(f"the host signature is {age:.0f}s old, more than {MAX_AGE:.0f}s")
        if age < -signing.CLOCK_SKEW:
            raise ForgedRequest(f"the host signature is dated {-age:.0f}s in the future")
        return host
