"""Addresses and CIDRs given by users, parsed strictly: plain ASCII text in, canonical ``ipaddress`` objects out.

Python's ``ipaddress`` is lenient where it matters to us: an IPv6 address may carry a scope id of *any*
characters (``fd00::1%x\\nflush ruleset #`` parses, and ``str()`` gives the text back with its newline), and
``fe80::1%a`` and ``fe80::1%b`` are two different addresses that compare unequal. Every address here ends up as
syntax somewhere (an nftables script, dnsmasq's files, ``ip`` arguments), so the text is checked *before* it is
parsed: only hex digits, ``.`` and ``:`` (and ``/`` with a decimal prefix length for a CIDR), which rules out scope
ids, whitespace, netmask spellings and every other character at once. The results are canonical (``str()`` of
the object: lower case, compressed), so two spellings of one address are the same address.

Pure and free of the database: the API's service layer and the host agents' dataplane types both use it. Errors
are ``ValueError`` with a message that quotes the value; callers turn them into their API's fault.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_LENGTH = 64
"""Longer than any address or CIDR has a reason to be (``ffff:...:255.255.255.255/128`` is 49)."""
_ADDRESS = re.compile(r"[0-9A-Fa-f.:]{2,45}")
_CIDR = re.compile(r"(?P<address>[0-9A-Fa-f.:]{2,45})/(?P<prefix>[0-9]{1,3})")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    if len(value) > MAX_LENGTH:
        raise ValueError(f"'{value[:MAX_LENGTH]}...' is too long for an IP address")
    return value


def parse_address(value: Any) -> IPAddress:
    """A plain IPv4 or IPv6 address: no scope id, no whitespace, no prefix; ValueError otherwise."""
    text = _text(value)
    if not _ADDRESS.fullmatch(text):
        raise ValueError(f"'{text}' is not a valid IP address")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a valid IP address") from None


def parse_network(value: Any, *, strict: bool = False) -> IPNetwork:
    """A CIDR ``address/prefixlen`` (decimal prefix only) or a bare address (its host network). ``strict``:
    host bits must be zero. ValueError otherwise."""
    text = _text(value)
    match = _CIDR.fullmatch(text)
    if match is None:
        try:
            return ipaddress.ip_network(parse_address(text))
        except ValueError:
            raise ValueError(f"'{text}' is not a valid IP subnet") from None
    try:
        parse_address(match["address"])
    except ValueError:
        raise ValueError(f"'{text}' is not a valid IP subnet") from None
    try:
        return ipaddress.ip_network(text, strict=strict)
    except ValueError as exc:  # a prefix too long, or host bits set: the text is plain, so quoting it is safe
        raise ValueError(f"'{text}' is not a valid IP subnet ({exc})") from None


def canonical_address(value: Any) -> str:
    """``parse_address`` as text: the one spelling stored, compared and rendered."""
    return str(parse_address(value))


def canonical_network(value: Any, *, strict: bool = False) -> str:
    return str(parse_network(value, strict=strict))
