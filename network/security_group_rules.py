"""Security group rules: Neutron's validation of protocols, port ranges, ICMP type/code and remotes.

Each invalid combination is a 400 with the type neutron-lib gives it (``SecurityGroupInvalidPortValue``,
``SecurityGroupRuleParameterConflict`` ...), so clients can tell them apart; an identical rule already in
the group is a 409 ``SecurityGroupRuleExists``. Protocols may be names or numbers (0-255) and are stored as
given; comparisons use the numbers, so ``tcp`` and ``6`` are the same rule, as in Neutron.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from network import addresses, quota
from network.access import Caller, get_security_group, own
from network.exceptions import (
    InvalidAttribute,
    SecurityGroupRuleExists,
    SecurityGroupRuleInvalid,
    SecurityGroupRuleNotFound,
)
from network.models import SecurityGroup, SecurityGroupRule

PROTOCOLS = {
    "ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "icmp": 1, "icmpv6": 58, "igmp": 2, "ipip": 4,
    "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43,
    "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}  # fmt: skip
PORT_PROTOCOLS = {6, 17, 33, 132, 136}
ICMP_PROTOCOLS = {1, 58}
IPV6_ONLY = {"icmpv6", "ipv6-encap", "ipv6-frag", "ipv6-icmp", "ipv6-nonxt", "ipv6-opts", "ipv6-route"}
ANY_PREFIXES = {"IPv4": "0.0.0.0/0", "IPv6": "::/0"}
IPV6_ICMP_CANONICAL = {"icmp": "ipv6-icmp", "icmpv6": "ipv6-icmp", "1": "58"}


@dataclass(frozen=True)
class CheckedRule:
    direction: str
    ethertype: str
    protocol: str | None
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str | None
    remote_group_id: str | None

    def key(self) -> tuple[Any, ...]:
        """What makes two rules the same: protocol by number, an any-address prefix the same as none."""
        number = None if self.protocol is None else protocol_number(self.protocol)
        prefix = None if self.remote_ip_prefix == ANY_PREFIXES[self.ethertype] else self.remote_ip_prefix
        ports = (self.port_range_min, self.port_range_max)
        return (self.direction, self.ethertype, number, ports, prefix, self.remote_group_id)


def _invalid(fault_type: str, message: str) -> SecurityGroupRuleInvalid:
    return SecurityGroupRuleInvalid(fault_type, message)


def _is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes Arabic-Indic and other digits, which nft would read as a
    protocol name."""
    return text.isascii() and text.isdigit()


def protocol_number(protocol: str) -> int:
    return int(protocol) if _is_number(protocol) else PROTOCOLS[protocol]


def normalise_protocol(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.lower() == "any"):
        return None
    text = str(value).strip().lower()
    if text in PROTOCOLS or (_is_number(text) and 0 <= int(text) <= 255):
        return text
    supported = [None, *sorted(PROTOCOLS)]
    raise _invalid(
        "SecurityGroupRuleInvalidProtocol",
        f"Security group rule protocol {value} not supported. Only protocol values {supported} and integer "
        "representations [0 to 255] are supported.",
    )


def _check_ports(protocol: str | None, low: int | None, high: int | None) -> None:
    if low is None and high is None:
        return
    if protocol is None:
        raise _invalid("SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol if port range is given.")
    number = protocol_number(protocol)
    if number in ICMP_PROTOCOLS:
        if low is None:
            raise _invalid(
                "SecurityGroupMissingIcmpType",
                f"ICMP code (port-range-max) {high} is provided but ICMP type (port-range-min) is missing.",
            )
        for field, attr, value in (("type", "port_range_min", low), ("code", "port_range_max", high)):
            if value is not None and not 0 <= value <= 255:
                raise _invalid(
                    "SecurityGroupInvalidIcmpValue",
                    f"Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255.",
                )
        return
    if number not in PORT_PROTOCOLS:
        raise _invalid(
            "SecurityGroupInvalidProtocolForPort",
            f"Invalid protocol {protocol} for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP.",
        )
    for value in (low, high):
        if value is not None and not 1 <= value <= 65535:
            raise _invalid("SecurityGroupInvalidPortValue", f"Invalid value for port {value}")
    if low is None or high is None or low > high:
        raise _invalid(
            "SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max"
        )


def _check_prefix(ethertype: str, prefix: str | None) -> str | None:
    if prefix is None:
        return None
    try:
        network = addresses.parse_network(prefix)
    except ValueError as exc:
        raise InvalidAttribute(attribute="remote_ip_prefix", reason=str(exc)) from None
    if f"IPv{network.version}" != ethertype:
        raise _invalid(
            "SecurityGroupRuleParameterConflict", f"Conflicting value ethertype {ethertype} for CIDR {prefix}"
        )
    return str(network)


def check_rule(attrs: Mapping[str, Any]) -> CheckedRule:
    """The rule ``attrs`` describe, normalised, or the 400 Neutron gives for it. Pure: no database."""
    ethertype = {"ipv4": "IPv4", "ipv6": "IPv6"}.get(str(attrs.get("ethertype", "IPv4")).lower())
    if ethertype is None:
        raise InvalidAttribute(attribute="ethertype", reason=f"'{attrs.get('ethertype')}' is not in IPv4, IPv6")
    protocol = normalise_protocol(attrs.get("protocol"))
    if ethertype == "IPv6" and protocol is not None:  # Neutron stores legacy IPv6 ICMP spellings as its preferred
        protocol = IPV6_ICMP_CANONICAL.get(protocol, protocol)
    if protocol in IPV6_ONLY and ethertype == "IPv4":
        raise _invalid(
            "SecurityGroupEthertypeConflictWithProtocol", f"Invalid ethertype {ethertype} for protocol {protocol}."
        )
    low, high = attrs.get("port_range_min"), attrs.get("port_range_max")
    _check_ports(protocol, low, high)
    if attrs.get("remote_ip_prefix") is not None and attrs.get("remote_group_id") is not None:
        raise _invalid(
            "SecurityGroupRemoteGroupAndRemoteIpPrefix", "Only remote_ip_prefix or remote_group_id may be provided."
        )
    return CheckedRule(
        direction=attrs["direction"],
        ethertype=ethertype,
        protocol=protocol,
        port_range_min=low,
        port_range_max=high,
        remote_ip_prefix=_check_prefix(ethertype, attrs.get("remote_ip_prefix")),
        remote_group_id=attrs.get("remote_group_id"),
    )


def _as_checked(rule: SecurityGroupRule) -> CheckedRule:
    return CheckedRule(
        rule.direction,
        rule.ethertype,
        rule.protocol,
        rule.port_range_min,
        rule.port_range_max,
        rule.remote_ip_prefix,
        rule.remote_group_id,
    )


def create_rule(session: Session, caller: Caller, attrs: Mapping[str, Any]) -> SecurityGroupRule:
    """A new rule in the caller's group ``attrs["security_group_id"]`` (404 if it is not theirs)."""
    checked = check_rule(attrs)
    group = get_security_group(session, caller, attrs["security_group_id"])
    if checked.remote_group_id is not None:
        get_security_group(session, caller, checked.remote_group_id)
    for existing in group.rules:
        if _as_checked(existing).key() == checked.key():
            raise SecurityGroupRuleExists(rule_id=existing.id)
    quota.check(session, group.project_id, "security_group_rule")
    rule = SecurityGroupRule(
        security_group_id=group.id,
        project_id=group.project_id,
        description=attrs.get("description", ""),
        **vars(checked),
    )
    group.rules.append(rule)
    group.revision_number += 1
    session.flush()
    return rule


def get_rule(session: Session, caller: Caller, rule_id: str) -> SecurityGroupRule:
    query = select(SecurityGroupRule).where(SecurityGroupRule.id == rule_id, own(caller, SecurityGroupRule.project_id))
    found = session.scalars(query).one_or_none() if len(rule_id) <= 36 else None
    if found is None:
        raise SecurityGroupRuleNotFound(id=rule_id)
    return found


def delete_rule(session: Session, caller: Caller, rule_id: str) -> None:
    rule = get_rule(session, caller, rule_id)
    group = session.get(SecurityGroup, rule.security_group_id)
    if group is not None and rule in group.rules:
        group.rules.remove(rule)  # the relationship's delete-orphan deletes the row
        group.revision_number += 1
    else:
        session.delete(rule)
    session.flush()
