"""The contract's dataclasses: they travel as JSON (a Celery task's arguments) and come back equal, and they
refuse malformed data at construction, where the mistake is made, rather than deep in an apply."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from network.host.dataplane.base import ApplyResult, HostUnderlay
from network.wire import DhcpSubnet, DhcpWiring, HostWiring, NetworkWiring, PortWiring, RemotePort, Rule

NET = "3b0c2f4e-7a1d-4c55-9a0d-2f4e8c1b7a10"
PORT = "6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10"
DHCP_PORT = "9d2e1a7c-5b3f-4e21-8c6d-0a1b2c3d4e5f"

WIRING = HostWiring(
    host="compute-1",
    generation=7,
    networks=(
        NetworkWiring(
            network_id=NET,
            vni=1001,
            mtu=1450,
            ports=(
                PortWiring(
                    port_id=PORT,
                    mac="fa:16:3e:00:00:01",
                    ips=("10.0.0.5", "2001:db8::5"),
                    allowed_pairs=(("fa:16:3e:00:00:09", "10.0.1.0/24"),),
                    rules=(
                        Rule("egress"),
                        Rule("ingress", "IPv4", "tcp", 22, 22, ("192.0.2.0/24",)),
                        Rule("ingress", "IPv4", "icmp", 8, 0, ()),
                    ),
                ),
            ),
            remote=(RemotePort("fa:16:3e:00:00:02", "10.0.0.6", "198.18.0.2"),),
            remote_vteps=("198.18.0.2",),
            dhcp=DhcpWiring(
                port_id=DHCP_PORT,
                mac="fa:16:3e:00:00:03",
                ip="10.0.0.2",
                subnets=(
                    DhcpSubnet("10.0.0.0/24", "10.0.0.1", ("192.0.2.53",), (("169.254.169.254/32", "10.0.0.1"),)),
                ),
                hosts=(("fa:16:3e:00:00:01", "10.0.0.5", "vm-1"),),
            ),
        ),
    ),
)


def test_host_wiring_round_trips_through_json() -> None:
    data = json.loads(json.dumps(WIRING.to_dict()))
    assert HostWiring.from_dict(data) == WIRING


def test_every_part_round_trips_on_its_own() -> None:
    network = WIRING.networks[0]
    parts = [
        network,
        network.ports[0],
        network.ports[0].rules[1],
        network.remote[0],
        network.dhcp,
        network.dhcp.subnets[0],
        HostUnderlay("198.18.0.1", namespace="h1"),
        ApplyResult(3, ("p",), {"n": "x"}),
    ]
    for part in parts:
        assert type(part).from_dict(json.loads(json.dumps(part.to_dict()))) == part


def test_values_are_normalised() -> None:
    port = PortWiring(
        port_id=PORT,
        mac="FA:16:3E:00:00:0A",
        ips=["2001:DB8:0:0::5"],
        allowed_pairs=[["FA:16:3E:00:00:0B", "10.0.0.7/24"]],
    )
    assert port.mac == "fa:16:3e:00:00:0a"
    assert port.ips == ("2001:db8::5",)
    assert port.allowed_pairs == (("fa:16:3e:00:00:0b", "10.0.0.0/24"),)
    assert Rule("ingress", protocol="TCP").protocol == "tcp"
    assert HostUnderlay("198.18.0.1", namespace="").namespace is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Rule("inbound"), "direction"),
        (lambda: Rule("ingress", ethertype="IPv5"), "ethertype"),
        (lambda: Rule("ingress", protocol="bogus"), "protocol"),
        (lambda: Rule("ingress", protocol="256"), "protocol"),
        (lambda: Rule("ingress", protocol="tcp", port_max=80), "port_max without port_min"),
        (lambda: Rule("ingress", protocol="tcp", port_min=70000), "out of range"),
        (lambda: Rule("ingress", remote_ips=("10.0.0.300",)), "10.0.0.300"),
        (lambda: PortWiring(port_id=PORT, mac="fa:16:3e:00:00"), "MAC"),
        (lambda: PortWiring(port_id="short", mac="fa:16:3e:00:00:01"), "too short"),
        (lambda: PortWiring(port_id=PORT, mac="fa:16:3e:00:00:01", kind="router"), "kind"),
        (lambda: NetworkWiring(network_id=NET, vni=0), "vni"),
        (lambda: NetworkWiring(network_id=NET, vni=1 << 24), "vni"),
        (lambda: DhcpSubnet("10.0.0.1/24"), "host bits"),
        (lambda: DhcpWiring(port_id=DHCP_PORT, mac="fa:16:3e:00:00:03", ip="10.0.0.2", lease_time=60), "lease_time"),
        (lambda: HostWiring(host="h", networks=(NetworkWiring(NET, 1), NetworkWiring(NET, 2))), "twice"),
    ],
)
def test_malformed_data_is_refused(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_ports_whose_device_names_would_collide_are_refused() -> None:
    a = PortWiring(port_id="6f1c0f1e-3baaaa", mac="fa:16:3e:00:00:01")
    b = PortWiring(port_id="6f1c0f1e-3bbbbb", mac="fa:16:3e:00:00:02")
    with pytest.raises(ValueError, match="11 characters"):
        HostWiring(host="h", networks=(NetworkWiring(NET, 1, ports=(a,)), NetworkWiring(NET[::-1], 2, ports=(b,))))
