"""NIC hot-plug and diagnostics of the libvirt driver against libvirt's in-process test driver (which cannot hot-plug:
the plug is end-to-end work; here its XML and the missing-guest rules), and the fake driver's matching contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from compute.host.virt.base import InstanceNotFound, Nic
from compute.host.virt.fake import FakeDriver
from compute.host.virt.libvirt import config
from compute.host.virt.libvirt.driver import LibvirtDriver
from tests.unit.compute.host.virt.libvirt.test_driver import UUID, spec

pytest_plugins = ["tests.unit.compute.host.virt.libvirt.test_driver"]  # its ``driver`` and ``base`` fixtures

NIC = Nic(mac="fa:16:3e:00:00:01", tap="tap0123456789a", mtu=1450, port_id="p1")
SECOND = Nic(mac="fa:16:3e:00:00:02", tap="tap0123456789b", mtu=1450, port_id="p2")


def test_the_hot_plug_element_is_the_one_read_back_for_the_unplug() -> None:
    """What ``attach_interface`` plugs is what ``detach_interface`` later finds by MAC in the domain XML (the test
    hypervisor cannot hot-plug: the plug itself is exercised end to end)."""
    element = config.interface_xml(config.InterfaceConfig(SECOND.mac, SECOND.tap, SECOND.mtu, bridge="qbr0123456789b"))
    domain = f"<domain><devices>{element}</devices></domain>"
    assert config.interfaces(domain) == [(SECOND.mac, SECOND.tap)]
    found = config.interface_element(domain, SECOND.mac.upper())
    assert found is not None and "qbr0123456789b" in found
    assert config.interface_element(domain, NIC.mac) is None


def test_interfaces_of_a_missing_guest(driver: LibvirtDriver) -> None:
    with pytest.raises(InstanceNotFound):
        driver.attach_interface(UUID, NIC)
    driver.detach_interface(UUID, NIC.mac)  # nothing to unplug


def test_diagnostics_read_the_domain(driver: LibvirtDriver, base: Path) -> None:
    driver.spawn(spec(base, nics=(NIC,)))
    found = driver.get_diagnostics(UUID)
    assert found.state == "running" and found.driver == "libvirt" and found.hypervisor == "qemu"
    assert found.memory_maximum_mb == 128 and len(found.cpu_details) == 1
    assert [n["mac_address"] for n in found.nic_details] == [NIC.mac]
    assert "vda" in [d["device"] for d in found.disk_details]
    driver.power_off(UUID, timeout=1)
    stopped = driver.get_diagnostics(UUID)
    assert stopped.state == "shutdown" and stopped.cpu_details == []
    with pytest.raises(InstanceNotFound):
        driver.get_diagnostics("9f0e1d2c-3b4a-4958-8776-655443322110")


def test_the_fake_plugs_and_reports_nics_as_libvirt_does() -> None:
    fake = FakeDriver()
    fake.spawn(spec(Path("/dev/null"), nics=(NIC,)))
    fake.attach_interface(UUID, SECOND)
    fake.attach_interface(UUID, SECOND)
    assert [n["mac_address"] for n in fake.get_diagnostics(UUID).nic_details] == [NIC.mac, SECOND.mac]
    fake.detach_interface(UUID, SECOND.mac)
    fake.detach_interface(UUID, SECOND.mac)
    found = fake.get_diagnostics(UUID)
    assert [n["mac_address"] for n in found.nic_details] == [NIC.mac] and found.state == "running"
    with pytest.raises(InstanceNotFound):
        fake.attach_interface("nope", NIC)
