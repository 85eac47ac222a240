"""Leftover tap devices of instances.

libvirt creates each ``managed='yes'`` tap when the domain starts and deletes it when the domain stops; a tap only
outlives its domain when something made it persistent. Such a leftover would make the next start of the instance
fail, so the driver removes it: through the tun driver's own ioctls (no ``ip``: running ``ip`` is the network
dataplane's business). A tap that a running QEMU still holds, or a device that is not a tap, is never touched.
"""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFNAMSIZ = 16


def exists(name: str) -> bool:
    return "/" not in name and Path("/sys/class/net", name).exists()


def remove_leftover(name: str) -> bool:
    """Delete the detached persistent tap ``name``; True when no device of that name remains."""
    if not exists(name):
        return True
    if len(name.encode()) >= IFNAMSIZ:
        return False
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        # Attaching fails (EBUSY) while QEMU holds the tap, and (EINVAL) when the device is not a tap.
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
        fcntl.ioctl(fd, TUNSETPERSIST, 0)
    except OSError:
        return False
    finally:
        os.close(fd)  # a non-persistent tap disappears with its last file descriptor
    return not exists(name)
