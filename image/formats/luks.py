"""LUKS encrypted volumes (the LUKS1 and LUKS2 on-disk format specifications from cryptsetup).

A LUKS upload is never a valid disk_format here, but it must be recognised so it is not accepted as raw: a guest
would otherwise see ciphertext, and a host tool probing it would ask for a key.
"""

from __future__ import annotations

import json
import struct

from image.formats.base import ImageInfo, InspectionError, Reader

LUKS_MAGIC = b"LUKS\xba\xbe"
_VERSION = struct.Struct(">H")
_SECTOR = 512
_LUKS1_PAYLOAD_OFFSET = struct.Struct(">I")
_LUKS1_PAYLOAD_OFFSET_AT = 104
_LUKS2_BINARY_HEADER = 4096
_LUKS2_HEADER_SIZE = struct.Struct(">Q")
# The JSON area is 12 KiB by default and 4 MiB at most; reading more than this buys nothing but risk.
_LUKS2_MAX_JSON = 256 * 1024


def probe_luks(reader: Reader) -> ImageInfo | None:
    """A LUKS volume; its virtual size is the encrypted payload, what a guest would see once unlocked."""
    head = reader.read(0, len(LUKS_MAGIC) + _VERSION.size)
    if not head.startswith(LUKS_MAGIC):
        return None
    if len(head) < len(LUKS_MAGIC) + _VERSION.size:
        raise InspectionError("LUKS header is truncated")
    (version,) = _VERSION.unpack_from(head, len(LUKS_MAGIC))
    if version == 1:
        raw = reader.exact(_LUKS1_PAYLOAD_OFFSET_AT, _LUKS1_PAYLOAD_OFFSET.size, "LUKS header")
        payload_offset = _LUKS1_PAYLOAD_OFFSET.unpack(raw)[0] * _SECTOR
        return ImageInfo("luks", max(reader.size - payload_offset, 0), reader.size)
    if version == 2:
        return ImageInfo("luks", _luks2_payload_size(reader), reader.size)
    raise InspectionError(f"LUKS version {version} is not supported")


def _luks2_payload_size(reader: Reader) -> int:
    (header_size,) = _LUKS2_HEADER_SIZE.unpack(reader.exact(8, _LUKS2_HEADER_SIZE.size, "LUKS2 header"))
    json_size = min(max(header_size - _LUKS2_BINARY_HEADER, 0), _LUKS2_MAX_JSON)
    text = reader.read(_LUKS2_BINARY_HEADER, json_size).split(b"\0", 1)[0]
    try:
        segment = json.loads(text)["segments"]["0"]
        offset = int(segment["offset"])
        size = segment["size"]
        return max(reader.size - offset, 0) if size == "dynamic" else int(size)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InspectionError("LUKS2 header is malformed") from exc
