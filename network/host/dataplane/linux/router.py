"""Routers: per router a ``qrouter-<router_id>`` namespace with its interfaces, gateway, routes and NAT table.

Each interface is a veth ``qr-<port11>`` (inside, with the port's MAC and addresses) ↔ ``tap<port11>`` (in the
tenant network's bridge, in the host's namespace), as the DHCP port is plugged. The gateway is a veth
``qg-<port11>`` (inside, with the port's MAC, its addresses and each floating IP as a /32, so the router answers
ARP for a floating address exactly while it is associated) ↔ ``tap<port11>`` in the physical network's bridge in
the root namespace. The default route goes by the external subnet's gateway; extra routes are ``proto static``
routes; NAT is ``nat.render``'s table, loaded in one ``nft -f``.

Like the rest of the dataplane this converges: the namespace's devices, addresses, routes and the table's digest
are read and only differences written, so a namespace deleted by hand or a flushed ruleset is repaired by the next
apply, and applying the same state twice writes nothing. When a floating IP appears or moves, a gratuitous ARP
updates the external network's caches at once, and the connection tracking entries of a floating IP that moved
or went are flushed (they would keep translating to the old fixed address).

Simulated hosts of one machine share namespace names and the root namespace (where gateways plug in). A router
runs on one host, but when it moves the new host may apply before the old one: the new host then takes the
namespace and its gateway veth over (they get its owner tag), and the old host leaves a namespace alone once a
device of another host is in it. Both sides do this one at a time, under a lock the machine's hosts share. What
a host runs is recorded in its state directory (``routers/<router_id>``), and its devices carry the owner
``router:<router_id>`` (``inspect.owner_tag``), so removal finds them even after a crash.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from network.devicenames import network_bridge, router_gateway, router_interface, router_namespace, vif_names
from network.host.dataplane import tokens
from network.host.dataplane.base import DataplaneError
from network.host.dataplane.linux import inspect, nat
from network.host.dataplane.linux.inspect import TAG, owner_tag
from network.host.dataplane.linux.links import Namespace, ensure_veth
from network.host.dataplane.linux.nftables import Firewall
from network.host.dataplane.linux.runner import CommandFailed, Runner
from network.wire import NetworkWiring, RouterWiring

OWNER = "router:"
"""Owner prefix of a router's devices (``stratus:<host>:router:<router_id>``); the driver's general sweep leaves
them to ``Routers.remove``."""
SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
FLOATING_FILE = "floating.json"


def router_owner(router_id: str) -> str:
    return f"{OWNER}{router_id}"


def _has_v6(addresses: tuple[str, ...]) -> bool:
    """An IPv6 router port needs its link-local address: without one the kernel sends no neighbour solicitation
    for a packet it forwards (and a router's advertisements and redirects come from it)."""
    return any(":" in address for address in addresses)


def _route_key(dst: str, via: str) -> tuple[str, str]:
    network = ipaddress.ip_network("0.0.0.0/0" if dst == "default" and ":" not in via else dst, strict=False)
    if dst == "default" and ":" in via:
        network = ipaddress.ip_network("::/0")
    return str(network), str(ipaddress.ip_address(via))


class Routers:
    """The routers of one host; ``root`` holds one directory per router this host runs."""

    def __init__(self, runner: Runner, host: str, root: Path) -> None:
        self.runner = runner
        self.host = host
        self.root = root

    @contextmanager
    def _machine_lock(self) -> Iterator[None]:
        lock = self.root.parent.parent / "routers.lock"  # dataplane/<host>/routers: every host's state directory
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def owned(self, *spaces: Namespace) -> set[str]:
        """Routers with a state directory here or a device of this host's (a crash between the two)."""
        found = {path.name for path in self.root.iterdir() if path.is_dir()} if self.root.is_dir() else set()
        for space in spaces:
            for link in space.links.values():
                owner = link.owned_by(self.host)
                if owner is not None and owner.startswith(OWNER):
                    found.add(owner[len(OWNER) :])
        return found

    def _taken_over(self, netns: str) -> bool:
        """True when the namespace holds a device another host's driver made (the router moved there)."""
        out = self.runner.read(["ip", "-j", "link", "show"], netns, check=False).strip()
        aliases = [entry.get("ifalias", "") for entry in json.loads(out)] if out else []
        return any(alias.startswith(f"{TAG}:") and not alias.startswith(f"{TAG}:{self.host}:") for alias in aliases)

    def converge(
        self,
        router: RouterWiring,
        host_ns: Namespace,
        root_ns: Namespace,
        networks: Mapping[str, NetworkWiring],
        bridges: Mapping[str, str],
    ) -> None:
        """Make the router's namespace match ``router``. DataplaneError (or ``UnsafeValue``, before anything is
        written) names what failed; what could be made stays, and the next apply tries again."""
        tokens.identifier(router.router_id)
        script = nat.render(router)  # refused values stop this router before anything is made
        for interface in router.interfaces:
            if interface.network_id not in networks:
                raise DataplaneError(reason=f"interface {interface.port_id}: network {interface.network_id} not here")
        gateway = router.gateway
        if gateway is not None and gateway.physical_network not in bridges:
            raise DataplaneError(reason=f"no bridge for physical network {gateway.physical_network} on this host")
        with self._machine_lock():
            self._converge(router, host_ns, root_ns, networks, bridges, script)

    def _converge(
        self,
        router: RouterWiring,
        host_ns: Namespace,
        root_ns: Namespace,
        networks: Mapping[str, NetworkWiring],
        bridges: Mapping[str, str],
        script: str | None,
    ) -> None:
        directory = self.root / router.router_id
        directory.mkdir(parents=True, exist_ok=True)
        name = router_namespace(router.router_id)
        if name not in inspect.namespaces(self.runner):  # read again under the lock: another host may have made it
            self.runner.ip("netns", "add", name)
        inner = Namespace(self.runner, name).refresh()
        lo = inner.get("lo")
        if lo is not None and not lo.up:
            inner.ip("link", "set", "dev", "lo", "up")
        for key, value in SYSCTLS.items():
            if inspect.sysctl(self.runner, name, key) != value:
                self.runner.write(["sysctl", "-q", "-w", f"{key}={value}"], name)
        tag = owner_tag(self.host, router_owner(router.router_id))
        wanted: dict[str, set[str]] = {}
        for interface in router.interfaces:
            network = networks[interface.network_id]
            inside = router_interface(interface.port_id)
            ensure_veth(
                host_ns,
                vif_names(interface.port_id).tap,
                inner,
                inside,
                mtu=network.mtu,
                tag=tag,
                a_master=network_bridge(network.network_id),
                b_mac=interface.mac,
                b_link_local=_has_v6(interface.addresses),
            )
            wanted[inside] = set(interface.addresses)
        added: list[str] = []
        if router.gateway is not None:
            gateway = router.gateway
            if root_ns is not host_ns:
                root_ns.refresh()  # shared with the machine's other hosts: read under the lock
            inside = router_gateway(gateway.port_id)
            ensure_veth(
                root_ns,
                vif_names(gateway.port_id).tap,
                inner,
                inside,
                mtu=gateway.mtu,
                tag=tag,
                a_master=bridges[gateway.physical_network],
                b_mac=gateway.mac,
                b_link_local=_has_v6(gateway.addresses),
            )
            wanted[inside] = set(gateway.addresses) | {f"{f.floating_ip}/32" for f in router.floating_ips}
        for link in list(inner.links.values()):
            if link.name.startswith(("qr-", "qg-")) and link.name not in wanted:
                inner.delete(link.name)
        actual = self._addresses(name)
        for device, addresses in wanted.items():
            added += self._converge_addresses(inner, device, actual.get(device, set()), addresses)
        Firewall(self.runner, name, directory, table=nat.TABLE, families=(nat.FAMILY,)).converge(script)
        self._floating(router, name, directory, added)
        self._routes(router, name)

    def _addresses(self, netns: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for entry in self.runner.read_json(["ip", "-j", "addr", "show"], netns):
            found[entry["ifname"]] = {
                f"{a['local']}/{a['prefixlen']}" for a in entry.get("addr_info", ()) if a.get("scope") == "global"
            }
        return found

    def _converge_addresses(self, inner: Namespace, device: str, actual: set[str], wanted: set[str]) -> list[str]:
        for address in sorted(actual - wanted):
            inner.ip("addr", "del", address, "dev", device)
        for address in sorted(wanted - actual):
            inner.ip("addr", "add", address, "dev", device, *(["nodad"] if ":" in address else []))
        return sorted(wanted - actual)

    def _floating(self, router: RouterWiring, netns: str, directory: Path, added: list[str]) -> None:
        """Flush the connection tracking of floating IPs that moved or went; announce those that came or moved."""
        record = directory / FLOATING_FILE
        try:
            before: dict[str, str] = json.loads(record.read_text())
        except (OSError, ValueError):
            before = {}
        now = {f.floating_ip: f.fixed_ip for f in router.floating_ips}
        for floating in sorted(before):
            if before[floating] != now.get(floating):
                for direction in ("--orig-dst", "--reply-dst"):
                    # Exit status 1 is "no entry matched": nothing to flush is the common case.
                    result = self.runner.run(
                        ["conntrack", "-D", direction, tokens.address(floating)], netns, write=True, check=False
                    )
                    if result.returncode not in (0, 1):
                        raise CommandFailed(command=f"conntrack -D {direction} {floating}", stderr=result.stderr)
        moved = {f for f in now if f in before and before[f] != now[f]}
        announce = sorted(moved | {a.partition("/")[0] for a in added if a.endswith("/32") and ":" not in a} & set(now))
        if router.gateway is not None:
            device = router_gateway(router.gateway.port_id)
            for floating in announce:  # best effort: the caches also time out by themselves
                self.runner.run(
                    ["arping", "-q", "-U", "-c", "1", "-I", device, tokens.address(floating)],
                    netns,
                    write=True,
                    check=False,
                )
        if before != now:
            record.write_text(json.dumps(now, sort_keys=True))

    def _routes(self, router: RouterWiring, netns: str) -> None:
        wanted: dict[tuple[str, str], list[str]] = {}
        if router.gateway is not None and router.gateway.gateway_ip:
            via = router.gateway.gateway_ip
            key = _route_key("default", via)
            wanted[key] = [
                key[0],
                "via",
                tokens.address(via),
                "dev",
                tokens.ifname(router_gateway(router.gateway.port_id)),
            ]
        for destination, nexthop in router.routes:
            key = _route_key(destination, nexthop)
            wanted.setdefault(key, [tokens.network(destination), "via", tokens.address(nexthop)])
        actual: set[tuple[str, str]] = set()
        for family in ("-4", "-6"):
            for route in self.runner.read_json(["ip", "-j", family, "route", "show", "proto", "static"], netns):
                if "gateway" in route:
                    actual.add(_route_key(route["dst"], route["gateway"]))
        for dst, via in sorted(actual - set(wanted)):
            self.runner.ip("-6" if ":" in via else "-4", "route", "del", dst, "via", via, netns=netns)
        failed = []
        for key in sorted(set(wanted) - actual):
            try:
                self.runner.ip("-6" if ":" in key[1] else "-4", "route", "replace", *wanted[key], "proto", "static",
                               netns=netns)  # fmt: skip
            except CommandFailed as exc:  # a nexthop on no connected subnet: the other routes still go in
                failed.append(exc.message)
        if failed:
            raise DataplaneError(reason="; ".join(failed))

    def remove(self, router_id: str, host_ns: Namespace, root_ns: Namespace, namespaces: set[str]) -> None:
        """Delete the router's devices of this host and its namespace (unless another host took it over), its
        state directory last."""
        name = router_namespace(router_id)
        owner = router_owner(router_id)
        with self._machine_lock():
            for space in dict.fromkeys([root_ns.refresh() if root_ns is not host_ns else root_ns, host_ns]):
                for link in list(space.links.values()):
                    if link.owned_by(self.host) == owner:
                        space.delete(link.name)  # the outer ends first: a namespace is destroyed asynchronously
            if name in inspect.namespaces(self.runner) and not self._taken_over(name):
                self.runner.ip("netns", "del", name)
            namespaces.discard(name)
        directory = self.root / router_id
        shutil.rmtree(directory, ignore_errors=True)
        if directory.exists():
            raise DataplaneError(reason=f"could not remove {directory}")
