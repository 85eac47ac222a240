"""VHD, VHDX and VDI: no differencing disks, no pending logs, no corrupt headers."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from image.formats import microsoft
from image.inspector import InspectionError, detect, inspect
from tests.unit.image.conftest import Samples
from tests.unit.image.inspector import patch


def test_differencing_vhd_is_rejected(samples: Samples, tmp_path):
    path = samples.copy("vhd-dynamic", tmp_path)
    for footer in (0, path.stat().st_size - 512):
        patch(path, footer + 60, struct.pack(">I", 4))
    with pytest.raises(InspectionError, match="VHD image is a differencing disk"):
        inspect(path, "vhd")


def test_fixed_vhd_is_found_by_its_footer_at_the_end(samples: Samples):
    path = samples.path("vhd-fixed")
    assert not path.read_bytes().startswith(b"conectix")
    assert detect(path).format == "vhd"


def test_crc32c_matches_the_standard_check_value():
    assert microsoft._crc32c(b"123456789") == 0xE3069283


def _vhdx_metadata_items(path: Path) -> dict[bytes, int]:
    """File offsets of the metadata items, found with the layout qemu-img writes."""
    content = path.read_bytes()
    table = content[192 * 1024 :]
    count = struct.unpack_from("<I", table, 8)[0]
    for i in range(count):
        guid, offset, _, _ = struct.unpack_from("<16sQII", table, 16 + 32 * i)
        if guid == microsoft._METADATA_REGION:
            entries = struct.unpack_from("<H", content, offset + 10)[0]
            return {
                item: offset + item_offset
                for item, item_offset, _, _, _ in (
                    struct.unpack_from("<16sIIII", content, offset + 32 + 32 * j) for j in range(entries)
                )
            }
    raise AssertionError("no metadata region")


def test_vhdx_with_a_parent_is_rejected(samples: Samples, tmp_path):
    path = samples.copy("vhdx", tmp_path)
    file_parameters = _vhdx_metadata_items(path)[microsoft._FILE_PARAMETERS]
    patch(path, file_parameters + 4, struct.pack("<I", 1 << 1))  # HasParent
    with pytest.raises(InspectionError, match="VHDX image is a differencing disk"):
        inspect(path, "vhdx")


def test_vhdx_with_a_pending_log_is_rejected(samples: Samples, tmp_path):
    path = samples.copy("vhdx", tmp_path)
    for offset in (64 * 1024, 128 * 1024):
        header = bytearray(path.read_bytes()[offset : offset + 4096])
        header[48:64] = b"\x11" * 16  # log GUID
        header[4:8] = bytes(4)
        header[4:8] = struct.pack("<I", microsoft._crc32c(bytes(header)))
        patch(path, offset, bytes(header))
    with pytest.raises(InspectionError, match="pending log"):
        inspect(path, "vhdx")


def test_vhdx_with_corrupt_headers_is_rejected(samples: Samples, tmp_path):
    path = samples.copy("vhdx", tmp_path)
    for offset in (64 * 1024 + 100, 128 * 1024 + 100):
        patch(path, offset, b"\xff")
    with pytest.raises(InspectionError, match="neither header is valid"):
        inspect(path, "vhdx")


@pytest.mark.parametrize("image_type", [3, 4])
def test_undo_and_differencing_vdi_are_rejected(samples: Samples, tmp_path, image_type):
    path = samples.copy("vdi", tmp_path)
    patch(path, 0x4C, struct.pack("<I", image_type))
    with pytest.raises(InspectionError, match="reads from a parent image"):
        inspect(path, "vdi")
