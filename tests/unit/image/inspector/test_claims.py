"""The claimed disk_format must match the content: a mismatch is a 400 naming both formats."""

from __future__ import annotations

import pytest

from common.exceptions import StratusError
from image.inspector import SUPPORTED_DISK_FORMATS, InspectionError, inspect
from tests.unit.image.conftest import Samples


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
