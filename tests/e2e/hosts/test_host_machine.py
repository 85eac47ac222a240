"""A simulated host machine has what a real machine has: its own hostname, libvirtd (with its own host UUID),
network reached only over the underlay, and every process of it stops with it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from manage import host_machine
from manage.host_machine import HostMachine, HostMachineError

pytestmark = pytest.mark.e2e


def _virsh(uri: str, *args: str) -> str:
    result = subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True, timeout=30, check=True)
    return result.stdout.strip()


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HostMachine, HostMachine]]:
    suffix = uuid.uuid4().hex[:4]
    root = tmp_path_factory.mktemp("host-machines")
    a = HostMachine(f"hm-{suffix}-a", root / "a", "10.231.7.11", underlay_bridge=f"ul-hm{suffix}")
    b = HostMachine(f"hm-{suffix}-b", root / "b", "10.231.7.12", underlay_bridge=f"ul-hm{suffix}")
    try:
        host_machine.start(a)
        host_machine.start(b, listen="tcp")
        yield a, b
    finally:
        for machine in (a, b):
            host_machine.stop(machine, remove=True)


def test_each_host_has_its_own_hostname_and_libvirtd_with_its_own_uuid(machines):
    a, b = machines
    assert _virsh(a.libvirt_uri, "hostname") == a.name
    assert _virsh(b.libvirt_uri, "hostname") == b.name
    uuids = {_virsh(m.libvirt_uri, "capabilities").split("<uuid>")[1][:36] for m in machines}
    machine_own = _virsh("qemu:///system", "capabilities").split("<uuid>")[1][:36]
    assert len(uuids) == 2 and machine_own not in uuids
    assert a.pids() and b.pids() and not (a.pids() & b.pids())


def test_a_host_sees_only_its_underlay_and_reaches_the_other_hosts_libvirtd_over_it(machines):
    a, b = machines
    links = a.run(["ip", "-br", "addr"]).stdout
    assert "10.231.7.11/24" in links and "10.231.7.12" not in links
    assert len(links.strip().splitlines()) == 2  # lo and the underlay veth: none of the machine's interfaces
    assert a.run(["ls", "/sys/class/net"]).stdout.split() == sorted(["lo", "ul0"])
    remote = a.run(["virsh", "-c", f"qemu+tcp://{b.underlay_ip}/system", "hostname"], timeout=30)
    assert remote.stdout.strip() == b.name, remote.stderr


def test_a_host_has_its_own_libvirt_directories(machines):
    a, _ = machines
    marker = a.root / "run" / "libvirt" / "marker"
    marker.write_text("a")
    assert a.run(["cat", "/run/libvirt/marker"]).stdout == "a"
    assert not Path("/run/libvirt/marker").exists()


def test_a_host_is_started_again_without_change_and_refuses_hostile_names(machines):
    a, _ = machines
    pids = a.pids()
    host_machine.start(a)
    assert a.pids() == pids
    for name in ("../etc", "a b", "A", "x;reboot", ""):
        with pytest.raises(HostMachineError):
            HostMachine(name, a.root, "10.231.7.20")
    with pytest.raises(ValueError):
        HostMachine("fine", a.root, "10.231.7.20; reboot")


def test_a_host_whose_libvirt_configuration_changed_starts_only_its_libvirtd_again(machines):
    """A later ``make up`` whose release writes new settings (QEMU's migration TLS, say) into a running host's
    libvirt configuration: libvirtd reads it only when it starts, so it starts again; virtlogd and the guests'
    processes run on."""
    a, _ = machines

    def pid(daemon: str) -> str:
        return (a.root / "run" / "libvirt" / f"{daemon}.pid").read_text().split()[0]

    libvirtd, virtlogd = pid("libvirtd"), pid("virtlogd")
    host_machine.start(a, listen="tcp")  # it listens on its underlay now
    assert pid("libvirtd") != libvirtd and pid("virtlogd") == virtlogd
    assert _virsh(a.libvirt_uri, "hostname") == a.name
    restarted = pid("libvirtd")
    host_machine.start(a, listen="tcp")
    assert pid("libvirtd") == restarted, "nothing changed: left running"


def test_stopping_a_host_stops_every_process_of_it(tmp_path):
    machine = HostMachine(f"hm-{uuid.uuid4().hex[:4]}-c", tmp_path / "c", "10.231.8.13", underlay_bridge="ul-hmstop")
    host_machine.start(machine)
    sleeper = machine.popen(["sleep", "300"])
    assert sleeper.pid in machine.pids()
    host_machine.stop(machine, remove=True)
    assert sleeper.wait(timeout=5) is not None
    assert not machine.cgroup_dirs()[0].exists()
    assert f"stratus-{machine.name}" not in subprocess.run(["ip", "netns"], capture_output=True, text=True).stdout


def test_fencing_a_host_machine_powers_off_every_process_of_it_and_needs_its_address(tmp_path):
    name = f"hm-{uuid.uuid4().hex[:4]}-f"
    machine = HostMachine(name, tmp_path / "hosts" / name / "machine", "10.231.9.14", underlay_bridge="ul-hmfence")
    fence = [sys.executable, "-m", "manage.cli", "services", "fence-machine", "--hosts-dir", str(tmp_path / "hosts")]
    try:
        host_machine.start(machine)
        sleeper = machine.popen(["sleep", "300"])
        refused = subprocess.run([*fence, name, "10.231.9.15"], capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "not its underlay address" in refused.stderr
        assert sleeper.poll() is None and host_machine.running(machine)
        for hostile in ("../x", "a;b"):
            assert subprocess.run([*fence, hostile, "10.231.9.14"], capture_output=True, timeout=60).returncode != 0
        done = subprocess.run([*fence, name, "10.231.9.14"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert sleeper.wait(timeout=5) is not None
        assert not machine.pids() and not host_machine.running(machine)
        host_machine.start(machine)  # and it comes back
        assert host_machine.running(machine)
    finally:
        host_machine.stop(machine, remove=True)


def test_a_host_machine_is_wired_to_the_machines_physical_networks_as_to_a_switch(tmp_path):
    bridge = f"ex-{uuid.uuid4().hex[:6]}"
    machine = HostMachine(
        f"hm-{uuid.uuid4().hex[:4]}-x", tmp_path / "x", "10.231.10.15", underlay_bridge="ul-hmwire",
        physical_bridges=(("public", bridge),), external_host_address="172.31.250.1/24",
    )  # fmt: skip
    try:
        host_machine.start(machine)
        inside = machine.run(["ip", "-br", "link", "show", "master", bridge]).stdout
        assert inside.startswith("px0@"), inside
        outside = subprocess.run(["ip", "-br", "link", "show", "master", bridge], capture_output=True, text=True)
        assert "px-" in outside.stdout
        machine.run(["ip", "addr", "add", "172.31.250.15/24", "dev", bridge])
        # The machine reaches an address behind the host's bridge, as it reaches floating IPs (the other way, the
        # external network's edge guard refuses new connections to the machine).
        ping = subprocess.run(["ping", "-c", "1", "-W", "2", "172.31.250.15"], capture_output=True, text=True)
        assert ping.returncode == 0, ping.stdout + ping.stderr
    finally:
        host_machine.stop(machine, remove=True)
    assert not Path("/sys/class/net", bridge).exists()  # the machine's bridge goes with its last host


def test_a_host_machine_sees_the_control_nodes_state_empty_but_for_its_own_directory_and_shared_stores(tmp_path):
    state = tmp_path / "state"
    (state / "secret").parent.mkdir(parents=True)
    (state / "secret").write_text("database password")
    (state / "volumes").mkdir()
    (state / "volumes" / "volume-1").write_text("a volume")
    name = f"hm-{uuid.uuid4().hex[:4]}-h"
    machine = HostMachine(name, state / "hosts" / name / "machine", "10.231.11.16", underlay_bridge="ul-hmhide")
    try:
        host_machine.start(machine, hide=state, shared=(state / "volumes",))
        (machine.root.parent / "own").write_text("mine")
        assert machine.run(["cat", str(state / "secret")]).returncode != 0
        assert machine.run(["ls", str(state)]).stdout.split() == ["hosts", "volumes"]
        assert machine.run(["cat", str(machine.root.parent / "own")]).stdout == "mine"
        assert machine.run(["cat", str(state / "volumes" / "volume-1")]).stdout == "a volume"
        assert (state / "secret").read_text() == "database password"  # hidden from the host, not gone
    finally:
        host_machine.stop(machine, remove=True)
