"""A hostile value that got past every check before the host (a forged task, an old row) on the real kernel: it
stops only its own port or network, and none of it reaches nftables or dnsmasq's files."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from network.devicenames import dhcp_namespace
from network.wire import DhcpSubnet, DhcpWiring, Rule
from tests.e2e.network.conftest import OPEN, Cloud, MakeGuest, Net, port, random_mac, sh
from tests.hostile import ISSUE_VALUE

pytestmark = pytest.mark.e2e


def _forged(value: Any, **fields: Any) -> Any:
    """A copy of a checked value with ``fields`` set behind the type's back."""
    copy = dataclasses.replace(value)
    for name, field_value in fields.items():
        object.__setattr__(copy, name, field_value)
    return copy


def test_a_forged_hostile_value_stops_only_its_own_port_and_network_and_never_reaches_the_kernel(
    cloud: Cloud, guests: MakeGuest
) -> None:
    a, b = port("10.0.0.11"), port("10.0.0.12")
    hostile = _forged(port("10.0.0.13"), rules=(*OPEN, _forged(Rule("ingress", "IPv6"), remote_ips=(ISSUE_VALUE,))))
    net = Net(vni=next(cloud.vnis)).place("h1", a, hostile).place("h2", b)
    subnet = _forged(DhcpSubnet("10.1.0.0/24", "10.1.0.1"), dns_nameservers=("192.0.2.53\ndhcp-script=/bin/sh",))
    other = Net(vni=next(cloud.vnis)).place("h1", port("10.1.0.5"))
    other.dhcp = ("h1", DhcpWiring(port_id=str(uuid.uuid4()), mac=random_mac(), ip="10.1.0.2", subnets=(subnet,)))

    h1 = cloud.apply([net, other], errors=True)["h1"]

    assert set(h1.errors) == {net.network_id, other.network_id}, h1.errors
    assert all("refusing to render" in reason for reason in h1.errors.values()), h1.errors
    assert a.port_id in h1.wired and hostile.port_id not in h1.wired
    ruleset = sh("nft", "list", "ruleset", netns=cloud.ns("h1")).stdout
    assert f"qvo{a.port_id[:11]}" in ruleset and hostile.port_id[:11] not in ruleset
    assert "fd00::1" not in ruleset and "shadow" not in ruleset
    files = cloud.drivers["h1"].directory / "dhcp" / other.network_id
    assert not files.exists(), "a refused DHCP server made files"
    namespaces = sh("ip", "netns", "list").stdout
    assert dhcp_namespace(other.network_id) not in namespaces, "a refused DHCP server made its namespace"
    ga, _ = guests(a, "10.0.0.11/24"), guests(b, "10.0.0.12/24")
    assert ga.ping_until("10.0.0.12"), "the other ports of the host lost their wiring"
