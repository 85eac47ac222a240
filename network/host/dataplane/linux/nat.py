"""A router's address translation as one nftables script (table ``ip stratus-router`` in its namespace), rendered
from ``RouterWiring`` by pure functions.

* Floating IPs, 1:1: new connections to the floating address are translated to the fixed one (prerouting), and
  the fixed address's connections leaving by the gateway take the floating one (postrouting), before the
  general SNAT so a port with a floating IP is never hidden behind the router's own address.
* SNAT (``enable_snat``): connections of the interface subnets leaving by the gateway take the gateway's first
  IPv4 address, as Neutron's legacy router does.
* Hairpin: a connection that came in on an interface and was sent to a floating IP of this router leaves by an
  interface again; it is masqueraded to the router's address there, so the server behind the floating IP answers
  the router (which translates back) and not the client directly, which would not recognise the reply.

NAT chains see only a connection's first packet; connection tracking translates the rest. Every value written
is checked as it is written (``tokens``) and the whole script once more (``firewall.check_script``).
"""

from __future__ import annotations

import ipaddress

from network.devicenames import router_gateway
from network.host.dataplane import tokens
from network.host.dataplane.linux.firewall import check_script
from network.wire import RouterWiring

TABLE = "stratus-router"
FAMILY = "ip"
FROM_INTERFACE = 0x1
"""Packet mark of a connection's first packet when it came in on an interface (``qr-``), for the hairpin rule."""


def gateway_address(router: RouterWiring) -> str | None:
    """The gateway's first IPv4 address, the source SNAT gives; None without a gateway or IPv4 address."""
    if router.gateway is None:
        return None
    for address in router.gateway.addresses:
        interface = ipaddress.ip_interface(address)
        if interface.version == 4:
            return tokens.address(interface.ip)
    return None


def render(router: RouterWiring) -> str | None:
    """The router's complete table, replaced in one transaction; None when it needs none (no gateway, or neither
    SNAT nor floating IPs). ``UnsafeValue`` when a value falls outside its character set: nothing is loaded."""
    source = gateway_address(router)
    if router.gateway is None or source is None:
        return None
    gateway = f'"{tokens.ifname(router_gateway(router.gateway.port_id))}"'
    floating = [
        (tokens.address(tokens.parse_address(f.floating_ip)), tokens.address(tokens.parse_address(f.fixed_ip)))
        for f in router.floating_ips
        if ":" not in f.floating_ip and ":" not in f.fixed_ip
    ]
    snat = [tokens.network(tokens.parse_network(cidr, strict=True)) for cidr in router.snat_cidrs if ":" not in cidr]
    if not floating and not (router.enable_snat and snat):
        return None
    prerouting = [f'iifname "qr-*" meta mark set {FROM_INTERFACE:#x}']
    prerouting += [f"ip daddr {public} dnat to {fixed}" for public, fixed in floating]
    postrouting = [f"ip saddr {fixed} oifname {gateway} snat to {public}" for public, fixed in floating]
    if router.enable_snat:
        postrouting += [f"ip saddr {cidr} oifname {gateway} snat to {source}" for cidr in snat]
    postrouting.append(f'meta mark {FROM_INTERFACE:#x} ct status dnat oifname "qr-*" masquerade')
    lines = [
        f"table {FAMILY} {TABLE} {{ }}",
        f"delete table {FAMILY} {TABLE}",
        f"table {FAMILY} {TABLE} {{",
        "\tchain prerouting {",
        "\t\ttype nat hook prerouting priority -100; policy accept;",
        *(f"\t\t{line}" for line in prerouting),
        "\t}",
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority 100; policy accept;",
        *(f"\t\t{line}" for line in postrouting),
        "\t}",
        "}",
    ]
    return check_script("\n".join(lines) + "\n")
