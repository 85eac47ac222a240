"""The machine's edge on an external network: what a bridge that holds one of the machine's own addresses lets in.

The external network's bridge carries the machine's address (172.24.4.1 on ``make up``) so that the machine reaches
floating IPs, and every guest behind a router reaches that address too, through SNAT. Without a guard that makes
every service of the machine listening on all addresses (its sshd, anything an operator runs) reachable from every
tenant. So the bridge gets its own table ``inet stratus-edge-<bridge>`` in the root namespace:

* input from the bridge: replies to the machine's own connections (``ct state established,related``) and ICMP
  (the gateway answers pings, and path-MTU and unreachable messages flow); every new connection to the machine is
  dropped;
* forwarding out of the bridge to any other interface is dropped, so the external network ends at the bridge
  (the machine never routes tenants' packets onward; nothing is NATed onto its uplink). Frames bridged between the
  bridge's own ports (routers' gateways, floating IPs) pass the inet forward hook with the bridge as both input
  and output (bridge netfilter) and are not touched.

The table is one script per bridge, loaded by ``nftables.Firewall`` (one ``nft -f``, reloaded only when it differs
or was deleted), so several simulated hosts sharing the bridge converge on the same rules.
"""

from __future__ import annotations

from network.host.dataplane import tokens
from network.host.dataplane.linux.firewall import check_script

FAMILY = "inet"
TABLE_PREFIX = "stratus-edge-"


def table(bridge: str) -> str:
    return TABLE_PREFIX + tokens.ifname(bridge)


def render(bridge: str) -> str:
    """The guard of ``bridge`` (replaced whole in one transaction)."""
    name = f'"{tokens.ifname(bridge)}"'
    lines = [
        f"table {FAMILY} {table(bridge)} {{ }}",
        f"delete table {FAMILY} {table(bridge)}",
        f"table {FAMILY} {table(bridge)} {{",
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy accept;",
        f"\t\tiifname {name} ct state established,related accept",
        f"\t\tiifname {name} meta l4proto {{ icmp, ipv6-icmp }} accept",
        f"\t\tiifname {name} drop",
        "\t}",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy accept;",
        f"\t\tiifname {name} oifname != {name} drop",
        "\t}",
        "}",
    ]
    return check_script("\n".join(lines) + "\n")
