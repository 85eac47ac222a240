"""The fake driver's consoles are real loopback TCP servers: the serial one greets with the guest's console log
and echoes, the VNC one speaks the RFB greeting; they go away with the instance."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from compute.host.virt.base import ConsoleKind, ConsoleUnavailable, InstanceNotFound, InstanceSpec
from compute.host.virt.fake import FakeDriver

UUID = "0d8e5f2a-1c3b-4e6f-8a9b-7c6d5e4f3a21"
SPEC = InstanceSpec(UUID, "fake-vm", 1, 128, 1, Path("/dev/null"), "raw")


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def driver() -> FakeDriver:
    driver = FakeDriver()
    driver.init_host("fake-1")
    driver.spawn(SPEC)
    yield driver
    driver.destroy(UUID)


def test_the_serial_console_shows_the_console_log_and_echoes(driver: FakeDriver) -> None:
    endpoint = driver.get_console(UUID, ConsoleKind.SERIAL)
    assert endpoint.host == "127.0.0.1" and endpoint.kind is ConsoleKind.SERIAL
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
        assert b"fake console of fake-vm" in _read_until(sock, b"STRATUS-READY hostname=fake-vm\n")
        sock.sendall(b"hostname\n")
        assert _read_until(sock, b"hostname\n").endswith(b"hostname\n")
    assert driver.get_console(UUID, ConsoleKind.SERIAL).port == endpoint.port  # the same port while it runs


def test_the_vnc_console_greets_in_rfb(driver: FakeDriver) -> None:
    endpoint = driver.get_console(UUID, ConsoleKind.VNC)
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
        assert _read_until(sock, b"\n") == b"RFB 003.008\n"


def test_a_stopped_guest_has_no_console_and_a_destroyed_one_closes_it(driver: FakeDriver) -> None:
    endpoint = driver.get_console(UUID, ConsoleKind.SERIAL)
    driver.power_off(UUID)
    with pytest.raises(ConsoleUnavailable):
        driver.get_console(UUID, ConsoleKind.SERIAL)
    driver.destroy(UUID)
    with pytest.raises(InstanceNotFound):
        driver.get_console(UUID, ConsoleKind.SERIAL)
    with pytest.raises(OSError):
        socket.create_connection((endpoint.host, endpoint.port), timeout=2).close()
