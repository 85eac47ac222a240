"""IPv6 on the real kernel, guests in namespaces: a SLAAC subnet added to a running IPv4 network's DHCP server
makes the server's device get its link-local address (it had none), dnsmasq advertise the prefix, and a guest on
the other host configure exactly the EUI-64 address the API gave its port, then reach the server over IPv6."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest

from network import ipv6
from network.wire import DhcpSubnet, DhcpWiring
from tests.e2e.network.conftest import Cloud, MakeGuest, Net, port, random_mac
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
