"""The whole cloud on real libvirt and QEMU: a user boots our tiny image with the openstack CLI, sees its
ready marker in the console log, drives every power action, snapshots it, boots the snapshot, and deletes
everything without a trace left on the host."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from manage.clouds import write_clouds_yaml
from tests.e2e.guests import OpenStack
from tests.e2e.kernel import remove_domains_under, virsh
from tests.harness import Cloud, running_cloud, wait_until

pytestmark = pytest.mark.e2e

ADMIN, DEMO = "e2e-admin", "e2e-demo"
READY = "STRATUS-READY hostname="


@pytest.fixture(scope="module")
def libvirt_cloud(tiny_image: Path, libvirtd: str) -> Iterator[tuple[Cloud, Path]]:
    # Not under pytest's private temporary directory: QEMU runs as its own user and must reach the disks.
    state = Path(tempfile.mkdtemp(prefix="stratus-e2e-cloud-", dir="/var/tmp"))
    state.chmod(0o711)
    env = {
        "STRATUS_COMPUTE_DRIVER": "libvirt",
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_LIBVIRT_URI": libvirtd,
        "STRATUS_INSTANCES_PATH": str(state / "instances"),
        "STRATUS_IMAGE_CACHE_PATH": str(state / "cache"),
    }
    with running_cloud(state, env) as cloud:
        cloud.bootstrap(ADMIN, DEMO)
        clouds_yaml = state / "clouds.yaml"
        write_clouds_yaml(
            clouds_yaml, cloud.auth_url, "RegionOne", {"e2e-admin": ("admin", ADMIN), "e2e": ("demo", DEMO)}
        )
        openstack(
            clouds_yaml,
            "e2e-admin",
            "image",
            "create",
            "--public",
            "--file",
            str(tiny_image),
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "tiny",
        )
        try:
            yield cloud, clouds_yaml
        finally:
            remove_domains_under(state)
    shutil.rmtree(state, ignore_errors=True)


def openstack(clouds_yaml: Path, cloud: str, *args: str, timeout: float = 300) -> str:
    return OpenStack(clouds_yaml)(cloud, *args, timeout=timeout)


def server(clouds_yaml: Path, name: str) -> dict:
    return json.loads(openstack(clouds_yaml, "e2e", "server", "show", name, "-f", "json"))


def wait_status(clouds_yaml: Path, name: str, status: str, timeout: float = 120) -> dict:
    return wait_until(
        lambda: server(clouds_yaml, name),
        timeout,
        interval=0.5,
        message=f"{name} never became {status}",
        until=lambda shown: shown["status"] == status and not shown.get("OS-EXT-STS:task_state"),
    )


def wait_markers(clouds_yaml: Path, name: str, count: int, timeout: float = 120) -> str:
    """Until the console shows ``count`` ready markers (one per boot)."""
    return wait_until(
        lambda: openstack(clouds_yaml, "e2e", "console", "log", "show", name),
        timeout,
        interval=1,
        message=f"{name}: fewer than {count} boots seen on the console",
        until=lambda console: console.count(READY) >= count,
    )


def test_boot_drive_snapshot_and_delete_with_the_openstack_cli(libvirt_cloud):
    cloud, clouds_yaml = libvirt_cloud
    created = json.loads(
        openstack(
            clouds_yaml,
            "e2e",
            "server",
            "create",
            "--image",
            "tiny",
            "--flavor",
            "m1.tiny",
            "--wait",
            "e2e-one",
            "-f",
            "json",
        )
    )
    assert created["status"] == "ACTIVE"
    domain = f"stratus-{created['id']}"
    assert f"{READY}e2e-one" in wait_markers(clouds_yaml, "e2e-one", 1)
    assert domain in virsh("list", "--name")

    openstack(clouds_yaml, "e2e", "server", "stop", "e2e-one")
    wait_status(clouds_yaml, "e2e-one", "SHUTOFF")
    assert virsh("domstate", domain).strip() == "shut off"
    openstack(clouds_yaml, "e2e", "server", "start", "e2e-one")
    wait_status(clouds_yaml, "e2e-one", "ACTIVE")
    wait_markers(clouds_yaml, "e2e-one", 2)
    openstack(clouds_yaml, "e2e", "server", "reboot", "--hard", "e2e-one")
    wait_status(clouds_yaml, "e2e-one", "ACTIVE")
    wait_markers(clouds_yaml, "e2e-one", 3)
    for verb, status in (("pause", "PAUSED"), ("unpause", "ACTIVE"), ("suspend", "SUSPENDED"), ("resume", "ACTIVE")):
        openstack(clouds_yaml, "e2e", "server", verb, "e2e-one")
        wait_status(clouds_yaml, "e2e-one", status)
    assert virsh("domstate", domain).strip() == "running"

    snapshot = json.loads(
        openstack(
            clouds_yaml, "e2e", "server", "image", "create", "--name", "e2e-snap", "--wait", "e2e-one", "-f", "json"
        )
    )
    assert snapshot["status"] == "active"
    openstack(clouds_yaml, "e2e", "server", "create", "--image", "e2e-snap", "--flavor", "m1.tiny", "--wait", "e2e-two")
    assert f"{READY}e2e-two" in wait_markers(clouds_yaml, "e2e-two", 1)

    ids = [created["id"], server(clouds_yaml, "e2e-two")["id"]]
    openstack(clouds_yaml, "e2e", "server", "delete", "--wait", "e2e-one", "e2e-two")
    listed = virsh("list", "--all", "--name")
    for server_id in ids:
        assert f"stratus-{server_id}" not in listed
        assert not (cloud.state_dir / "instances" / server_id).exists()


@pytest.mark.timeout(1200)  # it waits for the guest modules running on other workers
def test_the_agent_survives_a_libvirtd_restart(libvirt_cloud, libvirtd_gate):
    _, clouds_yaml = libvirt_cloud
    openstack(clouds_yaml, "e2e", "server", "create", "--image", "tiny", "--flavor", "m1.tiny", "--wait", "e2e-three")
    with libvirtd_gate.alone():
        subprocess.run(["pkill", "-x", "libvirtd"], check=False)
        wait_until(
            lambda: subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True).returncode != 0,
            20,
            interval=0.2,
            message="libvirtd did not stop",
        )
        subprocess.run(["bash", "deploy/start-system-services.sh"], check=True, capture_output=True)
    openstack(clouds_yaml, "e2e", "server", "stop", "e2e-three")
    wait_status(clouds_yaml, "e2e-three", "SHUTOFF")
    openstack(clouds_yaml, "e2e", "server", "delete", "--wait", "e2e-three")
