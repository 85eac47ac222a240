"""Images can never read the host (issue 11, item 1), through the real API, image service and qemu-img.

Each trick names a canary file of random bytes made for the test; every answer the cloud gives (uploads, downloads
of the image and of its prepared formats, imports) and every file in its image store is searched for any run of
24 bytes of it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery.exceptions import TimeoutError as CeleryTimeout
from sqlalchemy import update

from common import settings
from common.db import Database
from common.queue import make_celery
from image import client
from image.models import Image
from tests.functional.image import wait_for_image_status
from tests.hostile_images import descriptor, hostile_images, hostile_labels, leaks, make_canary

pytestmark = pytest.mark.functional

OCTETS = {"Content-Type": "application/octet-stream"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
CLEAN_RAW = b"\xeb\x63\x90\x00" + bytes(4092)  # a boot sector's first bytes: a NUL at once, like any disk


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[Path, str]]]:
    directory = tmp_path_factory.mktemp("hostile")
    canary = make_canary(directory)
    return canary, hostile_images(directory, canary)


@pytest.fixture(scope="module")
def image_service(cloud):
    return make_celery(settings.load(cloud.server.env))


@pytest.fixture(scope="module")
def database(cloud) -> Iterator[Database]:
    db = Database(settings.load(cloud.server.env).effective_database_url)
    yield db
    db.dispose()


def _create(cloud, token: str, name: str, disk_format: str) -> str:
    body = {"name": name, "disk_format": disk_format, "container_format": "bare"}
    return cloud.request("POST", "/image/v2/images", token, json=body).json()["id"]


def _upload(cloud, token: str, image_id: str, data: bytes, how: str = "file"):
    return cloud.request("PUT", f"/image/v2/images/{image_id}/{how}", token, data=data, headers=OCTETS)


def _patch(cloud, token: str, image_id: str, **changes: str):
    operations = [{"op": "replace", "path": f"/{key}", "value": value} for key, value in changes.items()]
    return cloud.request("PATCH", f"/image/v2/images/{image_id}", token, json=operations, headers=PATCH)


def _downloads(cloud, token: str, image_id: str) -> list[bytes]:
    """The image's data and every prepared format a host or tenant could ask for."""
    paths = [f"/image/v2/images/{image_id}/file"]
    paths += [f"/image/v2/images/{image_id}/file?disk_format={fmt}" for fmt in ("qcow2", "raw", "vmdk")]
    return [cloud.request("GET", path, token).content for path in paths]


@pytest.fixture
def store_leaks(cloud) -> Callable[[Path], list[str]]:
    """The files of the image store that hold canary bytes, among those made or changed since the test began: the
    store is the shared cloud's, full of other modules' images, and reading them all for every trick cost seconds
    each. The inode's change time, which a copy, a rename and a hard link all set and no process can set back
    (unlike a modification time, which a copy may keep), says which."""
    started = time.time() - 1  # the file systems' timestamps are coarser than time.time()
    root = cloud.server.state_dir / "images"

    def found(canary: Path) -> list[str]:
        recent = [path for path in root.rglob("*") if path.is_file() and path.stat().st_ctime >= started]
        return [str(path) for path in recent if leaks(path.read_bytes(), canary)]

    return found


def test_disk_and_container_format_change_only_while_the_image_is_queued(cloud, unique):
    token = cloud.demo().get_token()
    image_id = _create(cloud, token, unique, "raw")
    assert _patch(cloud, token, image_id, disk_format="qcow2").status_code == 200
    assert _patch(cloud, token, image_id, disk_format="raw", container_format="ovf").status_code == 200
    assert _patch(cloud, token, image_id, container_format="bare").status_code == 200
    assert _upload(cloud, token, image_id, CLEAN_RAW).status_code == 204

    disk = _patch(cloud, token, image_id, disk_format="vmdk")
    container = _patch(cloud, token, image_id, container_format="ovf")
    unchanged = _patch(cloud, token, image_id, disk_format="raw", name=f"{unique}-renamed")
    shown = cloud.request("GET", f"/image/v2/images/{image_id}", token).json()

    assert disk.status_code == 403 and disk.json() == {
        "code": "403 Forbidden",
        "title": "Forbidden",
        "message": "Attribute disk_format can be only replaced for a queued image.",
    }
    assert container.status_code == 403
    assert container.json()["message"] == "Attribute container_format can be only replaced for a queued image."
    assert unchanged.status_code == 200 and unchanged.json()["name"] == f"{unique}-renamed"
    assert (shown["status"], shown["disk_format"], shown["container_format"]) == ("active", "raw", "bare")
    assert cloud.request("GET", f"/image/v2/images/{image_id}/file", token).content == CLEAN_RAW


def test_the_issue_attack_a_descriptor_uploaded_as_raw_then_made_vmdk_reads_no_host_file(cloud, hostile, unique):
    # Issue 11: a text uploaded as raw, its disk_format then changed to vmdk, booted or downloaded as qcow2.
    canary, _ = hostile
    token = cloud.demo().get_token()
    image_id = _create(cloud, token, unique, "raw")
    uploaded = _upload(cloud, token, image_id, b"\n" + descriptor(canary))
    patched = _patch(cloud, token, image_id, disk_format="vmdk")

    assert uploaded.status_code == 400 and "text descriptor" in uploaded.json()["message"]
    assert patched.status_code == 403
    assert cloud.request("GET", f"/image/v2/images/{image_id}", token).json()["status"] == "killed"
    assert not any(leaks(body, canary) for body in _downloads(cloud, token, image_id))


@pytest.mark.parametrize("label", hostile_labels())
def test_every_trick_is_refused_at_upload_and_no_download_returns_a_host_byte(
    cloud, hostile, unique, label, store_leaks
):
    canary, images = hostile
    path, claim = images[label]
    token = cloud.demo().get_token()
    image_id = _create(cloud, token, unique, claim)
    response = _upload(cloud, token, image_id, path.read_bytes())

    assert response.status_code == 400, response.text
    assert cloud.request("GET", f"/image/v2/images/{image_id}", token).json()["status"] == "killed"
    assert not any(leaks(body, canary) for body in _downloads(cloud, token, image_id))
    assert store_leaks(canary) == []


def test_import_with_conversion_kills_every_trick_and_stores_no_host_byte(cloud, hostile, unique, store_leaks):
    # The test cloud imports to raw: every image not claimed raw would be converted.
    canary, images = hostile
    token = cloud.demo().get_token()
    imported = {}
    for label, (path, claim) in images.items():
        image_id = _create(cloud, token, f"{unique}-{len(imported)}", claim)
        assert _upload(cloud, token, image_id, path.read_bytes(), how="stage").status_code == 204, label
        started = cloud.request(
            "POST", f"/image/v2/images/{image_id}/import", token, json={"method": {"name": "glance-direct"}}
        )
        assert started.status_code == 202, label
        imported[label] = image_id

    ended = {
        label: wait_for_image_status(cloud, token, image_id, ("active", "killed"))
        for label, image_id in imported.items()
    }
    assert ended == dict.fromkeys(imported, "killed")
    for image_id in imported.values():
        assert not any(leaks(body, canary) for body in _downloads(cloud, token, image_id))
    assert store_leaks(canary) == []


def test_a_record_changed_before_this_fix_is_checked_again_by_every_conversion(
    cloud, hostile, database, image_service, unique, store_leaks
):
    # An image whose record says vmdk and whose bytes are a descriptor, as the old PATCH left them: the conversion a
    # booting host asks for inspects the bytes again and refuses; nothing is prepared, nothing is served.
    canary, _ = hostile
    token = cloud.demo().get_token()
    image_id = _create(cloud, token, unique, "raw")
    assert _upload(cloud, token, image_id, CLEAN_RAW).status_code == 204
    stored = cloud.server.state_dir / "images" / image_id
    stored.write_bytes(b"\n" + descriptor(canary))
    with database.session() as session:
        session.execute(update(Image).where(Image.id == image_id).values(disk_format="vmdk"))

    for target in ("qcow2", "raw"):
        with pytest.raises(Exception, match="text descriptor") as refused:
            client.ensure_variant(image_service, image_id, target, timeout=60)
        assert not isinstance(refused.value, CeleryTimeout)
    assert not any(leaks(body, canary) for body in _downloads(cloud, token, image_id))
    assert store_leaks(canary) == []


def test_chained_variants_never_hand_a_host_a_descriptor(cloud, hostile, image_service, tmp_path, unique, store_leaks):
    # A qcow2 whose guest data is a descriptor is a fine qcow2; its raw variant would be the descriptor itself, so
    # the image service refuses to prepare it, while the vmdk variant (a streamOptimized file) is safe and served.
    canary, _ = hostile
    text = tmp_path / "guest.raw"
    text.write_bytes(b"\n" + descriptor(canary))
    source = tmp_path / "guest.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(text), str(source)], check=True)
    token = cloud.demo().get_token()
    image_id = _create(cloud, token, unique, "qcow2")
    assert _upload(cloud, token, image_id, source.read_bytes()).status_code == 204

    with pytest.raises(Exception, match="text descriptor"):
        client.ensure_variant(image_service, image_id, "raw", timeout=60)
    vmdk = client.ensure_variant(image_service, image_id, "vmdk", timeout=60)
    served = cloud.request("GET", f"/image/v2/images/{image_id}/file?disk_format=vmdk", token)
    raw = cloud.request("GET", f"/image/v2/images/{image_id}/file?disk_format=raw", token)

    assert served.status_code == 200 and len(served.content) == vmdk["size"]
    assert served.content.startswith(b"KDMV")
    assert raw.status_code == 404
    assert not any(leaks(body, canary) for body in _downloads(cloud, token, image_id))
    assert store_leaks(canary) == []
