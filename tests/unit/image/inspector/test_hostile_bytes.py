"""Hostile bytes (garbage, a magic and nothing after it, damaged or truncated headers) never escape as anything
but an InspectionError."""

from __future__ import annotations

import contextlib
import random

import pytest

from image.inspector import InspectionError, detect, inspect
from tests.unit.image.conftest import Samples
from tests.unit.image.inspector import DETECTED, patch


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
