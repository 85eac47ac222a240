"""Servers of an end-to-end cloud as a tenant meets them: the ``openstack`` CLI, and a booted guest's root shell
on its serial console (pings typed in, answers read back from the console log). Also the settings of such a cloud.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from network.devicenames import vif_names
from tests import warm_cli
from tests.e2e.kernel import sh
from tests.harness import wait_until


@dataclass(frozen=True)
class OpenStack:
    """The ``openstack`` CLI for the accounts of the module's ``clouds.yaml`` (cloud name = user = project)."""

    clouds_yaml: Path

    def __call__(self, cloud: str, *args: str, project: str | None = None, timeout: float = 300) -> str:
        scope = ["--os-project-name", project] if project else []
        result = warm_cli.run_cloud(self.clouds_yaml, cloud, *scope, *args, timeout=timeout)
        assert result.returncode == 0, f"openstack --os-cloud {cloud} {' '.join(args)}: {result.stderr}"
        return result.stdout

    def json(self, cloud: str, *args: str, project: str | None = None) -> Any:
        return json.loads(self(cloud, *args, "-f", "json", project=project))


def in_parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent calls (CLI commands, mostly waiting) at once; their results in order, the first error."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


# ---------------------------------------------------------------------------------------------------------------
# Clouds that boot guests


def guest_cloud_settings(
    host: str, libvirtd: str, *, hosts: int, underlay_bridge: str, underlay: str, resync_interval: float = 5
) -> tuple[Path, dict[str, str]]:
    """A new state directory and the settings of a cloud that boots real guests: QEMU through ``libvirtd``, ``hosts``
    hosts named after ``host`` on the Linux dataplane, over the simulated underlay ``underlay`` (bridge
    ``underlay_bridge``). The modules that boot guests all need this much and would drift apart with a copy each;
    each passes names of its own, so that what it makes can be found and removed whatever happens.

    The directory is under /var/tmp, not pytest's private temporary directory, and others may enter it: QEMU runs
    as its own user and must reach the disks."""
    state = Path(tempfile.mkdtemp(prefix=f"stratus-e2e-{host}-", dir="/var/tmp"))
    state.chmod(0o711)
    env = {
        "STRATUS_COMPUTE_DRIVER": "libvirt",
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_LIBVIRT_URI": libvirtd,
        "STRATUS_HOSTS": str(hosts),
        "STRATUS_HOST": host,
        "STRATUS_NETWORK_DATAPLANE": "linux",
        "STRATUS_NETWORK_UNDERLAY_BRIDGE": underlay_bridge,
        "STRATUS_NETWORK_SIMULATED_UNDERLAY": underlay,
        "STRATUS_NETWORK_RESYNC_INTERVAL": str(resync_interval),
        "STRATUS_INSTANCES_PATH": str(state / "instances"),
        "STRATUS_IMAGE_CACHE_PATH": str(state / "cache"),
    }
    return state, env


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
    libvirt_uri: str = "qemu:///system"
    """The libvirtd that runs it (a host machine's own, ``manage.host_machine``), where its serial port is read."""

    @property
    def tap(self) -> str:
        return vif_names(self.port_id).tap

    def console(self) -> str:
        return self.console_log.read_text(errors="replace")

    def wait_for_shell(self, timeout: float) -> None:
        """Until the root shell's prompt is on the console: the guest booted, took its address and logged in."""
        wait_until(
            lambda: self.console_log.exists() and f"{self.name}:/root# " in self.console(),
            timeout,
            interval=0.5,
            message=f"{self.name} did not reach its shell",
        )

    def run(self, command: str, timeout: float = 30) -> tuple[int, str]:
        """Type ``command`` into the root shell; its exit status and output, read back from the console log.

        The markers around it are made by the shell (``$$``, ``$?``), so the echo of the typed line, which the
        console may wrap anywhere, never matches them. The pty stays open meanwhile (QEMU drops input from a pty
        nobody holds) and is drained, so the guest's output never waits for a reader.
        """
        number = next(COMMAND_NUMBERS)
        done = re.compile(rf"B{number}-\d+-B\r?\n(?P<out>.*?)R{number}-(?P<rc>\d+)-R", re.DOTALL)
        start = self.console_log.stat().st_size
        domain = sh("virsh", "-c", self.libvirt_uri, "dumpxml", f"stratus-{self.server_id}", check=False).stdout
        serial = ET.fromstring(domain).find("./devices/serial")
        source = serial.find("source") if serial is not None else None
        assert serial is not None and source is not None, f"{self.name}: the guest has no serial port"
        if serial.get("type") == "tcp":  # the console proxy's raw TCP chardev: held open and drained the same way
            port: Any = socket.create_connection((source.get("host", ""), int(source.get("service", "0"))), 10)
            port.setblocking(False)
            write, read, close = port.sendall, lambda: port.recv(65536), port.close
        else:
            assert source.get("path"), f"{self.name}: the serial port has no pty"
            fd = os.open(source.get("path", ""), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            write, read, close = (lambda data: os.write(fd, data)), (lambda: os.read(fd, 65536)), (lambda: os.close(fd))
        try:
            write(f"echo B{number}-$$-B; {command}; echo R{number}-$?-R\n".encode())

            def finished() -> re.Match[str] | None:
                with suppress(BlockingIOError):
                    read()
                with self.console_log.open("rb") as log:
                    log.seek(start)
                    return done.search(log.read().decode(errors="replace"))

            found = wait_until(finished, timeout, interval=0.05, message=f"{self.name}: {command!r} did not finish")
            return int(found["rc"]), found["out"].replace("\r", "")
        finally:
            close()

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
