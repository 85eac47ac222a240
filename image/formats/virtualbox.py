"""VirtualBox VDI, as laid out in VirtualBox's VDICore.h (the layout QEMU's block/vdi.c reads)."""

from __future__ import annotations

import struct

from image.formats.base import ImageInfo, InspectionError, Reader

VDI_SIGNATURE = struct.pack("<I", 0xBEDA107F)
_SIGNATURE_AT = 0x40
# signature, version, header size, image type
_PREHEADER = struct.Struct("<4sIII")
_VERSION_1_1 = 0x00010001
_DISK_SIZE = struct.Struct("<Q")
_DISK_SIZE_AT = 0x170
_NORMAL, _FIXED, _UNDO, _DIFF = 1, 2, 3, 4


def probe_vdi(reader: Reader) -> ImageInfo | None:
    """A normal (dynamic) or fixed VDI; None without the signature.

    Undo and differencing VDIs record changes against a parent image, so they are not self-contained.
    """
    if reader.read(_SIGNATURE_AT, len(VDI_SIGNATURE)) != VDI_SIGNATURE:
        return None
    _, version, _, image_type = _PREHEADER.unpack(reader.exact(_SIGNATURE_AT, _PREHEADER.size, "VDI header"))
    if version != _VERSION_1_1:
        raise InspectionError(f"VDI version {version >> 16}.{version & 0xFFFF} is not supported; only 1.1 is")
    if image_type in (_UNDO, _DIFF):
        raise InspectionError("VDI image is an undo or differencing image, which reads from a parent image")
    if image_type not in (_NORMAL, _FIXED):
        raise InspectionError(f"VDI header is malformed: unknown image type {image_type}")
    (disk_size,) = _DISK_SIZE.unpack(reader.exact(_DISK_SIZE_AT, _DISK_SIZE.size, "VDI header"))
    return ImageInfo("vdi", disk_size, reader.size)
