"""VMware VMDK (VMware "Virtual Disk Format 1.1" specification, as QEMU's block/vmdk.c reads it).

A VMDK is a text *descriptor* plus *extents*: the files holding the data. A descriptor may name any host file as an
extent, and QEMU opens it (CVE-2022-47951). Only the two single-file kinds are self-contained: monolithicSparse and
streamOptimized, where one sparse extent carries its own descriptor. We accept those alone, and check everything in
them that QEMU or other readers could follow to another file.
"""

from __future__ import annotations

import re
import struct

from image.formats.base import ImageInfo, InspectionError, Reader, shown

SPARSE_MAGIC = b"KDMV"
ESX_COW_MAGIC = b"COWD"
_SECTOR = 512
_ALLOWED_CREATE_TYPES = ("monolithicSparse", "streamOptimized")
_ONLY_SELF_CONTAINED = "only monolithicSparse and streamOptimized VMDKs are accepted, since the others use other files"

# magic, version, flags, capacity, grain_size, descriptor_offset, descriptor_size, num_gtes_per_gt, rgd_offset,
# gd_offset, overhead, unclean_shutdown, newline check bytes, compress_algorithm
_HEADER = struct.Struct("<4sIIQQQQIQQQB4sH")
_GD_AT_END = 0xFFFFFFFFFFFFFFFF
_MARKER_FOOTER = 3
_MARKER_END_OF_STREAM = 0
_MARKER = struct.Struct("<QII")

# Bigger embedded descriptors than this are not made by any tool; reading them would only serve an attacker.
_MAX_DESCRIPTOR = 64 * 1024
# QEMU looks for a parent file name in this many bytes after the header, whatever the header says (vmdk_parent_open).
_QEMU_DESCRIPTOR_WINDOW = (_SECTOR, 20 * _SECTOR)
# QEMU's probe looks at this much of a file to decide that it is a text descriptor.
_PROBE_WINDOW = 2048

# vmdk_read_desc reads this much of a descriptor file; we read it in chunks and stop at the first NUL byte.
_QEMU_DESCRIPTOR_READ = (1 << 20) - 1
_FIRST_TEXT_CHUNK, _TEXT_CHUNK = 4096, 64 * 1024
_DESCRIPTOR_TEXT = re.compile(rb"createType|\b(?:RW|RDONLY|NOACCESS)\s+[-+]?\d+\s+\w", re.IGNORECASE)

_EXTENT_LINE = re.compile(rb'(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)(?:\s+"([^"]*)")?(?:\s+(\d+))?\s*')
_ACCESS_MODES = (b"RW", b"RDONLY", b"NOACCESS")
_VERSION_LINES = tuple(f"version={n}{end}".encode() for n in (1, 2, 3) for end in ("\n", "\r\n"))


def probe_vmdk(reader: Reader) -> ImageInfo | None:
    """A self-contained sparse VMDK; every other VMDK kind is an error; None if the file is no VMDK at all."""
    head = reader.read(0, _PROBE_WINDOW)
    if head[:4] == SPARSE_MAGIC:
        return _sparse(reader)
    if head[:4] == ESX_COW_MAGIC:
        raise InspectionError(f"VMDK image is an ESX 'COWD' sparse extent; {_ONLY_SELF_CONTAINED}")
    if head.startswith(b"# Disk DescriptorFile") or _qemu_sees_descriptor(head) or _reads_as_descriptor(reader):
        raise InspectionError(
            "VMDK image is a text descriptor, which can only refer to other files; upload a monolithicSparse or "
            "streamOptimized VMDK instead"
        )
    return None


def _reads_as_descriptor(reader: Reader) -> bool:
    """Whether the file, opened with ``-f vmdk``, would be parsed as a descriptor that names files.

    QEMU's VMDK driver takes any file without a sparse magic for a descriptor (vmdk_open_desc_file): it reads up to
    1 MiB as a C string, finds ``createType`` anywhere in it (comments and blank lines included) and takes extent
    lines in any spacing, even spread over several lines. No disk carries that before its first NUL byte, and a file
    that does is refused whatever it claims: a raw upload is one record change away from being opened as VMDK.
    Matched without regard to case, stricter than QEMU, so that other readers' spellings are refused too.
    """
    text = bytearray()
    while len(text) < _QEMU_DESCRIPTOR_READ:
        # Small first, doubling: a disk has a NUL byte in its first few bytes, a text file none.
        wanted = min(max(len(text), _FIRST_TEXT_CHUNK), _TEXT_CHUNK, _QEMU_DESCRIPTOR_READ - len(text))
        chunk = reader.read(len(text), wanted)
        end = chunk.find(b"\0")
        text += chunk if end < 0 else chunk[:end]
        if end >= 0 or len(chunk) < wanted:
            break
    return _DESCRIPTOR_TEXT.search(text) is not None


def _qemu_sees_descriptor(head: bytes) -> bool:
    """Whether QEMU's format probe (vmdk_probe) would take this text for a VMDK descriptor.

    Comment lines and lines of spaces may come first, then a ``version=N`` line. A raw upload that QEMU would probe
    as VMDK is refused, so that no later probing can open the files it lists.
    """
    at = 0
    while at < len(head):
        if head[at] == ord("#"):
            newline = head.find(b"\n", at)
            at = len(head) if newline < 0 else newline + 1
        elif head[at] == ord(" "):
            while at < len(head) and head[at] == ord(" "):
                at += 1
            if head.startswith(b"\r", at):
                at += 1
            if not head.startswith(b"\n", at):
                return False
            at += 1
        else:
            return head.startswith(_VERSION_LINES, at)
    return False


def _sparse(reader: Reader) -> ImageInfo:
    header = _HEADER.unpack(reader.exact(0, _HEADER.size, "VMDK header"))
    _, version, _, capacity, _, descriptor_offset, descriptor_size, _, _, gd_offset, *_ = header
    if not 1 <= version <= 3:
        raise InspectionError(f"VMDK version {version} is not supported")
    if capacity == 0:
        # QEMU then opens the embedded descriptor as a descriptor file, following its extents to any host file.
        raise InspectionError("VMDK header declares no capacity, which makes QEMU follow its descriptor's extents")
    if gd_offset == _GD_AT_END:
        # streamOptimized images written as a stream keep the real header in a footer, which QEMU prefers.
        capacity = _footer_capacity(reader)
    if descriptor_offset == 0 or descriptor_size == 0:
        raise InspectionError("VMDK image has no embedded descriptor, so it cannot be checked to be self-contained")
    descriptor = _descriptor(reader, descriptor_offset * _SECTOR, descriptor_size * _SECTOR)
    _check_create_type(descriptor)
    _check_extents(descriptor)
    qemu_view = reader.read(*_QEMU_DESCRIPTOR_WINDOW).split(b"\0", 1)[0]
    for text in (descriptor, qemu_view):
        _check_no_parent(text)
    return ImageInfo("vmdk", capacity * _SECTOR, reader.size)


def _footer_capacity(reader: Reader) -> int:
    block = reader.exact(max(reader.size - 3 * _SECTOR, 0), 3 * _SECTOR, "VMDK footer")
    footer_marker = _MARKER.unpack_from(block, 0)
    end_marker = _MARKER.unpack_from(block, 2 * _SECTOR)
    footer = _HEADER.unpack_from(block, _SECTOR)
    if (
        footer[0] != SPARSE_MAGIC
        or footer_marker[1:] != (0, _MARKER_FOOTER)
        or end_marker != (0, 0, _MARKER_END_OF_STREAM)
    ):
        raise InspectionError("VMDK footer is malformed")
    return footer[3]


def _descriptor(reader: Reader, offset: int, size: int) -> bytes:
    data = reader.read(offset, min(size, _MAX_DESCRIPTOR))
    if not data:
        raise InspectionError("VMDK image is truncated: its descriptor lies beyond the end of the file")
    if b"\0" not in data and size > _MAX_DESCRIPTOR:
        raise InspectionError("VMDK descriptor is too large to check")
    return data.split(b"\0", 1)[0]


def _lines(descriptor: bytes) -> list[bytes]:
    """Descriptor lines without comments; split like QEMU does, on newlines only."""
    stripped = (line.strip() for line in descriptor.split(b"\n"))
    return [line for line in stripped if line and not line.startswith(b"#")]


def _check_create_type(descriptor: bytes) -> None:
    values = [
        value.strip().strip(b'"')
        for key, sep, value in (line.partition(b"=") for line in _lines(descriptor))
        if sep and key.strip() == b"createType"
    ]
    if len(values) != 1:
        raise InspectionError("VMDK descriptor must have exactly one createType")
    create_type = values[0].decode("ascii", errors="replace")
    if create_type not in _ALLOWED_CREATE_TYPES:
        raise InspectionError(f"VMDK image has createType {create_type!r}; {_ONLY_SELF_CONTAINED}")


def _check_extents(descriptor: bytes) -> None:
    """Exactly one SPARSE extent, named as a plain file name: the image itself under the name it was made with."""
    extents = [line for line in _lines(descriptor) if line.split(maxsplit=1)[0] in _ACCESS_MODES]
    if len(extents) != 1:
        raise InspectionError(f"VMDK descriptor lists {len(extents)} extents; a self-contained VMDK has exactly one")
    match = _EXTENT_LINE.fullmatch(extents[0])
    if match is None:
        raise InspectionError(f"VMDK descriptor has a malformed extent line ({shown(extents[0])})")
    kind, name = match.group(3), match.group(4) or b""
    if kind != b"SPARSE":
        raise InspectionError(f"VMDK image has a {kind.decode('ascii')} extent ({shown(name)}); {_ONLY_SELF_CONTAINED}")
    if not name or b"/" in name or b"\\" in name or name in (b".", b".."):
        raise InspectionError(f"VMDK image refers to another file ({shown(name)}); images must be self-contained")


def _check_no_parent(text: bytes) -> None:
    """Refuse a ``parentFileNameHint``: QEMU opens it as a backing file, even for a monolithicSparse image.

    Read as QEMU reads it (vmdk_parent_open): the value starts two characters after the key and ends at the next
    double quote; only an empty value is harmless. QEMU looks at the first occurrence only, other readers may take
    another, so every occurrence is checked.
    """
    key = b"parentFileNameHint"
    at = text.find(key)
    while at >= 0:
        start = at + len(key) + 2
        end = text.find(b'"', start)
        if end != start:
            name = text[start:end] if end > 0 else text[start:]
            raise InspectionError(f"VMDK image names a parent file ({shown(name)}); images must be self-contained")
        at = text.find(key, at + 1)
