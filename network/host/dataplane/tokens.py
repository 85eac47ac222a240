"""Values a renderer is about to write as syntax (an nftables script, dnsmasq's files, ``ip``/``bridge`` arguments),
checked against the characters their place allows, at the moment they are written.

The desired-state types in ``base`` already refuse malformed values when a task arrives, and the API refuses
them before they are stored; this is the third line, so that a value that slipped past both (an old row, a new
code path, a forged task) fails loudly with ``UnsafeValue`` instead of becoming a line of the host's firewall.
Each function takes the typed value (an ``ipaddress`` object, or text that must parse as one), re-derives the
text from it, and checks that text with a full-string pattern. Pure; no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from network import addresses

IFNAMSIZ = 15
_ADDRESS_TEXT = re.compile(r"[0-9a-f.:]{2,45}")
_NETWORK_TEXT = re.compile(r"[0-9a-f.:]{2,45}/[0-9]{1,3}")
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_IFNAME = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_.-]{{0,{IFNAMSIZ - 1}}}")
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?:\.(?!-)[A-Za-z0-9-]{1,63})*\.?")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafeValue(ValueError):
    """A value outside the character set of the place a renderer was about to write it; nothing was written."""

    def __init__(self, kind: str, value: Any) -> None:
        super().__init__(f"refusing to render {value!r} as {kind}")
        self.kind = kind
        self.value = value


def _checked(kind: str, pattern: re.Pattern[str], text: str, original: Any) -> str:
    if not pattern.fullmatch(text):
        raise UnsafeValue(kind, original)
    return text


def parse_address(value: Any) -> addresses.IPAddress:
    """The typed address a renderer works with (``network.addresses``), or ``UnsafeValue``."""
    try:
        return addresses.parse_address(value)
    except ValueError:
        raise UnsafeValue("an IP address", value) from None


def parse_network(value: Any, *, strict: bool = False) -> addresses.IPNetwork:
    """The typed network (an address is its host network) a renderer works with, or ``UnsafeValue``."""
    try:
        return addresses.parse_network(value, strict=strict)
    except ValueError:
        raise UnsafeValue("an IP network", value) from None


def address(value: Any) -> str:
    """An IP address (``ipaddress`` object or plain text) as canonical text; a scope id is refused."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        if getattr(value, "scope_id", None) is not None:
            raise UnsafeValue("an IP address", value)
        parsed = value
    else:
        parsed = parse_address(value)
    return _checked("an IP address", _ADDRESS_TEXT, str(parsed), value)


def network(value: Any) -> str:
    """A CIDR (``ipaddress`` network or text) as canonical ``address/prefix`` text."""
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        address(value.network_address)
        parsed = value
    else:
        parsed = parse_network(value)
    return _checked("an IP network", _NETWORK_TEXT, str(parsed), value)


def mac(value: Any) -> str:
    """A MAC address in lower-case colon form, exactly."""
    if not isinstance(value, str):
        raise UnsafeValue("a MAC address", value)
    return _checked("a MAC address", _MAC, value, value)


def ifname(value: Any) -> str:
    """A Linux interface (or nftables table/chain) name: at most 15 plain characters, never an option."""
    if not isinstance(value, str):
        raise UnsafeValue("an interface name", value)
    return _checked("an interface name", _IFNAME, value, value)


def identifier(value: Any) -> str:
    """An id as used in names and tags (uuids, host names): letters, digits, ``-`` and ``_``."""
    if not isinstance(value, str):
        raise UnsafeValue("an identifier", value)
    return _checked("an identifier", _IDENTIFIER, value, value)


def hostname(value: Any) -> str:
    """A DNS host name (RFC 1123 labels)."""
    if not isinstance(value, str) or len(value) > 253:
        raise UnsafeValue("a host name", value)
    return _checked("a host name", _HOSTNAME, value, value)


def number(value: Any, low: int, high: int) -> str:
    """An integer in ``low..high`` as decimal text (a bool is no number)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UnsafeValue(f"a number in {low}..{high}", value)
    return str(value)


def path(value: Any) -> str:
    """A file path written into a configuration line: no control character (a newline would start a new
    directive) and no surrogate."""
    text = str(value)
    if not text or _CONTROL.search(text) or not text.isprintable() or "\\" in text:
        raise UnsafeValue("a file path", value)
    try:
        text.encode()
    except UnicodeEncodeError:
        raise UnsafeValue("a file path", value) from None
    return text


def argument(value: Any) -> str:
    """One argument of a command line (no shell is involved, but a control character in one is never ours)."""
    if not isinstance(value, str) or _CONTROL.search(value):
        raise UnsafeValue("a command argument", value)
    try:
        value.encode()
    except UnicodeEncodeError:
        raise UnsafeValue("a command argument", value) from None
    return value
