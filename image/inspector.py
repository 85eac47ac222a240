"""Inspection of uploaded disk images, before they can become ``active``.

An upload is only ever read here, header by header: a few seeks and small reads whatever its size, never a full
read and never ``qemu-img``, which would open whatever files a hostile header names (a qcow2 backing file or external
data file, VMDK extents: CVE-2024-32498, CVE-2022-47951). :func:`inspect` then holds the upload to its claimed
``disk_format``, so an image is only ever opened by the driver it was checked for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from image.formats import PROBES, ImageInfo, InspectionError, Reader

SUPPORTED_DISK_FORMATS = ("raw", "qcow2", "vmdk", "iso", "vhd", "vhdx", "vdi", "ami", "ari", "aki")

# Kernels, ramdisks and machine images of the EC2 kind are plain bytes to the hypervisor, like raw.
_RAW_LIKE = frozenset({"raw", "ami", "ari", "aki"})
# What a raw claim may really be: an ISO is a filesystem, and a raw disk may hold one; QEMU opens both as raw bytes,
# and neither can name another file.
_RAW_CONTENT = frozenset({"raw", "iso"})

Opener = Callable[[Path], BinaryIO]


def _open_unbuffered(path: Path) -> BinaryIO:
    # Unbuffered, so a small read is a small read at the system level too.
    return path.open("rb", buffering=0)


def detect(path: Path, *, opener: Opener = _open_unbuffered) -> ImageInfo:
    """What ``path`` really is: the first format whose signature it carries, or ``raw`` if none.

    Raises :class:`InspectionError` when a recognised header is malformed, or is unsafe whatever the claim: it names
    a backing file, an external data file, extents or a parent. ``opener`` is a seam for tests that count reads.
    """
    with opener(path) as file:
        reader = Reader(file)
        for probe in PROBES:
            info = probe(reader)
            if info is not None:
                return info
        return ImageInfo("raw", reader.size, reader.size)


def inspect(path: Path, claimed_format: str, *, opener: Opener = _open_unbuffered) -> ImageInfo:
    """Check that ``path`` is a safe image of ``claimed_format`` and return it as the cloud will use it.

    A raw-like claim (``raw``, ``ami``, ``ari``, ``aki``) must not be any recognisable container: stored as raw,
    it would be one format probe or one mistaken conversion away from being opened as that container, with whatever
    files its header names. It may be an ISO, and then comes back as ``raw`` sized as the file, since that is how a
    hypervisor reads it. Any other claim must be exactly what :func:`detect` finds. Raises :class:`InspectionError`
    naming both formats on a mismatch.
    """
    if claimed_format not in SUPPORTED_DISK_FORMATS:
        raise InspectionError(
            f"disk_format {claimed_format!r} is not supported; use one of {', '.join(SUPPORTED_DISK_FORMATS)}"
        )
    info = detect(path, opener=opener)
    if claimed_format in _RAW_LIKE and info.format in _RAW_CONTENT:
        return ImageInfo("raw", info.actual_size, info.actual_size)
    if info.format != claimed_format:
        raise InspectionError(_mismatch(claimed_format, info.format))
    return info


def _mismatch(claimed: str, detected: str) -> str:
    message = f"image claims disk_format {claimed!r} but is {detected}"
    if detected in SUPPORTED_DISK_FORMATS and detected not in _RAW_LIKE:
        return f"{message}; upload it with disk_format {detected!r}"
    if claimed in _RAW_LIKE:
        return f"{message}, which is not a supported disk_format"
    return message


__all__ = ["SUPPORTED_DISK_FORMATS", "ImageInfo", "InspectionError", "detect", "inspect"]
