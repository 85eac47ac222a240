"""Tenant networks with real guests on two hosts (issue #5): one private cloud with two simulated hosts, the Linux
dataplane and QEMU guests booted from the tiny image through the ``openstack`` CLI.

Project A (``demo``) has ``a1`` on host 1 and ``a2`` on host 2 on ``a-net``; project B (``other``) has ``b1`` on
host 2 on ``b-net``, the same CIDR, holding a1's very address. Pings are typed into the guests' root shells on
their serial consoles; kernel state and captures are read from outside (``ip``, ``nft``, ``tcpdump``), never
taken from the agents' word. Each test asserts what must pass and what must not, every failing ping right after
one that passed, and leaves the guests as it found them; the last one deletes everything and looks for leftovers.

Everything this module makes carries its run's host name (``e2e<hex>``) or lives under its state directory, and
the fixture removes it whatever happens: domains, DHCP servers, namespaces, devices, the underlay bridge.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deploy.images import markers
from manage.clouds import write_clouds_yaml
from network.devicenames import dhcp_namespace, network_bridge, vif_names, vxlan_device
from tests.e2e.network.probes import vxlan_packets
from tests.harness import VENV_BIN, Cloud, running_cloud

pytestmark = pytest.mark.e2e

RUN = secrets.token_hex(2)
HOST = f"e2e{RUN}"
HOSTS = (f"{HOST}-1", f"{HOST}-2")
UNDERLAY_BRIDGE = f"ul{HOST}"
UNDERLAY = f"198.19.{secrets.randbelow(256)}.0/24"
VTEPS = {host: UNDERLAY.rsplit(".", 1)[0] + f".{11 + i}" for i, host in enumerate(HOSTS)}
"""The underlay address the launcher gives each host (network address + 10 + its index)."""
PASSWORDS = {"admin": "e2e-admin", "demo": "e2e-demo", "other": "e2e-other"}
RESYNC_INTERVAL = 5.0
BOOT_TIMEOUT = 180.0
DEVICE_PREFIXES = ("brq", "vxlan-", "qbr", "qvb", "qvo", "tap")
UNUSED_IP = "10.0.0.99"
"""An address of the subnet that no port has (the spoofing guest takes it, pings to it must fail)."""


# ---------------------------------------------------------------------------------------------------------------
# Commands: the host's tools and the openstack CLI


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def virsh(*args: str) -> str:
    return sh("virsh", "-c", "qemu:///system", *args, check=False).stdout


@dataclass(frozen=True)
class OpenStack:
    """The ``openstack`` CLI for the accounts of the module's ``clouds.yaml`` (cloud name = user = project)."""

    clouds_yaml: Path

    def __call__(self, cloud: str, *args: str, project: str | None = None, timeout: float = 300) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        scope = ["--os-project-name", project] if project else []
        result = subprocess.run(
            [str(VENV_BIN / "openstack"), "--os-cloud", cloud, *scope, *args],
            env=env | {"OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml)},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, f"openstack --os-cloud {cloud} {' '.join(args)}: {result.stderr}"
        return result.stdout

    def json(self, cloud: str, *args: str, project: str | None = None) -> Any:
        return json.loads(self(cloud, *args, "-f", "json", project=project))


def in_parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent calls (CLI commands, mostly waiting) at once; their results in order, the first error."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


def wait_until(condition: Callable[[], Any], timeout: float, message: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"{message} (waited {timeout:.0f} s)")
        time.sleep(interval)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Guests: their root shell on the serial console


COMMAND_NUMBERS = itertools.count(1)
PING_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) packets received")


@dataclass
class Guest:
    """A booted server and its port, with the root shell on its serial console."""

    name: str
    server_id: str
    host: str
    network_id: str
    port_id: str
    mac: str
    ip: str
    console_log: Path

    @property
    def tap(self) -> str:
        return vif_names(self.port_id).tap

    def console(self) -> str:
        return self.console_log.read_text(errors="replace")

    def run(self, command: str, timeout: float = 30) -> tuple[int, str]:
        """Type ``command`` into the root shell; its exit status and output, read back from the console log.

        The markers around it are made by the shell (``$$``, ``$?``), so the echo of the typed line, which the
        console may wrap anywhere, never matches them. The pty stays open meanwhile (QEMU drops input from a pty
        nobody holds) and is drained, so the guest's output never waits for a reader.
        """
        number = next(COMMAND_NUMBERS)
        done = re.compile(rf"B{number}-\d+-B\r?\n(?P<out>.*?)R{number}-(?P<rc>\d+)-R", re.DOTALL)
        start = self.console_log.stat().st_size
        source = ET.fromstring(virsh("dumpxml", f"stratus-{self.server_id}")).find("./devices/serial/source")
        assert source is not None and source.get("path"), f"{self.name}: the serial port has no pty"
        fd = os.open(source.get("path", ""), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            os.write(fd, f"echo B{number}-$$-B; {command}; echo R{number}-$?-R\n".encode())
            deadline = time.monotonic() + timeout
            while True:
                with suppress(BlockingIOError):
                    os.read(fd, 65536)
                with self.console_log.open("rb") as log:
                    log.seek(start)
                    found = done.search(log.read().decode(errors="replace"))
                if found:
                    return int(found["rc"]), found["out"].replace("\r", "")
                if time.monotonic() > deadline:
                    pytest.fail(f"{self.name}: {command!r} did not finish within {timeout:.0f} s")
                time.sleep(0.05)
        finally:
            os.close(fd)

    def ping(self, ip: str, count: int = 3) -> tuple[int, int]:
        """(sent, received) of ``count`` pings 0.2 s apart, waiting a second for late replies."""
        _, out = self.run(f"ping -c {count} -i 0.2 -W 1 {ip}")
        summary = PING_SUMMARY.search(out)
        assert summary is not None, f"{self.name}: no ping summary in {out!r}"
        return int(summary[1]), int(summary[2])

    def reaches(self, ip: str, count: int = 3) -> bool:
        """Every ping answered."""
        sent, received = self.ping(ip, count)
        return received == sent

    def unanswered(self, ip: str, count: int = 3) -> bool:
        """No ping answered."""
        return self.ping(ip, count)[1] == 0

    def neighbour_mac(self, ip: str) -> str:
        _, out = self.run(f"ip neigh show {ip}")
        found = re.search(r"lladdr ([0-9a-f:]{17})", out)
        return found[1] if found else ""


# ---------------------------------------------------------------------------------------------------------------
# Captures


@dataclass(frozen=True)
class Frame:
    """One Ethernet frame of a capture: addresses, type and, for IPv4, its addresses and protocol."""

    src: str
    dst: str
    ethertype: int
    ip_src: str = ""
    ip_dst: str = ""
    ip_proto: int = 0
    udp_dport: int = 0


def frames(pcap: bytes) -> list[Frame]:
    """The frames of a classic little-endian Ethernet pcap (tcpdump's ``-w``)."""
    assert struct.unpack_from("<I", pcap)[0] == 0xA1B2C3D4, "not a little-endian microsecond pcap"
    found, offset = [], 24
    while offset + 16 <= len(pcap):
        length = struct.unpack_from("<I", pcap, offset + 8)[0]
        data, offset = pcap[offset + 16 : offset + 16 + length], offset + 16 + length
        ethertype = struct.unpack_from("!H", data, 12)[0]
        frame = Frame(data[6:12].hex(":"), data[0:6].hex(":"), ethertype)
        if ethertype == 0x0800:
            ip, header = data[14:], (data[14] & 0x0F) * 4
            udp_dport = struct.unpack_from("!H", ip, header + 2)[0] if ip[9] == 17 else 0
            ip_src, ip_dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
            frame = Frame(frame.src, frame.dst, ethertype, ip_src, ip_dst, ip[9], udp_dport)
        found.append(frame)
    return found


@contextmanager
def capture(interface: str, path: Path) -> Iterator[Path]:
    """Everything ``interface`` (root namespace) sees while the block runs, written to ``path``."""
    argv = ["tcpdump", "-i", interface, "-n", "--immediate-mode", "-U", "-w", str(path)]
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) as dump:
        try:
            assert dump.stderr is not None and "listening on" in dump.stderr.readline()
            yield path
            time.sleep(0.3)  # the last replies reach the file before tcpdump is interrupted
        finally:
            dump.send_signal(signal.SIGINT)
            dump.wait(timeout=10)


# ---------------------------------------------------------------------------------------------------------------
# The kernel, read from outside


def netns(host: str) -> str:
    return f"stratus-{host}"


def links(namespace: str | None) -> set[str]:
    out = sh("ip", *(["-n", namespace] if namespace else []), "-j", "link", "show").stdout
    return {entry["ifname"] for entry in json.loads(out)}


def bridge_ports(namespace: str, bridge: str) -> set[str]:
    out = sh("ip", "-n", namespace, "-j", "link", "show", "master", bridge, check=False).stdout
    return {entry["ifname"] for entry in json.loads(out or "[]")}


def namespaces() -> set[str]:
    out = sh("ip", "-j", "netns", "list").stdout.strip()
    return {entry["name"] for entry in json.loads(out)} if out else set()


def ruleset(namespace: str | None) -> str:
    return sh(*(["ip", "netns", "exec", namespace] if namespace else []), "nft", "list", "ruleset").stdout


def processes_mentioning(text: str, program: str) -> list[int]:
    """Pids of ``program`` processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if entry.name.isdigit() and cmdline.startswith(program) and text in cmdline:
            found.append(int(entry.name))
    return found


def process_gone(pid: int) -> bool:
    """Not running (a zombie counts as gone: nothing here reaps the launcher's orphans)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] in ("Z", "X")
    except OSError:
        return True


# ---------------------------------------------------------------------------------------------------------------
# The cloud and its tenants


@dataclass
class World:
    """The running cloud, its CLI, the two projects' networks and the three guests."""

    cloud: Cloud
    openstack: OpenStack
    networks: dict[str, str]  # name -> id
    groups: dict[str, str]  # project -> id of its "icmp-in" group
    guests: dict[str, Guest] = field(default_factory=dict)

    @property
    def a1(self) -> Guest:
        return self.guests["a1"]

    @property
    def a2(self) -> Guest:
        return self.guests["a2"]

    @property
    def b1(self) -> Guest:
        return self.guests["b1"]

    def vni(self, network: str) -> int:
        return int(self.openstack.json("admin", "network", "show", self.networks[network])["provider:segmentation_id"])

    def agent_log(self, host: str) -> Path:
        return self.cloud.log_dir / f"network-agent-{host}.log"

    def agent_pid(self, host: str) -> int:
        return int((self.cloud.state_dir / "run" / f"network-agent-{host}.pid").read_text().split()[0])


def _admit(openstack: OpenStack, project: str) -> None:
    """The project's member (the bootstrap made demo's) and the admin's role in the project (placing servers on a
    host is for admins only)."""
    calls = [lambda: openstack("admin", "role", "add", "--project", project, "--user", "admin", "admin")]
    if project != "demo":
        password = PASSWORDS[project]
        calls.append(
            lambda: (
                openstack("admin", "user", "create", "--project", project, "--password", password, project),
                openstack("admin", "role", "add", "--project", project, "--user", project, "member"),
            )
        )
    in_parallel(*calls)


def _tenant_network(openstack: OpenStack, project: str, name: str) -> tuple[str, str]:
    """The project's network on 10.0.0.0/24 and its dedicated group: both egress rules and ICMP in, nothing
    else (the default group would also let members of the same group in, whatever the ICMP rule says). The
    admin makes them for the project, so they need not wait for the project's user."""
    scope = ("--project", project)

    def network() -> str:
        made = openstack.json("admin", "network", "create", *scope, name)["id"]
        subnet = ("subnet", "create", *scope, "--network", made, "--subnet-range", "10.0.0.0/24", f"{name}-subnet")
        openstack("admin", *subnet)
        return made

    def group() -> str:
        made = openstack.json("admin", "security", "group", "create", *scope, "icmp-in")["id"]
        openstack("admin", "security", "group", "rule", "create", "--ingress", "--protocol", "icmp", made)
        return made

    network_id, group_id = in_parallel(network, group)
    return network_id, group_id


@dataclass(frozen=True)
class Server:
    name: str
    host: str
    ip: str


@dataclass(frozen=True)
class Tenant:
    project: str
    network: str
    servers: tuple[Server, ...]


TENANTS = (
    Tenant("demo", "a-net", (Server("a1", HOSTS[0], "10.0.0.11"), Server("a2", HOSTS[1], "10.0.0.12"))),
    Tenant("other", "b-net", (Server("b1", HOSTS[1], "10.0.0.11"),)),  # a1's address, on a2's host
)


def _boot(cloud: Cloud, openstack: OpenStack, project: str, server: Server, network: str, group: str) -> Guest:
    """Create the server as the admin acting in ``project``, placed on its host, and wait for its shell."""
    try:
        created = openstack.json(
            "admin",
            "server", "create", "--image", "tiny", "--flavor", "m1.tiny",
            "--nic", f"net-id={network},v4-fixed-ip={server.ip}",
            "--security-group", group,
            "--availability-zone", f"nova:{server.host}",
            "--wait", server.name,
            project=project,
        )  # fmt: skip
    except AssertionError as exc:
        shown = openstack.json("admin", "server", "show", server.name, project=project)
        raise AssertionError(f"{server.name} is {shown['status']}: {shown.get('fault')}") from exc
    (port,) = openstack.json("admin", "port", "list", "--device-id", created["id"])
    console_log = cloud.state_dir / "instances" / server.host / "instances" / created["id"] / "console.log"
    guest = Guest(
        server.name, created["id"], server.host, network, port["ID"], port["MAC Address"], server.ip, console_log
    )
    wait_until(
        lambda: console_log.exists() and f"{server.name}:/root# " in guest.console(),
        BOOT_TIMEOUT,
        f"{server.name} did not reach its shell",
        interval=0.5,
    )
    return guest


def _tenant(cloud: Cloud, openstack: OpenStack, tenant: Tenant, image: Future[str]) -> tuple[str, str, list[Guest]]:
    """Everything of one project, its servers booted in parallel once the image is there: (network id, group id,
    guests)."""
    if tenant.project != "demo":  # the bootstrap made demo
        openstack("admin", "project", "create", tenant.project)
    (network, group), _ = in_parallel(
        lambda: _tenant_network(openstack, tenant.project, tenant.network), lambda: _admit(openstack, tenant.project)
    )
    image.result()
    boots = (lambda s=s: _boot(cloud, openstack, tenant.project, s, network, group) for s in tenant.servers)
    return network, group, in_parallel(*boots)


def _remove_leftovers(state: Path, network_ids: set[str]) -> None:
    """Whatever a failure left: only what this module's cloud made (its domains' disks and its DHCP servers'
    files are under ``state``, its devices carry its hosts' names)."""
    for name in virsh("list", "--all", "--name").split():
        if name.startswith("stratus-") and str(state) in virsh("dumpxml", name):
            virsh("destroy", name)
            virsh("undefine", name, "--managed-save")
    for pid in processes_mentioning(str(state), "dnsmasq"):
        os.kill(pid, signal.SIGKILL)
    dhcp_dirs = {path.name for path in state.glob("dataplane/*/dhcp/*")}
    for name in namespaces() & {dhcp_namespace(n) for n in network_ids | dhcp_dirs}:
        sh("ip", "netns", "del", name, check=False)
    for host in HOSTS:
        sh("ip", "netns", "del", netns(host), check=False)
    for entry in json.loads(sh("ip", "-j", "link", "show").stdout):
        if entry.get("ifalias", "").startswith(tuple(f"stratus:{host}:" for host in HOSTS)):
            sh("ip", "link", "del", entry["ifname"], check=False)
    sh("ip", "link", "del", UNDERLAY_BRIDGE, check=False)


def _keep_logs(state: Path, keep: Path) -> None:
    """The services' logs and the guests' consoles, for a run that failed."""
    shutil.copytree(state / "log", keep / "log", dirs_exist_ok=True)
    for console in state.glob("instances/*/instances/*/console.log"):
        shutil.copy(console, keep / f"console-{console.parent.name}.log")


@pytest.fixture(scope="module")
def world(
    tiny_image: Path, libvirtd: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The cloud with both projects' networks and the three guests. When anything failed, the logs and consoles
    are kept in pytest's temporary directory (``tenant-networks-logs*``) before everything is removed."""
    failed_before = request.session.testsfailed
    # Not under pytest's private temporary directory: QEMU runs as its own user and must reach the disks.
    state = Path(tempfile.mkdtemp(prefix=f"stratus-e2e-{HOST}-", dir="/var/tmp"))
    state.chmod(0o711)
    env = {
        "STRATUS_COMPUTE_DRIVER": "libvirt",
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_LIBVIRT_URI": libvirtd,
        "STRATUS_HOSTS": "2",
        "STRATUS_HOST": HOST,
        "STRATUS_NETWORK_DATAPLANE": "linux",
        "STRATUS_NETWORK_UNDERLAY_BRIDGE": UNDERLAY_BRIDGE,
        "STRATUS_NETWORK_SIMULATED_UNDERLAY": UNDERLAY,
        "STRATUS_NETWORK_RESYNC_INTERVAL": str(RESYNC_INTERVAL),
        "STRATUS_INSTANCES_PATH": str(state / "instances"),
        "STRATUS_IMAGE_CACHE_PATH": str(state / "cache"),
    }
    network_ids: set[str] = set()
    ok = False
    try:
        with running_cloud(state, env) as cloud:
            cloud.bootstrap(PASSWORDS["admin"], PASSWORDS["demo"])
            clouds_yaml = state / "clouds.yaml"
            write_clouds_yaml(
                clouds_yaml, cloud.auth_url, "RegionOne", {name: (name, pw) for name, pw in PASSWORDS.items()}
            )
            openstack = OpenStack(clouds_yaml)
            image = ("image", "create", "--public", "--disk-format", "qcow2", "--container-format", "bare")
            with ThreadPoolExecutor(max_workers=3) as pool:
                uploaded = pool.submit(openstack, "admin", *image, "--file", str(tiny_image), "tiny")
                tenants = [pool.submit(_tenant, cloud, openstack, tenant, uploaded) for tenant in TENANTS]
                (a_net, a_group, a_guests), (b_net, b_group, b_guests) = (tenant.result() for tenant in tenants)
            network_ids |= {a_net, b_net}
            world = World(cloud, openstack, {"a-net": a_net, "b-net": b_net}, {"demo": a_group, "other": b_group})
            world.guests = {guest.name: guest for guest in a_guests + b_guests}
            yield world
            ok = request.session.testsfailed == failed_before
    finally:
        if not ok:
            _keep_logs(state, tmp_path_factory.mktemp("tenant-networks-logs"))
        _remove_leftovers(state, network_ids)
        shutil.rmtree(state, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# The tests, in the order they run: the last one deletes everything


def test_servers_of_one_project_on_two_hosts_get_their_addresses_and_ping_each_other(world: World) -> None:
    a1, a2 = world.a1, world.a2
    demo = world.openstack.json("admin", "project", "show", "demo")["id"]
    for guest in (a1, a2):
        shown = world.openstack.json("admin", "server", "show", guest.server_id)
        assert shown["OS-EXT-SRV-ATTR:host"] == guest.host and shown["project_id"] == demo
        console = world.openstack("demo", "console", "log", "show", guest.server_id)
        assert markers.nics(console)["eth0"] == markers.Nic("eth0", guest.mac, f"{guest.ip}/24"), "no DHCP lease"
    assert a1.host != a2.host
    assert a1.reaches(a2.ip) and a2.reaches(a1.ip)
    assert a1.neighbour_mac(a2.ip) == a2.mac and a2.neighbour_mac(a1.ip) == a1.mac
    assert a1.unanswered(UNUSED_IP), "a ping to an address nobody holds was answered"


def test_a_project_on_the_same_cidr_and_address_cannot_reach_the_other(world: World, tmp_path: Path) -> None:
    """b1 holds a1's address on a2's host. Neighbour caches are flushed first, so every ping starts with a
    broadcast ARP: were the networks joined anywhere, the other side's guest would see it (and answer)."""
    a1, a2, b1 = world.a1, world.a2, world.b1
    assert b1.ip == a1.ip and b1.host == a2.host
    for guest in (a2, b1):
        guest.run("ip neigh flush dev eth0")
    with capture(b1.tap, tmp_path / "b1.pcap") as b1_saw, capture(a2.tap, tmp_path / "a2.pcap") as a2_saw:
        assert a2.reaches(a1.ip), "A's servers no longer reach each other"
        assert a2.neighbour_mac(a1.ip) == a1.mac, "a1's address answered by another MAC"
        assert b1.reaches("10.0.0.2"), "b1 does not reach its own network's DHCP server"
        assert b1.unanswered(a2.ip), "a server of project B reached project A's"
    at_b1 = {f.src for f in frames(b1_saw.read_bytes())}
    at_a2 = {f.src for f in frames(a2_saw.read_bytes())}
    assert b1.mac in at_b1 and a1.mac in at_a2, "the captures missed the traffic they were to see"
    assert a2.mac not in at_b1, "a frame of A's server reached B's"
    assert b1.mac not in at_a2, "a frame of B's server reached A's"
    assert a1.reaches(a2.ip)


def test_the_underlay_carries_tenant_traffic_only_in_vxlan_with_the_networks_vni(world: World, tmp_path: Path) -> None:
    a1, a2 = world.a1, world.a2
    vni, other_vni = world.vni("a-net"), world.vni("b-net")
    assert vni != other_vni
    with capture(UNDERLAY_BRIDGE, tmp_path / "underlay.pcap") as saw:
        assert a1.reaches(a2.ip, count=4)
    pcap = saw.read_bytes()
    tunnelled = vxlan_packets(pcap)
    ours = [p for p in tunnelled if {p[3], p[4]} == {a1.mac, a2.mac}]
    assert {(p[0], p[1]) for p in ours} == {(VTEPS[a1.host], VTEPS[a2.host]), (VTEPS[a2.host], VTEPS[a1.host])}
    assert len(ours) >= 8, f"expected the 4 requests and 4 replies in VXLAN, found {len(ours)}"
    assert {p[2] for p in tunnelled} == {vni}, "a packet in VXLAN carried another VNI than a-net's"
    plain = [f for f in frames(pcap) if f.ethertype == 0x0800 and f.udp_dport != 4789]
    assert not plain, f"IPv4 on the underlay outside VXLAN: {plain[:3]}"
    guest_macs = {g.mac for g in world.guests.values()}
    assert not [f for f in frames(pcap) if f.src in guest_macs], "a guest's frame on the underlay unencapsulated"


def test_removing_the_icmp_rule_stops_new_pings_to_the_guests_of_the_group(world: World) -> None:
    a1, a2 = world.a1, world.a2
    group = world.groups["demo"]
    rules = world.openstack.json("demo", "security", "group", "rule", "list", group)
    ingress = [r for r in rules if r["Direction"] == "ingress"]
    assert len(ingress) == 1 and ingress[0]["IP Protocol"] == "icmp", f"the group must decide by ICMP alone: {rules}"
    assert a2.reaches(a1.ip) and a1.reaches(a2.ip)
    world.openstack("demo", "security", "group", "rule", "delete", ingress[0]["ID"])
    try:
        wait_until(lambda: a2.unanswered(a1.ip, count=1), 15, "pings to a1 still pass without the ICMP rule")
        assert a2.unanswered(a1.ip) and a1.unanswered(a2.ip), "ICMP reached a guest whose group no longer allows it"
    finally:
        world.openstack("demo", "security", "group", "rule", "create", "--ingress", "--protocol", "icmp", group)
    wait_until(lambda: a2.reaches(a1.ip, count=1), 15, "pings to a1 do not pass again with the rule back")
    assert a1.reaches(a2.ip)


def test_a_guest_that_takes_another_address_is_dropped_at_its_port(world: World, tmp_path: Path) -> None:
    """a1 swaps its address for one its port does not have, keeping a2's MAC in a static neighbour entry (so no
    ARP is needed): its pings leave the guest (a1's tap sees them) and are dropped before they reach a2's."""
    a1, a2 = world.a1, world.a2
    spoof = f"ip addr del {a1.ip}/24 dev eth0; ip addr add {UNUSED_IP}/24 dev eth0; arp -s {a2.ip} {a2.mac}"
    restore = f"ip addr del {UNUSED_IP}/24 dev eth0; ip addr add {a1.ip}/24 dev eth0; arp -d {a2.ip}"
    with capture(a1.tap, tmp_path / "a1.pcap") as sent, capture(a2.tap, tmp_path / "a2.pcap") as arrived:
        assert a1.reaches(a2.ip)
        try:
            assert a1.run(spoof)[0] == 0
            assert a1.unanswered(a2.ip), "a guest answered pings from an address not its port's"
        finally:
            a1.run(restore)

    def icmp_sources(pcap: Path) -> set[str]:
        return {f.ip_src for f in frames(pcap.read_bytes()) if f.ip_proto == 1 and f.ip_dst == a2.ip}

    assert icmp_sources(sent) == {a1.ip, UNUSED_IP}, "the spoofed pings never left the guest"
    assert icmp_sources(arrived) == {a1.ip}, "pings from an address not the port's reached a2"
    assert a1.reaches(a2.ip), "a1 does not reach a2 again with its own address back"


def _applies(log: Path, since: int) -> int:
    """States the agent applied since byte ``since`` of its log."""
    with log.open("rb") as handle:
        handle.seek(since)
        return len(re.findall(rb"Task netagent\.apply\[[^]]+\] succeeded", handle.read()))


def test_restarting_the_network_agents_keeps_running_guests_connected(world: World) -> None:
    """Both agents killed (the process groups, as a crash would leave them) and started again by ``services up``
    while a1 pings a2 every 0.2 s: at most a second of loss; the new agents apply the state and leave DHCP be."""
    a1, a2 = world.a1, world.a2
    old = {host: world.agent_pid(host) for host in HOSTS}
    marks = {host: world.agent_log(host).stat().st_size for host in HOSTS}
    dnsmasq = processes_mentioning(str(world.cloud.state_dir), "dnsmasq")
    assert len(dnsmasq) == 2, f"expected one DHCP server per network, found pids {dnsmasq}"
    assert a1.run(f"ping -i 0.2 {a2.ip} > /tmp/restart.log 2>&1 & echo $! > /tmp/restart.pid")[0] == 0
    try:
        time.sleep(1)
        for pid in old.values():
            os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: all(process_gone(pid) for pid in old.values()), 10, "the agents did not die")
        world.cloud.manage("services", "up")
        for host in HOSTS:
            assert world.agent_pid(host) != old[host]
            applied = lambda h=host: _applies(world.agent_log(h), marks[h])  # noqa: E731
            wait_until(applied, 20, f"the new agent of {host} applied no state")
        time.sleep(1)
    finally:
        _, out = a1.run("kill -INT $(cat /tmp/restart.pid); sleep 0.5; tail -n 3 /tmp/restart.log")
    summary = PING_SUMMARY.search(out)
    assert summary is not None, out
    sent, received = int(summary[1]), int(summary[2])
    assert sent >= 15, f"the ping loop ran only {sent} pings"
    assert sent - received <= 5, f"{sent - received} of {sent} pings lost while the agents restarted"
    assert processes_mentioning(str(world.cloud.state_dir), "dnsmasq") == dnsmasq, "a DHCP server was restarted"


def test_a_bridge_deleted_by_hand_comes_back_within_the_resync_interval(world: World) -> None:
    """On the host that serves a-net's DHCP (whichever of a1's and a2's it is). Deleted right after its agent
    applied a state, so the next one is a resync interval away: the guests stop reaching each other, then the
    bridge comes back with all its ports and they ping again, the DHCP server too."""
    (dhcp,) = world.openstack.json(
        "admin", "port", "list", "--network", world.a1.network_id, "--device-owner", "network:dhcp"
    )
    dhcp_host = world.openstack.json("admin", "port", "show", dhcp["ID"])["binding_host_id"]
    here, there = (world.a1, world.a2) if world.a1.host == dhcp_host else (world.a2, world.a1)
    assert here.host == dhcp_host, f"a-net's DHCP runs on {dhcp_host}, where neither guest is"
    namespace, bridge = netns(here.host), network_bridge(here.network_id)
    wanted = {vxlan_device(world.vni("a-net")), vif_names(here.port_id).qvo, vif_names(dhcp["ID"]).tap}
    assert bridge_ports(namespace, bridge) == wanted
    assert there.reaches(here.ip) and here.reaches("10.0.0.2")
    log = world.agent_log(here.host)
    mark = log.stat().st_size
    wait_until(lambda: _applies(log, mark), 2 * RESYNC_INTERVAL, f"the agent of {here.host} applied nothing")
    time.sleep(0.5)  # a push may follow a resync at once (an agent's report answered twice)
    sh("ip", "-n", namespace, "link", "del", "dev", bridge)
    deleted, mark = time.monotonic(), log.stat().st_size
    assert there.unanswered(here.ip, count=1), f"{here.ip} still answered with its network's bridge gone"
    wait_until(lambda: _applies(log, mark), 3 * RESYNC_INTERVAL, f"the agent of {here.host} resynced no more")
    repaired = time.monotonic() - deleted
    assert bridge in links(namespace), "the first resync after the deletion did not make the bridge again"
    assert repaired <= RESYNC_INTERVAL + 3, f"the first resync came only {repaired:.1f} s after the deletion"
    assert bridge_ports(namespace, bridge) == wanted, f"{bridge} came back without all its ports"
    assert there.reaches(here.ip) and here.reaches(there.ip), "the guests do not ping again after the repair"
    assert here.reaches("10.0.0.2"), "the DHCP server is not reached again after the repair"


def test_deleting_the_servers_and_networks_leaves_nothing_of_them_behind(world: World) -> None:
    """Everything the networks and ports had, looked for in the root namespace, both host namespaces and the DHCP
    namespaces: first found (so the checks can see it), then gone. The host namespaces stay: they are the hosts."""
    state = str(world.cloud.state_dir)
    ports = [p for n in world.networks.values() for p in world.openstack.json("admin", "port", "list", "--network", n)]
    port_keys = {p["ID"][:11] for p in ports}
    server_ports = [g.port_id for g in world.guests.values()]
    root_names = {name for p in server_ports for name in (vif_names(p).bridge, vif_names(p).qvb, vif_names(p).tap)}
    host_names = {network_bridge(n) for n in world.networks.values()}
    host_names |= {vxlan_device(world.vni(n)) for n in world.networks}
    dhcp = {dhcp_namespace(n) for n in world.networks.values()}

    def ours(namespace: str | None) -> set[str]:
        names = links(namespace)
        return names & root_names if namespace is None else {n for n in names if n.startswith(DEVICE_PREFIXES)}

    def rules_of_ports(namespace: str | None) -> set[str]:
        text = ruleset(namespace)
        return {key for key in port_keys if key in text}

    host_devices = ours(netns(HOSTS[0])) | ours(netns(HOSTS[1]))
    assert ours(None) == root_names, f"root namespace: {ours(None)}, not the guests' {root_names}"
    assert host_names <= host_devices, f"host namespaces: {host_devices}, without all of {host_names}"
    assert dhcp <= namespaces(), f"DHCP namespaces missing: {dhcp - namespaces()}"
    assert len(servers := processes_mentioning(state, "dnsmasq")) == 2, f"dnsmasq pids {servers}, not one per network"
    assert rules_of_ports(netns(HOSTS[0])) and rules_of_ports(netns(HOSTS[1])), "no firewall rules of the ports"

    for guest in world.guests.values():
        assert guest.server_id in virsh("list", "--name")
    in_parallel(
        lambda: world.openstack("demo", "server", "delete", "--wait", world.a1.server_id, world.a2.server_id),
        lambda: world.openstack("other", "server", "delete", "--wait", world.b1.server_id),
    )
    in_parallel(
        lambda: world.openstack("demo", "network", "delete", world.networks["a-net"]),
        lambda: world.openstack("other", "network", "delete", world.networks["b-net"]),
    )

    def leftovers() -> dict[str, object]:
        found: dict[str, object] = {
            "root devices": ours(None),
            "DHCP namespaces": dhcp & namespaces(),
            "dnsmasq": processes_mentioning(state, "dnsmasq"),
            "root nftables": rules_of_ports(None),
            "domains": [g.name for g in world.guests.values() if g.server_id in virsh("list", "--all", "--name")],
        }
        for host in HOSTS:
            found[f"{host} devices"] = ours(netns(host))
            found[f"{host} nftables"] = rules_of_ports(netns(host))
        return {what: left for what, left in found.items() if left}

    deadline = time.monotonic() + 20
    while (left := leftovers()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"left behind: {left}"
    assert {netns(host) for host in HOSTS} <= namespaces()
