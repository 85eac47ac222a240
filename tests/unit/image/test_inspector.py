from __future__ import annotations

import ast
import contextlib
import io
import json
import random
import struct
import subprocess
from pathlib import Path

import pytest

import image.formats
from common.exceptions import StratusError
from image import inspector
from image.formats import microsoft
from image.formats.base import READ_BUDGET, Reader
from image.inspector import SUPPORTED_DISK_FORMATS, ImageInfo, InspectionError, detect, inspect
from tests.hostile_images import hostile_texts

from .conftest import RECIPES, Samples, qemu_img, qemu_virtual_size

GIB = 1024**3
MIB = 1024**2


class CountingOpener:
    """Opens files for the inspector and records which files it opened and how many bytes it read."""

    def __init__(self) -> None:
        self.opened: list[Path] = []
        self.bytes_read = 0

    def __call__(self, path: Path) -> _CountingFile:
        self.opened.append(path)
        return _CountingFile(path.open("rb", buffering=0), self)


class _CountingFile:
    def __init__(self, file: io.RawIOBase, opener: CountingOpener) -> None:
        self._file, self._opener = file, opener

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._opener.bytes_read += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def patch(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(data)


def replace_text(path: Path, old: bytes, new: bytes) -> None:
    """Rewrite ``old`` as ``new`` in place, padded with spaces so no byte after it moves."""
    content = path.read_bytes()
    assert content.count(old) == 1 and len(new) <= len(old)
    patch(path, content.index(old), new.ljust(len(old)))


def iso_image(directory: Path) -> Path:
    (directory / "content").mkdir()
    (directory / "content" / "hello.txt").write_text("hello\n")
    path = directory / "cd.iso"
    subprocess.run(["genisoimage", "-quiet", "-o", str(path), str(directory / "content")], check=True)
    return path


# --- every format is recognised, with the virtual size QEMU would give it -----------------------------------------

DETECTED = [
    ("qcow2-v3", "qcow2", GIB),
    ("qcow2-v2", "qcow2", GIB),
    ("vmdk-monolithic-sparse", "vmdk", GIB),
    ("vmdk-stream-optimized", "vmdk", GIB),
    ("vhd-dynamic", "vhd", 1073995776),  # qemu-img rounds 1 GiB up to a whole CHS geometry
    ("vhd-fixed", "vhd", 10514432),
    ("vhdx", "vhdx", GIB),
    ("vdi", "vdi", GIB),
    ("qed", "qed", GIB),
    ("raw", "raw", 64 * MIB),
]


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


# --- qcow2: backing files, external data files and headers we cannot vouch for ------------------------------------


def test_qcow2_with_a_backing_file_is_rejected_naming_it(tmp_path):
    path = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", path)
    with pytest.raises(InspectionError) as caught:
        inspect(path, "qcow2")
    assert caught.value.message == ("qcow2 image has a backing file ('/etc/passwd'); images must be self-contained")


def test_qcow2_backing_file_is_never_opened_only_the_upload_is(tmp_path):
    path = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-u", "-b", str(tmp_path / "host-secret"), "-F", "raw", path, "1M")
    (tmp_path / "host-secret").write_bytes(b"secret")
    opener = CountingOpener()
    with pytest.raises(InspectionError, match="backing file"):
        inspect(path, "raw", opener=opener)
    assert opener.opened == [path]


def test_long_backing_file_name_is_shortened_in_the_message(tmp_path):
    path = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-u", "-b", "/" + "a" * 500, "-F", "raw", path, "1M")
    with pytest.raises(InspectionError) as caught:
        inspect(path, "qcow2")
    assert f"('/{'a' * 127}...')" in caught.value.message and len(caught.value.message) < 300


def test_qcow2_with_an_external_data_file_is_rejected_naming_it(tmp_path):
    data = tmp_path / "data.raw"
    data.touch()
    path = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o", f"data_file={data},data_file_raw=on", path, "1G")
    with pytest.raises(InspectionError) as caught:
        inspect(path, "qcow2")
    assert caught.value.message == (f"qcow2 image uses an external data file ('{data}'); images must be self-contained")


def test_qcow2_data_file_name_extension_is_rejected_even_without_the_feature_bit(tmp_path):
    data = tmp_path / "data.raw"
    data.touch()
    path = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o", f"data_file={data}", path, "1G")
    patch(path, 72, struct.pack(">Q", 0))  # clear the incompatible features, the extension stays
    with pytest.raises(InspectionError, match="external data file"):
        inspect(path, "qcow2")


@pytest.mark.parametrize("bit", [5, 31, 63])
def test_qcow2_with_an_unknown_incompatible_feature_is_rejected(samples: Samples, tmp_path, bit):
    path = samples.copy("qcow2-v3", tmp_path)
    patch(path, 72, struct.pack(">Q", 1 << bit))
    with pytest.raises(InspectionError, match="unknown incompatible features"):
        inspect(path, "qcow2")


@pytest.mark.parametrize("bit", [0, 3, 4])  # dirty, compression type, extended L2: QEMU handles them itself
def test_qcow2_with_a_harmless_known_incompatible_feature_is_accepted(samples: Samples, tmp_path, bit):
    path = samples.copy("qcow2-v3", tmp_path)
    patch(path, 72, struct.pack(">Q", 1 << bit))
    assert inspect(path, "qcow2").virtual_size == GIB


def test_qcow2_marked_corrupt_is_rejected(samples: Samples, tmp_path):
    path = samples.copy("qcow2-v3", tmp_path)
    patch(path, 72, struct.pack(">Q", 1 << 1))
    with pytest.raises(InspectionError, match="marked corrupt"):
        inspect(path, "qcow2")


@pytest.mark.parametrize("version", [0, 1, 4, 2**32 - 1])
def test_qcow2_version_other_than_2_or_3_is_rejected(samples: Samples, tmp_path, version):
    path = samples.copy("qcow2-v3", tmp_path)
    patch(path, 4, struct.pack(">I", version))
    with pytest.raises(InspectionError, match=f"qcow2 version {version} is not supported"):
        inspect(path, "qcow2")


@pytest.mark.parametrize("cluster_bits", [0, 8, 22, 64])
def test_qcow2_cluster_bits_outside_9_to_21_are_rejected(samples: Samples, tmp_path, cluster_bits):
    path = samples.copy("qcow2-v3", tmp_path)
    patch(path, 20, struct.pack(">I", cluster_bits))
    with pytest.raises(InspectionError, match="cluster_bits"):
        inspect(path, "qcow2")


def test_qcow2_with_an_absurd_virtual_size_is_rejected(samples: Samples, tmp_path):
    path = samples.copy("qcow2-v2", tmp_path)
    patch(path, 24, struct.pack(">Q", 2**63))
    with pytest.raises(InspectionError, match=r"virtual size \d+ is too large"):
        inspect(path, "qcow2")


@pytest.mark.parametrize("header_length", [0, 100, 2**20])
def test_qcow2_v3_header_length_out_of_range_is_rejected(samples: Samples, tmp_path, header_length):
    path = samples.copy("qcow2-v3", tmp_path)
    patch(path, 100, struct.pack(">I", header_length))
    with pytest.raises(InspectionError, match="header length"):
        inspect(path, "qcow2")


def test_qcow2_header_extension_running_past_the_first_cluster_is_rejected(samples: Samples, tmp_path):
    path = samples.copy("qcow2-v3", tmp_path)
    header_length = struct.unpack(">I", path.read_bytes()[100:104])[0]
    patch(path, header_length, struct.pack(">II", 0x12345678, 2**31))
    with pytest.raises(InspectionError, match="header extension runs past"):
        inspect(path, "qcow2")


@pytest.mark.parametrize(("sample", "message"), [("qcow2-v3", "header is truncated"), ("qcow2-v2", "is truncated")])
def test_truncated_qcow2_is_rejected(samples: Samples, tmp_path, sample, message):
    path = tmp_path / "cut.qcow2"
    path.write_bytes(samples.path(sample).read_bytes()[:100])
    with pytest.raises(InspectionError, match=message):
        inspect(path, "qcow2")


def test_qed_with_a_backing_file_is_rejected_naming_it(tmp_path):
    path = tmp_path / "evil.qed"
    qemu_img("create", "-q", "-f", "qed", "-u", "-b", "/etc/passwd", "-F", "raw", path, "1M")
    with pytest.raises(InspectionError, match=r"QED image has a backing file \('/etc/passwd'\)"):
        inspect(path, "raw")


# --- VMDK: only self-contained sparse images ----------------------------------------------------------------------


def test_monolithic_flat_vmdk_descriptor_is_rejected(samples: Samples):
    descriptor = samples.path("vmdk-monolithic-flat")
    assert descriptor.read_bytes().startswith(b"# Disk DescriptorFile")
    with pytest.raises(InspectionError, match="text descriptor, which can only refer to other files"):
        inspect(descriptor, "vmdk")


def test_vmdk_descriptor_claimed_as_raw_is_rejected(samples: Samples):
    with pytest.raises(InspectionError, match="text descriptor"):
        inspect(samples.path("vmdk-monolithic-flat"), "raw")


def test_text_that_qemu_would_probe_as_a_vmdk_descriptor_is_rejected(tmp_path):
    path = tmp_path / "sneaky.img"
    path.write_bytes(b'# harmless\n   \r\nversion=1\ncreateType="monolithicFlat"\nRW 8 FLAT "/etc/shadow" 0\n')
    with pytest.raises(InspectionError, match="text descriptor"):
        inspect(path, "raw")


@pytest.mark.parametrize("label", list(hostile_texts(Path("/etc/os-release"))))
@pytest.mark.parametrize("claim", ["raw", "vmdk", "ami", "iso"])
def test_vmdk_descriptor_text_is_refused_whatever_its_spelling_and_claim(tmp_path, label, claim):
    # Issue 11: text stored as raw is one record change from being opened as a VMDK descriptor naming host files.
    path = tmp_path / "text.img"
    path.write_bytes(hostile_texts(Path("/etc/os-release"))[label])
    with pytest.raises(InspectionError, match="text descriptor"):
        inspect(path, claim)


def test_descriptor_words_after_the_first_nul_byte_leave_a_raw_disk_raw(tmp_path):
    # QEMU reads a descriptor as a C string: what follows a NUL byte is never parsed, as on any real disk.
    path = tmp_path / "disk.img"
    path.write_bytes(b"\xeb\x63\x90\0" + b'createType="monolithicFlat"\nRW 8 FLAT "/etc/os-release" 0\n' + bytes(MIB))
    assert inspect(path, "raw") == ImageInfo("raw", path.stat().st_size, path.stat().st_size)


def test_a_text_without_nul_bytes_is_read_no_further_than_qemu_reads_a_descriptor(tmp_path):
    path = tmp_path / "long.txt"
    path.write_bytes(b"a" * (2 * MIB) + b'createType="monolithicFlat"\n')
    opener = CountingOpener()
    assert inspect(path, "raw", opener=opener).format == "raw"
    assert opener.bytes_read < 1 * MIB + 64 * 1024


def test_ordinary_text_is_raw(tmp_path):
    path = tmp_path / "notes.img"
    path.write_bytes(b"# notes\nversion=1 is not alone on this line\n" * 10)
    assert inspect(path, "raw").format == "raw"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b'SPARSE "sample-', b'SPARSE "/etc/shadow"', r"refers to another file \('/etc/shadow'\)"),
        (b'SPARSE "sample-', b'SPARSE "../other.img"', "refers to another file"),
        (b'SPARSE "sample-', b'FLAT "/etc/shadow" 0', r"FLAT extent \('/etc/shadow'\)"),
        (b'SPARSE "sample-', b'VMFS "/dev/sda"', "VMFS extent"),
        (b'createType="monolithicSparse"', b'createType="monolithicFlat"', "createType 'monolithicFlat'"),
        (b'createType="monolithicSparse"', b'createType="vmfs"', "createType 'vmfs'"),
        (b'createType="monolithicSparse"', b"", "exactly one createType"),
        (b'ddb.adapterType = "ide"', b'RW 8 SPARSE "x.vmdk"', "lists 2 extents"),
        (b'ddb.adapterType = "ide"', b'parentFileNameHint="/a"', r"parent file \('/a'\)"),
    ],
)
def test_sparse_vmdk_whose_descriptor_reaches_for_other_files_is_rejected(
    samples: Samples, tmp_path, old, new, message
):
    path = samples.copy("vmdk-monolithic-sparse", tmp_path)
    content = path.read_bytes()
    start = content.index(old)
    old = content[start : content.index(b"\n", start)]  # the whole line, so the replacement fits in it
    replace_text(path, old, new)
    with pytest.raises(InspectionError, match=message):
        inspect(path, "vmdk")


def test_sparse_vmdk_with_an_empty_parent_hint_is_accepted(samples: Samples, tmp_path):
    path = samples.copy("vmdk-monolithic-sparse", tmp_path)
    replace_text(path, b'ddb.adapterType = "ide"', b'parentFileNameHint=""')
    assert inspect(path, "vmdk").virtual_size == GIB


def test_sparse_vmdk_with_zero_capacity_is_rejected(samples: Samples, tmp_path):
    # With no capacity QEMU reads the embedded descriptor as a descriptor file and opens its extents: CVE-2022-47951.
    path = samples.copy("vmdk-monolithic-sparse", tmp_path)
    patch(path, 12, struct.pack("<Q", 0))
    with pytest.raises(InspectionError, match="no capacity"):
        inspect(path, "vmdk")


def test_sparse_vmdk_without_an_embedded_descriptor_is_rejected(samples: Samples, tmp_path):
    path = samples.copy("vmdk-monolithic-sparse", tmp_path)
    patch(path, 28, struct.pack("<Q", 0))
    with pytest.raises(InspectionError, match="no embedded descriptor"):
        inspect(path, "vmdk")


def test_sparse_vmdk_with_an_oversized_unterminated_descriptor_is_rejected(samples: Samples, tmp_path):
    path = samples.copy("vmdk-monolithic-sparse", tmp_path)
    patch(path, 36, struct.pack("<Q", 1024))  # 512 KiB of descriptor
    patch(path, 512, b"#" * 65536)
    with pytest.raises(InspectionError, match="descriptor is too large"):
        inspect(path, "vmdk")


def test_esx_cowd_vmdk_is_rejected(tmp_path):
    path = tmp_path / "esx.vmdk"
    path.write_bytes(b"COWD" + bytes(2044))
    with pytest.raises(InspectionError, match="COWD"):
        inspect(path, "vmdk")


# --- VHD, VHDX and VDI: no differencing disks -------------------------------------------------------------------------


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


# --- claims must match content -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "detected"),
    [
        ("qcow2-v3", "qcow2"),
        ("vmdk-monolithic-sparse", "vmdk"),
        ("vhd-dynamic", "vhd"),
        ("vhd-fixed", "vhd"),
        ("vhdx", "vhdx"),
        ("vdi", "vdi"),
        ("qed", "qed"),
    ],
)
@pytest.mark.parametrize("claim", ["raw", "ami", "aki"])
def test_raw_claim_of_a_container_format_is_rejected(samples: Samples, sample, detected, claim):
    with pytest.raises(InspectionError, match=f"claims disk_format '{claim}' but is {detected}"):
        inspect(samples.path(sample), claim)


@pytest.mark.parametrize(
    ("sample", "claim", "message"),
    [
        ("qcow2-v3", "vmdk", "claims disk_format 'vmdk' but is qcow2; upload it with disk_format 'qcow2'"),
        ("vmdk-stream-optimized", "qcow2", "claims disk_format 'qcow2' but is vmdk"),
        ("vhd-dynamic", "vhdx", "claims disk_format 'vhdx' but is vhd"),
        ("vhdx", "vhd", "claims disk_format 'vhd' but is vhdx"),
        ("raw", "qcow2", "claims disk_format 'qcow2' but is raw"),
        ("qed", "qcow2", "claims disk_format 'qcow2' but is qed"),
        ("vdi", "iso", "claims disk_format 'iso' but is vdi"),
    ],
)
def test_mismatched_claim_is_rejected_naming_both_formats(samples: Samples, sample, claim, message):
    with pytest.raises(InspectionError) as caught:
        inspect(samples.path(sample), claim)
    assert message in caught.value.message


@pytest.mark.parametrize("claim", ["qed", "luks", "QCOW2", "ova", ""])
def test_claim_outside_the_supported_disk_formats_is_rejected(samples: Samples, claim):
    with pytest.raises(InspectionError, match="is not supported; use one of raw, qcow2"):
        inspect(samples.path("qcow2-v3"), claim)


def test_supported_disk_formats_are_glances():
    assert SUPPORTED_DISK_FORMATS == ("raw", "qcow2", "vmdk", "iso", "vhd", "vhdx", "vdi", "ami", "ari", "aki")


def test_inspection_error_is_a_bad_request():
    error = InspectionError("qcow2 image has a backing file")
    assert isinstance(error, StratusError)
    assert (error.code, error.title, error.message) == (400, "Bad Request", "qcow2 image has a backing file")


# --- hostile bytes never escape as anything but an InspectionError --------------------------------------------------


@pytest.mark.parametrize("claim", ["qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "raw"])
def test_random_garbage_is_rejected_cleanly_or_taken_as_raw(tmp_path, claim):
    path = tmp_path / "garbage.img"
    path.write_bytes(random.Random(claim).randbytes(300 * 1024))
    if claim == "raw":
        assert inspect(path, "raw").format == "raw"
    else:
        with pytest.raises(InspectionError, match=f"claims disk_format '{claim}' but is raw"):
            inspect(path, claim)


@pytest.mark.parametrize(
    ("magic", "offset"),
    [
        (b"QFI\xfb", 0),
        (b"QED\0", 0),
        (b"KDMV", 0),
        (b"vhdxfile", 0),
        (b"conectix", 0),
        (b"LUKS\xba\xbe", 0),
        (b"\x7f\x10\xda\xbe", 0x40),
        (b"CD001", 0x8001),
    ],
)
@pytest.mark.parametrize("length", [4, 9, 100, 600, 3000, 0x8006, 0x9000])
def test_magic_followed_by_garbage_or_nothing_never_crashes(tmp_path, magic, offset, length):
    path = tmp_path / "hostile.img"
    content = bytearray(random.Random(length).randbytes(max(length, offset + len(magic))))
    content[offset : offset + len(magic)] = magic
    path.write_bytes(bytes(content))
    with contextlib.suppress(InspectionError):
        detect(path)


# sample -> (claim, first byte and length of the header area to damage, rounds)
FUZZED = {
    "qcow2-v3": ("qcow2", 0, 512, 25),
    "vmdk-monolithic-sparse": ("vmdk", 0, 1536, 25),
    "vhd-dynamic": ("vhd", 0, 2048, 25),
    "vdi": ("vdi", 0, 512, 25),
    "qed": ("qed", 0, 128, 25),
    # The region table (the headers are checksummed and fail fast); a VHDX costs 20 ms of CRC-32C a try.
    "vhdx": ("vhdx", 192 * 1024, 64, 10),
}


@pytest.mark.parametrize("sample", FUZZED)
def test_corrupted_headers_are_accepted_or_rejected_but_never_crash(samples: Samples, tmp_path, sample):
    claim, start, length, rounds = FUZZED[sample]
    path = samples.copy(sample, tmp_path)
    original = path.read_bytes()[start : start + length]
    rng = random.Random(sample)
    for _ in range(rounds):
        damaged = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(length)] = rng.randrange(256)
        patch(path, start, bytes(damaged))
        with contextlib.suppress(InspectionError):
            inspect(path, claim)


@pytest.mark.parametrize("sample", ["qcow2-v3", "vmdk-monolithic-sparse", "vhd-dynamic", "vhdx", "vdi", "qed"])
@pytest.mark.parametrize("length", [0, 3, 64, 511, 1024, 70000, 200000])
def test_truncated_images_are_rejected_or_still_valid_never_crash(samples: Samples, tmp_path, sample, length):
    claim = next(fmt for name, fmt, _ in DETECTED if name == sample)
    path = tmp_path / "cut.img"
    with samples.path(sample).open("rb") as file:
        path.write_bytes(file.read(length))
    with contextlib.suppress(InspectionError):
        assert inspect(path, claim).format == claim


# --- bounded work, and no way to run anything ---------------------------------------------------------------------


@pytest.mark.parametrize("sample", ["raw", "qcow2-v3", "vmdk-stream-optimized", "vhd-fixed", "vhdx"])
def test_inspection_reads_only_headers(samples: Samples, sample):
    opener = CountingOpener()
    detect(samples.path(sample), opener=opener)
    assert opener.bytes_read < 300 * 1024


def test_inspection_of_a_large_sparse_raw_file_reads_a_few_kib(tmp_path):
    path = tmp_path / "big.img"
    with path.open("wb") as file:
        file.truncate(64 * MIB)
    opener = CountingOpener()
    assert inspect(path, "raw", opener=opener).virtual_size == 64 * MIB
    assert opener.bytes_read < 16 * 1024


def test_largest_qcow2_header_cluster_stays_within_the_read_budget(samples: Samples):
    opener = CountingOpener()
    assert inspect(samples.path("qcow2-2m-clusters"), "qcow2", opener=opener).virtual_size == GIB
    assert MIB < opener.bytes_read < READ_BUDGET  # the whole 2 MiB extension area, and no more


def test_reader_refuses_to_read_past_its_budget():
    reader = Reader(io.BytesIO(bytes(100)), budget=60)
    assert reader.read(0, 50) == bytes(50)
    assert reader.read(200, 50) == b""  # past the end costs nothing
    with pytest.raises(InspectionError, match="too large to inspect"):
        reader.read(0, 50)


def test_inspector_never_runs_other_programs():
    sources = [Path(inspector.__file__), *Path(image.formats.__file__).parent.glob("*.py")]
    assert len(sources) > 2
    for source in sources:
        tree = ast.parse(source.read_text(), str(source))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name.split(".")[0] for name in imported} & {"subprocess", "pty", "multiprocessing"}, source
        called = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not called & {"system", "popen", "execv", "execve", "execvp", "spawnv", "posix_spawn"}, source


# --- LUKS last: its sample is made in the background while the tests above run ------------------------------------


def test_luks_volume_is_detected_with_its_payload_size_as_qemu_does(samples: Samples):
    path = samples.path("luks")
    info = detect(path)
    assert info == ImageInfo("luks", 10 * MIB, path.stat().st_size)
    assert info.virtual_size == qemu_virtual_size(path, "luks")


@pytest.mark.parametrize("claim", ["raw", "ami", "ari", "aki", "qcow2"])
def test_luks_volume_is_never_accepted(samples: Samples, claim):
    with pytest.raises(InspectionError, match=f"claims disk_format '{claim}' but is luks"):
        inspect(samples.path("luks"), claim)
