"""The tiny guest image from deploy/images/: a small standalone qcow2, cached by its inputs, that boots under software
emulation, takes its address by DHCP, applies the config drive, runs user data, prints its markers on the serial
console, and powers off on the ACPI power button.

The guest runs in plain QEMU (no libvirt) with its NIC on QEMU's user-mode network with ``restrict=on``: DHCP is
answered inside QEMU and the guest can reach nothing outside it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.images import markers
from tests.harness import wait_until

pytestmark = pytest.mark.e2e

BUILD_TINY = Path(__file__).resolve().parents[2] / "deploy" / "images" / "build-tiny.sh"
BOOT_TIMEOUT = 120.0  # seconds to the ready marker; it takes about 10 s under TCG on an idle machine
POWEROFF_TIMEOUT = 60.0
MAX_IMAGE_BYTES = 64 * 1024 * 1024

HOSTNAME = "tiny-test"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFsTrAtUsTiNyTeStKeY0123456789abcdefghijklm tiny@stratus-test"
USER_DATA = "#!/bin/sh\necho USERDATA-RAN-$((6*7))\nsed 's/^/AUTHORIZED-KEY /' /root/.ssh/authorized_keys\n"
MAC = "52:54:00:12:34:56"


# ---------------------------------------------------------------------------------------------------------------
# A guest in plain QEMU.


@dataclass
class Guest:
    """A running QEMU guest: its process, serial console log and human monitor socket."""

    process: subprocess.Popen[bytes]
    console_log: Path
    monitor: Path
    boot_seconds: float = 0.0

    def console(self) -> str:
        try:
            return self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_ready(self, timeout: float) -> None:
        """Wait for the ready marker; fail with the console's tail if QEMU exits or time runs out."""

        def console() -> str:
            if self.process.poll() is not None:
                pytest.fail(f"QEMU exited ({self.process.returncode}) before the guest was ready:\n{self.tail()}")
            return self.console()

        wait_until(
            console,
            timeout,
            interval=0.2,
            message=f"no {markers.READY_MARKER} line on the console",
            until=lambda text: markers.ready_hostname(text) is not None,
        )

    def monitor_command(self, command: str) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(self.monitor))
            sock.sendall(command.encode() + b"\n")
            time.sleep(0.5)  # let QEMU read it before the connection closes

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.console().replace("\r", "").splitlines()[-lines:])

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def make_config_drive(directory: Path) -> Path:
    """An OpenStack config drive (ISO 9660, label config-2) with meta_data.json and a user_data script."""
    latest = directory / "config" / "openstack" / "latest"
    latest.mkdir(parents=True)
    meta_data = {
        "uuid": "0b5e7a4c-6f0e-4d51-9b7c-5e1f00000001",
        "name": HOSTNAME,
        "hostname": HOSTNAME,
        "launch_index": 0,
        "availability_zone": "nova",
        # Nova's own format: the key text ends in a newline, and keys are repeated in "keys".
        "public_keys": {"test-key": PUBLIC_KEY + "\n"},
        "keys": [{"name": "test-key", "type": "ssh", "data": PUBLIC_KEY + "\n"}],
        "meta": {},
    }
    (latest / "meta_data.json").write_text(json.dumps(meta_data))
    (latest / "user_data").write_text(USER_DATA)
    iso = directory / "config-drive.iso"
    subprocess.run(
        ["genisoimage", "-quiet", "-o", str(iso), "-V", "config-2", "-r", "-J", str(directory / "config")],
        check=True,
        timeout=60,
    )
    return iso


@pytest.fixture(scope="module")
def guest(tiny_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    """The tiny image booted once (on a qcow2 overlay) with a config drive and a user-mode NIC, up to its ready line."""
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        pytest.fail("qemu-system-x86_64 is not installed (make deps)")
    work = tmp_path_factory.mktemp("tiny-guest")
    overlay = work / "overlay.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(tiny_image), "-F", "qcow2", str(overlay)],
        check=True,
        timeout=60,
    )
    config_drive = make_config_drive(work)
    console_log, monitor = work / "console.log", work / "monitor.sock"
    command = [
        qemu,
        "-machine", "pc", "-accel", "tcg",  # never KVM here: it hangs on this host (MACHINE-NOTES)
        "-m", "256", "-smp", "1",
        "-nodefaults", "-display", "none", "-no-reboot",
        "-serial", f"file:{console_log}",
        "-monitor", f"unix:{monitor},server=on,wait=off",
        "-drive", f"file={overlay},if=virtio,format=qcow2",
        "-drive", f"file={config_drive},if=ide,media=cdrom,format=raw,readonly=on",
        "-netdev", "user,id=n0,restrict=on",
        "-device", f"virtio-net-pci,netdev=n0,mac={MAC}",
    ]  # fmt: skip
    with (work / "qemu.log").open("wb") as qemu_log:
        started = time.monotonic()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT, start_new_session=True
        )
    vm = Guest(process, console_log, monitor)
    try:
        vm.wait_for_ready(BOOT_TIMEOUT)
        vm.boot_seconds = time.monotonic() - started
        yield vm
    finally:
        vm.kill()


# ---------------------------------------------------------------------------------------------------------------
# The image file and its build.


def test_image_is_a_small_standalone_qcow2(tiny_image: Path) -> None:
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output", "json", str(tiny_image)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    assert info["format"] == "qcow2"
    assert "backing-filename" not in info
    assert "data-file" not in info.get("format-specific", {}).get("data", {})
    assert tiny_image.stat().st_size < MAX_IMAGE_BYTES
    assert info["virtual-size"] <= MAX_IMAGE_BYTES
    subprocess.run(["qemu-img", "check", "-q", str(tiny_image)], check=True, timeout=60)


def test_build_is_cached_when_inputs_are_unchanged(tiny_image: Path) -> None:
    before = tiny_image.stat().st_mtime_ns
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(BUILD_TINY), str(tiny_image)], capture_output=True, text=True, timeout=60, check=False
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert tiny_image.stat().st_mtime_ns == before
    assert elapsed < 2.0


# ---------------------------------------------------------------------------------------------------------------
# The guest.


def test_guest_boots_with_dhcp_config_drive_and_user_data(guest: Guest) -> None:
    print(f"boot to ready under TCG: {guest.boot_seconds:.1f} s")
    console = guest.console()
    nics = markers.nics(console)
    assert nics == {"eth0": markers.Nic("eth0", MAC, "10.0.2.15/24")}, guest.tail()
    assert "USERDATA-RAN-42" in console
    assert f"AUTHORIZED-KEY {PUBLIC_KEY}" in console.replace("\r", "").splitlines()
    assert markers.ready_hostname(console) == HOSTNAME
    ready_lines = [line for line in console.splitlines() if line.startswith(markers.READY_MARKER)]
    assert len(ready_lines) == 1
    # The order the boot script promises: NIC lines, then user data, then the single ready line.
    assert console.index(markers.NIC_MARKER) < console.index("USERDATA-RAN-42") < console.index(ready_lines[0])


def test_acpi_power_button_powers_the_guest_off(guest: Guest) -> None:
    guest.monitor_command("system_powerdown")
    try:
        returncode = guest.process.wait(timeout=POWEROFF_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the guest did not power off within {POWEROFF_TIMEOUT:.0f} s:\n{guest.tail()}")
    assert returncode == 0
    # A power-off, not a reboot or a panic (QEMU runs with -no-reboot, which also exits on those).
    assert "reboot: Power down" in guest.console(), guest.tail()
