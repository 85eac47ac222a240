"""CSRF protection: every state-changing request must carry a token only this site's pages know.

Signed-in forms carry the session's secret; the sign-in form (there is no session yet) carries the value of a
``stratus_signin`` cookie, the double-submit pattern. What a page shows is the secret XOR a fresh random mask,
with the mask in front, so the token differs in every response: compressed pages then leak nothing about it
to a BREACH-style length attack. htmx and the upload script send the token as ``X-CSRF-Token``.
"""

from __future__ import annotations

import hmac
import secrets

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SIGNIN_COOKIE = "stratus_signin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def mask(secret: str) -> str:
    """A one-time form of ``secret`` (hex) for a page."""
    raw = bytes.fromhex(secret)
    pad = secrets.token_bytes(len(raw))
    return (pad + bytes(a ^ b for a, b in zip(pad, raw, strict=True))).hex()


def unmask(token: str) -> str | None:
    try:
        raw = bytes.fromhex(token)
    except ValueError:
        return None
    if not raw or len(raw) % 2:
        return None
    half = len(raw) // 2
    return bytes(a ^ b for a, b in zip(raw[:half], raw[half:], strict=True)).hex()


def valid(secret: str | None, token: str | None) -> bool:
    """Whether ``token`` (from a form or header) was made from ``secret``; constant time in the secret."""
    if not secret or not token:
        return False
    unmasked = unmask(token)
    return unmasked is not None and hmac.compare_digest(unmasked, secret)


def new_signin_secret() -> str:
    return secrets.token_hex(32)
