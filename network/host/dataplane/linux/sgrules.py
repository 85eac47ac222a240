"""One security group rule as one nftables rule: the translation from Neutron's rule model, and nothing else.

A rule is a pure function of its fields, so it is unit-tested against literal text. The direction decides which
address is the remote one (ingress: the source, egress: the destination); addresses of the other ethertype are
dropped from ``remote_ips``, and a rule left with no address at all can match nothing and renders to None.
"""

from __future__ import annotations

from network.host.dataplane import tokens
from network.wire import Rule

PORTED = {"6": "tcp", "17": "udp", "132": "sctp", "136": "udplite", "33": "dccp"}
ICMP = {"icmp", "icmpv6", "1", "58"}
NUMBERS = {
    "tcp": "6",
    "udp": "17",
    "sctp": "132",
    "udplite": "136",
    "dccp": "33",
    "gre": "47",
    "esp": "50",
    "ah": "51",
    "igmp": "2",
}
"""Protocol names as numbers: nft resolves other names through /etc/protocols, which a minimal host may lack."""


def _family(ethertype: str) -> tuple[str, int]:
    return ("ip", 4) if ethertype == "IPv4" else ("ip6", 6)


def _set(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _ports(low: int, high: int | None) -> str:
    first = tokens.number(low, 0, 65535)
    return first if high is None or high == low else f"{first}-{tokens.number(high, 0, 65535)}"


def remote_match(rule: Rule) -> str | None:
    """The address part of ``rule``: "" for any address, None when no address of its ethertype is left."""
    if rule.remote_ips is None:
        return ""
    keyword, version = _family(rule.ethertype)
    nets = [tokens.parse_network(ip) for ip in rule.remote_ips]
    kept = sorted({net for net in nets if net.version == version}, key=lambda n: (n.network_address, n.prefixlen))
    if not kept:
        return None
    side = "saddr" if rule.direction == "ingress" else "daddr"
    texts = [
        tokens.address(net.network_address) if net.prefixlen == net.max_prefixlen else tokens.network(net)
        for net in kept
    ]
    return f"{keyword} {side} {_set(texts)}"


def protocol_match(rule: Rule) -> str:
    protocol = NUMBERS.get(rule.protocol, rule.protocol) if rule.protocol else None
    if protocol is None:
        return ""
    if protocol not in ICMP and not (protocol.isascii() and protocol.isdigit() and int(protocol) <= 255):
        raise tokens.UnsafeValue("an IP protocol", rule.protocol)
    if protocol in PORTED:
        name = PORTED[protocol]
        if rule.port_min is None:
            return f"meta l4proto {name if name in ('tcp', 'udp') else protocol}"
        return f"{name} dport {_ports(rule.port_min, rule.port_max)}"
    if protocol in ICMP:
        name = "icmp" if rule.ethertype == "IPv4" else "icmpv6"
        if rule.port_min is None:
            return f"meta l4proto {'icmp' if name == 'icmp' else 'ipv6-icmp'}"
        text = f"{name} type {tokens.number(rule.port_min, 0, 255)}"
        return text if rule.port_max is None else f"{text} {name} code {tokens.number(rule.port_max, 0, 255)}"
    return f"meta l4proto {protocol}"


def render(rule: Rule, verdict: str) -> str | None:
    """The nftables rule for ``rule`` ending in ``verdict``, or None when it can match nothing."""
    remote = remote_match(rule)
    if remote is None:
        return None
    family = "meta nfproto ipv4" if rule.ethertype == "IPv4" else "meta nfproto ipv6"
    return " ".join(part for part in (family, remote, protocol_match(rule), verdict) if part)
