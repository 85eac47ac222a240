"""Runs last (``conftest.MODULES``): deleting the servers and networks leaves nothing of them behind in any
namespace, process, ruleset or libvirt."""

from __future__ import annotations

import pytest

from network.devicenames import dhcp_namespace, network_bridge, vif_names, vxlan_device
from tests.e2e.guests import in_parallel
from tests.e2e.kernel import links, namespaces, netns, processes_mentioning, ruleset, virsh
from tests.e2e.tenant_networks.world import DEVICE_PREFIXES, HOSTS, World
from tests.harness import wait_until

pytestmark = pytest.mark.e2e


def test_deleting_the_servers_and_networks_leaves_nothing_of_them_behind(world: World) -> None:
    """Everything the networks and ports had, looked for in the root namespace, both host namespaces and the DHCP
    namespaces: first found (so the checks can see it), then gone. The host namespaces stay: they are the hosts."""
    state = str(world.cloud.state_dir)
    ports = [p for n in world.networks.values() for p in world.openstack.json("admin", "port", "list", "--network", n)]
    port_keys = {p["ID"][:11] for p in ports}
    server_ports = [g.port_id for g in world.guests.values()]
    root_names = {name for p in server_ports for name in (vif_names(p).bridge, vif_names(p).qvb, vif_names(p).tap)}
    host_names = {network_bridge(n) for n in world.networks.values()}
    host_names |= {vxlan_device(world.vni(n)) for n in world.networks}
    dhcp = {dhcp_namespace(n) for n in world.networks.values()}

    def ours(namespace: str | None) -> set[str]:
        names = links(namespace)
        return names & root_names if namespace is None else {n for n in names if n.startswith(DEVICE_PREFIXES)}

    def rules_of_ports(namespace: str | None) -> set[str]:
        text = ruleset(namespace)
        return {key for key in port_keys if key in text}

    host_devices = ours(netns(HOSTS[0])) | ours(netns(HOSTS[1]))
    assert ours(None) == root_names, f"root namespace: {ours(None)}, not the guests' {root_names}"
    assert host_names <= host_devices, f"host namespaces: {host_devices}, without all of {host_names}"
    assert dhcp <= namespaces(), f"DHCP namespaces missing: {dhcp - namespaces()}"
    assert len(servers := processes_mentioning(state, "dnsmasq")) == 2, f"dnsmasq pids {servers}, not one per network"
    assert rules_of_ports(netns(HOSTS[0])) and rules_of_ports(netns(HOSTS[1])), "no firewall rules of the ports"

    for guest in world.guests.values():
        assert guest.server_id in virsh("list", "--name")
    in_parallel(
        lambda: world.openstack("demo", "server", "delete", "--wait", world.a1.server_id, world.a2.server_id),
        lambda: world.openstack("other", "server", "delete", "--wait", world.b1.server_id),
    )
    in_parallel(
        lambda: world.openstack("demo", "network", "delete", world.networks["a-net"]),
        lambda: world.openstack("other", "network", "delete", world.networks["b-net"]),
    )

    def leftovers() -> dict[str, object]:
        found: dict[str, object] = {
            "root devices": ours(None),
            "DHCP namespaces": dhcp & namespaces(),
            "dnsmasq": processes_mentioning(state, "dnsmasq"),
            "root nftables": rules_of_ports(None),
            "domains": [g.name for g in world.guests.values() if g.server_id in virsh("list", "--all", "--name")],
        }
        for host in HOSTS:
            found[f"{host} devices"] = ours(netns(host))
            found[f"{host} nftables"] = rules_of_ports(netns(host))
        return {what: left for what, left in found.items() if left}

    wait_until(leftovers, 20, interval=0.5, message="left behind", until=lambda left: not left)
    assert {netns(host) for host in HOSTS} <= namespaces()
