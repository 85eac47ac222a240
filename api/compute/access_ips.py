"""``accessIPv4`` and ``accessIPv6`` of a server (create, update, rebuild): addresses, as Nova's schema formats
require, never any string. They are shown back to every reader of the server and to the metadata service."""

from __future__ import annotations

import ipaddress
from typing import Any

from common.exceptions import ValidationError

_KINDS = (("accessIPv4", ipaddress.IPv4Address, "ipv4"), ("accessIPv6", ipaddress.IPv6Address, "ipv6"))


def check_access_ips(body: dict[str, Any]) -> None:
    """400 for an ``accessIPv4`` that is not a dotted IPv4 address or an ``accessIPv6`` that is not an IPv6 one
    (no zone index: ``%eth0`` names an interface of some host, not an address)."""
    for field, kind, name in _KINDS:
        value = body.get(field)
        if value is None:
            continue
        try:
            kind(value)
            valid = "%" not in value
        except ValueError:
            valid = False
        if not valid:
            raise ValidationError(field=field, reason=f"{value!r} is not a '{name}'")
