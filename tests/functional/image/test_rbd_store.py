"""The rbd image store against a real single-node Ceph (``deploy/ceph/up.sh`` in the module's state directory, on
free monitor ports, stopped at the end with no daemon left), first on its own, then under a whole cloud (fake
compute, volume backends ``file,rbd``, ``image_store = "rbd"``) driven through the image and volume APIs and the
``openstack`` CLI: an image stored in Ceph comes back byte for byte, and a volume from a raw one is a copy-on-write
clone of the image's snapshot, not a copy.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.settings import load
from image.store import from_settings
from image.store.base import ImageStore
from manage.clouds import write_clouds_yaml
from tests.functional.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, CloudClient
from tests.functional.volume.api_support import lift_volume_quotas, wait_for_status, wait_until_gone
from tests.harness import free_port, running_cloud, wait_until

pytestmark = [pytest.mark.functional, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
CEPH = REPO / "deploy" / "ceph"
MiB = 1 << 20
IMAGE_ID = "0b6a1d7e-4f0c-4d43-9c55-5a0d3c1f2e01"


def ceph_daemons(state: Path) -> list[int]:
    """Live (not zombie) processes whose command line names this cluster's ceph.conf."""
    conf, found = f"-c {state / 'ceph' / 'ceph.conf'} ", []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "status").read_text()
        except (OSError, NotADirectoryError):
            continue
        if conf in cmdline and "\nState:\tZ" not in status:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A state directory with a running cluster under ``ceph/``, where the cloud's settings look by default."""
    state = tmp_path_factory.mktemp("rbd-images")
    env = os.environ | {"STRATUS_CEPH_MON_V2_PORT": str(free_port()), "STRATUS_CEPH_MON_V1_PORT": str(free_port())}
    env["STRATUS_CEPH_OSD_GB"] = "8"
    try:
        subprocess.run(["bash", str(CEPH / "up.sh"), str(state)], check=True, env=env, timeout=600)
        bindings = str(Path(sys.prefix) / "ceph-bindings")  # install.sh may have just put them there
        if bindings not in sys.path:
            sys.path.append(bindings)
            importlib.invalidate_caches()
        yield state
    finally:
        subprocess.run(["bash", str(CEPH / "down.sh"), str(state)], check=False, timeout=120)
        assert ceph_daemons(state) == [], "Ceph daemons outlived down.sh"


def rbd(state: Path, *args: str, answers: bool = True) -> Any:
    """``rbd`` as the cluster's admin, which no cloud process is; what it answers (``--format json``) if it does."""
    command = ["rbd", "-c", str(state / "ceph" / "ceph.conf"), *(["--format", "json"] if answers else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"rbd {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout) if answers else None


def images_in_ceph(state: Path) -> set[str]:
    return set(rbd(state, "ls", "images"))


def parent_of(state: Path, location: str) -> dict[str, Any] | None:
    return rbd(state, "info", location).get("parent")


@pytest.fixture(scope="module")
def store(state: Path) -> Iterator[ImageStore]:
    made = from_settings(load(state_dir=str(state), image_store="rbd"))
    yield made
    made.close()


def sample(size: int, seed: bytes) -> bytes:
    """``size`` bytes: 1 MiB of hashed noise every 16 MiB, zeros between (thin in Ceph, yet not all zero)."""
    data = bytearray(size)
    for offset in range(0, size, 16 * MiB):
        noise = hashlib.shake_256(seed + offset.to_bytes(8, "big")).digest(min(MiB, size - offset))
        data[offset : offset + len(noise)] = noise
    return bytes(data)


# --- the store on its own --------------------------------------------------------------------------------------


def test_commit_writes_a_thin_image_with_a_protected_snapshot_and_reads_it_back(store, state):
    data = sample(40 * MiB + 7, b"store")
    with store.begin(IMAGE_ID) as staged:
        staged.write(data)
        staged.flush()
        assert staged.path.read_bytes() == data  # inspection reads a local file
        assert IMAGE_ID not in images_in_ceph(state)
        location = staged.commit(IMAGE_ID)
    assert location == f"rbd:images/{IMAGE_ID}@snap"
    assert not staged.path.exists(), "the local staging file outlived the commit"
    snapshots = rbd(state, "snap", "ls", f"images/{IMAGE_ID}")
    assert [(s["name"], s["protected"]) for s in snapshots] == [("snap", "true")]
    assert rbd(state, "du", f"images/{IMAGE_ID}")["images"][0]["used_size"] <= 16 * MiB  # 3 chunks of noise
    assert store.size(location) == len(data) and store.local_path(location) is None
    with store.open(location) as handle:
        assert handle.read() == data
    with store.local_file(location) as copy:
        assert copy.read_bytes() == data and copy.stat().st_blocks * 512 < len(data) // 2
    assert not copy.exists()
    assert store.ceph_snapshot(location) == f"images/{IMAGE_ID}@snap" and not store.in_use(location)
    store.delete(location)
    store.delete(location)  # gone already: done
    assert IMAGE_ID not in images_in_ceph(state)
    with pytest.raises(FileNotFoundError):
        store.open(location)


def test_names_cannot_escape_and_an_aborted_write_leaves_nothing(store, state):
    for name in ("../x", "a/b", "a@snap", f"{IMAGE_ID}.part-1", ""):
        with pytest.raises(ValueError):
            store.begin(name)
    with pytest.raises(ValueError):
        store.open("rbd:images/../../x@snap")
    with pytest.raises(RuntimeError), store.begin("aborted") as staged:
        staged.write(b"half")
        raise RuntimeError("client went away")
    assert not staged.path.exists() and "aborted" not in images_in_ceph(state)


def test_data_cloned_after_the_check_is_kept_for_its_clones_then_swept(store, state):
    with store.begin("cloned") as staged:
        staged.write(sample(8 * MiB, b"cloned"))
        location = staged.commit("cloned")
    rbd(state, "clone", "images/cloned@snap", "volumes/a-clone", answers=False)
    assert store.in_use(location)
    store.delete(location)  # as the image API does after its commit: never fails, frees nothing under a clone
    kept = [name for name in images_in_ceph(state) if name.startswith("cloned.deleted-")]
    assert kept and parent_of(state, "volumes/a-clone")["image"] == kept[0]
    with pytest.raises(FileNotFoundError):
        store.open(location)
    store.sweep_staging(600)
    assert kept[0] in images_in_ceph(state), "swept while a clone still reads it"
    rbd(state, "rm", "--no-progress", "volumes/a-clone", answers=False)
    rbd(state, "create", "--size", "1M", "images/stale.part-0123456789ab", answers=False)  # a commit that died half-way
    store.sweep_staging(600)
    assert "stale.part-0123456789ab" in images_in_ceph(state), "a fresh part may belong to a commit in progress"
    time.sleep(1.5)
    store.sweep_staging(1)
    assert not {kept[0], "stale.part-0123456789ab"} & images_in_ceph(state)


def test_images_of_the_filesystem_store_stay_readable_after_the_switch(state):
    before = from_settings(load(state_dir=str(state), image_store="filesystem"))
    with before.begin("on-files") as staged:
        staged.write(b"written before Ceph")
        location = staged.commit("on-files")
    after = from_settings(load(state_dir=str(state), image_store="rbd"))
    assert location.startswith("file:") and after.local_path(location) is not None
    with after.open(location) as handle:
        assert handle.read() == b"written before Ceph"
    assert after.ceph_snapshot(location) is None
    after.delete(location)
    assert not before.local_path(location).exists()


# --- under a cloud ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud(state: Path) -> Iterator[CloudClient]:
    env = {
        "STRATUS_IMAGE_STORE": "rbd",
        "STRATUS_VOLUME_BACKENDS": "file,rbd",
        "STRATUS_IMAGE_IMPORT_TARGET_FORMAT": "raw",
    }
    with running_cloud(state, env) as server:
        server.bootstrap(ADMIN_PASSWORD, DEMO_PASSWORD)
        clouds_yaml = state / "clouds.yaml"
        accounts = {"stratus-admin": ("admin", ADMIN_PASSWORD), "stratus": ("demo", DEMO_PASSWORD)}
        write_clouds_yaml(clouds_yaml, server.auth_url, "RegionOne", accounts)
        client = CloudClient(server, clouds_yaml)
        lift_volume_quotas(client)
        yield client


def new_image(cloud: CloudClient, token: str, name: str, disk_format: str) -> str:
    body = {"name": name, "disk_format": disk_format, "container_format": "bare"}
    response = cloud.request("POST", "/image/v2/images", token, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upload(cloud: CloudClient, token: str, image_id: str, data: bytes) -> dict[str, Any]:
    headers = {"Content-Type": "application/octet-stream"}
    response = cloud.request("PUT", f"/image/v2/images/{image_id}/file", token, data=data, headers=headers)
    assert response.status_code == 204, response.text
    return cloud.request("GET", f"/image/v2/images/{image_id}", token).json()


def volume_from(cloud: CloudClient, token: str, image_id: str, volume_type: str) -> tuple[dict[str, Any], float]:
    """A 1 GiB volume of the image on the type's backend, and the seconds from the request to ``available``."""
    body = {"volume": {"size": 1, "imageRef": image_id, "volume_type": volume_type}}
    started = time.perf_counter()
    response = cloud.request("POST", "/volume/v3/volumes", token, json=body)
    assert response.status_code == 202, response.text
    volume = wait_for_status(cloud, token, response.json()["volume"]["id"], "available", "error", timeout=120)
    assert volume["status"] == "available", volume
    return volume, time.perf_counter() - started


def delete_volume(cloud: CloudClient, token: str, volume_id: str) -> None:
    assert cloud.request("DELETE", f"/volume/v3/volumes/{volume_id}", token).status_code == 202
    wait_until_gone(cloud, token, f"/volume/v3/volumes/{volume_id}")


def delete_image(cloud: CloudClient, token: str, image_id: str) -> Any:
    """DELETE, again while it is 409 for a moment: librbd may report a clone among the image's children for a
    short while after the clone's removal returned (seen here up to about a second)."""
    started = time.monotonic()
    response = wait_until(
        lambda: cloud.request("DELETE", f"/image/v2/images/{image_id}", token),
        10,
        interval=0.2,
        until=lambda answer: answer.status_code != 409,
    )
    print(f"image delete after its clone's volume was deleted: {time.monotonic() - started:.2f} s")
    return response


def test_an_uploaded_image_lives_in_ceph_comes_back_whole_and_a_volume_of_it_is_a_clone(cloud, state):
    token = cloud.admin_token()
    data = sample(128 * MiB, b"api")
    image_id = new_image(cloud, token, "raw-in-ceph", "raw")
    image = upload(cloud, token, image_id, data)
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert [s["protected"] for s in rbd(state, "snap", "ls", f"images/{image_id}")] == ["true"]

    download = cloud.request("GET", f"/image/v2/images/{image_id}/file", token)
    assert download.status_code == 200 and download.headers["Content-MD5"] == hashlib.md5(data).hexdigest()
    assert int(download.headers["Content-Length"]) == len(data) and download.content == data

    volume, seconds = volume_from(cloud, token, image_id, "rbd")
    print(f"\nvolume from a {len(data) // MiB} MiB raw image in Ceph: {seconds:.2f} s (request to available)")
    parent = parent_of(state, f"volumes/volume-{volume['id']}")
    assert parent and (parent["pool"], parent["image"], parent["snapshot"]) == ("images", image_id, "snap")
    assert volume["bootable"] == "true" and volume["volume_image_metadata"]["image_id"] == image_id

    refused = cloud.request("DELETE", f"/image/v2/images/{image_id}", token)
    assert refused.status_code == 409 and "in use" in refused.text, refused.text
    assert cloud.request("GET", f"/image/v2/images/{image_id}", token).json()["status"] == "active"

    on_files, copied_in = volume_from(cloud, token, image_id, "file")  # the file backend reads a local copy
    print(f"the same image to a file volume (a copy): {copied_in:.2f} s")
    volume_file = state / "volumes" / f"volume-{on_files['id']}.qcow2"
    compared = subprocess.run(
        ["qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(volume_file), f"rbd:images/{image_id}@snap:conf="
         f"{state / 'ceph' / 'ceph.conf'}"], capture_output=True, text=True, check=False)  # fmt: skip
    assert compared.returncode == 0, compared.stdout + compared.stderr

    for made in (volume["id"], on_files["id"]):
        delete_volume(cloud, token, made)
    deleted = delete_image(cloud, token, image_id)
    assert deleted.status_code == 204, deleted.text
    assert image_id not in images_in_ceph(state)


def test_a_qcow2_image_is_copied_and_imported_as_raw_it_is_cloned(cloud, state, tmp_path):
    token = cloud.admin_token()
    qcow2 = tmp_path / "pattern.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow2), "64M"], check=True)
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0x5c 24M 1M", str(qcow2)], check=True, capture_output=True
    )

    direct = new_image(cloud, token, "qcow2-in-ceph", "qcow2")
    upload(cloud, token, direct, qcow2.read_bytes())
    volume, seconds = volume_from(cloud, token, direct, "rbd")
    print(f"\nvolume from a 64 MiB qcow2 image in Ceph (converted, a copy): {seconds:.2f} s")
    assert parent_of(state, f"volumes/volume-{volume['id']}") is None
    conf = state / "ceph" / "ceph.conf"
    compared = subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(qcow2),
                               f"rbd:volumes/volume-{volume['id']}:conf={conf}"], capture_output=True, text=True,
                              check=False)  # fmt: skip
    assert compared.returncode == 0, compared.stdout + compared.stderr

    imported = new_image(cloud, token, "qcow2-imported", "qcow2")
    headers = {"Content-Type": "application/octet-stream"}
    staged = cloud.request("PUT", f"/image/v2/images/{imported}/stage", token, data=qcow2.read_bytes(), headers=headers)
    assert staged.status_code == 204, staged.text
    body = {"method": {"name": "glance-direct"}}
    assert cloud.request("POST", f"/image/v2/images/{imported}/import", token, json=body).status_code == 202
    image = wait_until(
        lambda: cloud.request("GET", f"/image/v2/images/{imported}", token).json(),
        60,
        until=lambda found: found["status"] in ("active", "killed"),
    )
    assert (image["status"], image["disk_format"], image["size"]) == ("active", "raw", 64 * MiB)
    staging = f"{imported}.staging"  # removed by the image worker right after the image became active
    wait_until(lambda: staging not in images_in_ceph(state), 10, message="the staged data stayed in Ceph")
    clone, seconds = volume_from(cloud, token, imported, "rbd")
    print(f"volume from the same image imported as raw (a clone): {seconds:.2f} s")
    assert parent_of(state, f"volumes/volume-{clone['id']}")["image"] == imported
    for made in (volume["id"], clone["id"]):
        delete_volume(cloud, token, made)


def test_cli_image_create_then_volume_create_is_a_clone(cloud, state, tmp_path):
    raw = tmp_path / "cli.raw"
    raw.write_bytes(sample(64 * MiB, b"cli"))
    created = json.loads(
        cloud.openstack(
            "stratus", "image", "create", "--disk-format", "raw", "--container-format", "bare",
            "--file", str(raw), "cli-raw", "-f", "json",
        ).stdout
    )  # fmt: skip
    assert created["status"] == "active"
    volume = json.loads(
        cloud.openstack(
            "stratus", "volume", "create", "--image", created["id"], "--type", "rbd", "--size", "1", "cli-clone",
            "-f", "json",
        ).stdout
    )  # fmt: skip
    token = cloud.demo().get_token()
    assert wait_for_status(cloud, token, volume["id"], "available", "error")["status"] == "available"
    assert parent_of(state, f"volumes/volume-{volume['id']}")["image"] == created["id"]
    saved = tmp_path / "saved.raw"
    cloud.openstack("stratus", "image", "save", "--file", str(saved), created["id"])
    assert saved.read_bytes() == raw.read_bytes()
    refused = cloud.openstack("stratus", "image", "delete", created["id"], check=False)
    assert refused.returncode != 0 and "in use" in refused.stderr, refused.stderr
    cloud.openstack("stratus", "volume", "delete", volume["id"])
    wait_until_gone(cloud, token, f"/volume/v3/volumes/{volume['id']}")
    assert delete_image(cloud, token, created["id"]).status_code == 204
    assert created["id"] not in images_in_ceph(state)
