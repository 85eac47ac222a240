"""The host seen from outside, for the end-to-end tests: its tools (``ip``, ``nft``, ``virsh``), its network
namespaces, links and rulesets, its processes, packet captures, and the removal of whatever a run left behind.

What the cloud says is never taken as proof: these read the kernel and libvirt directly.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from network.devicenames import dhcp_namespace

# ---------------------------------------------------------------------------------------------------------------
# Commands: the host's tools


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def virsh(*args: str) -> str:
    return sh("virsh", "-c", "qemu:///system", *args, check=False).stdout


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


def remove_domains_under(state: Path) -> None:
    """Every domain a failed run left, and only those: the ones whose disks live under ``state``."""
    for name in virsh("list", "--all", "--name").split():
        if name.startswith("stratus-") and str(state) in virsh("dumpxml", name):
            virsh("destroy", name)
            virsh("undefine", name, "--managed-save")


def remove_leftovers(state: Path, hosts: Iterable[str], underlay_bridge: str, network_ids: Iterable[str] = ()) -> None:
    """Whatever a failed run left, and only what its cloud made: the domains whose disks are under ``state``, the
    DHCP servers and namespaces of its networks (``network_ids`` and those with files under ``state``), the
    namespaces and devices of its ``hosts`` (their names are the run's own) and its underlay bridge."""
    hosts = tuple(hosts)
    remove_domains_under(state)
    for pid in processes_mentioning(str(state), "dnsmasq"):
        os.kill(pid, signal.SIGKILL)
    dhcp_dirs = {path.name for path in state.glob("dataplane/*/dhcp/*")}
    for name in namespaces() & {dhcp_namespace(n) for n in {*network_ids, *dhcp_dirs}}:
        sh("ip", "netns", "del", name, check=False)
    for host in hosts:
        sh("ip", "netns", "del", netns(host), check=False)
    for entry in json.loads(sh("ip", "-j", "link", "show").stdout):
        if entry.get("ifalias", "").startswith(tuple(f"stratus:{host}:" for host in hosts)):
            sh("ip", "link", "del", entry["ifname"], check=False)
    sh("ip", "link", "del", underlay_bridge, check=False)
