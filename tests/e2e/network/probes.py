"""Probes for the dataplane's end-to-end tests: what the kernel shows, what a capture holds, what a guest
receives. Each looks from outside the driver, so a test never takes the driver's word for what it did."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.network.conftest import Guest, sh


def link_names(netns: str | None) -> set[str]:
    return {entry["ifname"] for entry in json.loads(sh("ip", *(["-n", netns] if netns else []), "-j", "link").stdout)}


def vxlan_packets(pcap: bytes) -> list[tuple[str, str, int, str, str]]:
    """(outer source, outer destination, VNI, inner source MAC, inner destination MAC) of each VXLAN packet in
    a classic little-endian Ethernet pcap."""
    magic, *_ = struct.unpack_from("<I", pcap)
    assert magic == 0xA1B2C3D4, "not a little-endian microsecond pcap"
    found, offset = [], 24
    while offset + 16 <= len(pcap):
        _, _, length, _ = struct.unpack_from("<IIII", pcap, offset)
        frame, offset = pcap[offset + 16 : offset + 16 + length], offset + 16 + length
        if struct.unpack_from("!H", frame, 12)[0] != 0x0800:
            continue
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        if ip[9] != 17 or struct.unpack_from("!H", ip, header + 2)[0] != 4789:
            continue
        vxlan = ip[header + 8 : header + 16]
        assert vxlan[0] & 0x08, "VXLAN header without the valid-VNI flag"
        inner = ip[header + 16 :]
        found.append(
            (
                ".".join(map(str, ip[12:16])),
                ".".join(map(str, ip[16:20])),
                int.from_bytes(vxlan[4:7], "big"),
                inner[6:12].hex(":"),
                inner[0:6].hex(":"),
            )
        )
    return found


def dhcp_lease(guest: Guest, directory: Path) -> dict[str, str]:
    """Run busybox's DHCP client in the guest; the options of the lease it bound (its script's environment)."""
    script, lease = directory / "udhcpc.sh", directory / "lease.env"
    lease.unlink(missing_ok=True)
    script.write_text(
        f'#!/bin/sh\nif [ "$1" = bound ]; then env > {lease}; ip addr add "$ip/$mask" dev "$interface"; fi\n'
    )
    script.chmod(0o755)
    udhcpc = ["busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "10", "-T", "1", "-O", "staticroutes"]
    guest.run(*udhcpc, "-s", str(script), timeout=30)
    return dict(line.split("=", 1) for line in lease.read_text().splitlines() if "=" in line)


UDP_SEND = (
    "import socket,sys; s=socket.socket(2,2); s.bind((sys.argv[1],int(sys.argv[2])));"
    "s.sendto(b'x',(sys.argv[3],int(sys.argv[4])))"
)
UDP_RECEIVE = (
    "import socket,sys; s=socket.socket(2,2); s.bind(('0.0.0.0',int(sys.argv[1]))); s.settimeout(float(sys.argv[2]));\n"
    "try: print(s.recvfrom(64)[1][0])\nexcept TimeoutError: print('timeout')"
)


def udp_arrives(sender: Guest, receiver: Guest, source: tuple[str, int], target: tuple[str, int]) -> bool:
    with subprocess.Popen(
        ["ip", "netns", "exec", receiver.netns, sys.executable, "-c", UDP_RECEIVE, str(target[1]), "1.5"],
        stdout=subprocess.PIPE,
        text=True,
    ) as listening:
        time.sleep(0.3)
        sender.run(sys.executable, "-c", UDP_SEND, source[0], str(source[1]), target[0], str(target[1]))
        out, _ = listening.communicate(timeout=10)
    return out.strip() == source[0]
