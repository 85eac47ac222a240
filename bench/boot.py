"""The control plane's share of a real boot: a server of our tiny image through the API on libvirt, next to the
same guest started by plain QEMU with the same devices.

Why: on a real host the guest's own boot dominates; what the cloud adds (API, queue, scheduler, image cache,
disk overlay, config drive, domain definition, and noticing that the guest is up) should stay under a second.

1. Plain QEMU: ``qemu-system-x86_64`` (TCG here, as libvirt probes it) with a qcow2 overlay of the image, a
   config drive built by the driver's own code, no NIC, the serial console written to a file; time from the
   process start to the guest's ``STRATUS-READY`` line.
2. The cloud: a private cloud with the libvirt driver; time from ``POST /servers`` to ACTIVE (polled every
   0.05 s) and to the ready line in ``os-getConsoleOutput`` (polled every 0.2 s), then the server is deleted.
The difference of the medians is the control plane's share (the polling adds up to 0.2 s to it). Run as root
with libvirtd running (``make up`` or ``make test`` start it). Exit status 0 unless the cloud failed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/boot.py`

from compute.host.virt.base import ConfigDrive  # noqa: E402
from compute.host.virt.libvirt import disks  # noqa: E402
from deploy.images import markers  # noqa: E402

COMPUTE = {"OpenStack-API-Version": "compute 2.37"}
TIMEOUT = 180.0


def build_tiny(workdir: Path) -> Path:
    image = workdir / "tiny.qcow2"
    subprocess.run(["bash", str(ROOT / "deploy/images/build-tiny.sh"), str(image)], check=True, capture_output=True)
    return image


def plain_qemu_boot(image: Path, workdir: Path, index: int) -> float:
    """Seconds from starting QEMU to the guest's ready line."""
    overlay, drive, log = (workdir / f"plain-{index}.{suffix}" for suffix in ("qcow2", "iso", "log"))
    disks.create_root_disk(overlay, image, "qcow2", 1)
    disks.build_config_drive(ConfigDrive(meta_data={"uuid": f"plain-{index}", "hostname": "plain"}), drive)
    argv = [
        "qemu-system-x86_64", "-machine", "pc,accel=tcg", "-cpu", "qemu64", "-m", "128", "-smp", "1",
        "-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
        "-drive", f"file={overlay},if=virtio,format=qcow2,cache=none",  # as the driver probes it here
        "-drive", f"file={drive},media=cdrom,if=ide,format=raw,readonly=on,cache=none",
        "-device", "virtio-rng-pci", "-serial", f"file:{log}",
    ]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not (log.exists() and markers.READY_RE.search(log.read_text(errors="replace"))):
            if process.poll() is not None:
                raise RuntimeError(f"QEMU exited: {process.stderr.read().decode() if process.stderr else ''}")
            if time.monotonic() - started > TIMEOUT:
                raise RuntimeError("the plain QEMU guest never printed its ready line")
            time.sleep(0.02)
        return time.monotonic() - started
    finally:
        process.kill()
        process.wait()


def cloud_boot(url: str, token: str, image: str, index: int) -> tuple[float, float]:
    """(POST → ACTIVE, POST → ready line in the console output) in seconds; the server is deleted afterwards."""
    headers = {"X-Auth-Token": token, **COMPUTE}
    body = {"server": {"name": f"boot-{index}", "imageRef": image, "flavorRef": "1", "networks": "none"}}
    started = time.monotonic()
    server = requests.post(f"{url}/compute/v2.1/servers", json=body, headers=headers, timeout=60).json()["server"]
    server_url = f"{url}/compute/v2.1/servers/{server['id']}"
    try:
        while (status := requests.get(server_url, headers=headers, timeout=60).json()["server"]["status"]) != "ACTIVE":
            if status == "ERROR" or time.monotonic() - started > TIMEOUT:
                raise RuntimeError(f"server {server['id']} went to {status}")
            time.sleep(0.05)
        active = time.monotonic() - started
        while True:
            console = requests.post(
                f"{server_url}/action", json={"os-getConsoleOutput": {"length": 50}}, headers=headers, timeout=60
            ).json()["output"]
            if markers.READY_RE.search(console):
                return active, time.monotonic() - started
            if time.monotonic() - started > TIMEOUT:
                raise RuntimeError("the guest never printed its ready line")
            time.sleep(0.2)
    finally:
        requests.delete(server_url, headers=headers, timeout=60)
        while requests.get(server_url, headers=headers, timeout=60).status_code != 404:
            time.sleep(0.1)


def libvirt_cloud(stack: ExitStack, state: Path, image_file: Path) -> tuple[str, str, str]:
    """(API URL, admin token, image id) of a private cloud on libvirt with the tiny image uploaded."""
    from manage.private_cloud import running_cloud

    env = {
        "STRATUS_COMPUTE_DRIVER": "libvirt",
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_INSTANCES_PATH": str(state / "instances"),
        "STRATUS_IMAGE_CACHE_PATH": str(state / "cache"),
    }
    cloud = stack.enter_context(running_cloud(state, env))
    cloud.bootstrap("boot-admin", "boot-demo")
    auth = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": "boot-admin"}},
            },
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
        }
    }
    token = requests.post(f"{cloud.auth_url}/auth/tokens", json=auth, timeout=30).headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token}
    image = requests.post(
        f"{cloud.url}/image/v2/images",
        headers=headers,
        timeout=30,
        json={"name": "tiny", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"},
    ).json()["id"]
    with image_file.open("rb") as data:
        requests.put(
            f"{cloud.url}/image/v2/images/{image}/file",
            data=data,
            timeout=60,
            headers=headers | {"Content-Type": "application/octet-stream"},
        )
    time.sleep(3)  # the host reports in
    return cloud.url, token, image


def run(repeat: int) -> None:
    with ExitStack() as stack:
        # QEMU runs as its own user and must reach the disks: not under a private temporary directory.
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stratus-bench-boot-", dir="/var/tmp")))
        workdir.chmod(0o711)
        image = build_tiny(workdir)
        plain = [plain_qemu_boot(image, workdir, i) for i in range(repeat)]
        state = workdir / "cloud"
        state.mkdir(mode=0o711)
        url, token, image_id = libvirt_cloud(stack, state, image)
        cloud_boot(url, token, image_id, -1)  # warms the host's image cache, as a cloud in use has it
        results = [cloud_boot(url, token, image_id, i) for i in range(repeat)]
    active = statistics.median(a for a, _ in results)
    ready = statistics.median(r for _, r in results)
    qemu = statistics.median(plain)
    share = ready - qemu
    print(f"\nreal boots of the tiny image on this machine (libvirt domain type as probed), median of {repeat}:")
    print(f"  plain QEMU start → ready line      {qemu:6.2f} s   (each: {', '.join(f'{p:.2f}' for p in plain)})")
    print(f"  API POST → ACTIVE                  {active:6.2f} s")
    print(f"  API POST → ready line on console   {ready:6.2f} s   (each: {', '.join(f'{r:.2f}' for _, r in results)})")
    verdict = "PASS" if share < 1.0 else "MISS"
    print(f"  {verdict}  control plane's share {share:.2f} s (goal < 1 s; includes up to 0.2 s of console polling)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="Boots of each kind.")
    run(parser.parse_args().repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
