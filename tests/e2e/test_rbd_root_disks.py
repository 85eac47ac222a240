"""Root disks in Ceph (``image_store = "rbd"``, ``images_type = "rbd"``: what ``make up VOLUMES=ceph`` runs): a user
uploads the tiny image as raw with the openstack CLI, it is stored in Ceph, and a server booted from it gets its
root disk as a copy-on-write clone of the image's snapshot in the ``vms`` pool, which QEMU opens through librbd
with the cephx key the host's libvirt holds; nothing is downloaded to the host. The guest boots (its ready marker
on the console), a resize grows the clone after an RBD snapshot and a revert rolls it back, a server snapshot is
read from an RBD snapshot of the disk, and deleting the server removes the clone, after which the image can go.

One guest. A single-node Ceph of the module's own under its state directory (free monitor ports), a private cloud
on the machine's libvirtd; everything removed at the end, the libvirt secret of the module's key too. Run under
``flock /tmp/stratus-e2e.lock``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from manage.clouds import write_clouds_yaml
from tests import warm_cli
from tests.e2e.guests import OpenStack
from tests.e2e.kernel import remove_domains_under, virsh
from tests.harness import free_port, running_cloud, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
CEPH = REPO / "deploy" / "ceph"
ADMIN, DEMO = "e2e-rbd-admin", "e2e-rbd-demo"
READY = "STRATUS-READY hostname="
GiB = 1 << 30


@dataclass(frozen=True)
class World:
    state: Path
    cli: OpenStack
    image_id: str

    def rbd(self, *args: str) -> Any:
        """``rbd --format json`` as the cluster's admin, which no cloud process is."""
        command = ["rbd", "-c", str(self.state / "ceph" / "ceph.conf"), "--format", "json", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, f"rbd {' '.join(args)}: {result.stderr}"
        return json.loads(result.stdout)


def ceph_daemons(state: Path) -> list[int]:
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
def world(tiny_image: Path, libvirtd: str) -> Iterator[World]:
    state = Path(tempfile.mkdtemp(prefix="stratus-e2e-rbd-root-", dir="/var/tmp"))
    state.chmod(0o711)  # QEMU runs as its own user and must reach the config drive and console log
    secret = str(uuid.uuid4())
    ports = {"STRATUS_CEPH_MON_V2_PORT": str(free_port()), "STRATUS_CEPH_MON_V1_PORT": str(free_port())}
    env = {
        "STRATUS_COMPUTE_DRIVER": "libvirt",
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_LIBVIRT_URI": libvirtd,
        "STRATUS_INSTANCES_PATH": str(state / "instances"),
        "STRATUS_IMAGE_CACHE_PATH": str(state / "cache"),
        "STRATUS_IMAGE_STORE": "rbd",
        "STRATUS_IMAGES_TYPE": "rbd",
        "STRATUS_CEPH_SECRET_UUID": secret,
    }
    with ExitStack() as cleanup:  # every step runs, whatever failed before it
        cleanup.callback(forget_state, state)
        cleanup.callback(subprocess.run, ["bash", str(CEPH / "down.sh"), str(state)], check=False, timeout=120)
        cleanup.callback(virsh, "secret-undefine", secret)
        subprocess.run(["bash", str(CEPH / "up.sh"), str(state)], check=True, timeout=600,
                       env=os.environ | ports | {"STRATUS_CEPH_OSD_GB": "8"})  # fmt: skip
        raw = state / "tiny.raw"
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(tiny_image), str(raw)], check=True)
        cloud = cleanup.enter_context(running_cloud(state, env))
        cleanup.callback(remove_domains_under, state)
        cloud.bootstrap(ADMIN, DEMO)
        clouds_yaml = state / "clouds.yaml"
        accounts = {"e2e-admin": ("admin", ADMIN), "e2e": ("demo", DEMO)}
        write_clouds_yaml(clouds_yaml, cloud.auth_url, "RegionOne", accounts)
        cli = OpenStack(clouds_yaml)
        image = cli.json("e2e-admin", "image", "create", "--public", "--file", str(raw), "--disk-format", "raw",
                         "--container-format", "bare", "tiny-raw")  # fmt: skip
        yield World(state, cli, image["id"])


def forget_state(state: Path) -> None:
    """The state directory goes, after Ceph: no daemon of the module's cluster may outlive it."""
    left = ceph_daemons(state)
    shutil.rmtree(state, ignore_errors=True)
    assert not left, f"Ceph daemons {left} outlived down.sh"


def server(world: World, name: str) -> dict[str, Any]:
    return world.cli.json("e2e", "server", "show", name)


def wait_status(world: World, name: str, status: str, timeout: float = 180) -> dict[str, Any]:
    return wait_until(
        lambda: server(world, name),
        timeout,
        interval=0.5,
        message=f"{name} never became {status}",
        until=lambda shown: shown["status"] == status and not shown.get("OS-EXT-STS:task_state"),
    )


def wait_markers(world: World, name: str, count: int, timeout: float = 180) -> None:
    wait_until(
        lambda: world.cli("e2e", "console", "log", "show", name),
        timeout,
        interval=1,
        message=f"{name}: fewer than {count} boots on the console",
        until=lambda console: console.count(READY) >= count,
    )


def attempt(world: World, cloud: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The openstack CLI where a refusal is expected: its result, whatever it is."""
    return warm_cli.run_cloud(world.cli.clouds_yaml, cloud, *args, timeout=120)


def test_a_server_of_a_raw_image_in_ceph_boots_from_a_clone_and_leaves_nothing(world: World):
    started = time.monotonic()
    created = world.cli.json("e2e", "server", "create", "--image", "tiny-raw", "--flavor", "m1.tiny", "--wait",
                             "rbd-root")  # fmt: skip
    active = time.monotonic() - started
    assert created["status"] == "ACTIVE"
    disk = f"vms/{created['id']}_disk"
    info = world.rbd("info", disk)
    parent = info.get("parent") or {}
    assert (parent.get("pool"), parent.get("image"), parent.get("snapshot")) == ("images", world.image_id, "snap")
    assert info["size"] == GiB
    assert not any((world.state / "cache").glob("*")), "the image was downloaded to the host"
    wait_markers(world, "rbd-root", 1)
    booted = time.monotonic() - started
    print(f"\nserver from a raw image in Ceph: ACTIVE in {active:.1f} s, its ready marker after {booted:.1f} s")
    xml = virsh("dumpxml", f"stratus-{created['id']}")
    assert f"name='{disk}'" in xml and "protocol='rbd'" in xml

    world.cli("e2e", "server", "resize", "--flavor", "m1.small", "rbd-root")
    wait_status(world, "rbd-root", "VERIFY_RESIZE")
    assert world.rbd("info", disk)["size"] == 5 * GiB
    assert [s["name"] for s in world.rbd("snap", "ls", disk)] == ["resize-backup"]
    wait_markers(world, "rbd-root", 2)  # the grown clone boots
    world.cli("e2e", "server", "resize", "revert", "rbd-root")
    wait_status(world, "rbd-root", "ACTIVE")
    assert world.rbd("info", disk)["size"] == GiB and world.rbd("snap", "ls", disk) == []
    wait_markers(world, "rbd-root", 3)  # and so does the rolled-back one

    snapshot = world.cli.json("e2e", "server", "image", "create", "--name", "rbd-root-snap", "--wait", "rbd-root")
    assert snapshot["status"] == "active" and snapshot["disk_format"] == "qcow2"
    assert world.rbd("snap", "ls", disk) == [], "the server snapshot's RBD snapshot outlived the copy"

    refused = attempt(world, "e2e-admin", "image", "delete", "tiny-raw")
    assert refused.returncode != 0 and "in use" in refused.stderr, refused.stderr

    world.cli("e2e", "server", "delete", "--wait", "rbd-root")
    assert not (world.state / "instances" / created["id"]).exists()
    world.cli("e2e-admin", "image", "delete", "rbd-root-snap")
    # librbd may still list the clone for a moment after its removal returned
    wait_until(lambda: f"{created['id']}_disk" not in world.rbd("ls", "vms"), 10, message="the clone stayed")
    wait_until(
        lambda: attempt(world, "e2e-admin", "image", "delete", "tiny-raw").returncode == 0,
        10,
        interval=0.5,
        message="the image stayed in use after its server was deleted",
    )
    assert world.image_id not in world.rbd("ls", "images")
