"""Single-use console tokens: what the compute API hands out in a console URL and the console proxy redeems.

A token is 32 random bytes (URL-safe base64, 43 characters). Redis keeps, under the SHA-256 of the token (so a
copy of Redis holds no usable token), what the token opens: the instance, its project, its compute host and the
address and port of the console there, expiring after ``console_token_ttl`` seconds. The proxy takes it with
GETDEL, so a token opens one connection, once. Host agents' Redis users cannot read these keys
(``manage.broker_acl`` gives them their queues and results only).

Every field is checked when a target is made and again when it is read back: what reaches the proxy's
``connect()`` is an IP literal and a port number, whatever was stored.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
import uuid
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

import redis

from common.queue import redis_client
from common.settings import HostSettings, Settings

KEY_PREFIX = "stratus-console-token:"
KINDS = ("serial", "vnc")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}")


class InvalidConsoleTarget(ValueError):
    """A console target with a field outside what its place allows; nothing was stored or connected."""


@dataclass(frozen=True)
class ConsoleTarget:
    """What one token opens: the ``kind`` console of ``instance_id`` (of ``project_id``, on ``compute_host``),
    listening at ``address``:``port`` on that host."""

    instance_id: str
    project_id: str
    compute_host: str
    address: str
    port: int
    kind: str

    def __post_init__(self) -> None:
        try:
            if str(uuid.UUID(self.instance_id)) != self.instance_id:
                raise ValueError
        except (ValueError, AttributeError, TypeError):
            raise InvalidConsoleTarget(f"instance id {self.instance_id!r}") from None
        if not isinstance(self.project_id, str) or not 0 < len(self.project_id) <= 64:
            raise InvalidConsoleTarget(f"project id {self.project_id!r}")
        if not isinstance(self.compute_host, str) or not _HOST_NAME.fullmatch(self.compute_host):
            raise InvalidConsoleTarget(f"compute host {self.compute_host!r}")
        try:
            ipaddress.ip_address(self.address if isinstance(self.address, str) and "%" not in self.address else "")
        except ValueError:
            raise InvalidConsoleTarget(f"console address {self.address!r}") from None
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise InvalidConsoleTarget(f"console port {self.port!r}")
        if self.kind not in KINDS:
            raise InvalidConsoleTarget(f"console kind {self.kind!r}")

    @classmethod
    def from_json(cls, raw: bytes | str) -> ConsoleTarget:
        try:
            fields: Any = json.loads(raw)
            return cls(**{name: fields[name] for name in cls.__dataclass_fields__})
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidConsoleTarget(f"stored console target: {exc}") from None


def proxy_base_url(settings: Settings) -> str:
    """The console proxy as clients reach it, a ``ws://`` or ``wss://`` URL without a trailing slash."""
    configured = settings.console_public_url.strip().rstrip("/")
    return configured or f"ws://{settings.console_proxy_host}:{settings.console_proxy_port}"


def console_url(settings: Settings, kind: str, token: str) -> str:
    """Serial: the websocket itself. VNC: the proxy's noVNC page, told (``path``) to open ``vnc?token=`` on the
    host and port it was loaded from, as Nova's ``vnc_auto.html?path=%3Ftoken%3D...``."""
    base = proxy_base_url(settings)
    if kind == "serial":
        return f"{base}/serial?token={token}"
    page = "https" + base[3:] if base.startswith("wss") else "http" + base[2:]
    return f"{page}/vnc.html?path={quote(f'vnc?token={token}', safe='')}"


_stores: dict[str, redis.Redis] = {}


def token_store(settings: HostSettings) -> redis.Redis:
    """The Redis of the broker, where tokens live: one client (and connection pool) per process; with Sentinel,
    the primary's (a failover loses the tokens not yet copied to the replica: the user asks for a new URL)."""
    url = settings.effective_broker_url
    if url not in _stores:
        _stores[url] = redis_client(settings, timeout=5)
    return _stores[url]


def token_key(token: str) -> str:
    return KEY_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def is_token(value: object) -> bool:
    """Whether ``value`` has the shape of a token we mint (anything else is refused before Redis is asked)."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def mint(store: redis.Redis, target: ConsoleTarget, ttl: int) -> str:
    """A new token for ``target``, valid for ``ttl`` seconds or until redeemed."""
    token = secrets.token_urlsafe(32)
    if not store.set(token_key(token), json.dumps(asdict(target)), ex=ttl, nx=True):
        raise RuntimeError("a fresh console token collided with a stored one")  # 256 random bits: never
    return token


def redeem(store: redis.Redis, token: str) -> ConsoleTarget | None:
    """What ``token`` opens, taken from the store in the same step (GETDEL): a second redemption, an expired
    token or one never minted all give None."""
    if not is_token(token):
        return None
    raw = store.getdel(token_key(token))
    return None if raw is None else ConsoleTarget.from_json(raw)
