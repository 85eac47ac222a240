"""Where a host takes an instance's root disk from: a clone of the image's Ceph snapshot (``images_type = "rbd"``,
a raw image in the Ceph image store) without downloading anything, else the image cache as before."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from common.settings import HostSettings
from compute.host import work
from compute.host.imagecache import CachedImage

SNAPSHOT = "images/5b0c1f3e-9d1a-4f55-8a63-2f0b7e0d4c11@snap"


@dataclass
class RecordingCache:
    fetched: list[str] = field(default_factory=list)

    def ensure(self, image: dict[str, Any], host: str) -> CachedImage:
        self.fetched.append(str(image["id"]))
        return CachedImage(Path(f"/cache/{image['id']}"), str(image["disk_format"]))


@dataclass
class Agent:
    settings: HostSettings
    image_cache: RecordingCache = field(default_factory=RecordingCache)


def spec(disk_format: str = "raw", ceph_snapshot: str | None = SNAPSHOT, **extra: Any) -> dict[str, Any]:
    image = {"id": "img", "disk_format": disk_format, "checksum": "c", "size": 1, "ceph_snapshot": ceph_snapshot}
    return {"uuid": "i-1", "name": "vm", "vcpus": 1, "memory_mb": 64, "root_gb": 1, "image": image, **extra}


def agent(images_type: str) -> Agent:
    return Agent(HostSettings(compute_driver="libvirt", images_type=images_type))


def test_a_raw_image_in_ceph_is_cloned_and_never_downloaded():
    host = agent("rbd")
    made = work._instance_spec(host, "h", spec())  # type: ignore[arg-type]
    assert (made.base_rbd_snapshot, made.base_image, host.image_cache.fetched) == (SNAPSHOT, None, [])


@pytest.mark.parametrize(
    ("images_type", "changes"),
    [
        ("qcow2", {}),  # the host keeps its root disks local
        ("rbd", {"disk_format": "qcow2"}),  # only raw images are cloned
        ("rbd", {"ceph_snapshot": None}),  # an image of the filesystem store
    ],
)
def test_anything_else_comes_from_the_image_cache(images_type, changes):
    host = agent(images_type)
    made = work._instance_spec(host, "h", spec(**changes))  # type: ignore[arg-type]
    assert (made.base_rbd_snapshot, made.base_image, host.image_cache.fetched) == (None, Path("/cache/img"), ["img"])


def test_a_root_volume_takes_neither():
    connection = {"driver_volume_type": "rbd", "data": {"name": "volumes/x", "hosts": ["127.0.0.1"], "ports": ["6789"]}}
    volume = {"device": "vda", "serial": "0d8e5f2a-1c3b-4e6f-8a9b-7c6d5e4f3a21", "connection_info": connection}
    host = agent("rbd")
    made = work._instance_spec(host, "h", spec(root_volume=volume))  # type: ignore[arg-type]
    assert (made.base_rbd_snapshot, made.base_image, host.image_cache.fetched) == (None, None, [])
