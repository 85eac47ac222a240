"""Reading what the kernel actually has, from the JSON output of ``ip -j``, ``bridge -j`` and ``nft -j``.

The driver converges from these readings, never from its own memory, so a device deleted or changed by hand is
seen and repaired by the next apply. Ownership lives in the kernel too: every device the driver creates carries
an interface alias ``stratus:<host>:<id>``, which survives a move between namespaces. That is how a driver tells
its own devices from another simulated host's (port bridges of all of them share the root namespace) or from
anything else on a real host, and how it finds the full network or port id a shortened device name came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from network.host.dataplane.base import DataplaneError
from network.host.dataplane.linux.runner import Runner

TAG = "stratus"


def owner_tag(host: str, resource_id: str) -> str:
    return f"{TAG}:{host}:{resource_id}"


@dataclass(frozen=True)
class Link:
    """The part of ``ip -j -d link show`` the driver compares with what it wants."""

    name: str
    kind: str
    master: str | None
    mtu: int
    up: bool
    mac: str
    alias: str
    addrgenmode: str
    info: dict[str, Any] = field(default_factory=dict)
    """The type's own attributes (``linkinfo.info_data``: a VXLAN device's id and addresses, a bridge's options)."""

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Link:
        info = data.get("linkinfo", {})
        return cls(
            name=data["ifname"],
            kind=info.get("info_kind", ""),
            master=data.get("master"),
            mtu=data.get("mtu", 0),
            up="UP" in data.get("flags", ()),
            mac=data.get("address", "").lower(),
            alias=data.get("ifalias", ""),
            addrgenmode=data.get("inet6_addr_gen_mode", ""),
            info=info.get("info_data", {}),
        )

    def owned_by(self, host: str) -> str | None:
        """The resource id this device was made for, when ``host``'s driver made it; else None."""
        prefix = f"{TAG}:{host}:"
        return self.alias[len(prefix) :] if self.alias.startswith(prefix) else None


def links(runner: Runner, netns: str | None) -> dict[str, Link]:
    return {link.name: link for link in map(Link.parse, runner.read_json(["ip", "-j", "-d", "link", "show"], netns))}


def namespaces(runner: Runner) -> set[str]:
    return {entry["name"] for entry in runner.read_json(["ip", "-j", "netns", "list"])}


def namespace_pids(runner: Runner, netns: str) -> list[int]:
    return [int(pid) for pid in runner.read(["ip", "netns", "pids", netns], check=False).split()]


def vxlan_entries(runner: Runner, netns: str | None) -> dict[str, set[tuple[str, str]]]:
    """VXLAN device -> its own forwarding entries (mac, remote underlay address), for the whole namespace in one
    read. Entries the bridge learned carry no ``dst``: they are not the VXLAN device's and are left alone."""
    found: dict[str, set[tuple[str, str]]] = {}
    for entry in runner.read_json(["bridge", "-j", "fdb", "show"], netns):
        if "dst" in entry and "ifname" in entry:
            found.setdefault(entry["ifname"], set()).add((entry["mac"].lower(), entry["dst"]))
    return found


def addresses(runner: Runner, netns: str | None, device: str) -> set[str]:
    """Global addresses of ``device`` as ``address/prefix``."""
    data = runner.read_json(["ip", "-j", "addr", "show", "dev", device], netns)
    return {
        f"{a['local']}/{a['prefixlen']}"
        for entry in data
        for a in entry.get("addr_info", ())
        if a.get("scope") == "global"
    }


def nft_tables(runner: Runner, netns: str | None) -> dict[tuple[str, str], int]:
    """(family, name) -> handle of every table; a table deleted and created again gets a new handle."""
    data = runner.read_json(["nft", "-j", "list", "tables"], netns)
    return {
        (item["table"]["family"], item["table"]["name"]): item["table"]["handle"]
        for item in data.get("nftables", ())
        if "table" in item
    }


def sysctl(runner: Runner, netns: str | None, key: str) -> str:
    return runner.read(["sysctl", "-n", key], netns).strip()


def default_route_address(runner: Runner | None = None) -> str:
    """The source address the kernel picks for the default route: a real host's natural VTEP address."""
    runner = runner or Runner()
    for route in runner.read_json(["ip", "-j", "-4", "route", "show", "default"]):
        if "prefsrc" in route:
            return route["prefsrc"]
        if "dev" in route:
            found = runner.read_json(["ip", "-j", "-4", "addr", "show", "dev", route["dev"]])
            for entry in found:
                for a in entry.get("addr_info", ()):
                    if a.get("scope") == "global":
                        return a["local"]
    raise DataplaneError(reason="no default route with an IPv4 address: set network_underlay_ip")
