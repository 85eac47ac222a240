"""Volumes on the file and Ceph backends: a volume from a 1 GiB image, attach/detach to a running guest, and
incremental backups.

Why: a volume from an image is how a user gets a bootable or pre-filled disk, and on Ceph it should be a clone
of the image's snapshot (Cinder and Glance on one cluster), under a second whatever the image's size, not a copy
of every byte. Attaching and detaching a volume is what a user waits on each time a disk moves between servers.
A nightly backup of a volume that changed a little must move that little, not the whole volume again.
Goals (issue 14): volume from a 1 GiB image on Ceph < 1 s (a clone); attach and detach p50 < 2 s; an incremental
backup of a 1 GiB volume with 1% changed stores at most 2% of the full backup's bytes.

Setup: a single-node Ceph of this run's own (``deploy/ceph/up.sh`` in the run's state directory, on free monitor
ports), and a private cloud (``manage.private_cloud.running_cloud``) on it: the libvirt driver (QEMU guests, the
domain type as probed), the fake network dataplane, volume backends ``file,rbd`` (volume types ``file`` and
``rbd``). Everything is removed at the end: the cloud, its guests, the libvirt secret of the Ceph key, Ceph.

1. Volume from an image: a 1 GiB raw image of incompressible data (no zeros to skip) uploaded through the image
   API; ``POST /volumes`` (size 1, the image, the type) until ``available``, ``--repeat`` times on each backend,
   each volume but the last deleted before the next. The Ceph volume's ``rbd info`` says whether it is a clone
   (it has a parent) or a copy. The image store is on Ceph, as ``make up VOLUMES=ceph`` has it (``image_store =
   "rbd"``): a raw image is an RBD snapshot a Ceph volume clones; the file backend copies it out of Ceph.
2. Attach and detach: a guest of the tiny image (``deploy/images/build-tiny.sh``, no network) is booted and
   waited for (its ready line); then ``--rounds`` times per backend, with the volume kept from step 1,
   ``POST os-volume_attachments`` until the volume is ``in-use``, ``DELETE`` until it is ``available`` again
   (the guest has released it). Times are from the API call to the status (polled every 0.05 s). Between them
   (untimed) the guest's shell, on its serial console through the console proxy's websocket as a user reaches
   it, is asked until it shows the volume as ``/dev/vdb`` (its serial is the volume's id), and until it is gone.
3. Backups, with the same volume (1 GiB of the image's data): a full backup (``POST /backups``, until
   ``available``), then 1% of the volume changed as a user changes it: attached to the guest, 10 x 1 MiB from
   ``/dev/urandom`` written with ``dd`` at offsets spread over the disk, detached; then an incremental backup.
   Bytes are what each backup takes in the backup store on disk (``du --block-size=1`` of its directory: its
   chunks and manifest); the volume worker's log says whether the changes were tracked (QEMU dirty bitmap, RBD
   snapshot diff) or found by comparing every block.

Run as root with libvirtd running, under the end-to-end lock (``flock /tmp/stratus-e2e.lock``). Prints each
figure with its unit, the goals with PASS or MISS. Exit status 0 unless the cloud or Ceph failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/volumes.py`

from bench.guest_shell import GuestShell, ShellFailure  # noqa: E402
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
BACKUP_TIMEOUT = 300.0
GUEST_TIMEOUT = 30.0  # for the guest to see a disk come or go once the API says it did
CHANGED_AT_MIB = tuple(37 + 101 * i for i in range(10))  # 10 x 1 MiB = 1% of the volume (0.98%), spread over it
GOAL_CLONE_S = 1.0
GOAL_ATTACH_P50_S = 2.0
GOAL_INCREMENTAL_RATIO = 0.02


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
    backup_store: Path


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
        "STRATUS_IMAGE_STORE": "rbd",
    }
    try:
        cloud = stack.enter_context(running_cloud(state, env))
        cloud.bootstrap(ADMIN.password, "bench-volumes-demo")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        raise ApiFailure(str(exc)) from exc
    settings = load(cloud.env)
    print(f"the image store: {settings.image_store!r}")
    api = Api(cloud.url, login(cloud.auth_url, ADMIN))
    return Run(api, state, ceph_conf, settings.volume_rbd_pool, settings.effective_backup_store_dir)


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


def upload(api: Api, path: Path, name: str, disk_format: str) -> str:
    body = {"name": name, "disk_format": disk_format, "container_format": "bare"}
    image = api.call("POST", "/image/v2/images", body, 201)["id"]
    headers = {"X-Auth-Token": api.token, "Content-Type": "application/octet-stream"}
    with path.open("rb") as data:
        response = requests.put(f"{api.url}/image/v2/images/{image}/file", data=data, headers=headers, timeout=600)
    if response.status_code != 204:
        raise CloudFailure(f"uploading {name}: HTTP {response.status_code} {response.text[:300]}")
    if api.call("GET", f"/image/v2/images/{image}")["status"] != "active":
        raise CloudFailure(f"the uploaded image {name} is not active")
    return image


def create_volume(api: Api, name: str, volume_type: str, image: str) -> tuple[str, float]:
    """(volume id, seconds from POST to available) of a new 1 GiB volume from ``image``."""
    body = {"name": name, "size": 1, "volume_type": volume_type, "imageRef": image}
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
    kept: str  # the last volume made, kept for the next steps
    clone_of: str | None = None  # rbd: the parent of the last volume made (None: a copy)


def volumes_from_image(run: Run, image: str, repeat: int) -> list[FromImage]:
    found = []
    for backend in BACKENDS:
        seconds, made = [], []
        for index in range(repeat):
            if made:
                delete_volume(run.api, made.pop())  # gone before the next create: no overlapping backend work
            volume_id, elapsed = create_volume(run.api, f"bench-{backend}-{index}", backend, image)
            seconds.append(elapsed)
            made.append(volume_id)
        result = FromImage(backend, seconds, made[0], rbd_parent(run, made[0]) if backend == "rbd" else None)
        print(f"  volume from the image on {backend}: {', '.join(f'{s:.2f}' for s in seconds)} s", flush=True)
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


def attach(api: Api, server: str, volume_id: str) -> float:
    started = time.perf_counter()
    api.call("POST", f"{COMPUTE}/servers/{server}/os-volume_attachments", {"volumeAttachment": {"volumeId": volume_id}})
    return wait_for(lambda: volume_status(api, volume_id), "in-use", started, ATTACH_TIMEOUT, f"volume {volume_id}")


def detach(api: Api, server: str, volume_id: str) -> float:
    started = time.perf_counter()
    api.call("DELETE", f"{COMPUTE}/servers/{server}/os-volume_attachments/{volume_id}", expect=202)
    return wait_for(lambda: volume_status(api, volume_id), "available", started, ATTACH_TIMEOUT, f"volume {volume_id}")


def guest_sees(shell: GuestShell, volume_id: str, present: bool) -> None:
    """Until the guest shows the volume as /dev/vdb (virtio-blk serials are the id's first 20 characters), or
    until it shows no vdb."""
    deadline = time.monotonic() + GUEST_TIMEOUT
    while True:
        rc, out = shell.run("cat /sys/block/vdb/serial 2>/dev/null")
        if (rc == 0 and volume_id[:20] in out) == present and (present or rc != 0):
            return
        if time.monotonic() > deadline:
            raise CloudFailure(f"the guest {'never saw' if present else 'still sees'} volume {volume_id} as vdb")
        time.sleep(0.2)


@dataclass
class AttachDetach:
    backend: str
    attach: list[float]
    detach: list[float]


def attach_detach(api: Api, shell: GuestShell, server: str, volume_id: str, backend: str, rounds: int) -> AttachDetach:
    result = AttachDetach(backend, [], [])
    for _ in range(rounds):
        result.attach.append(attach(api, server, volume_id))
        guest_sees(shell, volume_id, present=True)
        result.detach.append(detach(api, server, volume_id))
        guest_sees(shell, volume_id, present=False)
    print(f"  attach on {backend}: {', '.join(f'{s:.2f}' for s in result.attach)} s;"
          f" detach: {', '.join(f'{s:.2f}' for s in result.detach)} s", flush=True)  # fmt: skip
    return result


def delete_server(api: Api, server: str) -> None:
    api.call("DELETE", f"{COMPUTE}/servers/{server}", expect=204)
    deadline = time.monotonic() + 120
    url, headers = f"{api.url}{COMPUTE}/servers/{server}", {"X-Auth-Token": api.token}
    while requests.get(url, headers=headers, timeout=30).status_code != 404:
        if time.monotonic() > deadline:
            raise CloudFailure(f"server {server} was never deleted")
        time.sleep(0.2)


# --- 3. backups ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    seconds: float
    stored: int  # bytes on disk in the backup store
    how: str  # the volume worker's word: full, incremental (tracked), compared


def back_up(run: Run, volume_id: str, name: str, incremental: bool) -> Backup:
    body = {"backup": {"volume_id": volume_id, "name": name, "incremental": incremental}}
    started = time.perf_counter()
    backup_id = run.api.call("POST", f"{VOLUME}/backups", body, 202)["backup"]["id"]
    seconds = wait_for(lambda: run.api.call("GET", f"{VOLUME}/backups/{backup_id}")["backup"]["status"],
                       "available", started, BACKUP_TIMEOUT, f"backup {name}")  # fmt: skip
    du = subprocess.run(["du", "--block-size=1", "-s", str(run.backup_store / backup_id)], capture_output=True,
                        text=True, timeout=60, check=True)  # fmt: skip
    return Backup(seconds, int(du.stdout.split()[0]), backup_how(run.state, backup_id))


def backup_how(state: Path, backup_id: str) -> str:
    """What the volume worker logged of the backup: full, incremental (tracked) or compared (every block read).
    It logs that after the backup shows ``available`` (and after dropping the parent's checkpoint): wait a little."""
    line = re.compile(rf"backup {backup_id} of volume \S+: ([^,]+),")
    deadline = time.monotonic() + 15
    while (found := line.search((state / "log/volume-worker.log").read_text(errors="replace"))) is None:
        if time.monotonic() > deadline:
            return "not logged"
        time.sleep(0.2)
    return found[1]


def change_one_percent(api: Api, shell: GuestShell, server: str, volume_id: str) -> None:
    """10 MiB of new data written by the guest to the attached volume (1 MiB at each of CHANGED_AT_MIB)."""
    attach(api, server, volume_id)
    guest_sees(shell, volume_id, present=True)
    for offset in CHANGED_AT_MIB:
        rc, out = shell.run(f"dd if=/dev/urandom of=/dev/vdb bs=1M count=1 seek={offset} conv=fsync 2>&1")
        if rc != 0:
            raise CloudFailure(f"the guest could not write to the volume: {out.strip()}")
    detach(api, server, volume_id)
    guest_sees(shell, volume_id, present=False)


@dataclass(frozen=True)
class Backups:
    backend: str
    full: Backup
    incremental: Backup


def backups(run: Run, shell: GuestShell, server: str, volume_id: str, backend: str) -> Backups:
    full = back_up(run, volume_id, f"bench-full-{backend}", incremental=False)
    change_one_percent(run.api, shell, server, volume_id)
    incremental = back_up(run, volume_id, f"bench-incremental-{backend}", incremental=True)
    print(f"  backups on {backend}: full {full.seconds:.2f} s {full.stored} B ({full.how}), incremental"
          f" {incremental.seconds:.2f} s {incremental.stored} B ({incremental.how})", flush=True)  # fmt: skip
    return Backups(backend, full, incremental)


# --- the report ------------------------------------------------------------------------------------------------

MiB = 1 << 20


def report_from_image(found: list[FromImage], repeat: int) -> list[Goal]:
    print(f"\nvolume from a {IMAGE_MIB} MiB raw image (incompressible data), POST -> available, median of {repeat}:")
    goals = []
    for result in found:
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
    return goals


def report_attach(found: list[AttachDetach], rounds: int) -> list[Goal]:
    print(f"\nattach / detach of a 1 GiB volume to a running guest, {rounds} rounds, API call -> in-use / available:")
    goals = []
    for result in found:
        a, d = sorted(result.attach), sorted(result.detach)
        print(f"  {result.backend:<5} attach p50 {percentile(a, 0.5):.2f} s  p90 {percentile(a, 0.9):.2f} s"
              f"   detach p50 {percentile(d, 0.5):.2f} s  p90 {percentile(d, 0.9):.2f} s")  # fmt: skip
        for name, values in (("attach", a), ("detach", d)):
            p50 = percentile(values, 0.5)
            goals.append(Goal(f"{name} p50 on {result.backend}", f"{p50:.2f} s", f"< {GOAL_ATTACH_P50_S:.0f} s",
                              p50 < GOAL_ATTACH_P50_S))  # fmt: skip
    return goals


def report_backups(found: list[Backups]) -> list[Goal]:
    changed = len(CHANGED_AT_MIB)
    print(f"\nbackups of the 1 GiB volume (the image's data), then {changed} MiB ({changed / IMAGE_MIB:.2%}) changed by"
          " the guest; bytes = the backup's disk usage in the store (du):")  # fmt: skip
    goals = []
    for result in found:
        full, incremental = result.full, result.incremental
        ratio = incremental.stored / full.stored if full.stored else float("nan")
        print(f"  {result.backend:<5} full        {full.seconds:6.2f} s  {full.stored / MiB:8.2f} MiB"
              f" ({full.stored} B; {full.how})")  # fmt: skip
        print(f"  {'':<5} incremental {incremental.seconds:6.2f} s  {incremental.stored / MiB:8.2f} MiB"
              f" ({incremental.stored} B; {incremental.how}) = {ratio:.2%} of the full")  # fmt: skip
        goals.append(Goal(f"incremental backup on {result.backend} (1% changed)",
                          f"{ratio:.2%} of the full backup's bytes, {incremental.seconds:.2f} s",
                          f"<= {GOAL_INCREMENTAL_RATIO:.0%}", ratio <= GOAL_INCREMENTAL_RATIO))  # fmt: skip
    return goals


@dataclass
class Figures:
    from_image: list[FromImage]
    attached: list[AttachDetach]
    backups: list[Backups]


def run(args: argparse.Namespace) -> Figures:
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
        image = upload(cloud.api, data, "bench-1gib", "raw")
        data.unlink()
        figures = Figures(volumes_from_image(cloud, image, args.repeat), [], [])
        server = boot_guest(cloud.api, upload(cloud.api, tiny, "tiny", "qcow2"))
        with GuestShell(cloud.api.url, cloud.api.token, server) as shell:
            for made in figures.from_image:
                figures.attached.append(attach_detach(cloud.api, shell, server, made.kept, made.backend, args.rounds))
                figures.backups.append(backups(cloud, shell, server, made.kept, made.backend))
        delete_server(cloud.api, server)
    return figures


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
        figures = run(args)
    except (ApiFailure, CloudFailure, ShellFailure, subprocess.SubprocessError, requests.RequestException) as exc:
        print(f"the cloud failed: {exc}", file=sys.stderr)
        return 1
    goals = report_from_image(figures.from_image, args.repeat)
    goals += report_attach(figures.attached, args.rounds)
    goals += report_backups(figures.backups)
    print("Goals:")
    for goal in goals:
        print(f"  {goal.verdict:<4}  {goal.name}: {goal.measured} (goal {goal.wanted})")
    print(f"({time.monotonic() - began:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
