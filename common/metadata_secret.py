"""The metadata proxies' shared secret and the signature of a guest's identity, as Neutron's metadata proxy and
Nova's metadata API agree on it (``X-Instance-ID-Signature``, here over the network and the guest's address).

A proxy on a host knows which network a request came in on (the namespace that accepted it) and from which
address; it signs exactly those two with the secret, and the metadata API answers only when the signature checks.
A guest can send any header it likes: the proxy drops them all and the guest does not know the secret.

Used by the API (``api.metadata``) and the host's proxy (``network.host.metadata``); on one machine both read the
same ``<state_dir>/metadata-secret`` (made by whichever starts first), elsewhere ``metadata_proxy_shared_secret``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from common.exceptions import ConfigError
from common.settings import HostSettings

SECRET_FILE = "metadata-secret"


def metadata_secret(settings: HostSettings) -> bytes:
    """The configured secret, else the state directory's file, made (mode 0600, atomically) when missing."""
    if settings.metadata_proxy_shared_secret:
        return settings.metadata_proxy_shared_secret.encode()
    path = settings.state_path / SECRET_FILE
    if not path.exists():
        _create(path)
    secret = path.read_bytes().strip()
    if len(secret) < 32:
        reason = f"{path} holds only {len(secret)} bytes; delete it to make a new one"
        raise ConfigError(setting="metadata_proxy_shared_secret", reason=reason)
    return secret


def _create(path: Path) -> None:
    """Write a new secret under a temporary name and link it into place: a second process making one at the same
    moment loses the link and reads the winner's, so every process ends with the same secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def sign(secret: bytes, network_id: str, address: str) -> str:
    """Hex HMAC-SHA256 of ``network_id`` and ``address`` (a newline between: neither may hold one)."""
    return hmac.new(secret, f"{network_id}\n{address}".encode(), hashlib.sha256).hexdigest()


def verify(secret: bytes, network_id: str, address: str, signature: str) -> bool:
    """True when ``signature`` is ``sign(secret, network_id, address)``; compared in constant time."""
    if "\n" in network_id or "\n" in address:
        return False
    return hmac.compare_digest(sign(secret, network_id, address).encode(), signature.encode("utf-8", "replace"))
