"""Volumes on the file and Ceph backends: a volume from a 1 GiB image, and attach/detach to a running guest.

Why: a volume from an image is how a user gets a bootable or pre-filled disk, and on Ceph it should be a clone
of the image's snapshot (Cinder and Glance on one cluster), under a second whatever the image's size, not a copy
of every byte. Attaching and detaching a volume is what a user waits on each time a disk moves between servers.
Goals (issue 14): volume from a 1 GiB image on Ceph < 1 s (a clone); attach and detach p50 < 2 s.

Setup: a single-node Ceph of this run's own (``deploy/ceph/up.sh`` in the run's state directory, on free monitor
ports), and a private cloud (``manage.private_cloud.running_cloud``) on it: the libvirt driver (QEMU guests, the
domain type as probed), the fake network dataplane, volume backends ``file,rbd`` (volume types ``file`` and
``rbd``). Everything is removed at the end: the cloud, its guests, the libvirt secret of the Ceph key, Ceph.

1. Volume from an image: a 1 GiB raw image of incompressible data (no zeros to skip) uploaded through the image
   API; ``POST /volumes`` (size 1, the image, the type) until ``available``, ``--repeat`` times on each backend,
   each volume deleted before the next. The Ceph volume's ``rbd info`` says whether it is a clone (it has a
   parent) or a copy. The image store is what the cloud has (``image_store``): the filesystem, so on Ceph the
   volume service converts and writes every non-zero byte, and the figure is a copy's, printed as such.
2. Attach and detach: a guest of the tiny image (``deploy/images/build-tiny.sh``, no network) is booted and
   waited for (its ready line); then ``--rounds`` times per backend ``POST os-volume_attachments`` until the
   volume is ``in-use``, a pause, ``DELETE`` until it is ``available`` again (the guest has released it), a pause.
   Times are from the API call to the status (polled every 0.05 s).

Run as root with libvirtd running, under the end-to-end lock (``flock /tmp/stratus-e2e.lock``). Prints each
figure with its unit, the goals with PASS or MISS. Exit status 0 unless the cloud or Ceph failed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/volumes.py`

from bench.identity import ApiFailure, Credentials, Goal, login, percentile  # noqa: E402
from bench.image import make_data_file  # noqa: E402
from bench.network import Api, CloudFailure  # noqa: E402
from deploy.images import markers  # noqa: E402

ADMIN = Credentials("admin", "bench-volumes-admin", "admin")
VOLUME = "/volume/v3"
COMPUTE = "/compute/v2.1"
BACKENDS = ("file", "rbd")  # the volume types bootstrap makes, one per backend
IMAGE_MIB = 1024
POLL = 0.05
CREATE_TIMEOUT = 300.0
ATTACH_TIMEOUT = 120.0
BOOT_TIMEOUT = 240.0
SETTLE = 1.0  # seconds between an attach and its detach (and after the detach): the guest sees the disk come and go
GOAL_CLONE_S = 1.0
GOAL_ATTACH_P50_S = 2.0


def _free_port() -> int:
    from manage.private_cloud import free_port

    return free_port()


# --- the cloud and its Ceph -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """This run's cloud, as the benchmark's admin sees it."""

    api: Api
    state: Path
    ceph_conf: Path
    rbd_pool: str


def start_ceph(stack: ExitStack, state: Path) -> Path:
    """A single-node Ceph under ``state``/ceph on free monitor ports, stopped when ``stack`` closes."""
    env = os.environ | {
        "STRATUS_CEPH_MON_V2_PORT": str(_free_port()),
        "STRATUS_CEPH_MON_V1_PORT": str(_free_port()),
        "STRATUS_CEPH_OSD_GB": "16",
    }
    stack.callback(subprocess.run, ["bash", str(ROOT / "deploy/ceph/down.sh"), str(state)], check=False,
                   capture_output=True, timeout=120)  # fmt: skip
    result = subprocess.run(["bash", str(ROOT / "deploy/ceph/up.sh"), str(state)], env=env, capture_output=True,
                            text=True, timeout=600, check=False)  # fmt: skip
    if result.returncode != 0:
        raise ApiFailure(f"deploy/ceph/up.sh failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return state / "ceph" / "ceph.conf"


def remove_guests(state: Path, secret_uuid: str) -> None:
    """Whatever the cloud left in the machine's libvirtd, and only that: domains whose disks are under ``state``,
    and the Ceph secret of this run's uuid."""

    def virsh(*args: str) -> str:
        return subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True,
                              check=False).stdout  # fmt: skip

    for name in virsh("list", "--all", "--name").split():
        if name.startswith("stratus-") and str(state) in virsh("dumpxml", name):
            virsh("destroy", name)
            virsh("undefine", name)
    virsh("secret-undefine", secret_uuid)


def start_cloud(stack: ExitStack, state: Path) -> Run:
    from common.settings import load
    from manage.private_cloud import running_cloud

    ceph_conf = start_ceph(stack, state)
    secret_uuid = str(uuid.uuid4())
    stack.callback(remove_guests, state, secret_uuid)
    env = {
        "STRATUS_COMPUTE_DRIVER": "libvirt",
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_INSTANCES_PATH": str(state / "instances"),
        "STRATUS_IMAGE_CACHE_PATH": str(state / "cache"),
        "STRATUS_VOLUME_BACKENDS": ",".join(BACKENDS),
        "STRATUS_CEPH_SECRET_UUID": secret_uuid,
    }
    try:
        cloud = stack.enter_context(running_cloud(state, env))
        cloud.bootstrap(ADMIN.password, "bench-volumes-demo")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        raise ApiFailure(str(exc)) from exc
    settings = load(cloud.env)
    if settings.image_store != "filesystem":
        print(f"note: the image store is {settings.image_store!r}")
    return Run(Api(cloud.url, login(cloud.auth_url, ADMIN)), state, ceph_conf, settings.volume_rbd_pool)


# --- polling ---------------------------------------------------------------------------------------------------


def wait_for(read: Callable[[], str], wanted: str, started: float, timeout: float, what: str) -> float:
    """Seconds from ``started`` until ``read()`` gives ``wanted``; an error status or the timeout is a failure."""
    while (status := read()) != wanted:
        if status.startswith("error") or status == "ERROR" or time.perf_counter() - started > timeout:
            raise CloudFailure(f"{what} is {status}, never {wanted}")
        time.sleep(POLL)
    return time.perf_counter() - started


def volume_status(api: Api, volume_id: str) -> str:
    return api.call("GET", f"{VOLUME}/volumes/{volume_id}")["volume"]["status"]


def delete_volume(api: Api, volume_id: str) -> None:
    """Deleted and gone, so that its backend's work does not overlap the next measurement."""
    api.call("DELETE", f"{VOLUME}/volumes/{volume_id}", expect=202)
    deadline = time.monotonic() + CREATE_TIMEOUT
    url, headers = f"{api.url}{VOLUME}/volumes/{volume_id}", {"X-Auth-Token": api.token}
    while requests.get(url, headers=headers, timeout=30).status_code != 404:
        if time.monotonic() > deadline:
            raise CloudFailure(f"volume {volume_id} was never deleted")
        time.sleep(0.2)


# --- 1. volume from an image -----------------------------------------------------------------------------------


def upload_image(api: Api, path: Path) -> str:
    body = {"name": "bench-1gib", "disk_format": "raw", "container_format": "bare"}
    image = api.call("POST", "/image/v2/images", body, 201)["id"]
    headers = {"X-Auth-Token": api.token, "Content-Type": "application/octet-stream"}
    with path.open("rb") as data:
        response = requests.put(f"{api.url}/image/v2/images/{image}/file", data=data, headers=headers, timeout=600)
    if response.status_code != 204:
        raise CloudFailure(f"uploading the image: HTTP {response.status_code} {response.text[:300]}")
    if api.call("GET", f"/image/v2/images/{image}")["status"] != "active":
        raise CloudFailure("the uploaded image is not active")
    return image


def create_volume(api: Api, name: str, volume_type: str, image: str | None = None) -> tuple[str, float]:
    """(volume id, seconds from POST to available) of a new 1 GiB volume."""
    body: dict[str, Any] = {"name": name, "size": 1, "volume_type": volume_type}
    if image:
        body["imageRef"] = image
    started = time.perf_counter()
    volume_id = api.call("POST", f"{VOLUME}/volumes", {"volume": body}, 202)["volume"]["id"]
    seconds = wait_for(lambda: volume_status(api, volume_id), "available", started, CREATE_TIMEOUT, f"volume {name}")
    return volume_id, seconds


def rbd_parent(run: Run, volume_id: str) -> str | None:
    """The Ceph image a volume was cloned from (``pool/image@snapshot``), or None when it is a copy."""
    result = subprocess.run(
        ["rbd", "-c", str(run.ceph_conf), "info", "--format", "json", f"{run.rbd_pool}/volume-{volume_id}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise CloudFailure(f"rbd info of volume {volume_id}: {result.stderr.strip()}")
    parent = json.loads(result.stdout).get("parent")
    return f"{parent['pool']}/{parent['image']}@{parent['snapshot']}" if parent else None


@dataclass
class FromImage:
    backend: str
    seconds: list[float]
    clone_of: str | None = None  # rbd: the parent of the last volume made (None: a copy)


def volumes_from_image(run: Run, image: str, repeat: int) -> list[FromImage]:
    found = []
    for backend in BACKENDS:
        result = FromImage(backend, [])
        for index in range(repeat):
            volume_id, seconds = create_volume(run.api, f"bench-from-image-{backend}-{index}", backend, image)
            result.seconds.append(seconds)
            if backend == "rbd":
                result.clone_of = rbd_parent(run, volume_id)
            delete_volume(run.api, volume_id)
        print(f"  volume from the image on {backend}: {', '.join(f'{s:.2f}' for s in result.seconds)} s", flush=True)
        found.append(result)
    return found


# --- 2. attach and detach --------------------------------------------------------------------------------------


def boot_guest(api: Api, image: str) -> str:
    """A running tiny guest (its ready line printed: its kernel handles hot-plug by then); returns its id."""
    body = {"server": {"name": "bench-volumes", "imageRef": image, "flavorRef": "1", "networks": "none"}}
    started = time.perf_counter()
    server = api.call("POST", f"{COMPUTE}/servers", body, 202)["server"]["id"]
    wait_for(lambda: api.call("GET", f"{COMPUTE}/servers/{server}")["server"]["status"], "ACTIVE", started,
             BOOT_TIMEOUT, f"server {server}")  # fmt: skip
    while not markers.READY_RE.search(
        api.call("POST", f"{COMPUTE}/servers/{server}/action", {"os-getConsoleOutput": {"length": 50}})["output"]
    ):
        if time.perf_counter() - started > BOOT_TIMEOUT:
            raise CloudFailure(f"server {server} never printed its ready line")
        time.sleep(0.5)
    print(f"  guest {server} up in {time.perf_counter() - started:.1f} s", flush=True)
    return server


def upload_tiny(api: Api, path: Path) -> str:
    body = {"name": "tiny", "disk_format": "qcow2", "container_format": "bare"}
    image = api.call("POST", "/image/v2/images", body, 201)["id"]
    headers = {"X-Auth-Token": api.token, "Content-Type": "application/octet-stream"}
    with path.open("rb") as data:
        response = requests.put(f"{api.url}/image/v2/images/{image}/file", data=data, headers=headers, timeout=120)
    if response.status_code != 204:
        raise CloudFailure(f"uploading the tiny image: HTTP {response.status_code} {response.text[:300]}")
    return image


def attach(api: Api, server: str, volume_id: str) -> float:
    started = time.perf_counter()
    api.call("POST", f"{COMPUTE}/servers/{server}/os-volume_attachments", {"volumeAttachment": {"volumeId": volume_id}})
    return wait_for(lambda: volume_status(api, volume_id), "in-use", started, ATTACH_TIMEOUT, f"volume {volume_id}")


def detach(api: Api, server: str, volume_id: str) -> float:
    started = time.perf_counter()
    api.call("DELETE", f"{COMPUTE}/servers/{server}/os-volume_attachments/{volume_id}", expect=202)
    return wait_for(lambda: volume_status(api, volume_id), "available", started, ATTACH_TIMEOUT, f"volume {volume_id}")


@dataclass
class AttachDetach:
    backend: str
    attach: list[float]
    detach: list[float]


def attach_detach(api: Api, server: str, rounds: int) -> list[AttachDetach]:
    found = []
    for backend in BACKENDS:
        volume_id, _ = create_volume(api, f"bench-attach-{backend}", backend)
        result = AttachDetach(backend, [], [])
        for _ in range(rounds):
            result.attach.append(attach(api, server, volume_id))
            time.sleep(SETTLE)
            result.detach.append(detach(api, server, volume_id))
            time.sleep(SETTLE)
        delete_volume(api, volume_id)
        print(f"  attach on {backend}: {', '.join(f'{s:.2f}' for s in result.attach)} s;"
              f" detach: {', '.join(f'{s:.2f}' for s in result.detach)} s", flush=True)  # fmt: skip
        found.append(result)
    return found


def delete_server(api: Api, server: str) -> None:
    api.call("DELETE", f"{COMPUTE}/servers/{server}", expect=204)
    deadline = time.monotonic() + 120
    url, headers = f"{api.url}{COMPUTE}/servers/{server}", {"X-Auth-Token": api.token}
    while requests.get(url, headers=headers, timeout=30).status_code != 404:
        if time.monotonic() > deadline:
            raise CloudFailure(f"server {server} was never deleted")
        time.sleep(0.2)


# --- the report ------------------------------------------------------------------------------------------------


def report(from_image: list[FromImage], attached: list[AttachDetach], repeat: int, rounds: int) -> None:
    print(f"\nvolume from a {IMAGE_MIB} MiB raw image (incompressible data), POST -> available, median of {repeat}:")
    goals = []
    for result in from_image:
        median = statistics.median(result.seconds)
        each = ", ".join(f"{s:.2f}" for s in result.seconds)
        if result.backend == "rbd":
            kind = f"a clone of {result.clone_of}" if result.clone_of else "a copy (no parent: every byte written)"
        else:
            kind = "a copy (qcow2 file, qemu-img convert)"
        print(f"  {result.backend:<5} {median:6.2f} s   (each: {each})   {kind}")
        if result.backend == "rbd":
            why = "" if result.clone_of else "; the image store is not on Ceph, so Ceph copies"
            measured = f"{median:.2f} s, {'a clone' if result.clone_of else 'a copy'}{why}"
            goals.append(Goal("volume from a 1 GiB image on Ceph", measured, f"< {GOAL_CLONE_S:.0f} s, a clone",
                              bool(result.clone_of) and median < GOAL_CLONE_S))  # fmt: skip
    print(f"\nattach / detach of a 1 GiB volume to a running guest, {rounds} rounds, API call -> in-use / available:")
    for result in attached:
        a, d = sorted(result.attach), sorted(result.detach)
        print(f"  {result.backend:<5} attach p50 {percentile(a, 0.5):.2f} s  p90 {percentile(a, 0.9):.2f} s"
              f"   detach p50 {percentile(d, 0.5):.2f} s  p90 {percentile(d, 0.9):.2f} s")  # fmt: skip
        for name, values in (("attach", a), ("detach", d)):
            p50 = percentile(values, 0.5)
            goals.append(Goal(f"{name} p50 on {result.backend}", f"{p50:.2f} s", f"< {GOAL_ATTACH_P50_S:.0f} s",
                              p50 < GOAL_ATTACH_P50_S))  # fmt: skip
    print("Goals:")
    for goal in goals:
        print(f"  {goal.verdict:<4}  {goal.name}: {goal.measured} (goal {goal.wanted})")


def run(args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        # QEMU runs as its own user and must reach the disks: not under a private temporary directory.
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stratus-bench-vol-", dir="/var/tmp")))
        work.chmod(0o711)
        state = work / "cloud"
        state.mkdir(mode=0o711)
        tiny = work / "tiny.qcow2"
        subprocess.run(["bash", str(ROOT / "deploy/images/build-tiny.sh"), str(tiny)], check=True,
                       capture_output=True, timeout=300)  # fmt: skip
        data = work / "1gib.raw"
        make_data_file(data, IMAGE_MIB)
        started = time.monotonic()
        cloud = start_cloud(stack, state)
        print(f"Ceph and the cloud up in {time.monotonic() - started:.0f} s", flush=True)
        image = upload_image(cloud.api, data)
        data.unlink()
        from_image = volumes_from_image(cloud, image, args.repeat)
        server = boot_guest(cloud.api, upload_tiny(cloud.api, tiny))
        attached = attach_detach(cloud.api, server, args.rounds)
        delete_server(cloud.api, server)
    report(from_image, attached, args.repeat, args.rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="volumes from the image on each backend")
    parser.add_argument("--rounds", type=int, default=10, help="attach/detach rounds on each backend")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/volumes.py needs root (libvirt, Ceph)", file=sys.stderr)
        return 1
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run (other work skews the figures)")
    began = time.monotonic()
    try:
        run(args)
    except (ApiFailure, CloudFailure, subprocess.SubprocessError, requests.RequestException) as exc:
        print(f"the cloud failed: {exc}", file=sys.stderr)
        return 1
    print(f"({time.monotonic() - began:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
