"""Compute hosts ask the image service, over the queue, for an image in the disk format they need."""

from __future__ import annotations

import json
import subprocess

import pytest

from common.queue import make_celery
from common.settings import load
from image import client

pytestmark = pytest.mark.functional


def _qemu_format(path) -> str:
    info = subprocess.run(["qemu-img", "info", "--output", "json", str(path)], capture_output=True, text=True)
    return json.loads(info.stdout)["format"]


def test_a_qcow2_image_is_prepared_as_raw_once_and_served_in_that_format(cloud, tmp_path, unique):
    source = tmp_path / "v.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(source), "8M"], check=True, capture_output=True)
    token = cloud.demo().get_token()
    image = cloud.request(
        "POST", "/image/v2/images", token, json={"name": unique, "disk_format": "qcow2", "container_format": "bare"}
    ).json()
    cloud.request(
        "PUT",
        f"/image/v2/images/{image['id']}/file",
        token,
        data=source.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert cloud.request("GET", f"/image/v2/images/{image['id']}/file?disk_format=raw", token).status_code == 404

    app = make_celery(load(cloud.server.env))
    first = client.ensure_variant(app, image["id"], "raw", timeout=60)
    again = client.ensure_variant(app, image["id"], "raw", timeout=60)
    downloaded = tmp_path / "v.raw"
    downloaded.write_bytes(cloud.request("GET", f"/image/v2/images/{image['id']}/file?disk_format=raw", token).content)

    assert first == again and first["size"] == 8 << 20 == downloaded.stat().st_size
    assert _qemu_format(downloaded) == "raw"
    original = tmp_path / "v.orig"
    original.write_bytes(cloud.request("GET", f"/image/v2/images/{image['id']}/file", token).content)
    assert _qemu_format(original) == "qcow2"

    cloud.request("DELETE", f"/image/v2/images/{image['id']}", token)
    assert list((cloud.server.state_dir / "images").glob(f"{image['id']}*")) == []
