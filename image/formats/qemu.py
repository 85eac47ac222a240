"""QEMU's own formats: qcow2 (docs/interop/qcow2.txt in QEMU) and its predecessor QED.

qcow2 is the format that most needs checking, because its header can name other host files that QEMU opens
alongside the image: a backing file (read through for every unallocated cluster) and, since version 3, an external
data file holding all guest data (CVE-2024-32498). Either would let a tenant read host files through their disk.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from image.formats.base import ImageInfo, InspectionError, Reader, shown

QCOW2_MAGIC = b"QFI\xfb"
QED_MAGIC = b"QED\x00"


class _Qcow2Header(NamedTuple):
    """The version 2 header, which version 3 extends."""

    magic: bytes
    version: int
    backing_file_offset: int
    backing_file_size: int
    cluster_bits: int
    size: int
    crypt_method: int
    l1_size: int
    l1_table_offset: int
    refcount_table_offset: int
    refcount_table_clusters: int
    nb_snapshots: int
    snapshots_offset: int


_V2_HEADER = struct.Struct(">4sIQIIQIIQQIIQ")
# incompatible_features, compatible_features, autoclear_features, refcount_order, header_length
_V3_HEADER = struct.Struct(">QQQII")
_V3_MIN_HEADER_LENGTH = _V2_HEADER.size + _V3_HEADER.size

_DIRTY = 1 << 0
_CORRUPT = 1 << 1
_EXTERNAL_DATA_FILE = 1 << 2
_COMPRESSION_TYPE = 1 << 3
_EXTENDED_L2 = 1 << 4
_KNOWN_INCOMPATIBLE = _DIRTY | _CORRUPT | _EXTERNAL_DATA_FILE | _COMPRESSION_TYPE | _EXTENDED_L2

_EXT_END = 0x00000000
_EXT_DATA_FILE_NAME = 0x44415441
_EXT_HEADER = struct.Struct(">II")

# QEMU refuses backing file names longer than this, so reading more cannot help the message.
_MAX_BACKING_NAME = 1023
_MAX_VIRTUAL_SIZE = 2**63 - 1
_SELF_CONTAINED = "images must be self-contained"


def probe_qcow2(reader: Reader) -> ImageInfo | None:
    """qcow2 v2/v3 with no backing file and no external data file; None if the magic is absent."""
    if reader.read(0, 4) != QCOW2_MAGIC:
        return None
    header = _Qcow2Header._make(_V2_HEADER.unpack(reader.exact(0, _V2_HEADER.size, "qcow2 header")))
    if header.version not in (2, 3):
        raise InspectionError(f"qcow2 version {header.version} is not supported; only versions 2 and 3 are accepted")
    incompatible, header_length = 0, _V2_HEADER.size
    if header.version == 3:
        v3 = reader.exact(_V2_HEADER.size, _V3_HEADER.size, "qcow2 header")
        incompatible, _, _, _, header_length = _V3_HEADER.unpack(v3)
    cluster_size = _check_geometry(header, header_length)

    if header.backing_file_offset:
        name = reader.read(header.backing_file_offset, min(header.backing_file_size, _MAX_BACKING_NAME))
        raise InspectionError(f"qcow2 image has a backing file ({shown(name)}); {_SELF_CONTAINED}")
    data_file_name = _find_data_file_name(reader, header_length, cluster_size)
    if incompatible & _EXTERNAL_DATA_FILE or data_file_name is not None:
        named = f" ({shown(data_file_name)})" if data_file_name else ""
        raise InspectionError(f"qcow2 image uses an external data file{named}; {_SELF_CONTAINED}")
    if incompatible & ~_KNOWN_INCOMPATIBLE:
        raise InspectionError(
            f"qcow2 image needs unknown incompatible features (bits {incompatible & ~_KNOWN_INCOMPATIBLE:#x}), "
            "so it cannot be checked to be safe"
        )
    if incompatible & _CORRUPT:
        raise InspectionError("qcow2 image is marked corrupt by QEMU; repair it with 'qemu-img check -r all'")
    # The refcount table always exists and the L1 table does for any non-empty disk; a file ending before them
    # was cut short in transit.
    if header.refcount_table_offset >= reader.size or (header.l1_size and header.l1_table_offset >= reader.size):
        raise InspectionError("qcow2 image is truncated: its metadata tables lie beyond the end of the file")
    return ImageInfo("qcow2", header.size, reader.size)


def _check_geometry(header: _Qcow2Header, header_length: int) -> int:
    """The cluster size, once the fields that bound every other read are known to be sane."""
    if not 9 <= header.cluster_bits <= 21:
        raise InspectionError(f"qcow2 header is malformed: cluster_bits {header.cluster_bits} is outside 9..21")
    cluster_size = 1 << header.cluster_bits
    if header.version == 3 and not _V3_MIN_HEADER_LENGTH <= header_length <= cluster_size:
        raise InspectionError(f"qcow2 header is malformed: header length {header_length} is out of range")
    if header.size > _MAX_VIRTUAL_SIZE:
        raise InspectionError(f"qcow2 header is malformed: virtual size {header.size} is too large")
    if header.crypt_method not in (0, 1, 2):
        raise InspectionError(f"qcow2 header is malformed: unknown encryption method {header.crypt_method}")
    return cluster_size


def _find_data_file_name(reader: Reader, start: int, cluster_size: int) -> bytes | None:
    """The payload of the data-file-name header extension, if any.

    Header extensions run from the end of the fixed header to the end of the first cluster; QEMU reads past the
    end of a short file as zeroes, which reads as the end marker, and so do we.
    """
    area = reader.read(start, cluster_size - start)
    offset = 0
    while offset + _EXT_HEADER.size <= len(area):
        kind, length = _EXT_HEADER.unpack_from(area, offset)
        if kind == _EXT_END:
            return None
        offset += _EXT_HEADER.size
        if length > cluster_size - start - offset:
            raise InspectionError("qcow2 header is malformed: a header extension runs past the first cluster")
        if kind == _EXT_DATA_FILE_NAME:
            return area[offset : offset + length]
        offset += (length + 7) & ~7
    return None


# magic, cluster_size, table_size, header_size, features, compat_features, autoclear_features, l1_table_offset,
# image_size, backing_filename_offset, backing_filename_size
_QED_HEADER = struct.Struct("<4sIIIQQQQQII")
_QED_BACKING_FILE = 1 << 0


def probe_qed(reader: Reader) -> ImageInfo | None:
    """QED, recognised so it is never taken for raw; it can name a backing file just as qcow2 can."""
    if reader.read(0, 4) != QED_MAGIC:
        return None
    fields = _QED_HEADER.unpack(reader.exact(0, _QED_HEADER.size, "QED header"))
    features, image_size, backing_offset, backing_size = fields[4], fields[8], fields[9], fields[10]
    if features & _QED_BACKING_FILE:
        name = reader.read(backing_offset, min(backing_size, _MAX_BACKING_NAME))
        raise InspectionError(f"QED image has a backing file ({shown(name)}); {_SELF_CONTAINED}")
    return ImageInfo("qed", image_size, reader.size)
