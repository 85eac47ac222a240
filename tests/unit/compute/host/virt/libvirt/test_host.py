"""Host: the domain-type probe, connection-loss detection and reconnecting, with a hand-written fake connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import libvirt
import pytest

from compute.host.virt.base import DriverError
from compute.host.virt.libvirt.host import Host, cpu_info, is_connection_error, probe_virt_type

INTEL = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse tsc msr vmx ept\n\n"
AMD = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme svm npt\n\n"
NO_VIRT = "processor\t: 0\nflags\t\t: fpu vme de pse tsc hypervisor\n\nprocessor\t: 1\nflags\t\t: fpu vme\n"
# "vmx" appearing outside the flags line (here in "vmx flags", as newer kernels print) must not count
VMX_FLAGS_LINE = "processor\t: 0\nflags\t\t: fpu\nvmx flags\t: vnmi preemption_timer\n"


@pytest.mark.parametrize(
    ("cpuinfo", "kvm_usable", "expected"),
    [
        (INTEL, True, "kvm"),
        (AMD, True, "kvm"),
        (INTEL, False, "qemu"),  # /dev/kvm missing or not openable
        (NO_VIRT, True, "qemu"),  # a /dev/kvm without CPU support (this machine's PVM case)
        (VMX_FLAGS_LINE, True, "qemu"),
        ("", True, "qemu"),
    ],
)
def test_virt_type_probe(cpuinfo: str, kvm_usable: bool, expected: str) -> None:
    assert probe_virt_type(cpuinfo, kvm_usable) == expected


def test_configured_virt_type_wins_and_is_checked(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(NO_VIRT)
    assert Host("test:///default", virt_type="kvm", cpuinfo_path=tmp_path / "cpuinfo").virt_type() == "kvm"
    assert Host("test:///default", cpuinfo_path=tmp_path / "cpuinfo").virt_type() == "qemu"
    with pytest.raises(DriverError, match="libvirt_virt_type"):
        Host("test:///default", virt_type="xen")


def libvirt_error(code: int, domain: int, message: str = "boom") -> libvirt.libvirtError:
    exc = libvirt.libvirtError(message)
    exc.err = (code, domain, message, 2, None, None, None, 0, 0)
    return exc


@pytest.mark.parametrize(
    ("code", "domain", "lost"),
    [
        (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_RPC, True),  # "Cannot write data: Broken pipe"
        (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_RPC, True),  # "client socket is closed"
        (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_REMOTE, True),
        (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_FROM_NONE, True),
        (libvirt.VIR_ERR_INVALID_CONN, libvirt.VIR_FROM_NONE, True),
        (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_QEMU, False),  # QEMU failing is not a lost connection
        (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_QEMU, False),
        (libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_FROM_QEMU, False),
    ],
)
def test_connection_errors_are_told_apart(code: int, domain: int, lost: bool) -> None:
    assert is_connection_error(libvirt_error(code, domain)) is lost


class FakeConnection:
    """Answers getVersion; raises the queued errors first. ``alive`` is what isAlive reports."""

    def __init__(self, errors: list[libvirt.libvirtError] | None = None) -> None:
        self.errors = list(errors or [])
        self.alive = True
        self.closed = False
        self.close_callback: Any = None

    def isAlive(self) -> int:
        return int(self.alive)

    def registerCloseCallback(self, callback: Any, opaque: Any) -> int:
        self.close_callback = callback
        return 0

    def unregisterCloseCallback(self) -> int:
        self.close_callback = None
        return 0

    def close(self) -> int:
        self.closed = True
        return 0

    def getVersion(self) -> int:
        if self.errors:
            raise self.errors.pop(0)
        return 7002022


class Opener:
    def __init__(self, *connections: FakeConnection) -> None:
        self.connections = list(connections)
        self.opened: list[FakeConnection] = []

    def __call__(self, uri: str) -> FakeConnection:
        if not self.connections:
            raise libvirt_error(libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_RPC, "Failed to connect socket")
        self.opened.append(self.connections.pop(0))
        return self.opened[-1]


def test_connection_is_opened_lazily_and_reused() -> None:
    opener = Opener(FakeConnection())
    host = Host("qemu:///system", opener=opener)
    assert opener.opened == []
    assert host.call(lambda conn: conn.getVersion()) == 7002022
    assert host.call(lambda conn: conn.getVersion()) == 7002022
    assert len(opener.opened) == 1


def test_lost_connection_is_reopened_and_the_call_retried_once() -> None:
    dead = FakeConnection([libvirt_error(libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_RPC, "Broken pipe")])
    opener = Opener(dead, FakeConnection())
    host = Host("qemu:///system", opener=opener)
    assert host.call(lambda conn: conn.getVersion()) == 7002022
    assert dead.closed and len(opener.opened) == 2


def test_a_second_loss_in_a_row_is_raised() -> None:
    lost = libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_RPC
    opener = Opener(FakeConnection([libvirt_error(*lost)]), FakeConnection([libvirt_error(*lost)]))
    host = Host("qemu:///system", opener=opener)
    with pytest.raises(libvirt.libvirtError):
        host.call(lambda conn: conn.getVersion())


def test_other_errors_are_not_retried() -> None:
    first = FakeConnection([libvirt_error(libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_FROM_QEMU)])
    opener = Opener(first, FakeConnection())
    host = Host("qemu:///system", opener=opener)
    with pytest.raises(libvirt.libvirtError):
        host.call(lambda conn: conn.getVersion())
    assert opener.opened == [first] and not first.closed


@pytest.mark.parametrize("how", ["close callback", "not alive"])
def test_a_connection_known_dead_is_replaced_before_use(how: str) -> None:
    first, second = FakeConnection(), FakeConnection()
    opener = Opener(first, second)
    host = Host("qemu:///system", opener=opener)
    host.connection()
    if how == "close callback":
        first.close_callback(first, libvirt.VIR_CONNECT_CLOSE_REASON_EOF, None)
    else:
        first.alive = False
    assert host.connection() is second
    assert first.closed


def test_unreachable_libvirtd_is_a_driver_error() -> None:
    host = Host("qemu:///system", opener=Opener())
    with pytest.raises(DriverError, match="cannot connect to libvirt"):
        host.connection()


CAPABILITIES = """<capabilities><host><uuid>x</uuid><cpu><arch>x86_64</arch><model>EPYC</model><vendor>AMD</vendor>
<topology sockets='1' dies='1' cores='2' threads='1'/><feature name='svm'/><feature name='aes'/></cpu></host>
</capabilities>"""


def test_cpu_info_from_capabilities() -> None:
    assert cpu_info(CAPABILITIES) == {
        "arch": "x86_64",
        "model": "EPYC",
        "vendor": "AMD",
        "topology": {"sockets": 1, "cores": 2, "threads": 1},
        "features": ["aes", "svm"],
    }
    assert cpu_info("<capabilities><host/></capabilities>") == {}


def test_libvirt_errors_are_not_printed_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    # libvirt-python prints every error to stderr unless a handler is registered, which importing host does
    with pytest.raises(libvirt.libvirtError):
        libvirt.open("test:///no/such/file.xml")
    assert "libvirt:" not in capfd.readouterr().err
