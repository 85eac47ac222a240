"""Device names: Neutron's conventions, always within the kernel's 15 characters."""

from __future__ import annotations

from network.devicenames import (
    IFNAMSIZ,
    dhcp_inner,
    dhcp_namespace,
    dhcp_outer,
    network_bridge,
    underlay_veth,
    vif_names,
    vxlan_device,
)
from network.host.dataplane.base import DataplaneDriver
from network.host.dataplane.fake import FakeDataplane

PORT = "6f1c0f1e-3b7a-4c55-9a0d-2f4e8c1b7a10"
NET = "3b0c2f4e-7a1d-4c55-9a0d-2f4e8c1b7a10"


def test_vm_port_devices_follow_nova_hybrid_plug() -> None:
    names = vif_names(PORT)
    assert (names.tap, names.bridge, names.qvb, names.qvo) == (
        "tap6f1c0f1e-3b",
        "qbr6f1c0f1e-3b",
        "qvb6f1c0f1e-3b",
        "qvo6f1c0f1e-3b",
    )


def test_network_and_dhcp_devices_follow_neutron_linuxbridge() -> None:
    assert network_bridge(NET) == "brq3b0c2f4e-7a"
    assert vxlan_device(16777215) == "vxlan-16777215"
    assert dhcp_namespace(NET) == f"qdhcp-{NET}"
    assert (dhcp_inner(PORT), dhcp_outer(PORT)) == ("ns-6f1c0f1e-3b", "tap6f1c0f1e-3b")


def test_every_name_fits_ifnamsiz() -> None:
    names = [*vars(vif_names(PORT)).values(), network_bridge(NET), vxlan_device(16777215), dhcp_inner(PORT)]
    names += [underlay_veth("h1"), underlay_veth("a-very-long-namespace-name"), underlay_veth("bad name!")]
    assert all(len(name) <= IFNAMSIZ for name in names), names


def test_underlay_veth_keeps_short_names_and_digests_long_ones() -> None:
    assert underlay_veth("stratus-h1") == "ul-stratus-h1"
    long_a, long_b = underlay_veth("simulated-host-0001"), underlay_veth("simulated-host-0002")
    assert long_a != long_b and long_a.startswith("ul-")


def test_drivers_name_devices_the_same_way() -> None:
    driver: DataplaneDriver = FakeDataplane("h1")
    assert driver.port_device_names(PORT) == vif_names(PORT)
