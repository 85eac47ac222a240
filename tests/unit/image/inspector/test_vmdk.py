"""VMDK: only self-contained sparse images; a descriptor that reaches for other files is refused however it
is spelled or claimed, and ordinary text stays raw."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from image.inspector import ImageInfo, InspectionError, inspect
from tests.hostile_images import hostile_texts
from tests.unit.image.conftest import Samples
from tests.unit.image.inspector import GIB, MIB, CountingOpener, patch, replace_text


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
