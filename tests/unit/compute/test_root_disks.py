"""Whether a root disk is shared (a clone in Ceph) or a file on its host, one rule for the host that makes it and
the API that decides whether a live migration (``block_migration: auto``) copies it (``compute.root_disks``)."""

from __future__ import annotations

import pytest

from compute import root_disks

SNAPSHOT = "images/0b5c0c2e-8f3a-4f50-9d5c-8a9b1c2d3e4f@snap"


def test_a_raw_image_stored_in_ceph_on_hosts_that_make_roots_there_gives_a_shared_root():
    assert root_disks.in_ceph("rbd", {"disk_format": "raw", "ceph_snapshot": SNAPSHOT})


@pytest.mark.parametrize(
    ("images_type", "image"),
    [
        ("rbd", {"disk_format": "qcow2", "ceph_snapshot": SNAPSHOT}),  # a qcow2 image is downloaded, its root a file
        ("rbd", {"disk_format": "raw", "ceph_snapshot": None}),  # a raw image kept on the image service's disk
        ("rbd", {}),
        ("rbd", None),
        ("qcow2", {"disk_format": "raw", "ceph_snapshot": SNAPSHOT}),  # hosts that keep root disks as files
    ],
)
def test_any_other_root_is_a_file_on_its_host_which_a_live_migration_must_copy(images_type, image):
    assert not root_disks.in_ceph(images_type, image)
