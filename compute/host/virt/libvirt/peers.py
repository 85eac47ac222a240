"""Connections from this host to another host's libvirtd (a move's target), and what a host tells its peers.

The source of a move reaches the target's libvirtd by its underlay address, as its own libvirtd does for a
peer-to-peer migration: over the setting ``libvirt_migration_uri`` (TLS with the host's certificate). A host
simulated on a shared machine has its underlay in a network namespace (the setting ``network_namespace``) while
its agent runs outside it; a socket belongs to the namespace of the thread that made it, so such a connection is
opened by a short-lived thread that enters the namespace first (Python 3.11 has no ``os.setns``). Once open, the
connection is used from any thread.

A host also names its instance directory to its peers: a transient storage pool ``stratus-instances-<host>`` on
its libvirtd, made at ``init_host``, whose path a cold move's source reads to know where to write the disk it
copies (hosts need not keep instances at the same path: simulated ones do not).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import libvirt

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
INSTANCES_POOL_PREFIX = "stratus-instances-"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def in_namespace(namespace: str, work: Callable[[], T]) -> T:
    """``work()`` run by a thread inside the network namespace ``namespace`` (a name below ``/run/netns``); the
    calling thread never leaves its own."""
    if not _NAME.fullmatch(namespace):
        raise ValueError(f"invalid network namespace name {namespace!r}")
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            target = os.open(NETNS_DIR / namespace, os.O_RDONLY)
            try:
                _setns(target)  # this thread only; it ends right after
            finally:
                os.close(target)
            outcome["value"] = work()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=f"netns-{namespace}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def opener(namespace: str) -> Callable[[str], Any]:
    """``libvirt.open`` from inside ``namespace`` ("" : from here)."""
    if not namespace:
        return libvirt.open
    return lambda uri: in_namespace(namespace, lambda: libvirt.open(uri))


def instances_pool(host: str) -> str | None:
    """The name of the pool by which ``host`` names its instance directory (None for a name libvirt should not
    be given)."""
    name = INSTANCES_POOL_PREFIX + host
    return name if _NAME.fullmatch(name) else None


def _dir_pool_xml(name: str, path: Path) -> str:
    root = ET.Element("pool", type="dir")
    ET.SubElement(root, "name").text = name
    ET.SubElement(ET.SubElement(root, "target"), "path").text = str(path)
    return ET.tostring(root, encoding="unicode") + "\n"


def pool_path(conn: Any, name: str) -> Path | None:
    """The directory of the storage pool ``name`` on ``conn``'s libvirtd, None when there is none."""
    try:
        xml = conn.storagePoolLookupByName(name).XMLDesc(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
            return None
        raise
    text = ET.fromstring(xml).findtext("./target/path")
    return Path(text) if text and text.startswith("/") else None


def announce_instances(conn: Any, host: str, path: Path) -> None:
    """Make (or make again, when it names another directory) the pool naming ``path`` as ``host``'s instance
    directory. Transient: it goes with the daemon, and every agent start makes it again."""
    name = instances_pool(host)
    if name is None or pool_path(conn, name) == path:
        return
    with contextlib.suppress(libvirt.libvirtError):
        conn.storagePoolLookupByName(name).destroy()
    conn.storagePoolCreateXML(_dir_pool_xml(name, path), 0)
