"""Converting disk images with ``qemu-img``, safely: only data that passed inspection, format always given.

``-f`` is always explicit, so qemu-img never probes (probing is how a raw image can pose as qcow2), and the
input has already been proven to have no backing or external data file. The process runs with a time limit
and an address-space limit, so a malformed image cannot take the service down with it.
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

from common.exceptions import StratusError

# Glance disk_format → qemu-img format name
QEMU_FORMATS = {
    "qcow2": "qcow2",
    "raw": "raw",
    "vmdk": "vmdk",
    "vhd": "vpc",
    "vhdx": "vhdx",
    "vdi": "vdi",
    "iso": "raw",
}
CONVERTIBLE_TARGETS = ("qcow2", "raw", "vmdk")
MEMORY_LIMIT = 2 << 30


class ConversionError(StratusError):
    msg_fmt = "Converting the image from {source} to {target} failed: {reason}"
    code = 400
    title = "Bad Request"


def _limit_resources() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def convert(source: Path, source_format: str, target: Path, target_format: str, timeout: float = 3600) -> None:
    """Write ``source`` (already inspected) to ``target`` in ``target_format``, replacing target's content."""
    if source_format not in QEMU_FORMATS or target_format not in CONVERTIBLE_TARGETS:
        raise ConversionError(source=source_format, target=target_format, reason="unsupported formats")
    command = ["qemu-img", "convert", "-f", QEMU_FORMATS[source_format], "-O", QEMU_FORMATS[target_format]]
    if target_format == "qcow2":
        command += ["-o", "compat=1.1"]
    if target_format == "vmdk":
        command += ["-o", "subformat=streamOptimized"]
    command += [str(source), str(target)]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_resources, check=False
        )
    except subprocess.TimeoutExpired:
        raise ConversionError(source=source_format, target=target_format, reason="qemu-img timed out") from None
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["qemu-img failed"]
        raise ConversionError(source=source_format, target=target_format, reason=reason[0])
