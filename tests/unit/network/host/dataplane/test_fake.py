"""The in-memory dataplane other services test against: it must behave like the real one where callers can see."""

from __future__ import annotations

import pytest

from network.host.dataplane.base import DataplaneError, HostUnderlay
from network.host.dataplane.fake import FakeDataplane
from network.wire import DhcpWiring, HostWiring, NetworkWiring, PortWiring

NET_A = "aaaaaaaa-0000-4000-8000-000000000001"
NET_B = "bbbbbbbb-0000-4000-8000-000000000002"


def wiring(generation: int) -> HostWiring:
    port = PortWiring(port_id="11111111-0000-4000-8000-000000000001", mac="fa:16:3e:00:00:01")
    other = PortWiring(port_id="22222222-0000-4000-8000-000000000002", mac="fa:16:3e:00:00:02")
    dhcp = DhcpWiring(port_id="33333333-0000-4000-8000-000000000003", mac="fa:16:3e:00:00:03", ip="10.0.0.2")
    return HostWiring(
        host="h1",
        generation=generation,
        networks=(NetworkWiring(NET_A, 1, ports=(port,), dhcp=dhcp), NetworkWiring(NET_B, 2, ports=(other,))),
    )


def test_apply_before_init_host_fails() -> None:
    with pytest.raises(DataplaneError):
        FakeDataplane("h1").apply(wiring(1))


def test_every_port_is_wired_and_the_state_is_kept() -> None:
    driver = FakeDataplane("h1")
    driver.init_host(HostUnderlay("198.18.0.1"))
    result = driver.apply(wiring(1))
    assert set(result.wired) == {p.port_id for n in wiring(1).networks for p in n.ports} | {
        "33333333-0000-4000-8000-000000000003"
    }
    assert result.errors == {} and driver.state == wiring(1)


def test_an_older_state_is_ignored() -> None:
    driver = FakeDataplane("h1")
    driver.init_host(HostUnderlay("198.18.0.1"))
    driver.apply(wiring(5))
    result = driver.apply(wiring(4))
    assert result.stale and result.generation == 5 and driver.state == wiring(5)


def test_a_failing_network_reports_its_error_and_the_others_are_wired() -> None:
    driver = FakeDataplane("h1")
    driver.init_host(HostUnderlay("198.18.0.1"))
    driver.fail_network(NET_A, "vni in use")
    result = driver.apply(wiring(1))
    assert result.errors == {NET_A: "vni in use"}
    assert result.wired == ("22222222-0000-4000-8000-000000000002",)
