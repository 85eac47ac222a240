"""Idempotent network devices in one namespace: make a device exist with the wanted attributes, touching only
what differs.

Each apply reads the namespace's links once (``refresh``) and then compares every wanted device with that
reading, so a converged host costs one ``ip -j -d link show`` per namespace and no writes. Every device gets
``addrgenmode none`` before it is brought up: the kernel would otherwise give bridges and veths IPv6 link-local
addresses, and they would send router solicitations and MLD reports into the tenant's network from the host.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence

from network.host.dataplane import tokens
from network.host.dataplane.linux import inspect
from network.host.dataplane.linux.inspect import Link
from network.host.dataplane.linux.runner import CommandFailed, Runner


class Namespace:
    """The devices of one network namespace (None: the root one), as last read, and changes to them."""

    def __init__(self, runner: Runner, netns: str | None) -> None:
        self.runner = runner
        self.netns = netns
        self.links: dict[str, Link] = {}

    def refresh(self) -> Namespace:
        self.links = inspect.links(self.runner, self.netns)
        return self

    def get(self, name: str) -> Link | None:
        return self.links.get(name)

    def ip(self, *args: str) -> None:
        self.runner.ip(*args, netns=self.netns)

    def delete(self, name: str) -> None:
        """Delete ``name`` (a veth takes its peer with it, a bridge releases its ports). A device that vanished
        since the last reading (the peer of a veth deleted in another namespace) is fine."""
        if self.links.pop(name, None) is None:
            return
        result = self.runner.run(["ip", "link", "del", "dev", name], self.netns, write=True, check=False)
        if result.returncode != 0 and "Cannot find device" not in result.stderr:
            raise CommandFailed(command=f"ip link del dev {name}", stderr=result.stderr.strip())

    def ensure(
        self,
        name: str,
        kind: Sequence[str],
        *,
        mtu: int,
        tag: str,
        master: str | None = None,
        mac: str | None = None,
        matches: Callable[[Link], bool] | None = None,
        options: Mapping[str, int] | None = None,
    ) -> bool:
        """Make ``name`` a device of type ``kind`` (the words after ``type``: ``["bridge"]``, ``["vxlan", "id",
        …]``) with these attributes, up; True when it was made (what was read about an earlier one is void).
        A device of that name of another kind, or one ``matches`` rejects (its type arguments differ: they cannot
        be changed in place), is deleted and made again. ``options`` are type arguments that can be changed in
        place (``mcast_snooping`` of a bridge), compared with ``ip -d``'s."""
        current = self.get(tokens.ifname(name))
        if current is not None and (current.kind != kind[0] or (matches is not None and not matches(current))):
            self.delete(name)
            current = None
        wanted = [str(word) for item in (options or {}).items() for word in item]
        made = current is None
        if current is None:
            self.ip("link", "add", name, "mtu", str(mtu), "type", *kind, *wanted)  # an alias given here is ignored
            current = Link(
                name=name,
                kind=kind[0],
                master=None,
                mtu=mtu,
                up=False,
                mac="",
                alias="",
                addrgenmode="",
                info=dict(options or {}),
            )
        elif any(current.info.get(key) != value for key, value in (options or {}).items()):
            self.ip("link", "set", "dev", name, "type", kind[0], *wanted)
        self.converge(current, mtu=mtu, tag=tag, master=master, mac=mac)
        return made

    def converge(
        self,
        current: Link,
        *,
        mtu: int,
        tag: str,
        master: str | None,
        mac: str | None = None,
        link_local: bool = False,
    ) -> None:
        """Set what differs on an existing device, then bring it up. ``link_local``: keep IPv6 link-local
        addressing (a DHCPv6 server needs it); every other device has none."""
        name = current.name
        mode = "eui64" if link_local else "none"
        if current.addrgenmode != mode:
            self.ip("link", "set", "dev", name, "addrgenmode", mode)
            if current.up and link_local:
                # The kernel makes the link-local address only as a device comes up: bounce it (its addresses go
                # with it; the caller converges them after this).
                self.ip("link", "set", "dev", name, "down")
                current = dataclasses.replace(current, up=False)
            elif current.up:  # link-local addresses made before stay until flushed
                self.ip("-6", "addr", "flush", "dev", name, "scope", "link")
        changes: list[str] = []
        if current.alias != tag:
            changes += ["alias", tag]
        if current.mtu != mtu:
            changes += ["mtu", str(mtu)]
        if mac is not None and current.mac != mac:
            changes += ["address", tokens.mac(mac)]
        if master is not None and current.master != master:
            changes += ["master", tokens.ifname(master)]
        if not current.up:
            changes.append("up")
        if changes:
            self.ip("link", "set", "dev", name, *changes)
        self.links[name] = dataclasses.replace(
            current,
            master=master or current.master,
            mtu=mtu,
            up=True,
            mac=mac or current.mac,
            alias=tag,
            addrgenmode=mode,
        )


def ensure_veth(
    a: Namespace,
    a_name: str,
    b: Namespace,
    b_name: str,
    *,
    mtu: int,
    tag: str,
    a_master: str | None = None,
    b_master: str | None = None,
    b_mac: str | None = None,
    b_link_local: bool = False,
) -> bool:
    """A veth pair ``a_name`` (in ``a``) ↔ ``b_name`` (in ``b``) with both ends up; True when it had to be made
    (whatever was bound to an earlier pair is bound to nothing now). When only one end exists (its peer was
    renamed, or lives elsewhere) it is deleted and the pair made again, because a veth's peer cannot be
    changed."""
    end_a, end_b = a.get(tokens.ifname(a_name)), b.get(tokens.ifname(b_name))
    if end_a is not None and end_b is not None and end_a.kind == end_b.kind == "veth":
        a.converge(end_a, mtu=mtu, tag=tag, master=a_master)
        b.converge(end_b, mtu=mtu, tag=tag, master=b_master, mac=b_mac, link_local=b_link_local)
        return False
    a.delete(a_name)
    b.delete(b_name)
    peer = ["peer", "name", b_name, "mtu", str(mtu)]
    if b_mac is not None:
        peer += ["address", tokens.mac(b_mac)]
    if b.netns != a.netns:
        peer += ["netns", b.netns or str(os.getpid())]  # None: the namespace this agent runs in
    a.ip("link", "add", a_name, "mtu", str(mtu), "type", "veth", *peer)
    fresh = Link(name=a_name, kind="veth", master=None, mtu=mtu, up=False, mac="", alias="", addrgenmode="")
    a.converge(fresh, mtu=mtu, tag=tag, master=a_master)
    b.converge(
        Link(name=b_name, kind="veth", master=None, mtu=mtu, up=False, mac=b_mac or "", alias="", addrgenmode=""),
        mtu=mtu,
        tag=tag,
        master=b_master,
        link_local=b_link_local,
    )
    return True
