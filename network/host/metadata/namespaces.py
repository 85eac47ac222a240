"""Listening sockets inside other network namespaces, and which namespaces this host's proxy must listen in.

A socket belongs to the namespace of the thread that created it and stays there, so each listener is made by a
short-lived thread that enters the namespace (``setns``; Python 3.11 has no ``os.setns``), creates and binds the
socket, and goes back. The namespaces to serve come from the file the dataplane rewrites at every DHCP change;
a namespace deleted and made again (a new inode) gets a new socket, since the old one listens in a namespace
nobody can reach any more.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

LOG = logging.getLogger(__name__)
CLONE_NEWNET = 0x40000000
IP_FREEBIND = 15  # bind before the address is on the device: the dataplane adds it in the same converge
NETNS_DIR = Path("/run/netns")
METADATA_ADDRESS = "169.254.169.254"
METADATA_PORT = 80
BACKLOG = 128
_NETWORK_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


@dataclass(frozen=True)
class Served:
    """A network whose DHCP namespace is on this host."""

    network_id: str
    namespace: str


def read_served(path: Path) -> list[Served]:
    """The file's entries; a missing or unreadable file is no network, an entry whose id or namespace name is not
    of the dataplane's making is skipped (it would become a path below ``/run/netns`` and a signed header)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    served = []
    for entry in entries if isinstance(entries, list) else []:
        network_id = entry.get("network_id") if isinstance(entry, dict) else None
        namespace = entry.get("namespace") if isinstance(entry, dict) else None
        valid = isinstance(network_id, str) and isinstance(namespace, str)
        if valid and _NETWORK_ID.match(network_id) and _NAMESPACE.match(namespace):  # type: ignore[arg-type]
            served.append(Served(network_id, namespace))  # type: ignore[arg-type]
    return served


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def in_namespace(netns: Path, work: Callable[[], T]) -> T:
    """``work()`` run by a thread inside the namespace ``netns`` (a ``/run/netns`` file); the caller's thread never
    leaves its own namespace."""
    outcome: dict[str, object] = {}

    def run() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            target = os.open(netns, os.O_RDONLY)
            try:
                _setns(target)
            finally:
                os.close(target)
            try:
                outcome["value"] = work()
            finally:
                _setns(own)  # the thread ends anyway; leave it where it came from
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            os.close(own)

    thread = threading.Thread(target=run, name=f"netns-{netns.name}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def listen(address: str = METADATA_ADDRESS, port: int = METADATA_PORT) -> socket.socket:
    """A non-blocking listening TCP socket in the calling thread's namespace."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


Binder = Callable[[Path], socket.socket]


def bind_in(netns: Path) -> socket.socket:
    return in_namespace(netns, listen)


@dataclass
class Listener:
    served: Served
    inode: int
    sock: socket.socket


class Listeners:
    """One listening socket per served network, kept in step with the dataplane's file by ``sync``."""

    def __init__(self, netns_dir: Path = NETNS_DIR, bind: Binder = bind_in) -> None:
        self.netns_dir = netns_dir
        self.bind = bind
        self.by_network: dict[str, Listener] = {}

    def _inode(self, namespace: str) -> int | None:
        try:
            return os.stat(self.netns_dir / namespace).st_ino
        except OSError:
            return None

    def sync(self, served: list[Served]) -> tuple[list[Listener], list[Listener]]:
        """Open what is missing, close what is no longer served or whose namespace was made again; returns
        (opened, closed). A socket that cannot be made now (the namespace is not there yet) is tried next time."""
        wanted = {s.network_id: s for s in served}
        opened: list[Listener] = []
        closed: list[Listener] = []
        for network_id, listener in list(self.by_network.items()):
            entry = wanted.get(network_id)
            if entry != listener.served or self._inode(listener.served.namespace) != listener.inode:
                closed.append(self.by_network.pop(network_id))
                listener.sock.close()
        for network_id, entry in wanted.items():
            if network_id in self.by_network:
                continue
            inode = self._inode(entry.namespace)
            if inode is None:
                continue
            try:
                sock = self.bind(self.netns_dir / entry.namespace)
            except OSError as exc:
                LOG.warning("metadata: cannot listen in %s yet: %s", entry.namespace, exc)
                continue
            listener = Listener(entry, inode, sock)
            self.by_network[network_id] = listener
            opened.append(listener)
        return opened, closed

    def close(self) -> None:
        for listener in self.by_network.values():
            listener.sock.close()
        self.by_network.clear()
