"""Where a server's root disk lives, decided the same way by the host that makes it and by the API that plans a
live migration (which copies only disks that are not shared). No database: hosts import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def in_ceph(images_type: str, image: Mapping[str, Any] | None) -> bool:
    """Whether the root disk made from ``image`` is a clone in Ceph, shared by every host: hosts make root disks
    there (``images_type = "rbd"``) and the image can be cloned (raw, with a snapshot in Ceph). Any other root disk
    is a file on its host."""
    image = image or {}
    return images_type == "rbd" and bool(image.get("ceph_snapshot")) and image.get("disk_format") == "raw"
