"""Instance disks with ``qemu-img`` and config drives with ``genisoimage``: files only, no libvirt.

Every ``qemu-img`` call names the format (``-f``/``-F``), so nothing is ever probed. The base image is trusted: the
image service inspected it before it reached the cache.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from compute.virt.base import ConfigDrive, DriverError

GiB = 1 << 30
QEMU_IMG_TIMEOUT = 600.0
ISO_TIMEOUT = 60.0

# Glance disk_format (or qemu's own name) → qemu's format name, for the formats a base image may have.
BASE_FORMATS = {
    "qcow2": "qcow2",
    "raw": "raw",
    "vmdk": "vmdk",
    "vdi": "vdi",
    "vhdx": "vhdx",
    "vhd": "vpc",
    "vpc": "vpc",
}


def _run(command: list[str], what: str, timeout: float = QEMU_IMG_TIMEOUT) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DriverError(reason=f"{what} failed: {exc}") from exc
    if result.returncode != 0:
        raise DriverError(reason=f"{what} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def qemu_format(disk_format: str) -> str:
    try:
        return BASE_FORMATS[disk_format]
    except KeyError:
        raise DriverError(reason=f"unsupported base image format {disk_format!r}") from None


def virtual_size(image: Path, disk_format: str) -> int:
    """The guest-visible size of ``image`` in bytes."""
    info = _run(
        ["qemu-img", "info", "--output", "json", "-f", qemu_format(disk_format), str(image)], f"reading {image}"
    )
    return int(json.loads(info)["virtual-size"])


def create_root_disk(disk: Path, base: Path, base_format: str, root_gb: int) -> None:
    """A qcow2 overlay at ``disk`` on ``base`` (absolute path as backing file), ``root_gb`` GiB large, or as large as
    the base when ``root_gb`` is 0. A root disk smaller than the image refuses: the guest's filesystem would not
    fit."""
    if not base.is_file():
        raise DriverError(reason=f"base image {base} is missing")
    base_size = virtual_size(base, base_format)
    command = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", qemu_format(base_format), "-b", str(base.absolute())]
    command.append(str(disk))
    if root_gb > 0:
        if root_gb * GiB < base_size:
            raise DriverError(
                reason=f"the flavor's root disk ({root_gb} GiB) is smaller than the image ({base_size} bytes)"
            )
        command.append(str(root_gb * GiB))
    _run(command, f"creating root disk {disk}")


def grow(disk: Path, root_gb: int) -> None:
    """Make the qcow2 ``disk`` ``root_gb`` GiB large; a smaller size refuses (the guest's filesystem would be cut),
    the same size does nothing. 0 keeps the size."""
    if root_gb <= 0:
        return
    current = virtual_size(disk, "qcow2")
    if root_gb * GiB < current:
        raise DriverError(reason=f"the root disk cannot shrink from {current / GiB:g} GiB to {root_gb} GiB")
    if root_gb * GiB > current:
        _run(["qemu-img", "resize", "-q", "-f", "qcow2", str(disk), str(root_gb * GiB)], f"growing {disk}")


def flatten(disk: Path, target: Path, force_share: bool) -> None:
    """Copy the qcow2 ``disk`` and its backing chain into one standalone qcow2 at ``target``, atomically (a temporary
    file renamed into place). ``force_share`` reads an image QEMU holds open; the caller makes that safe by pausing
    the guest (QEMU flushes its caches when it stops the vCPUs)."""
    partial = target.with_name(f".{target.name}.partial")
    command = ["qemu-img", "convert", "-f", "qcow2", "-O", "qcow2"]
    if force_share:
        command.append("-U")
    try:
        _run([*command, str(disk), str(partial)], f"snapshot of {disk}")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def build_config_drive(drive: ConfigDrive, iso: Path) -> None:
    """Write ``drive`` as an ISO 9660 image (Rock Ridge and Joliet, volume label ``config-2``) at ``iso``, with the
    files of OpenStack's ``openstack/latest/`` layout."""
    tool = shutil.which("genisoimage") or shutil.which("xorriso")
    if tool is None:
        raise DriverError(reason="neither genisoimage nor xorriso is installed (deploy/install-deps.sh)")
    with tempfile.TemporaryDirectory(prefix="config-drive-", dir=iso.parent) as staging:
        latest = Path(staging) / "openstack" / "latest"
        latest.mkdir(parents=True)
        (latest / "meta_data.json").write_text(json.dumps(drive.meta_data))
        (latest / "network_data.json").write_text(json.dumps(drive.network_data))
        (latest / "vendor_data.json").write_text(json.dumps(drive.vendor_data))
        if drive.user_data is not None:
            (latest / "user_data").write_bytes(drive.user_data)
        options = ["-o", str(iso), "-V", "config-2", "-r", "-J", "-quiet", staging]
        command = [tool, *options] if tool.endswith("genisoimage") else [tool, "-as", "mkisofs", *options]
        _run(command, "building the config drive", timeout=ISO_TIMEOUT)


def supports_direct_io(directory: Path) -> bool:
    """Whether files in ``directory`` can be opened with O_DIRECT (not so on some tmpfs and overlay mounts), which
    ``cache='none'`` needs. Writes and removes one aligned block."""
    probe = directory / f".directio.{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o600)
    except OSError:
        return False
    try:
        with mmap.mmap(-1, mmap.PAGESIZE) as block:  # page-aligned, as O_DIRECT requires
            os.write(fd, block)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)


def read_tail(paths: list[Path], max_bytes: int) -> bytes:
    """The last ``max_bytes`` of the concatenation of ``paths`` (oldest first; missing files count as empty)."""
    chunks: list[bytes] = []
    remaining = max_bytes
    for path in reversed(paths):
        if remaining <= 0:
            break
        try:
            with path.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - remaining))
                chunk = f.read(remaining)
        except FileNotFoundError:
            continue
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(reversed(chunks))
