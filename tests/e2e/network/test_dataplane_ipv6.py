"""IPv6 on the real kernel, guests in namespaces: a SLAAC subnet added to a running IPv4 network's DHCP server
makes the server's device get its link-local address (it had none), dnsmasq advertise the prefix, and a guest on
the other host configure exactly the EUI-64 address the API gave its port, then reach the server over IPv6; a
router with interfaces on two IPv6 subnets holds their gateway addresses and forwards between them."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator

import pytest

from network import ipv6
from network.devicenames import router_namespace
from network.wire import DhcpSubnet, DhcpWiring, RouterInterface, RouterWiring, Rule
from tests.e2e.network.conftest import OPEN, Cloud, MakeGuest, Net, port, random_mac, sh
from tests.e2e.network.test_dataplane_routers import RoutedCloud, RoutedNet
from tests.harness import wait_until

pytestmark = pytest.mark.e2e

V6 = "2001:db8:77::/64"


def _global_v6(guest) -> set[str]:
    out = guest.run("ip", "-j", "-6", "addr", "show", "dev", "eth0", "scope", "global").stdout
    found = [a for entry in json.loads(out or "[]") for a in entry.get("addr_info", ())]
    return {a["local"] for a in found if "local" in a and "tentative" not in a}


def test_a_slaac_subnet_added_later_is_advertised_and_the_guest_takes_its_eui64_address(
    cloud: Cloud, guests: MakeGuest
) -> None:
    server_mac, guest_mac = random_mac(), random_mac()
    server_v6, guest_v6 = str(ipv6.eui64(V6, server_mac)), str(ipv6.eui64(V6, guest_mac))
    guest_port = dataclasses.replace(port("10.0.0.21"), mac=guest_mac)
    dhcp = DhcpWiring(port_id=str(uuid.uuid4()), mac=server_mac, ip="10.0.0.2", subnets=(DhcpSubnet("10.0.0.0/24"),))
    net = Net(vni=next(cloud.vnis)).place("h2", guest_port)
    net.dhcp = ("h1", dhcp)
    assert not cloud.apply([net])["h1"].errors  # IPv4 only: the server's device has no link-local address

    slaac = DhcpSubnet(V6, "2001:db8:77::1", (), (), "slaac", "slaac")
    net.placed = [("h2", dataclasses.replace(guest_port, ips=("10.0.0.21", guest_v6)))]
    net.dhcp = ("h1", dataclasses.replace(dhcp, extra_ips=(server_v6,), subnets=(*dhcp.subnets, slaac)))
    results = cloud.apply([net])
    assert not results["h1"].errors and not results["h2"].errors
    guest = guests(guest_port, "10.0.0.21/24")
    wait_until(lambda: guest_v6 in _global_v6(guest), 20, interval=0.2, message="no SLAAC address from the RA")
    assert guest.run("ping", "-6", "-n", "-q", "-c", "1", "-W", "2", server_v6, check=False).returncode == 0


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoutedCloud]:
    made = RoutedCloud(uuid.uuid4().hex[:5], tmp_path_factory.mktemp("routers6"))
    try:
        yield made.up()  # type: ignore[misc]
        made.teardown()
    finally:
        made.force_clean()


def test_a_router_with_interfaces_on_two_v6_subnets_forwards_between_them(
    routed: RoutedCloud, guests: MakeGuest
) -> None:
    rules = (*OPEN, Rule("ingress", "IPv6", "icmpv6"))
    left, right = RoutedNet(vni=next(routed.vnis)), RoutedNet(vni=next(routed.vnis))
    a, b = port("2001:db8:a::7", rules), port("2001:db8:b::7", rules)
    left.place("h1", a)
    right.place("h2", b)
    interfaces = []
    for net, address in ((left, "2001:db8:a::1/64"), (right, "2001:db8:b::1/64")):
        interface = RouterInterface(str(uuid.uuid4()), net.network_id, random_mac(), (address,))
        net.interfaces.append(("h1", interface))
        interfaces.append(interface)
    made = RouterWiring(router_id=str(uuid.uuid4()), interfaces=tuple(interfaces))
    routed.routers = {"h1": [made]}
    results = routed.apply([left, right])
    assert results["h1"].routers == (made.router_id,) and not results["h1"].errors
    shown = sh("ip", "-n", router_namespace(made.router_id), "-6", "addr", "show", "scope", "global").stdout
    assert "2001:db8:a::1/64" in shown and "2001:db8:b::1/64" in shown
    ga, gb = guests(a, None), guests(b, None)
    for guest, address, gateway in (
        (ga, "2001:db8:a::7/64", "2001:db8:a::1"),
        (gb, "2001:db8:b::7/64", "2001:db8:b::1"),
    ):
        guest.run("ip", "addr", "add", address, "dev", "eth0", "nodad")  # usable at once, as the router's
        guest.run("ip", "-6", "route", "add", "default", "via", gateway)
    assert wait_until(
        lambda: ga.run("ping", "-6", "-n", "-q", "-c", "1", "-W", "1", "2001:db8:b::7", check=False).returncode == 0,
        15,
        interval=0,
        message="no IPv6 path through the router",
    )
