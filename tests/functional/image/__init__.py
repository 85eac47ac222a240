"""Functional tests of the image service, and what they share."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tests.harness import wait_until


def wait_for_image_status(cloud: Any, token: str, image_id: str, wanted: Collection[str], timeout: float = 60) -> str:
    """Poll (bounded) until the image's status is one of ``wanted`` (an import or an inspection ends in the
    background) and return it."""
    return wait_until(
        lambda: cloud.request("GET", f"/image/v2/images/{image_id}", token).json()["status"],
        timeout,
        interval=0.2,
        message=f"image {image_id} never reached {sorted(wanted)}",
        until=lambda status: status in wanted,
    )
