"""Serial console ports: never one another domain holds, never one something else listens on, and an error when
the range is exhausted."""

from __future__ import annotations

import fcntl
import socket
from pathlib import Path

import pytest

from compute.host.virt.base import DriverError
from compute.host.virt.libvirt import serial_ports


def test_a_port_another_domain_holds_is_skipped() -> None:
    assert serial_ports.choose({10000, 10001}, lambda port: True, range(10000, 10010), start=0) == 10002


def test_a_port_busy_on_the_host_is_skipped() -> None:
    assert serial_ports.choose(set(), lambda port: port != 10005, range(10000, 10010), start=5) == 10006


def test_the_search_wraps_round_from_a_random_start() -> None:
    assert serial_ports.choose({10008, 10009}, lambda port: True, range(10000, 10010), start=8) == 10000
    chosen = {serial_ports.choose(set(), lambda port: True, range(10000, 20001)) for _ in range(20)}
    assert len(chosen) > 1  # not always the first port: racing agents rarely pick the same one


def test_an_exhausted_range_is_a_driver_error() -> None:
    with pytest.raises(DriverError, match="no free serial console port"):
        serial_ports.choose(range(10000, 10010), lambda port: True, range(10000, 10010))


def test_a_port_with_a_listener_is_not_free_and_a_closed_one_is() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert not serial_ports.port_is_free("127.0.0.1", port)
    assert serial_ports.port_is_free("127.0.0.1", port)


def test_the_allocation_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    lock = tmp_path / "ports.lock"
    with serial_ports.allocation_lock(lock), lock.open("a") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with lock.open("a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
