"""Security groups and anti-spoofing as one nftables script, rendered from the desired state by pure functions.

Two tables, because on this kernel only the ``inet`` family has connection tracking for bridged traffic (with
``bridge-nf-call-iptables=1`` bridged IP packets also traverse the ``inet`` forward hook), while only the
``bridge`` family sees which bridge port a frame came in on or goes out of (the ``inet`` hook sees the bridge):

* ``bridge stratus``, forward hook at priority -300 (before bridge netfilter hands the packet to ``inet``): a
  frame from a filtered port must carry one of the port's MACs, and its IPv4/IPv6 source or ARP sender must be
  one of the port's (mac, address) pairs (its fixed IPs, allowed address pairs, IPv6 link-local; DHCP discovery
  from 0.0.0.0 and ARP probes are let through); other ethertypes are dropped. The frame is then marked with
  the port's index: the low 16 bits say "from port i", the high 16 bits "to port j".
* ``inet stratus``, forward hook: packets through our bridges that touch a filtered port pass replies of
  allowed connections (``ct state established,related``), drop ``invalid``, and otherwise go through the
  sender's egress chain (``return`` when allowed, else drop) and the receiver's ingress chain (``accept`` when
  allowed, else drop). Neutron's defaults come first: DHCP and ICMPv6 neighbour discovery are always allowed
  where needed, a port may not act as a DHCP server or send router advertisements.

Each network also gets its own connection tracking zone (set in a prerouting chain before conntrack looks the
packet up, by the bridge the packet came in on): tenants reuse the same addresses, and without zones a packet of
one network could pass as the reply to a connection of another.

Dispatch is by verdict maps keyed on the interface name or the mark, so each packet costs a constant number of
lookups plus its own port's rules, and the script grows linearly with ports and rules. A ``qvo`` device the
script does not know is dropped: a port is never reachable before its rules are loaded.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from network.devicenames import ID_LEN, network_bridge, vif_names
from network.host.dataplane import tokens
from network.host.dataplane.linux import sgrules
from network.wire import NetworkWiring, PortWiring

TABLE = "stratus"
_SCRIPT_LINE = re.compile(r"[\t A-Za-z0-9{}:;,./@_\"!=&|*<>+-]*")
_DIRECTIVE = re.compile(r"\b(include|define|redefine|undefine)\b")
MAX_PORTS = 0xFFFF
IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
ALWAYS_EGRESS = (
    "udp sport 68 udp dport 67 return",
    "meta nfproto ipv6 udp sport 546 udp dport 547 return",
    "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, "
    "mld-listener-done, mld2-listener-report } return",
    "udp sport 67 udp dport 68 drop",
    "meta nfproto ipv6 udp sport 547 udp dport 546 drop",
    "icmpv6 type nd-router-advert drop",
)
ALWAYS_INGRESS = (
    "udp sport 67 udp dport 68 accept",
    "meta nfproto ipv6 udp sport 547 udp dport 546 accept",
    "icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query } accept",
)


def link_local(mac: str) -> ipaddress.IPv6Address:
    """The EUI-64 IPv6 link-local address a guest derives from ``mac`` (RFC 4291 appendix A)."""
    octets = bytearray(int(part, 16) for part in mac.split(":"))
    octets[0] ^= 0x02
    return ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:]))


def source_pairs(port: PortWiring) -> dict[int, list[tuple[str, IPNet]]]:
    """(mac, network) pairs a port may send from, per IP version, overlaps merged (an interval set refuses
    overlapping elements, and a fixed IP is often inside an allowed pair's CIDR)."""
    by_mac: dict[str, list[IPNet]] = {port.mac: [tokens.parse_network(ip) for ip in port.ips]}
    for mac, cidr in port.allowed_pairs:
        by_mac.setdefault(mac, []).append(tokens.parse_network(cidr))
    for mac in by_mac:
        by_mac[mac].append(ipaddress.ip_network(link_local(mac)))
    pairs: dict[int, list[tuple[str, IPNet]]] = {4: [], 6: []}
    for mac in sorted(by_mac):
        for version in (4, 6):
            nets = [net for net in by_mac[mac] if net.version == version]
            pairs[version] += [(mac, net) for net in ipaddress.collapse_addresses(nets)]  # type: ignore[arg-type]
    return pairs


def _elements(items: Iterable[str]) -> str:
    listed = ", ".join(items)
    return f" elements = {{ {listed} }};" if listed else ""


def _pair(mac: str, net: IPNet) -> str:
    host = net.prefixlen == net.max_prefixlen
    return f"{tokens.mac(mac)} . {tokens.address(net.network_address) if host else tokens.network(net)}"


def _indent(lines: Iterable[str], depth: int = 2) -> list[str]:
    return ["\t" * depth + line for line in lines]


def _port_key(port: PortWiring) -> str:
    return tokens.identifier(port.port_id[:ID_LEN])


def _ifname(name: str) -> str:
    return f'"{tokens.ifname(name)}"'


def _bridge_port(port: PortWiring, index: int) -> list[str]:
    key = _port_key(port)
    pairs = source_pairs(port)
    macs = sorted(tokens.mac(mac) for mac in {port.mac, *(mac for mac, _ in port.allowed_pairs)})
    return [
        f"\tset macs_{key} {{ type ether_addr;{_elements(macs)} }}",
        f"\tset ip4_{key} {{ type ether_addr . ipv4_addr; flags interval;{_elements(_pair(*p) for p in pairs[4])} }}",
        f"\tset ip6_{key} {{ type ether_addr . ipv6_addr; flags interval;{_elements(_pair(*p) for p in pairs[6])} }}",
        f"\tchain from_{key} {{",
        *_indent(
            [
                f"ether saddr != @macs_{key} drop",
                f"ether type arp arp saddr ip 0.0.0.0 meta mark set {index:#x} return",
                f"ether type arp arp saddr ether . arp saddr ip != @ip4_{key} drop",
                "ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 "
                f"meta mark set {index:#x} return",
                f"ether type ip ether saddr . ip saddr != @ip4_{key} drop",
                "ether type ip6 ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld2-listener-report } "
                f"meta mark set {index:#x} return",
                f"ether type ip6 ether saddr . ip6 saddr != @ip6_{key} drop",
                "ether type != { arp, ip, ip6 } drop",
                f"meta mark set {index:#x}",
            ]
        ),
        "\t}",
        f"\tchain to_{key} {{",
        f"\t\tmeta mark set meta mark | {index << 16:#x}",
        "\t}",
    ]


def _inet_port(port: PortWiring) -> list[str]:
    key = _port_key(port)
    egress = [sgrules.render(r, "return") for r in port.rules if r.direction == "egress"]
    ingress = [sgrules.render(r, "accept") for r in port.rules if r.direction == "ingress"]
    return [
        f"\tchain egress_{key} {{",
        *_indent([*ALWAYS_EGRESS, *_unique(egress), "drop"]),
        "\t}",
        f"\tchain ingress_{key} {{",
        *_indent([*ALWAYS_INGRESS, *_unique(ingress), "drop"]),
        "\t}",
    ]


def _unique(rules: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(rule for rule in rules if rule is not None))


def _vmap(key: str, entries: Sequence[str], kind: str = "vmap") -> str:
    return f"{key} {kind} {{ {', '.join(entries)} }}" if entries else ""


def _zones(networks: Sequence[NetworkWiring], skip: set[str]) -> list[str]:
    """Each network's bridges (``brq``, and its ports' ``qbr`` where they share the namespace) -> its zone."""
    entries = []
    for zone, network in enumerate(sorted(networks, key=lambda n: n.network_id), start=1):
        entries.append(f"{_ifname(network_bridge(network.network_id))} : {zone}")
        ports = sorted(p.port_id for p in network.ports if p.kind == "vm" and p.port_id not in skip)
        entries += [f"{_ifname(vif_names(port_id).bridge)} : {zone}" for port_id in ports]
    return entries


def refused_ports(networks: Sequence[NetworkWiring]) -> dict[str, str]:
    """Ports whose values would not render (``UnsafeValue``), with the reason: ``render`` leaves them out (their
    ``qvo`` is then unknown to the script, so they carry no traffic) and the other ports keep their rules."""
    refused: dict[str, str] = {}
    for network in networks:
        for port in network.ports:
            if port.kind != "vm":
                continue
            try:
                _ifname(vif_names(port.port_id).qvo)
                _ifname(vif_names(port.port_id).bridge)
                if port.port_security:
                    check_script("\n".join([*_bridge_port(port, 1), *_inet_port(port)]))
            except (tokens.UnsafeValue, ValueError) as exc:
                refused[port.port_id] = f"port {port.port_id[:36]!r}: {exc}"
    return refused


def render(networks: Sequence[NetworkWiring], table: str = TABLE, skip: Iterable[str] = ()) -> str | None:
    """The complete script for this host's networks, loaded in one transaction (each table is created if
    missing, deleted and defined again); None when the host has no VM port and needs no tables. Ports in
    ``skip`` (``refused_ports``) are left out. Every value written into it is checked as it is written
    (``tokens``), and the whole script once more (``check_script``): a value outside its character set raises
    ``UnsafeValue`` and nothing is loaded."""
    tokens.identifier(table)
    left_out = set(skip)
    vm_ports = sorted(
        (p for n in networks for p in n.ports if p.kind == "vm" and p.port_id not in left_out), key=lambda p: p.port_id
    )
    if not vm_ports:
        return None
    filtered = [p for p in vm_ports if p.port_security]
    if len(filtered) > MAX_PORTS:
        raise ValueError(f"{len(filtered)} filtered ports on one host; the packet mark holds {MAX_PORTS}")
    index = {p.port_id: i for i, p in enumerate(filtered, start=1)}
    from_entries = [
        f"{_ifname(vif_names(p.port_id).qvo)} : " + (f"goto from_{_port_key(p)}" if p.port_security else "return")
        for p in vm_ports
    ]
    to_entries = [
        f"{_ifname(vif_names(p.port_id).qvo)} : " + (f"goto to_{_port_key(p)}" if p.port_security else "return")
        for p in vm_ports
    ]
    egress = [f"{index[p.port_id]:#x} : jump egress_{_port_key(p)}" for p in filtered]
    ingress = [f"{index[p.port_id] << 16:#x} : jump ingress_{_port_key(p)}" for p in filtered]
    bridge = [
        f"table bridge {table} {{",
        "\tchain forward {",
        *_indent(
            [
                "type filter hook forward priority -300; policy accept;",
                'iifname "qvo*" meta mark set 0x0 jump from_port',
                'iifname != "qvo*" oifname "qvo*" meta mark set 0x0',
                'oifname "qvo*" jump to_port',
            ]
        ),
        "\t}",
        "\tchain from_port {",
        *_indent([_vmap("iifname", from_entries), "drop"]),
        "\t}",
        "\tchain to_port {",
        *_indent([_vmap("oifname", to_entries), "drop"]),
        "\t}",
        *(line for p in filtered for line in _bridge_port(p, index[p.port_id])),
        "}",
    ]
    inet = [
        f"table inet {table} {{",
        "\tchain zones {",
        *_indent(
            [
                "type filter hook prerouting priority -300; policy accept;",
                _vmap("ct zone set iifname", _zones(networks, left_out), "map"),
            ]
        ),
        "\t}",
        "\tchain forward {",
        *_indent(
            [
                "type filter hook forward priority 0; policy accept;",
                'iifname != "brq*" return',
                "meta mark 0x0 return",
                "ct state established,related accept",
                "ct state invalid drop",
                *(
                    line
                    for line in (_vmap("meta mark & 0xffff", egress), _vmap("meta mark & 0xffff0000", ingress))
                    if line
                ),
            ]
        ),
        "\t}",
        *(line for p in filtered for line in _inet_port(p)),
        "}",
    ]
    preamble = [f"table {family} {table} {{ }}\ndelete table {family} {table}" for family in ("bridge", "inet")]
    return check_script("\n".join([preamble[0], *bridge, preamble[1], *inet]) + "\n")


def check_script(script: str) -> str:
    """``script`` if it holds only what our renderer writes: printable ASCII without nft's comment (``#``),
    variable (``$``), escape and single-quote characters, and no ``include``/``define`` statement. A value that
    slipped past every earlier check cannot then add a directive of its own."""
    for number, line in enumerate(script.split("\n"), start=1):
        if not _SCRIPT_LINE.fullmatch(line) or _DIRECTIVE.search(line):
            raise tokens.UnsafeValue(f"line {number} of the firewall script", line)
    return script
