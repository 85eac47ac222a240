"""ISO 9660 CD/DVD images (ECMA-119).

The first 32 KiB of an ISO is a system area the standard leaves free, which is where hybrid ISOs put an MBR or GPT
so the same file boots from a USB stick; that does not change what the image is.
"""

from __future__ import annotations

import struct

from image.formats.base import ImageInfo, InspectionError, Reader

_SECTOR = 2048
_FIRST_DESCRIPTOR = 16 * _SECTOR
_IDENTIFIER = b"CD001"
# Descriptors a real disc has before its terminator: primary, boot record, supplementary (Joliet), partitions.
_MAX_DESCRIPTORS = 32
_PRIMARY, _TERMINATOR = 1, 255
_VOLUME_SPACE_SIZE = struct.Struct("<I")
_VOLUME_SPACE_SIZE_AT = 80
_LOGICAL_BLOCK_SIZE = struct.Struct("<H")
_LOGICAL_BLOCK_SIZE_AT = 128


def probe_iso(reader: Reader) -> ImageInfo | None:
    """An ISO 9660 filesystem; virtual size is its volume space size times its logical block size."""
    if reader.read(_FIRST_DESCRIPTOR + 1, len(_IDENTIFIER)) != _IDENTIFIER:
        return None
    for index in range(_MAX_DESCRIPTORS):
        descriptor = reader.read(_FIRST_DESCRIPTOR + index * _SECTOR, _SECTOR)
        if len(descriptor) < _SECTOR or descriptor[1:6] != _IDENTIFIER or descriptor[0] == _TERMINATOR:
            break
        if descriptor[0] == _PRIMARY:
            (blocks,) = _VOLUME_SPACE_SIZE.unpack_from(descriptor, _VOLUME_SPACE_SIZE_AT)
            (block_size,) = _LOGICAL_BLOCK_SIZE.unpack_from(descriptor, _LOGICAL_BLOCK_SIZE_AT)
            if block_size not in (512, 1024, 2048):
                raise InspectionError(f"ISO 9660 image is malformed: logical block size {block_size}")
            return ImageInfo("iso", blocks * block_size, reader.size)
    raise InspectionError("ISO 9660 image is malformed: it has no primary volume descriptor")
