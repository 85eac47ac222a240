"""The one place the compute host runs commands of its own: ``qemu-img`` on an instance's own overlay and
``genisoimage``/``xorriso`` for config drives (``disks``). Commands on tenant images, which are untrusted data,
go through ``image.qemu_img`` instead, which confines QEMU to the files it is given.

A failure of any kind (missing tool, timeout, non-zero exit) is a :class:`DriverError` naming what was being done,
so the driver's callers see one error type whatever the tool.
"""

from __future__ import annotations

import subprocess

from compute.host.virt.base import DriverError

TIMEOUT = 600.0


def run(command: list[str], what: str, timeout: float = TIMEOUT) -> str:
    """Run ``command`` (no shell) and return its standard output; ``what`` says what it was for in the error."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DriverError(reason=f"{what} failed: {exc}") from exc
    if result.returncode != 0:
        raise DriverError(reason=f"{what} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout
