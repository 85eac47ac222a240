"""Hostile images never become active, and nothing ever follows the files they point at."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.functional.image import wait_for_image_status

pytestmark = pytest.mark.functional

TWO_DAYS = 2 * 24 * 3600


def _qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A file whose access time moves if anything reads it; skips where the filesystem hides reads."""
    path = tmp_path / "canary.raw"
    path.write_bytes(b"\0" * 65536)
    old = time.time() - TWO_DAYS
    os.utime(path, (old, old))
    path.read_bytes()
    if path.stat().st_atime <= old + 1:
        pytest.skip("this filesystem does not record reads (noatime)")
    os.utime(path, (old, old))
    return path


def _was_read(path: Path) -> bool:
    return path.stat().st_atime > time.time() - TWO_DAYS + 60


def _hostile_images(tmp: Path, canary: Path) -> dict[str, tuple[Path, str]]:
    backing = tmp / "backing.qcow2"
    _qemu_img("create", "-f", "qcow2", "-b", str(canary), "-F", "raw", str(backing))
    data_file = tmp / "data-file.qcow2"
    _qemu_img("create", "-f", "qcow2", "-o", f"data_file={canary},data_file_raw=on", str(data_file), "64K")
    flat = tmp / "flat.vmdk"
    _qemu_img("create", "-f", "vmdk", "-o", "subformat=monolithicFlat", str(flat), "1M")
    plain = tmp / "plain.qcow2"
    _qemu_img("create", "-f", "qcow2", str(plain), "1M")
    return {
        "qcow2 with a backing file": (backing, "qcow2"),
        "qcow2 with an external data file": (data_file, "qcow2"),
        "vmdk descriptor with a flat extent": (flat, "vmdk"),
        "qcow2 claiming to be raw": (plain, "raw"),
        "qcow2 claiming to be vmdk": (plain, "vmdk"),
    }


def _create(cloud, token: str, name: str, disk_format: str) -> str:
    body = {"name": name, "disk_format": disk_format, "container_format": "bare"}
    return cloud.request("POST", "/image/v2/images", token, json=body).json()["id"]


def test_hostile_uploads_are_rejected_killed_and_never_followed(cloud, tmp_path, canary, unique):
    token = cloud.demo().get_token()
    for label, (path, claim) in _hostile_images(tmp_path, canary).items():
        os.utime(canary, (time.time() - TWO_DAYS,) * 2)
        image_id = _create(cloud, token, f"{unique}-{claim}", claim)
        response = cloud.request(
            "PUT",
            f"/image/v2/images/{image_id}/file",
            token,
            data=path.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        shown = cloud.request("GET", f"/image/v2/images/{image_id}", token).json()

        assert response.status_code == 400, (label, response.text)
        assert shown["status"] == "killed", label
        assert cloud.request("GET", f"/image/v2/images/{image_id}/file", token).status_code == 204, label
        assert not _was_read(canary), f"{label}: the file it points at was read"


def test_hostile_import_is_killed_by_the_image_service(cloud, tmp_path, canary, unique):
    token = cloud.demo().get_token()
    path, claim = _hostile_images(tmp_path, canary)["qcow2 with a backing file"]
    image_id = _create(cloud, token, unique, claim)
    staged = cloud.request(
        "PUT",
        f"/image/v2/images/{image_id}/stage",
        token,
        data=path.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert staged.status_code == 204
    imported = cloud.request(
        "POST", f"/image/v2/images/{image_id}/import", token, json={"method": {"name": "glance-direct"}}
    )
    assert imported.status_code == 202
    status = wait_for_image_status(cloud, token, image_id, ("killed", "active"))
    assert status == "killed"
    assert not _was_read(canary)


def test_import_converts_to_the_configured_format(cloud, tmp_path, unique):
    token = cloud.demo().get_token()
    source = tmp_path / "source.qcow2"
    _qemu_img("create", "-f", "qcow2", str(source), "32M")
    image_id = _create(cloud, token, unique, "qcow2")
    info = cloud.request("GET", "/image/v2/info/import", token).json()
    assert "glance-direct" in info["import-methods"]["value"]
    cloud.request(
        "PUT",
        f"/image/v2/images/{image_id}/stage",
        token,
        data=source.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert cloud.request("GET", f"/image/v2/images/{image_id}", token).json()["status"] == "uploading"
    cloud.request("POST", f"/image/v2/images/{image_id}/import", token, json={"method": {"name": "glance-direct"}})

    assert wait_for_image_status(cloud, token, image_id, ("active", "killed")) == "active"
    image = cloud.request("GET", f"/image/v2/images/{image_id}", token).json()
    data = cloud.request("GET", f"/image/v2/images/{image_id}/file", token).content
    assert image["disk_format"] == "raw"  # the test cloud imports to raw (STRATUS_IMAGE_IMPORT_TARGET_FORMAT)
    assert image["size"] == image["virtual_size"] == 32 << 20 == len(data)


def test_import_without_staged_data_is_409(cloud, unique):
    token = cloud.demo().get_token()
    image_id = _create(cloud, token, unique, "raw")
    response = cloud.request(
        "POST", f"/image/v2/images/{image_id}/import", token, json={"method": {"name": "glance-direct"}}
    )
    unsupported = cloud.request(
        "POST",
        f"/image/v2/images/{image_id}/import",
        token,
        json={"method": {"name": "web-download", "uri": "http://127.0.0.1/x"}},
    )
    assert response.status_code == 409
    assert unsupported.status_code == 400 and "web-download" in unsupported.json()["message"]
