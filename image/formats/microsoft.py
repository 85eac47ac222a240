"""Microsoft's VHD ("Virtual Hard Disk Image Format Specification") and VHDX ([MS-VHDX]).

Both formats have *differencing* disks whose data lives partly in a parent file named inside the image; QEMU does
not open those today, but other tools do, and a cloud image must stand alone anyway, so they are refused.
"""

from __future__ import annotations

import struct
import uuid

from image.formats.base import ImageInfo, InspectionError, Reader

VHD_COOKIE = b"conectix"
VHDX_SIGNATURE = b"vhdxfile"
_SELF_CONTAINED = "images must be self-contained"

# --- VHD: a 512-byte big-endian footer at the end of every VHD, copied to offset 0 in dynamic ones.
_VHD_FOOTER_SIZE = 512
_VHD_CURRENT_SIZE = struct.Struct(">Q")
_VHD_CURRENT_SIZE_AT = 48
_VHD_DISK_TYPE = struct.Struct(">I")
_VHD_DISK_TYPE_AT = 60
_VHD_FIXED, _VHD_DYNAMIC, _VHD_DIFFERENCING = 2, 3, 4


def probe_vhd(reader: Reader) -> ImageInfo | None:
    """A fixed or dynamic VHD; None if neither the start nor the end of the file holds a VHD footer.

    Virtual size is the footer's current size. QEMU computes it from the CHS geometry for images made by Virtual
    PC and QEMU itself, but those tools write a current size that equals the geometry, so the two agree.
    """
    footer = reader.read(0, _VHD_FOOTER_SIZE)
    if not footer.startswith(VHD_COOKIE):
        footer = reader.read(reader.size - _VHD_FOOTER_SIZE, _VHD_FOOTER_SIZE)
        if not footer.startswith(VHD_COOKIE):
            return None
    if len(footer) < _VHD_FOOTER_SIZE:
        raise InspectionError("VHD footer is truncated")
    (disk_type,) = _VHD_DISK_TYPE.unpack_from(footer, _VHD_DISK_TYPE_AT)
    if disk_type == _VHD_DIFFERENCING:
        raise InspectionError(f"VHD image is a differencing disk, which reads from a parent file; {_SELF_CONTAINED}")
    if disk_type not in (_VHD_FIXED, _VHD_DYNAMIC):
        raise InspectionError(f"VHD footer is malformed: unknown disk type {disk_type}")
    (current_size,) = _VHD_CURRENT_SIZE.unpack_from(footer, _VHD_CURRENT_SIZE_AT)
    return ImageInfo("vhd", current_size, reader.size)


# --- VHDX: little-endian structures at fixed 64 KiB offsets, each protected by a CRC-32C.
_KIB = 1024
_VHDX_HEADERS = (64 * _KIB, 128 * _KIB)
_VHDX_HEADER_SIZE = 4 * _KIB
_VHDX_REGION_TABLES = (192 * _KIB, 256 * _KIB)
_VHDX_TABLE_SIZE = 64 * _KIB
_VHDX_MAX_ENTRIES = 2047
# signature, checksum, sequence number, file write GUID, data write GUID, log GUID
_HEADER = struct.Struct("<4sIQ16s16s16s")
# signature, checksum, entry count, reserved; then entries of GUID, file offset, length, required
_REGION_TABLE = struct.Struct("<4sIII")
_REGION_ENTRY = struct.Struct("<16sQII")
# signature, reserved, entry count, reserved; then entries of item GUID, offset, length, flags, reserved
_METADATA_TABLE = struct.Struct("<8sHH20s")
_METADATA_ENTRY = struct.Struct("<16sIIII")

_METADATA_REGION = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
_FILE_PARAMETERS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
_VIRTUAL_DISK_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8").bytes_le
_PARENT_LOCATOR = uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C").bytes_le
_HAS_PARENT = 1 << 1
_NO_GUID = bytes(16)


def probe_vhdx(reader: Reader) -> ImageInfo | None:
    """A VHDX with no parent and no pending log; None without the file type identifier."""
    if reader.read(0, len(VHDX_SIGNATURE)) != VHDX_SIGNATURE:
        return None
    _check_current_header(reader)
    tables = [table for offset in _VHDX_REGION_TABLES if (table := _region_table(reader, offset)) is not None]
    if not tables:
        raise InspectionError("VHDX image is malformed: neither region table is valid")
    # QEMU reads the first valid table, other tools may fall back to the second: check every copy a reader may use.
    sizes = [_metadata_virtual_size(reader, table) for table in tables]
    return ImageInfo("vhdx", sizes[0], reader.size)


def _check_current_header(reader: Reader) -> None:
    """Refuse a pending log: replaying it on open rewrites metadata, possibly into something we never checked."""
    current: tuple[int, bytes] | None = None
    for offset in _VHDX_HEADERS:
        block = reader.read(offset, _VHDX_HEADER_SIZE)
        if len(block) < _VHDX_HEADER_SIZE:
            continue
        signature, checksum, sequence, _, _, log_guid = _HEADER.unpack_from(block)
        if signature == b"head" and _checksum_ok(block, checksum) and (current is None or sequence > current[0]):
            current = (sequence, log_guid)
    if current is None:
        raise InspectionError("VHDX image is malformed: neither header is valid")
    if current[1] != _NO_GUID:
        raise InspectionError("VHDX image has a pending log; open it once in Hyper-V or QEMU to replay it first")


def _region_table(reader: Reader, offset: int) -> list[tuple[bytes, int, int]] | None:
    """The (GUID, file offset, length) entries of the region table at ``offset``, or None if it is invalid."""
    block = reader.read(offset, _VHDX_TABLE_SIZE)
    if len(block) < _VHDX_TABLE_SIZE:
        return None
    signature, checksum, count, _ = _REGION_TABLE.unpack_from(block)
    if signature != b"regi" or not _checksum_ok(block, checksum) or count > _VHDX_MAX_ENTRIES:
        return None
    entries = (_REGION_ENTRY.unpack_from(block, _REGION_TABLE.size + i * _REGION_ENTRY.size) for i in range(count))
    return [(guid, file_offset, length) for guid, file_offset, length, _ in entries]


def _metadata_virtual_size(reader: Reader, table: list[tuple[bytes, int, int]]) -> int:
    """Virtual disk size from the metadata region; refuses disks with a parent."""
    regions = [(offset, length) for guid, offset, length in table if guid == _METADATA_REGION]
    if len(regions) != 1:
        raise InspectionError("VHDX image is malformed: it has no metadata region")
    region_offset, region_length = regions[0]
    block = reader.exact(region_offset, min(_VHDX_TABLE_SIZE, region_length), "VHDX metadata table")
    if len(block) < _METADATA_TABLE.size:
        raise InspectionError("VHDX metadata table is truncated")
    signature, _, count, _ = _METADATA_TABLE.unpack_from(block)
    if signature != b"metadata" or count > _VHDX_MAX_ENTRIES:
        raise InspectionError("VHDX image is malformed: its metadata table is invalid")
    if _METADATA_TABLE.size + count * _METADATA_ENTRY.size > len(block):
        raise InspectionError("VHDX metadata table is truncated")
    items: dict[bytes, int] = {}
    for i in range(count):
        entry_at = _METADATA_TABLE.size + i * _METADATA_ENTRY.size
        item, item_offset, length, _, _ = _METADATA_ENTRY.unpack_from(block, entry_at)
        if item_offset + length > region_length or item in items:
            raise InspectionError("VHDX image is malformed: a metadata item is repeated or outside its region")
        items[item] = region_offset + item_offset
    if _PARENT_LOCATOR in items:
        raise InspectionError(f"VHDX image is a differencing disk, which reads from a parent file; {_SELF_CONTAINED}")
    if _FILE_PARAMETERS not in items or _VIRTUAL_DISK_SIZE not in items:
        raise InspectionError("VHDX image is malformed: its metadata lacks the file parameters or virtual size")
    (_, flags) = struct.unpack("<II", reader.exact(items[_FILE_PARAMETERS], 8, "VHDX file parameters"))
    if flags & _HAS_PARENT:
        raise InspectionError(f"VHDX image is a differencing disk, which reads from a parent file; {_SELF_CONTAINED}")
    (size,) = struct.unpack("<Q", reader.exact(items[_VIRTUAL_DISK_SIZE], 8, "VHDX virtual disk size"))
    return size


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def _checksum_ok(block: bytes, checksum: int) -> bool:
    """Whether a VHDX header or region table is intact: its CRC-32C, taken with its checksum field (bytes 4..8) zero."""
    return _crc32c(block[:4] + bytes(4) + block[8:]) == checksum


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli). zlib only has the other CRC-32 polynomial; 136 KiB a run is cheap for a table loop."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
