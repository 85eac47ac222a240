"""DHCP servers: per network, a ``qdhcp-<network_id>`` namespace, a veth into the network bridge, and one dnsmasq.

The namespace keeps dnsmasq off the host's own interfaces and lets every tenant network reuse the same CIDR. The
process is restarted only when its configuration changed and sent SIGHUP when only the static leases changed
(dnsmasq re-reads its hosts file then, keeping its leases and sockets). What configuration the running process
uses is recorded beside it, so an agent that died between writing a file and restarting dnsmasq restarts it on
the next apply instead of trusting the file. A network's state directory marks it as this host's: namespaces are
global on a machine, and another simulated host's ``qdhcp-`` namespace is none of our business.

A network's DHCP server moves between hosts (when its host leaves the network, or a host earlier by name joins
it). Simulated hosts on one machine then set up and remove the very same ``qdhcp-`` namespace: they do it one at
a time (a lock shared by the hosts of the state directory), each reading the machine's namespaces again under
it, and the old host leaves a namespace alone once a device of the new one is in it.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from network.devicenames import dhcp_inner, dhcp_namespace, dhcp_outer
from network.host.dataplane.base import DataplaneError
from network.host.dataplane.linux import dnsmasq, inspect
from network.host.dataplane.linux.dnsmasq import Files
from network.host.dataplane.linux.inspect import TAG, owner_tag
from network.host.dataplane.linux.links import Namespace, ensure_veth
from network.host.dataplane.linux.runner import Runner
from network.wire import NetworkWiring

STOP_TIMEOUT = 5.0
METADATA_FILE = "metadata.json"
METADATA_INTERFACE_ADDRESS = f"{dnsmasq.METADATA_ADDRESS}/32"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(path)  # dnsmasq may re-read it at any moment: never let it see half a file


class DhcpServers:
    """The DHCP servers of one host; ``root`` holds one directory per network served here."""

    def __init__(self, runner: Runner, host: str, root: Path) -> None:
        self.runner = runner
        self.host = host
        self.root = root

    @contextmanager
    def _machine_lock(self) -> Iterator[None]:
        """Held while a ``qdhcp-`` namespace is set up or removed; ``root`` is ``dataplane/<host>/dhcp`` in the
        state directory every simulated host of the machine shares."""
        lock = self.root.parent.parent / "dhcp.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _taken_over(self, netns: str) -> bool:
        """True when the namespace holds a device another host's driver made (the server moved there). One this
        process cannot enter (made by a process in another mount namespace) shows nothing."""
        out = self.runner.read(["ip", "-j", "link", "show"], netns, check=False).strip()
        aliases = [entry.get("ifalias", "") for entry in json.loads(out)] if out else []
        return any(alias.startswith(f"{TAG}:") and not alias.startswith(f"{TAG}:{self.host}:") for alias in aliases)

    def owned(self) -> set[str]:
        return {path.name for path in self.root.iterdir() if path.is_dir()} if self.root.is_dir() else set()

    def converge(self, network: NetworkWiring, host_ns: Namespace, bridge: str, namespaces: set[str]) -> None:
        with self._machine_lock():
            try:
                self._converge(network, host_ns, bridge, namespaces)
            finally:
                self._publish()

    def _publish(self) -> None:
        """Tell this host's metadata proxy which namespaces to answer 169.254.169.254 in: every network served
        here (``metadata.json`` beside ``root``, replaced whole so the proxy never reads half of it)."""
        served = [{"network_id": n, "namespace": dhcp_namespace(n)} for n in sorted(self.owned())]
        self.root.parent.mkdir(parents=True, exist_ok=True)
        _write_if_changed(self.root.parent / METADATA_FILE, json.dumps(served))

    def _converge(self, network: NetworkWiring, host_ns: Namespace, bridge: str, namespaces: set[str]) -> None:
        dhcp = network.dhcp
        assert dhcp is not None
        files = Files(self.root / network.network_id)
        device = dhcp_inner(dhcp.port_id)
        # Rendered first: a value the renderer refuses (UnsafeValue) stops this server before anything is made.
        config, hosts = dnsmasq.render_config(dhcp, files, device), dnsmasq.render_hosts(dhcp)
        addresses = dnsmasq.interface_addresses(dhcp)
        if any(ipaddress.ip_network(subnet.cidr).version == 4 for subnet in dhcp.subnets):
            addresses.add(METADATA_INTERFACE_ADDRESS)  # the metadata proxy listens there, in this namespace
        files.directory.mkdir(parents=True, exist_ok=True)
        name = dhcp_namespace(network.network_id)
        # Read again under the lock: since ``namespaces`` was read, the old host may have made it or removed it.
        if name not in inspect.namespaces(self.runner):
            self.runner.ip("netns", "add", name)
        namespaces.add(name)
        inner = Namespace(self.runner, name).refresh()
        lo = inner.get("lo")
        if lo is not None and not lo.up:
            inner.ip("link", "set", "dev", "lo", "up")
        has_v6 = any(ipaddress.ip_network(subnet.cidr).version == 6 for subnet in dhcp.subnets)
        made = ensure_veth(
            host_ns,
            dhcp_outer(dhcp.port_id),
            inner,
            device,
            mtu=network.mtu,
            tag=owner_tag(self.host, dhcp.port_id),
            a_master=bridge,
            b_mac=dhcp.mac,
            b_link_local=has_v6,
        )
        self._addresses(inner, device, addresses)
        _write_if_changed(files.hosts, hosts)
        _write_if_changed(files.config, config)
        # dnsmasq stays bound to the interface it started on: a new one (its host namespace was made again, or
        # someone deleted it) needs a new dnsmasq.
        self._run(files, name, config=_digest(config), hosts=_digest(hosts), restart=made)

    def _addresses(self, inner: Namespace, device: str, wanted: set[str]) -> None:
        actual = inspect.addresses(self.runner, inner.netns, device)
        for address in sorted(actual - wanted):
            inner.ip("addr", "del", address, "dev", device)
        for address in sorted(wanted - actual):
            extra = ["nodad"] if ":" in address else []  # usable at once; the control side made it unique
            inner.ip("addr", "add", address, "dev", device, *extra)

    def _run(self, files: Files, netns: str, *, config: str, hosts: str, restart: bool) -> None:
        record_path = files.directory / "running.json"
        record = json.loads(record_path.read_text()) if record_path.exists() else {}
        pid = self._pid(files)
        if pid is None or restart or record.get("config") != config:
            if pid is not None:
                self._stop(pid)
            self._kill_namespace(netns)
            files.pid.unlink(missing_ok=True)
            self.runner.write(["dnsmasq", f"--conf-file={files.config}"], netns)  # returns once it serves
        elif record.get("hosts") != hosts:
            self.runner.signal(pid, signal.SIGHUP)
        else:
            return
        record_path.write_text(json.dumps({"config": config, "hosts": hosts}))

    def _pid(self, files: Files) -> int | None:
        """The pid of the dnsmasq serving these files, when one runs."""
        try:
            pid = int(files.pid.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if f"--conf-file={files.config}".encode() in cmdline else None

    def _stop(self, pid: int) -> None:
        if not self.runner.signal(pid, signal.SIGTERM):
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        if Path(f"/proc/{pid}").exists():
            self.runner.signal(pid, signal.SIGKILL)

    def _kill_namespace(self, netns: str) -> None:
        """Stop whatever still runs in the namespace (a dnsmasq whose pid file was lost)."""
        for pid in inspect.namespace_pids(self.runner, netns):
            self._stop(pid)

    def remove(self, network_id: str, namespaces: set[str]) -> None:
        """Stop the network's dnsmasq and delete its namespace (its veth goes with it) and files."""
        files = Files(self.root / network_id)
        name = dhcp_namespace(network_id)
        with self._machine_lock():
            pid = self._pid(files)
            if pid is not None:
                self._stop(pid)
            if name in inspect.namespaces(self.runner) and not self._taken_over(name):
                self._kill_namespace(name)
                self.runner.ip("netns", "del", name)
            namespaces.discard(name)
        shutil.rmtree(files.directory, ignore_errors=True)
        self._publish()
        if files.directory.exists():
            raise DataplaneError(reason=f"could not remove {files.directory}")
