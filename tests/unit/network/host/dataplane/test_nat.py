"""A router's NAT table, rendered from its wiring: floating IPs before the general SNAT, nothing without a gateway,
and no value outside its character set ever written. That the kernel enforces it is the end-to-end tests' job."""

from __future__ import annotations

import dataclasses

import pytest

from network.host.dataplane import tokens
from network.host.dataplane.linux import nat
from network.wire import FloatingIPWiring, RouterGateway, RouterInterface, RouterWiring

GATEWAY = RouterGateway(
    port_id="3c1d2e4f-0a9b-4c8d-9e7f-6a5b4c3d2e1f",
    physical_network="public",
    mac="fa:16:3e:00:00:10",
    addresses=("172.24.4.5/24",),
    gateway_ip="172.24.4.1",
)
ROUTER = RouterWiring(
    router_id="8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
    interfaces=(
        RouterInterface(
            "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716",
            "1f2e3d4c-5b6a-4789-8a7b-6c5d4e3f2a1b",
            "fa:16:3e:00:00:11",
            ("10.0.0.1/24",),
        ),
    ),
    gateway=GATEWAY,
    snat_cidrs=("10.0.0.0/24",),
    floating_ips=(FloatingIPWiring("172.24.4.50", "10.0.0.7"),),
)


def test_floating_ips_translate_both_ways_before_the_subnets_snat_to_the_gateway_address():
    script = nat.render(ROUTER)
    assert script is not None
    lines = [line.strip() for line in script.splitlines()]
    assert "ip daddr 172.24.4.50 dnat to 10.0.0.7" in lines
    own = lines.index('ip saddr 10.0.0.7 oifname "qg-3c1d2e4f-0a" snat to 172.24.4.50')
    general = lines.index('ip saddr 10.0.0.0/24 oifname "qg-3c1d2e4f-0a" snat to 172.24.4.5')
    assert own < general
    assert lines[:2] == ["table ip stratus-router { }", "delete table ip stratus-router"]


def test_without_snat_only_the_floating_ips_are_translated():
    script = nat.render(dataclasses.replace(ROUTER, enable_snat=False))
    assert script is not None and "10.0.0.0/24" not in script and "dnat to 10.0.0.7" in script


def test_a_router_without_gateway_or_translations_needs_no_table():
    assert nat.render(dataclasses.replace(ROUTER, gateway=None)) is None
    assert nat.render(dataclasses.replace(ROUTER, enable_snat=False, floating_ips=())) is None


@pytest.mark.parametrize(
    "hostile",
    [
        {"floating_ips": (FloatingIPWiring.__new__(FloatingIPWiring),)},
        {"snat_cidrs": ("10.0.0.0/24; flush ruleset",)},
    ],
)
def test_a_hostile_value_that_slipped_past_the_wire_types_is_refused_and_nothing_is_rendered(hostile):
    router = dataclasses.replace(ROUTER)
    if "floating_ips" in hostile:
        forged = hostile["floating_ips"][0]
        object.__setattr__(forged, "floating_ip", '172.24.4.50 accept\ninclude "/etc/passwd"')
        object.__setattr__(forged, "fixed_ip", "10.0.0.7")
    for name, value in hostile.items():
        object.__setattr__(router, name, value)  # as a forged task or a new code path would carry it
    with pytest.raises(tokens.UnsafeValue):
        nat.render(router)


def test_the_wire_types_refuse_hostile_router_values_on_arrival():
    with pytest.raises(ValueError):
        dataclasses.replace(ROUTER, routes=(("10.9.0.0/16", "10.0.0.9 dev lo"),))
    with pytest.raises(ValueError):
        FloatingIPWiring("172.24.4.50/32", "10.0.0.7")
    with pytest.raises(ValueError):
        dataclasses.replace(GATEWAY, physical_network="public bridge")
