"""Authenticated task messages: each carries its sender, its recipient, when it was sent and an HMAC over all
of that plus the task's name, id and arguments; a worker runs only what verifies.

Why an HMAC per host rather than Celery's message signing (the ``auth`` serializer): that needs an X.509 key
pair per host and a certificate store on every worker, costs an RSA signature and verification per message (on
the path the boot benchmark counts), and only tells the worker that *some* trusted certificate signed; mapping
certificates to hosts would still be ours to write. Here the control side keeps one master secret and derives
every key from it (``HMAC(master, "host:" + name)``): it holds each host's key without a list to keep in sync,
and a host is given only its own (written by the launcher, or by ``stratus-manage host-keys`` for another
machine). Who can sign what follows from who holds which key:

- control -> control queues: the control key, which no host holds;
- control -> ``compute.<Y>`` / ``network.<Y>``: Y's key, so only the control side (or Y itself) can make a
  message Y will run, and host X cannot send work to host Y;
- host X -> anything: X's own key with sender X; the control side derives the key from the claimed sender, so
  a host cannot speak as another host or as the control side.

What the worker then does with an authenticated sender (which tasks a host may send, which hosts its reports
may name) is ``common.queue``'s business. A message older than ``max_age`` (a captured message played back
later) or dated in the future is refused. A replay inside that window is not detected: tasks are idempotent.
Contents are not hidden either; TLS to Redis protects them on the wire.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kombu.utils import json as kombu_json

from common.exceptions import ConfigError

CONTROL = "control"
"""The sender name of every control-side process (API, scheduler, network and image services). Host names are
never this: ``common.hostnames`` and the launcher refuse it."""

HEADERS = ("stratus_sender", "stratus_to", "stratus_sent", "stratus_mac")
CLOCK_SKEW = 60.0
"""Seconds a message may seem to come from the future (clocks of different machines disagree a little)."""


class ForgedMessage(Exception):
    """A task message that does not verify; the reason says why (never which key was expected)."""


def derive(master: bytes, label: str) -> bytes:
    return hmac.new(master, label.encode(), hashlib.sha256).digest()


def host_key(master: bytes, host: str) -> bytes:
    return derive(master, f"host:{host}")


def control_key(master: bytes) -> bytes:
    return derive(master, "control")


def canonical(value: Any, decoded: bool = False) -> bytes:
    """The bytes the MAC covers: what the worker decodes, encoded again with sorted keys. The sender encodes and
    decodes first (``decoded=False``), so its tuples, integer keys and the like become what the worker sees."""
    if not decoded:
        value = kombu_json.loads(kombu_json.dumps(value))
    return kombu_json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def mac(
    key: bytes,
    name: str,
    task_id: str,
    args: Any,
    kwargs: Any,
    sender: str,
    to: str,
    sent: float,
    *,
    decoded: bool = False,
) -> str:
    payload = canonical([name, task_id, list(args or ()), dict(kwargs or {}), sender, to, sent], decoded)
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


class Keyring:
    """Which key signs a message to ``to`` (a host name, or "" for a control queue), and which key verifies a
    message claiming ``sender``: None when this process cannot accept that sender at all."""

    sender: str

    def signing_key(self, to: str) -> bytes:
        raise NotImplementedError

    def verification_key(self, sender: str, to: str) -> bytes | None:
        raise NotImplementedError


class ControlKeyring(Keyring):
    sender = CONTROL

    def __init__(self, master: bytes) -> None:
        self._master = master

    def signing_key(self, to: str) -> bytes:
        return host_key(self._master, to) if to else control_key(self._master)

    def verification_key(self, sender: str, to: str) -> bytes | None:
        if sender == CONTROL:
            return self.signing_key(to)
        return host_key(self._master, sender) if sender else None


class HostKeyring(Keyring):
    """A host agent's keys: its own, and with the fake drivers those of the simulated hosts it serves (the
    control side signs their queues' messages with them)."""

    def __init__(self, sender: str, keys: dict[str, bytes]) -> None:
        if sender not in keys:
            raise ConfigError(setting="queue_keys_dir", reason=f"the key file has no key for host {sender}")
        self.sender = sender
        self._keys = keys

    def signing_key(self, to: str) -> bytes:
        return self._keys[self.sender]

    def verification_key(self, sender: str, to: str) -> bytes | None:
        if sender == CONTROL:
            return self._keys.get(to) if to else None
        return self._keys[sender] if sender == self.sender else None


@dataclass(frozen=True)
class MessageAuth:
    keyring: Keyring
    max_age: float

    def sign(self, name: str, task_id: str, args: Any, kwargs: Any, to: str) -> dict[str, Any]:
        """The headers that authenticate one message."""
        sender, sent = self.keyring.sender, round(time.time(), 3)
        signature = mac(self.keyring.signing_key(to), name, task_id, args, kwargs, sender, to, sent)
        return {"stratus_sender": sender, "stratus_to": to, "stratus_sent": sent, "stratus_mac": signature}

    def verify(self, name: str, task_id: str, args: Any, kwargs: Any, headers: dict[str, Any]) -> str:
        """The authenticated sender of a received message; ForgedMessage when it does not verify."""
        sender, to = headers.get("stratus_sender"), headers.get("stratus_to")
        sent, signature = headers.get("stratus_sent"), headers.get("stratus_mac")
        if not (isinstance(sender, str) and isinstance(to, str) and isinstance(signature, str)):
            raise ForgedMessage("the message carries no signature")
        if not isinstance(sent, int | float) or isinstance(sent, bool):
            raise ForgedMessage("the message carries no send time")
        key = self.keyring.verification_key(sender, to)
        if key is None:
            raise ForgedMessage(f"this worker accepts no message from {sender!r} to {to!r}")
        expected = mac(key, name, task_id, args, kwargs, sender, to, sent, decoded=True)
        if not hmac.compare_digest(expected, signature):
            raise ForgedMessage(f"the signature does not match (sender {sender!r})")
        age = time.time() - sent
        if age > self.max_age:
            raise ForgedMessage(f"the message is {age:.0f}s old, more than {self.max_age:.0f}s")
        if age < -CLOCK_SKEW:
            raise ForgedMessage(f"the message is dated {-age:.0f}s in the future")
        return sender


# ---------------------------------------------------------------------------------------------------------------
# Key files


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (its directory 0700), atomically: a reader never sees half a key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(partial, path)


def ensure_master_key(path: Path) -> bytes:
    """The control side's master secret, created on first use (only the control node ever has this file)."""
    if not path.exists():
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another control process made it a moment ago
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    return read_master_key(path)


def read_master_key(path: Path) -> bytes:
    for _ in range(20):  # a process that lost the creation race may read before the winner has written
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(setting="queue_keys_dir", reason=f"cannot read {path}: {exc.strerror}") from None
        if text:
            break
        time.sleep(0.05)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 32:
        raise ConfigError(setting="queue_keys_dir", reason=f"{path} does not hold a 256-bit hex key")
    return key


def write_host_keys(path: Path, master: bytes, hosts: list[str]) -> None:
    """The key file of one host agent: a ``name key`` line for each host name it speaks for."""
    _write_private(path, "".join(f"{host} {host_key(master, host).hex()}\n" for host in hosts))


def read_host_keys(path: Path) -> dict[str, bytes]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(setting="queue_keys_dir", reason=f"cannot read {path}: {exc.strerror}") from None
    keys = {}
    for line in lines:
        name, _, value = line.strip().partition(" ")
        try:
            keys[name] = bytes.fromhex(value)
        except ValueError:
            raise ConfigError(setting="queue_keys_dir", reason=f"{path}: a line is not 'host hexkey'") from None
    return keys
