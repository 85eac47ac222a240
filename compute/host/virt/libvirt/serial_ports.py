"""Choosing the TCP port of a new guest's serial console on this host.

Ports come from a fixed range (Nova's default, 10000-20000) and must collide neither with another domain's, running
or not (a stopped guest gets its port back when it starts), nor with anything else listening on the host. The truth
is what libvirt holds, read again at every allocation: nothing is remembered between calls, so a restarted agent or
a domain defined by hand cannot fool it. Several agents may share one libvirtd (hosts simulated on one machine), so
the choice and the definition of the domain happen under one machine-wide file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import random
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from compute.host.virt.base import DriverError

PORT_RANGE = range(10000, 20001)
LOCK_FILE = Path(tempfile.gettempdir()) / "stratus-serial-ports.lock"


def port_is_free(address: str, port: int) -> bool:
    """Whether a listening socket could be bound there now, as QEMU binds it (``SO_REUSEADDR``: a port with only
    closed connections lingering in TIME_WAIT counts as free)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def choose(
    used: Iterable[int],
    is_free: Callable[[int], bool],
    ports: range = PORT_RANGE,
    start: int | None = None,
) -> int:
    """The first port of ``ports`` from a random ``start`` on (wrapping round) that no domain uses and that is
    free on the host. Starting anywhere keeps two agents that race past the lock (on different machines' views of
    one host) from picking the same first port. DriverError when the range is exhausted."""
    taken = set(used)
    offset = random.randrange(len(ports)) if start is None else start % len(ports)
    for index in range(len(ports)):
        port = ports[(offset + index) % len(ports)]
        if port not in taken and is_free(port):
            return port
    raise DriverError(reason=f"no free serial console port left in {ports.start}-{ports.stop - 1} on this host")


@contextlib.contextmanager
def allocation_lock(path: Path = LOCK_FILE) -> Iterator[None]:
    """Held from reading the ports in use until the new domain is defined with its own."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
