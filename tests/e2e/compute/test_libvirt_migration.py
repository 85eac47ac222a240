"""LibvirtDriver moves a real guest between two host machines, each with its own namespaces and libvirtd
(``manage.host_machine``), over TLS with each host's certificate from a hypervisor CA of the test's own
(``manage.hypervisor_tls``), as hosts of a cloud do.

The drivers run here, outside the hosts, as a simulated host's agent does: each reaches its own libvirtd by its
socket and the other's by its underlay address from inside its host's network namespace. Each host keeps
instances and cached images in its own directory (their paths differ, as simulated hosts' do).

One guest (TCG, the tiny image) goes A → B by live block migration and comes back B → A by a cold migration with
a larger flavor; before that, a live migration libvirt refuses (the target has no disk for it) leaves it running
on A. ``virsh`` on each host's socket is the witness of what each libvirtd holds. Stopping the host machines at
the end stops every process of theirs, guests included.

Live migrations use QEMU's native TLS for their streams (``live_migration_with_native_tls``, the default), each
host's QEMU files installed in its own directory (``host_machine.install_qemu_tls``); one test captures the
underlay to show what that changes on the wire.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest

from common.settings import Settings
from compute.host.virt.base import (
    ConfigDrive,
    DriverError,
    InstanceSpec,
    MigrationAborted,
    MigrationStats,
    MigrationTarget,
    PowerState,
)
from compute.host.virt.libvirt import peers
from compute.host.virt.libvirt.driver import LibvirtDriver
from deploy.images import markers
from manage import host_machine, hypervisor_tls
from manage.host_machine import HostMachine
from tests.harness import wait_until

pytestmark = pytest.mark.e2e

BOOT_TIMEOUT = 150.0


@dataclasses.dataclass
class Host:
    machine: HostMachine
    driver: LibvirtDriver
    cache: Path
    settings: Settings

    def another_agent(self) -> LibvirtDriver:
        """A driver of its own, as a second task of the host's agent (an abort, a force-complete) has."""
        return LibvirtDriver(self.settings)

    @property
    def target(self) -> MigrationTarget:
        return MigrationTarget(host=self.machine.name, address=self.machine.underlay_ip)

    def virsh(self, *args: str) -> str:
        result = subprocess.run(["virsh", "-c", self.machine.libvirt_uri, *args], capture_output=True, text=True,
                                timeout=60, check=False)  # fmt: skip
        return result.stdout.strip()

    def domains(self) -> list[str]:
        return self.virsh("list", "--all", "--name").split()

    def spec(self, uuid: str, **changes: object) -> InstanceSpec:
        values: dict[str, object] = {
            "uuid": uuid, "name": "mover", "vcpus": 1, "memory_mb": 192, "root_gb": 1,
            "base_image": self.cache / "tiny.qcow2", "base_image_format": "qcow2",
            "config_drive": ConfigDrive(meta_data={"uuid": uuid, "name": "mover", "hostname": "mover"}),
        }  # fmt: skip
        values.update(changes)
        return InstanceSpec(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def hosts(tiny_image: Path) -> Iterator[tuple[Host, Host]]:
    # QEMU runs as libvirt-qemu, which cannot enter pytest's private temporary directories.
    work = Path(tempfile.mkdtemp(prefix="stratus-e2e-migration-", dir="/var/tmp"))
    work.chmod(0o755)
    suffix = uuidlib.uuid4().hex[:4]
    settings = Settings(state_dir=str(work / "control"))  # the test's own hypervisor CA
    machines = [
        HostMachine(f"mg-{suffix}-{x}", work / x / "machine", f"10.231.9.{11 + i}", underlay_bridge=f"ul-mg{suffix}")
        for i, x in enumerate("ab")
    ]
    started: list[HostMachine] = []
    try:
        found = []
        for x, machine in zip("ab", machines, strict=True):
            tls = hypervisor_tls.issue(settings, machine.name, machine.underlay_ip)
            qemu = host_machine.install_qemu_tls(settings, machine)
            started.append(host_machine.start(machine, listen="tls", tls_dir=tls, qemu_tls=True))
            cache = work / x / "cache"
            cache.mkdir(mode=0o755, parents=True)
            shutil.copyfile(tiny_image, cache / "tiny.qcow2")
            host_settings = Settings(
                libvirt_uri=machine.libvirt_uri,
                instances_path=str(work / x / "instances"),
                network_namespace=machine.netns,
                console_listen=machine.underlay_ip,  # as a host machine's agent is told: the proxy reaches it there
                libvirt_migration_uri=f"qemu+tls://{{address}}/system?pkipath={tls}",
                qemu_tls_dir=str(qemu),  # live migrations with QEMU's native TLS (the default)
            )
            driver = LibvirtDriver(host_settings, soft_reboot_timeout=60)
            driver.init_host(machine.name)
            found.append(Host(machine, driver, cache, host_settings))
        yield found[0], found[1]
    finally:
        for machine in started:
            host_machine.stop(machine, remove=True)
        shutil.rmtree(work, ignore_errors=True)


def ready_count(host: Host, uuid: str) -> int:
    return len(markers.READY_RE.findall(host.driver.get_console_output(uuid)))


def wait_for_ready(host: Host, uuid: str, count: int) -> None:
    """Until the console (with the history that moved along) holds ``count`` ready lines: one per boot."""
    wait_until(
        lambda: ready_count(host, uuid),
        BOOT_TIMEOUT,
        interval=0.3,
        message=f"no ready line #{count} on the console of {uuid} on {host.machine.name}",
        until=lambda ready: ready >= count,
    )


def wait_for_console(host: Host, uuid: str, text: str, timeout: float = BOOT_TIMEOUT) -> None:
    wait_until(
        lambda: host.driver.get_console_output(uuid),
        timeout,
        interval=0.3,
        message=f"{text!r} did not appear on the console of {uuid} on {host.machine.name}",
        until=lambda console: text in console,
    )


def type_on_console(host: Host, uuid: str, command: str, expect: str) -> None:
    """Type into the guest's root shell on its serial port, which listens on the loopback of the guest's host
    (inside its network namespace, where the console proxy would reach it), and wait for ``expect`` in the log."""
    endpoint = host.driver.get_console(uuid, "serial")  # type: ignore[arg-type]
    connect = lambda: socket.create_connection((endpoint.host, endpoint.port), timeout=10)  # noqa: E731
    with peers.in_namespace(host.machine.netns, connect) as serial:
        serial.sendall(command.encode() + b"\n")
        wait_for_console(host, uuid, expect, timeout=30)


def disk_info(path: Path) -> dict[str, object]:
    output = subprocess.run(["qemu-img", "info", "-U", "--output", "json", "-f", "qcow2", str(path)],
                            capture_output=True, text=True, check=True, timeout=60).stdout  # fmt: skip
    return json.loads(output)


def test_a_guest_moves_live_to_b_and_cold_back_to_a(hosts: tuple[Host, Host]) -> None:
    a, b = hosts
    timings: dict[str, float] = {}
    uuid = str(uuidlib.uuid4())
    name = f"stratus-{uuid}"

    started = time.monotonic()
    a.driver.spawn(a.spec(uuid))
    wait_for_console(a, uuid, markers.READY_MARKER)
    timings["spawn on A → ready"] = time.monotonic() - started
    type_on_console(a, uuid, "echo before-move > /tmp/mark; echo WROTE-$((6*7))", "WROTE-42")

    # A live migration libvirt refuses: B was prepared without the disk a block migration copies into.
    b.driver.pre_live_migration(b.spec(uuid), block_migration=False)
    with pytest.raises(DriverError, match=f"still runs on {a.machine.name}"):
        a.driver.live_migration(uuid, b.target, True, lambda _s: None)
    assert a.driver.get_info(uuid).power_state == PowerState.RUNNING
    b.driver.rollback_live_migration_at_destination(uuid)
    assert name not in b.domains() and not b.driver.instance_dir(uuid).exists()
    type_on_console(a, uuid, "echo STILL-HERE-$((6*7))", "STILL-HERE-42")

    # Live block migration A → B.
    b.driver.pre_live_migration(b.spec(uuid), block_migration=True)
    seen: list[MigrationStats] = []
    started = time.monotonic()
    final = a.driver.live_migration(uuid, b.target, True, seen.append)
    timings["live block migration"] = time.monotonic() - started
    assert final.downtime_ms is not None and 0 <= final.downtime_ms < 5000
    assert final.memory_total > 0 and final.memory_remaining == 0
    assert seen and all(s.downtime_ms is None for s in seen)  # progress while it ran, the downtime at the end
    assert name not in a.domains()  # the source forgot it at the switch
    assert b.virsh("domstate", name) == "running"
    a.driver.post_live_migration_at_source(uuid)
    assert not a.driver.instance_dir(uuid).exists()
    assert [(i.uuid, i.power_state) for i in b.driver.list_instances()] == [(uuid, PowerState.RUNNING)]
    assert a.driver.list_instances() == []
    # The same guest, still running: its memory came along and it never booted on B.
    # (upper case: only the guest's answer on B reads so, not the history that came along)
    type_on_console(b, uuid, "tr a-z A-Z < /tmp/mark; echo ON-B-$((6*7))", "ON-B-42")
    console = b.driver.get_console_output(uuid)
    assert "BEFORE-MOVE" in console and "WROTE-42" in console  # its console history moved with it
    assert ready_count(b, uuid) == 1  # the one boot, on A
    moved_xml = b.virsh("dumpxml", "--inactive", name)
    assert str(b.driver.instance_dir(uuid) / "disk") in moved_xml and "stratus:incoming" not in moved_xml
    assert disk_info(b.driver.instance_dir(uuid) / "disk")["backing-filename"] == str(b.cache / "tiny.qcow2")

    # Cold migration B → A with a larger flavor; A names its instance directory itself (its announced pool).
    started = time.monotonic()
    b.driver.migrate_disk_and_power_off(uuid, a.target)
    assert b.virsh("domstate", name) == "shut off"
    bigger = a.spec(uuid, memory_mb=256, root_gb=2)
    a.driver.finish_migration(bigger, power_on=False)
    copied, kept = a.driver.instance_dir(uuid) / "disk", b.driver.instance_dir(uuid) / "disk"
    assert disk_info(copied)["backing-filename"] == str(a.cache / "tiny.qcow2")
    assert disk_info(copied)["virtual-size"] == 2 << 30
    subprocess.run(["qemu-img", "compare", "-U", "-f", "qcow2", "-F", "qcow2", str(kept), str(copied)],
                   check=True, capture_output=True, timeout=120)  # fmt: skip  # the same data, on each host's base
    a.driver.finish_migration(bigger, power_on=True)
    wait_for_ready(a, uuid, 2)  # booted again: a cold move; the first boot is in the history
    timings["cold migration → ready on A"] = time.monotonic() - started
    assert markers.ready_hostname(a.driver.get_console_output(uuid)) == "mover"
    assert a.virsh("domstate", name) == "running"
    assert "262144" in a.virsh("dumpxml", name)  # 256 MiB
    b.driver.confirm_migration(uuid)
    assert name not in b.domains() and not b.driver.instance_dir(uuid).exists()
    assert b.driver.list_instances() == []

    a.driver.destroy(uuid)
    assert name not in a.domains()
    print("\n" + "\n".join(f"  {label}: {seconds:.1f} s" for label, seconds in timings.items()))


def once(action: Callable[[], None]) -> Callable[[MigrationStats], None]:
    """A progress callback that runs ``action`` in a thread of its own at the first report (as another task of
    the agent would, while the migration's own task keeps waiting)."""
    fired: list[threading.Thread] = []

    def report(_stats: MigrationStats) -> None:
        if not fired:
            fired.append(threading.Thread(target=action))
            fired[0].start()

    return report


def test_an_aborted_live_migration_leaves_the_guest_on_a_and_a_forced_one_completes_paused_on_the_way(
    hosts: tuple[Host, Host],
) -> None:
    a, b = hosts
    uuid = str(uuidlib.uuid4())
    name = f"stratus-{uuid}"
    a.driver.spawn(a.spec(uuid))
    wait_for_console(a, uuid, markers.READY_MARKER)
    type_on_console(a, uuid, "echo before-abort > /tmp/mark; echo WROTE-$((6*7))", "WROTE-42")

    a.virsh("migrate-setspeed", name, "1")  # 1 MiB/s: the copy takes minutes, time enough to abort it
    b.driver.pre_live_migration(b.spec(uuid), block_migration=True)
    started = time.monotonic()
    with pytest.raises(MigrationAborted):
        a.driver.live_migration(uuid, b.target, True, once(lambda: a.another_agent().live_migration_abort(uuid)))
    assert time.monotonic() - started < 30
    assert a.driver.get_info(uuid).power_state == PowerState.RUNNING
    assert b.virsh("domstate", name) == "shut off"  # only the incoming definition: no guest arrived
    b.driver.rollback_live_migration_at_destination(uuid)
    assert name not in b.domains()
    type_on_console(a, uuid, "tr a-z A-Z < /tmp/mark; echo STILL-ON-A-$((6*7))", "STILL-ON-A-42")

    state_when_forced: list[str] = []

    def force() -> None:
        a.another_agent().live_migration_force_complete(uuid)
        state_when_forced.append(a.virsh("domstate", name))
        a.virsh("migrate-setspeed", name, "8796093022207")  # as a converging migration would: it lands now

    b.driver.pre_live_migration(b.spec(uuid), block_migration=True)
    final = a.driver.live_migration(uuid, b.target, True, once(force))
    assert state_when_forced == ["paused"]
    assert final.downtime_ms is not None
    assert name not in a.domains()
    assert b.virsh("domstate", name) == "running"  # paused only on the way
    a.driver.post_live_migration_at_source(uuid)
    type_on_console(b, uuid, "tr a-z A-Z < /tmp/mark; echo ON-B-$((6*7))", "ON-B-42")
    assert "BEFORE-ABORT" in b.driver.get_console_output(uuid) and ready_count(b, uuid) == 1

    # A guest its user paused moves back paused, and runs on where it stopped once unpaused.
    b.driver.pause(uuid)
    a.driver.pre_live_migration(a.spec(uuid), block_migration=True)
    b.driver.live_migration(uuid, a.target, True, lambda _s: None)
    b.driver.post_live_migration_at_source(uuid)
    assert a.virsh("domstate", name) == "paused" and name not in b.domains()
    a.driver.unpause(uuid)
    type_on_console(a, uuid, "echo BACK-ON-A-$((6*7)); tr a-z A-Z < /tmp/mark", "BACK-ON-A-42")
    wait_for_console(a, uuid, "BACK-ON-A-42\r\nBEFORE-ABORT", timeout=30)  # the answer on A, after its history
    assert ready_count(a, uuid) == 1
    a.driver.destroy(uuid)


@contextlib.contextmanager
def underlay_capture(host: Host, path: Path) -> Iterator[Path]:
    """Every TCP segment on ``host``'s underlay link (``ul0``, its only way to the other host) but libvirtd's own
    TLS connection (16514) while the block runs: what QEMU's migration streams put on the wire."""
    argv = ["ip", "netns", "exec", host.machine.netns, "tcpdump", "-i", "ul0", "-n", "-s", "0", "--immediate-mode",
            "-B", "65536", "-U", "-w", str(path), "tcp and not port 16514"]  # fmt: skip
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) as dump:
        try:
            assert dump.stderr is not None and "listening on" in dump.stderr.readline()
            yield path
            time.sleep(0.5)  # the last segments reach the file before tcpdump is interrupted
        finally:
            dump.send_signal(signal.SIGINT)
            dump.wait(timeout=30)


def tcp_flows(pcap: bytes) -> dict[tuple[int, int], bytes]:
    """The TCP payload of each direction of each connection in a classic little-endian Ethernet pcap, in capture
    order, by (source port, destination port)."""
    assert struct.unpack_from("<I", pcap)[0] == 0xA1B2C3D4, "not a little-endian microsecond pcap"
    flows: dict[tuple[int, int], bytearray] = {}
    offset = 24
    while offset + 16 <= len(pcap):
        length = struct.unpack_from("<I", pcap, offset + 8)[0]
        frame, offset = pcap[offset + 16 : offset + 16 + length], offset + 16 + length
        if struct.unpack_from("!H", frame, 12)[0] != 0x0800 or frame[23] != 6:  # IPv4, TCP
            continue
        ip = frame[14:]
        ip_header, total = (ip[0] & 0x0F) * 4, struct.unpack_from("!H", ip, 2)[0]
        tcp = ip[ip_header:total]
        source, destination = struct.unpack_from("!HH", tcp)
        flows.setdefault((source, destination), bytearray()).extend(tcp[(tcp[12] >> 4) * 4 :])
    return {key: bytes(value) for key, value in flows.items()}


def to_nbd_server(flows: dict[tuple[int, int], bytes]) -> list[tuple[int, int]]:
    """The client-to-server direction of each NBD connection (its server's greeting opens the other one): what a
    block migration's copy writes."""
    return [(destination, source) for (source, destination), data in flows.items() if data.startswith(b"NBDMAGIC")]


def test_with_native_tls_neither_the_guests_memory_nor_its_disk_crosses_the_underlay_in_clear(
    hosts: tuple[Host, Host],
) -> None:
    """The guest keeps a marker in its memory and another on its disk (outside any file system, so only the block
    copy moves it); the underlay between the hosts is captured during live block migrations. With
    ``live_migration_with_native_tls`` off both markers are on the wire (the NBD copy carries the disk's): the
    capture would see them. With it on (the default) neither is, while the memory stream and the NBD connection
    carried at least as much; a target whose QEMU cannot read its key refuses the migration (libvirt's own
    refusal, past the agents' checks): the guest stays, nothing goes in clear."""
    a, b = hosts
    uuid = str(uuidlib.uuid4())
    name = f"stratus-{uuid}"
    token = uuidlib.uuid4().int % 10**12
    memory_marker, disk_marker = f"TLSPROBE{token}MEMORY".encode(), f"TLSPROBE{token}DISK".encode()
    a.driver.spawn(a.spec(uuid))
    wait_for_console(a, uuid, markers.READY_MARKER)
    # Typed so that the markers themselves never cross any wire: the shell makes them from the arithmetic.
    type_on_console(a, uuid, f"yes TLSPROBE$(({token}))MEMORY | head -n 4000 > /tmp/memory-mark; echo MEM-$((6*7))",
                    "MEM-42")  # fmt: skip
    type_on_console(a, uuid, f"yes TLSPROBE$(({token}))DISK | head -c 1048576 | dd of=/dev/vda bs=65536 "
                             "seek=8192 2>/dev/null; sync; echo DISK-$((6*7))", "DISK-42")  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="stratus-e2e-tls-", dir="/var/tmp"))
    in_clear = LibvirtDriver(a.settings.replace(live_migration_with_native_tls=False), soft_reboot_timeout=60)
    in_clear.init_host(a.machine.name)
    try:
        # In clear, A → B: the capture sees both markers, the disk's in the NBD connection.
        b.driver.pre_live_migration(b.spec(uuid), block_migration=True)
        with underlay_capture(a, work / "clear.pcap") as path:
            in_clear.live_migration(uuid, b.target, True, lambda _s: None)
        a.driver.post_live_migration_at_source(uuid)
        clear = tcp_flows(path.read_bytes())
        assert any(memory_marker in flow for flow in clear.values())
        nbd_writes = to_nbd_server(clear)
        assert nbd_writes and all(disk_marker in clear[flow] for flow in nbd_writes)

        # Refused: A's QEMU cannot read its key, past the agents' checks (the file is there, its mode is not).
        key = a.settings.qemu_tls_dir + "/server-key.pem"
        a.driver.pre_live_migration(a.spec(uuid), block_migration=True)
        Path(key).chmod(0o600)  # root's alone: QEMU (libvirt-qemu) cannot read it
        try:
            with pytest.raises(
                DriverError, match=f"still runs on {b.machine.name}. QEMU's native TLS failed"
            ) as refused:
                b.driver.live_migration(uuid, a.target, True, lambda _s: None)
        finally:
            Path(key).chmod(0o640)
        assert b.virsh("domstate", name) == "running"
        a.driver.rollback_live_migration_at_destination(uuid)

        # With QEMU's TLS, B → A: neither marker on the wire, although both streams carried them.
        a.driver.pre_live_migration(a.spec(uuid), block_migration=True)
        with underlay_capture(b, work / "tls.pcap") as path:
            final = b.driver.live_migration(uuid, a.target, True, lambda _s: None)
        b.driver.post_live_migration_at_source(uuid)
        encrypted = tcp_flows(path.read_bytes())
        assert not any(memory_marker in flow or disk_marker in flow for flow in encrypted.values())
        assert sum(map(len, encrypted.values())) >= final.memory_processed  # the memory went by this wire
        nbd_writes = to_nbd_server(encrypted)  # NBD greets in clear, then the client asks for STARTTLS
        assert nbd_writes and all(len(encrypted[flow]) > 1 << 20 for flow in nbd_writes)  # the disk's marker, sealed
        assert any(flow[:3] == b"\x16\x03\x01" for flow in encrypted.values())  # a TLS ClientHello opens a stream
        type_on_console(a, uuid, f"echo COUNT-$(grep -c TLSPROBE$(({token}))MEMORY /tmp/memory-mark)", "COUNT-4000")
        print(f"\n  refused: {refused.value.message}")
        for label, flows in (("in clear", clear), ("native TLS", encrypted)):
            wire, nbd = sum(map(len, flows.values())), sum(len(flows[flow]) for flow in to_nbd_server(flows))
            print(f"  {label}: {wire / 2**20:.1f} MiB on the wire, NBD writes {nbd / 2**20:.1f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for host in (a, b):
            with contextlib.suppress(Exception):
                host.driver.destroy(uuid)


def test_a_cold_move_between_hosts_that_share_the_machines_libvirtd(libvirtd: str, tiny_image: Path) -> None:
    """Hosts simulated on one machine without machines of their own (``hosts`` > 1, no ``host_machines``) share
    its libvirtd, which listens on no host's address and holds one definition per guest: the disk is copied
    through that daemon and the definition handed over (and back on a revert)."""
    work = Path(tempfile.mkdtemp(prefix="stratus-e2e-shared-move-", dir="/var/tmp"))
    work.chmod(0o755)
    shutil.copyfile(tiny_image, work / "tiny.qcow2")
    suffix = uuidlib.uuid4().hex[:4]
    drivers = []
    for x in "ab":
        driver = LibvirtDriver(Settings(libvirt_uri=libvirtd, instances_path=str(work / x / "instances")))
        driver.init_host(f"shared-{suffix}-{x}")
        drivers.append(driver)
    a, b = drivers
    uuid = str(uuidlib.uuid4())
    drive = ConfigDrive(meta_data={"hostname": "shared"})
    spec = InstanceSpec(uuid=uuid, name="shared", vcpus=1, memory_mb=192, root_gb=1, base_image=work / "tiny.qcow2",
                        base_image_format="qcow2", config_drive=drive)  # fmt: skip
    try:
        a.spawn(spec)
        wait_until(lambda: a.get_console_output(uuid), BOOT_TIMEOUT, interval=0.3, message="no boot on A",
                   until=lambda console: markers.READY_MARKER in console)  # fmt: skip
        to_b = MigrationTarget(f"shared-{suffix}-b", "127.0.0.1")
        a.migrate_disk_and_power_off(uuid, to_b)
        assert (b.instance_dir(uuid) / "disk").is_file()
        b.finish_migration(dataclasses.replace(spec, root_gb=2), power_on=False)
        assert [i.uuid for i in b.list_instances()] == [uuid] and a.list_instances() == []
        b.destroy_moved(uuid)  # reverted: A takes its definition back
        a.finish_revert_migration(uuid, power_on=False)
        assert [(i.uuid, i.power_state) for i in a.list_instances()] == [(uuid, PowerState.SHUTDOWN)]
        assert b.list_instances() == [] and not b.instance_dir(uuid).exists()

        a.migrate_disk_and_power_off(uuid, to_b)
        b.finish_migration(dataclasses.replace(spec, root_gb=2), power_on=True)
        assert [(i.uuid, i.power_state) for i in b.list_instances()] == [(uuid, PowerState.RUNNING)]
        wait_until(lambda: b.get_console_output(uuid), BOOT_TIMEOUT, interval=0.3, message="no boot on B",
                   until=lambda console: len(markers.READY_RE.findall(console)) == 2)  # fmt: skip  # A's history
        a.confirm_migration(uuid)
        assert not a.instance_dir(uuid).exists() and a.list_instances() == []
        assert disk_info(b.instance_dir(uuid) / "disk")["virtual-size"] == 2 << 30
    finally:
        for driver in drivers:
            driver.destroy_moved(uuid)
            with contextlib.suppress(libvirt.libvirtError):
                driver.host.connection().storagePoolLookupByName(f"stratus-instances-{driver.host_name}").destroy()
        shutil.rmtree(work, ignore_errors=True)
