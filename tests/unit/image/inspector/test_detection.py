"""Every format is recognised, with the virtual size QEMU would give it; a safe image of the claimed
format is accepted."""

from __future__ import annotations

import json
import struct

import pytest

from image.inspector import ImageInfo, InspectionError, detect, inspect
from tests.unit.image.conftest import RECIPES, Samples, qemu_virtual_size
from tests.unit.image.inspector import DETECTED, MIB, iso_image, patch


@pytest.mark.parametrize(("sample", "fmt", "virtual_size"), DETECTED)
def test_detect_reports_format_and_virtual_size_as_qemu_does(samples: Samples, sample, fmt, virtual_size):
    path = samples.path(sample)
    info = detect(path)
    assert info == ImageInfo(fmt, virtual_size, path.stat().st_size)
    assert info.virtual_size == qemu_virtual_size(path, RECIPES[sample][0])


@pytest.mark.parametrize(
    ("sample", "claim"),
    [
        ("qcow2-v3", "qcow2"),
        ("qcow2-v2", "qcow2"),
        ("vmdk-monolithic-sparse", "vmdk"),
        ("vmdk-stream-optimized", "vmdk"),
        ("vhd-dynamic", "vhd"),
        ("vhd-fixed", "vhd"),
        ("vhdx", "vhdx"),
        ("vdi", "vdi"),
        ("raw", "raw"),
        ("raw", "ami"),
        ("raw", "ari"),
        ("raw", "aki"),
    ],
)
def test_inspect_accepts_a_safe_image_of_the_claimed_format(samples: Samples, sample, claim):
    path = samples.path(sample)
    assert inspect(path, claim) == detect(path)


def test_iso_virtual_size_is_volume_space_size_times_logical_block_size(tmp_path):
    path = iso_image(tmp_path)
    with path.open("rb") as file:
        file.seek(16 * 2048)
        descriptor = file.read(2048)
    blocks, block_size = struct.unpack_from("<I", descriptor, 80)[0], struct.unpack_from("<H", descriptor, 128)[0]
    info = inspect(path, "iso")
    assert info == ImageInfo("iso", blocks * block_size, path.stat().st_size)
    assert info.virtual_size == path.stat().st_size  # genisoimage writes exactly the volume


def test_hybrid_iso_with_a_boot_mbr_is_still_an_iso(tmp_path):
    path = iso_image(tmp_path)
    patch(path, 0x1BE, bytes([0x80, 0, 1, 0, 0x17, 0, 0, 0]))  # a bootable partition entry
    patch(path, 510, b"\x55\xaa")
    assert inspect(path, "iso").format == "iso"


def test_raw_claim_of_an_iso_is_accepted_and_sized_as_the_file(tmp_path):
    path = iso_image(tmp_path)
    path.write_bytes(path.read_bytes() + bytes(4096))  # slack after the volume: a raw disk sees it too
    assert detect(path).format == "iso"
    assert inspect(path, "raw") == ImageInfo("raw", path.stat().st_size, path.stat().st_size)


def test_iso_claim_of_a_file_without_an_iso_filesystem_is_rejected(samples: Samples):
    with pytest.raises(InspectionError, match="claims disk_format 'iso' but is raw"):
        inspect(samples.path("raw"), "iso")


def test_stream_optimized_vmdk_with_footer_takes_capacity_from_the_footer(samples: Samples, tmp_path):
    path = samples.copy("vmdk-stream-optimized", tmp_path)
    header = bytearray(path.read_bytes()[:512])
    struct.pack_into("<Q", header, 12, 1048576)  # the footer's capacity: 512 MiB
    footer = struct.pack("<QII", 0, 0, 3).ljust(512, b"\0") + bytes(header) + bytes(512)
    patch(path, 56, struct.pack("<Q", 2**64 - 1))  # grain directory "at end": QEMU reads the footer instead
    patch(path, path.stat().st_size, footer)
    assert detect(path).virtual_size == 512 * MIB == qemu_virtual_size(path, "vmdk")


def test_stream_optimized_vmdk_with_malformed_footer_is_rejected(samples: Samples, tmp_path):
    path = samples.copy("vmdk-stream-optimized", tmp_path)
    patch(path, 56, struct.pack("<Q", 2**64 - 1))
    with pytest.raises(InspectionError, match="VMDK footer is malformed"):
        inspect(path, "vmdk")


def test_luks2_header_is_recognised_and_sized_by_its_data_segment(tmp_path):
    metadata = {"segments": {"0": {"type": "crypt", "offset": "16384", "size": "dynamic"}}}
    header = b"LUKS\xba\xbe" + struct.pack(">HQ", 2, 16384)
    path = tmp_path / "luks2.img"
    path.write_bytes(header.ljust(4096, b"\0") + json.dumps(metadata).encode().ljust(12288, b"\0") + bytes(MIB))
    assert detect(path) == ImageInfo("luks", MIB, 16384 + MIB)
    with pytest.raises(InspectionError, match="claims disk_format 'raw' but is luks"):
        inspect(path, "raw")


def test_luks2_header_with_hostile_json_is_rejected_cleanly(tmp_path):
    path = tmp_path / "luks2.img"
    path.write_bytes((b"LUKS\xba\xbe" + struct.pack(">HQ", 2, 300 * 1024)).ljust(4096, b"\0") + b"[" * 256 * 1024)
    with pytest.raises(InspectionError, match="LUKS2 header is malformed"):
        detect(path)
