"""LUKS volumes are detected and never accepted. Their sample is made in the background from the session's
start (see tests/unit/image/conftest.py), so these tests wait for it least when they run late."""

from __future__ import annotations

import pytest

from image.inspector import ImageInfo, InspectionError, detect, inspect
from tests.unit.image.conftest import Samples, qemu_virtual_size
from tests.unit.image.inspector import MIB


def test_luks_volume_is_detected_with_its_payload_size_as_qemu_does(samples: Samples):
    path = samples.path("luks")
    info = detect(path)
    assert info == ImageInfo("luks", 10 * MIB, path.stat().st_size)
    assert info.virtual_size == qemu_virtual_size(path, "luks")


@pytest.mark.parametrize("claim", ["raw", "ami", "ari", "aki", "qcow2"])
def test_luks_volume_is_never_accepted(samples: Samples, claim):
    with pytest.raises(InspectionError, match=f"claims disk_format '{claim}' but is luks"):
        inspect(samples.path("luks"), claim)
