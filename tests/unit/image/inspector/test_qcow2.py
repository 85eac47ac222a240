"""qcow2 (and QED): backing files, external data files and headers we cannot vouch for are rejected,
naming what they point at, and the files they name are never opened."""

from __future__ import annotations

import struct

import pytest

from image.inspector import InspectionError, inspect
from tests.unit.image.conftest import Samples, qemu_img
from tests.unit.image.inspector import GIB, CountingOpener, patch


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
