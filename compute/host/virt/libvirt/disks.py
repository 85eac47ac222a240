"""Instance disks with ``qemu-img`` and config drives with ``genisoimage``: files only, no libvirt.

Base images are tenant data, whoever inspected them before: everything that reads one (the overlay on it, its size,
the snapshot that copies it) goes through :mod:`image.qemu_img`, which inspects it again and keeps QEMU to the files
it is given. What runs here directly only touches the instance's own overlay, whose header this host wrote, and
opens it without its base. Every ``qemu-img`` call names the format, so nothing is ever probed.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common.exceptions import StratusError
from compute.host.virt.base import ConfigDrive, DriverError
from compute.host.virt.libvirt.runner import run
from image import qemu_img

GiB = 1 << 30
ISO_TIMEOUT = 60.0


@contextlib.contextmanager
def _refused_as_driver_error() -> Iterator[None]:
    """An unsafe or unreadable base image fails the driver call like any other disk error."""
    try:
        yield
    except DriverError:
        raise
    except StratusError as exc:
        raise DriverError(reason=exc.message) from exc


def _overlay_size(disk: Path) -> int:
    """The guest-visible size of an instance's own qcow2 overlay; its base is not opened."""
    info = run(["qemu-img", "info", "--output", "json", *qemu_img.source_args(disk, "qcow2")], f"reading {disk}")
    return int(json.loads(info)["virtual-size"])


def create_root_disk(disk: Path, base: Path, base_format: str, root_gb: int) -> None:
    """A qcow2 overlay at ``disk`` on ``base`` (absolute path as backing file), ``root_gb`` GiB large, or as large as
    the base when ``root_gb`` is 0. The base must pass inspection as ``base_format``. A root disk smaller than the
    image refuses: the guest's filesystem would not fit."""
    if base_format not in qemu_img.BASE_FORMATS:
        raise DriverError(reason=f"unsupported base image format {base_format!r}")
    if not base.is_file():
        raise DriverError(reason=f"base image {base} is missing")
    with _refused_as_driver_error():
        base_size = qemu_img.virtual_size(base, base_format)
        if root_gb > 0 and root_gb * GiB < base_size:
            raise DriverError(
                reason=f"the flavor's root disk ({root_gb} GiB) is smaller than the image ({base_size} bytes)"
            )
        qemu_img.create_overlay(disk, base, base_format, root_gb * GiB if root_gb > 0 else base_size)


def grow(disk: Path, root_gb: int) -> None:
    """Make the qcow2 ``disk`` ``root_gb`` GiB large; a smaller size refuses (the guest's filesystem would be cut),
    the same size does nothing. 0 keeps the size."""
    if root_gb <= 0:
        return
    current = _overlay_size(disk)
    if root_gb * GiB < current:
        raise DriverError(reason=f"the root disk cannot shrink from {current / GiB:g} GiB to {root_gb} GiB")
    if root_gb * GiB > current:
        # Without its base: growing an overlay needs only its own header, and opens nothing else.
        command = ["qemu-img", "resize", "-q", *qemu_img.source_args(disk, "qcow2"), str(root_gb * GiB)]
        run(command, f"growing {disk}")


def adopt_overlay(disk: Path, base: Path, base_format: str) -> None:
    """Put a root overlay copied from another host on this host's copy of its base image: only the header's
    backing file name changes (``rebase -u``), as the base image is the same on every host. The copy is read
    alone first and must be a plain qcow2 (no external data file); one without a base is left as it is."""
    if base_format not in qemu_img.BASE_FORMATS:
        raise DriverError(reason=f"unsupported base image format {base_format!r}")
    info = json.loads(
        run(["qemu-img", "info", "--output", "json", *qemu_img.source_args(disk, "qcow2")], f"reading {disk}")
    )
    data = (info.get("format-specific") or {}).get("data") or {}
    if info.get("format") != "qcow2" or data.get("data-file"):
        raise DriverError(reason=f"the copied disk {disk} is not a plain qcow2 overlay")
    if not info.get("backing-filename"):
        return
    with _refused_as_driver_error():
        qemu_img.inspected(base, base_format)
    command = ["qemu-img", "rebase", "-q", "-u", "-f", "qcow2", "-F", base_format, "-b", str(base.absolute())]
    run([*command, str(disk)], f"putting {disk} on {base}")


def grow_volume(volume: Path, volume_format: str, size_bytes: int) -> None:
    """Grow a volume file that no running guest holds to ``size_bytes`` (opened alone: a qcow2's backing file is
    not touched). Never shrinks: a smaller size refuses, the same size does nothing."""
    source = qemu_img.source_args(volume, volume_format)
    info = run(["qemu-img", "info", "--output", "json", *source], "reading a volume")
    current = int(json.loads(info)["virtual-size"])
    if size_bytes < current:
        raise DriverError(reason=f"a volume cannot shrink from {current} to {size_bytes} bytes")
    if size_bytes > current:
        run(["qemu-img", "resize", "-q", *source, str(size_bytes)], "growing a volume")


def copy_volume(volume: Path, volume_format: str, target: Path) -> None:
    """Copy a volume file that no running guest holds into a new standalone qcow2 at ``target`` (the volume is
    tenant data: inspected first, opened alone, whatever its header names)."""
    with _refused_as_driver_error():
        qemu_img.convert(volume, volume_format, target, "qcow2")


def flatten(disk: Path, target: Path, force_share: bool) -> None:
    """Copy the qcow2 ``disk`` and its base into one standalone qcow2 at ``target``, atomically (a temporary file
    renamed into place); the base is inspected again first. ``force_share`` reads an image QEMU holds open; the caller
    makes that safe by pausing the guest (QEMU flushes its caches when it stops the vCPUs)."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        with _refused_as_driver_error():
            qemu_img.flatten(disk, partial, force_share=force_share)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def convert_to_qcow2(raw: Path, target: Path) -> None:
    """The raw file ``raw`` (a root disk read from Ceph) as one standalone qcow2 at ``target``, atomically."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        with _refused_as_driver_error():
            qemu_img.convert(raw, "raw", partial, "qcow2")
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
        stage_config_drive(drive, Path(staging))
        options = ["-o", str(iso), "-V", "config-2", "-r", "-J", "-quiet", staging]
        command = [tool, *options] if tool.endswith("genisoimage") else [tool, "-as", "mkisofs", *options]
        run(command, "building the config drive", timeout=ISO_TIMEOUT)


def stage_config_drive(drive: ConfigDrive, staging: Path) -> None:
    """The config drive's files under ``staging``: only the fixed names of ``openstack/latest/``, whatever the
    user's metadata holds. The metadata is written as JSON only (ASCII, every control character and quote
    escaped, no NaN), so no user string becomes a file name or a line of anything but a JSON string; user_data
    is the user's own bytes, byte for byte."""
    latest = staging / "openstack" / "latest"
    latest.mkdir(parents=True)
    for name, document in (("meta_data.json", drive.meta_data), ("network_data.json", drive.network_data),
                           ("vendor_data.json", drive.vendor_data)):  # fmt: skip
        try:
            text = json.dumps(document, ensure_ascii=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise DriverError(reason=f"config drive {name} cannot be written as JSON: {exc}") from None
        (latest / name).write_text(text, encoding="ascii")
    if drive.user_data is not None:
        if not isinstance(drive.user_data, bytes):
            raise DriverError(reason="config drive user_data must be bytes")
        (latest / "user_data").write_bytes(drive.user_data)


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
