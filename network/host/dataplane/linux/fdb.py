"""L2 population: the VXLAN device's own forwarding entries, converged to exactly the wanted set.

With ``nolearning`` the VXLAN device never learns where a MAC lives, so every remote port needs a unicast entry
(mac → its host's underlay address), and every other host with the network an all-zero entry: broadcast and
unknown unicast are copied to each of them (head-end replication), which needs no multicast in the underlay.
Entries the bridge learned on the VXLAN port carry no ``dst`` and are not ours to manage.
"""

from __future__ import annotations

from network.host.dataplane import tokens
from network.host.dataplane.linux.runner import Runner
from network.wire import NetworkWiring

FLOOD = "00:00:00:00:00:00"


def wanted(network: NetworkWiring, local_ip: str) -> set[tuple[str, str]]:
    entries = {(port.mac, port.underlay_ip) for port in network.remote if port.underlay_ip != local_ip}
    entries |= {(FLOOD, vtep) for vtep in network.remote_vteps if vtep != local_ip}
    return entries


def converge(
    runner: Runner, netns: str | None, device: str, actual: set[tuple[str, str]], wanted: set[tuple[str, str]]
) -> None:
    """Remove stale entries first, so a port that moved host never has frames copied to its old one. Each
    MAC, address and device name is checked as it becomes an argument (``UnsafeValue`` otherwise)."""
    dev = tokens.ifname(device)
    for mac, dst in sorted(actual - wanted):
        runner.write(["bridge", "fdb", "del", tokens.mac(mac), "dev", dev, "dst", tokens.address(dst)], netns)
    for mac, dst in sorted(wanted - actual):
        entry = [tokens.mac(mac), "dev", dev, "dst", tokens.address(dst), "permanent"]
        runner.write(["bridge", "fdb", "append", *entry], netns)
