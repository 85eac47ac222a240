"""The tiny guest image from deploy/images/: a small standalone qcow2, cached by its inputs, that boots under software
emulation, takes its address by DHCP, applies the config drive or else the metadata service, runs user data, serves
SSH (keys only, a host key of its own per boot), prints its markers on the serial console, and powers off on the ACPI
power button.

Every guest runs in plain QEMU (no libvirt) and can reach nothing outside what the test made:

* the config drive guest's NIC is on QEMU's user-mode network with ``restrict=on``: DHCP is answered inside QEMU,
  and its SSH port is forwarded to an ephemeral port on 127.0.0.1;
* the other guests' NICs are taps in a network namespace of their own (``Lan``), where dnsmasq answers DHCP with
  a route to 169.254.169.254, as Stratus's DHCP does. For the metadata service path a test-only HTTP server owns
  169.254.169.254 in that namespace and serves a fixed OpenStack metadata tree (it stands in for the cloud's
  metadata service, which has its own tests); without it nothing answers there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploy.images import markers
from tests.harness import wait_until

pytestmark = pytest.mark.e2e

IMAGES = Path(__file__).resolve().parents[2] / "deploy" / "images"
BUILD_TINY = IMAGES / "build-tiny.sh"
METADATA_FETCH = IMAGES / "guest" / "usr" / "bin" / "stratus-metadata-fetch"
BOOT_TIMEOUT = 120.0  # seconds to the ready marker; it takes about 10 s under TCG on an idle machine
POWEROFF_TIMEOUT = 60.0
MAX_IMAGE_BYTES = 64 * 1024 * 1024
METADATA_WAIT_BOUND = 6.0  # guest seconds from "network configured" to giving up on the metadata service (5 s + slack)

HOSTNAME = "tiny-test"
METADATA_HOSTNAME = "tiny-meta"
DHCP_HOSTNAME = "tiny-dhcp"
USER_DATA = "#!/bin/sh\necho USERDATA-RAN-$((6*7))\nsed 's/^/AUTHORIZED-KEY /' /root/.ssh/authorized_keys\n"
METADATA_USER_DATA = "#!/bin/sh\necho METADATA-USERDATA-RAN-$((6*7))\n"
MAC = "52:54:00:12:34:56"
SSH_OPTIONS = (
    "-F", "/dev/null",  # no user configuration, no agent keys: only the key a test names
    "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR",
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# SSH keys, config drives, metadata trees.


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: str  # "ssh-ed25519 AAAA... comment", as it goes into metadata


def make_key_pair(directory: Path, name: str) -> KeyPair:
    private = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(private)], check=True)
    return KeyPair(private, private.with_suffix(".pub").read_text().strip())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    """``authorized`` goes into the guests' metadata; ``stranger`` is a valid key that never does."""
    directory = tmp_path_factory.mktemp("ssh-keys")
    return {name: make_key_pair(directory, name) for name in ("authorized", "stranger")}


def meta_data(hostname: str, public_key: str) -> str:
    """meta_data.json in Nova's own format: the key text ends in a newline, and keys are repeated in "keys"."""
    return json.dumps(
        {
            "uuid": "0b5e7a4c-6f0e-4d51-9b7c-5e1f00000001",
            "name": hostname,
            "hostname": hostname,
            "launch_index": 0,
            "availability_zone": "nova",
            "public_keys": {"test-key": public_key + "\n"},
            "keys": [{"name": "test-key", "type": "ssh", "data": public_key + "\n"}],
            "meta": {},
        }
    )


def make_config_drive(directory: Path, public_key: str) -> Path:
    """An OpenStack config drive (ISO 9660, label config-2) with meta_data.json and a user_data script."""
    latest = directory / "config" / "openstack" / "latest"
    latest.mkdir(parents=True)
    (latest / "meta_data.json").write_text(meta_data(HOSTNAME, public_key))
    (latest / "user_data").write_text(USER_DATA)
    iso = directory / "config-drive.iso"
    subprocess.run(
        ["genisoimage", "-quiet", "-o", str(iso), "-V", "config-2", "-r", "-J", str(directory / "config")],
        check=True,
        timeout=60,
    )
    return iso


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


# ---------------------------------------------------------------------------------------------------------------
# Networks: QEMU's user-mode network, or a namespace of the test's own.


def sh(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=timeout)


def free_local_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Lan:
    """A network namespace that is one guest's whole L2: the tap QEMU attaches to (QEMU runs inside), the gateway
    address, dnsmasq answering DHCP with a host name, a router and option 121 routes (169.254.169.254 and the
    default, both via the gateway), and, when ``metadata`` is a directory, a test-only HTTP server owning
    169.254.169.254 that serves it. Without one, nothing owns that address and the namespace forwards nothing, so
    the guest's requests go unanswered: the slowest case for it (timeouts, not refusals)."""

    work: Path
    metadata: Path | None = None
    netns: str = field(default_factory=lambda: f"stratus-tiny-{uuid.uuid4().hex[:8]}")
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    GATEWAY = "10.77.0.1"
    GUEST = "10.77.0.10"
    TAP = "tap0"
    METADATA_ADDRESS = "169.254.169.254"

    def __enter__(self) -> Lan:
        sh("ip", "netns", "add", self.netns)
        try:
            self._wire()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=30)
        subprocess.run(["ip", "netns", "delete", self.netns], check=False, timeout=30)

    def run(self, *argv: str, timeout: float = 30, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, *argv], capture_output=True, text=True, timeout=timeout, check=check
        )

    def _wire(self) -> None:
        ns = ("ip", "-n", self.netns)
        sh(*ns, "link", "set", "lo", "up")
        sh(*ns, "tuntap", "add", "dev", self.TAP, "mode", "tap")
        sh(*ns, "addr", "add", f"{self.GATEWAY}/24", "dev", self.TAP)
        sh(*ns, "link", "set", self.TAP, "up")
        routes = f"{self.METADATA_ADDRESS}/32,{self.GATEWAY},0.0.0.0/0,{self.GATEWAY}"
        self._start(
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-hosts", "--no-resolv", "--port=0",
            "--bind-interfaces", f"--interface={self.TAP}", "--except-interface=lo", "--user=root",
            f"--pid-file={self.work / 'dnsmasq.pid'}", f"--dhcp-leasefile={self.work / 'dnsmasq.leases'}",
            f"--dhcp-range={self.GUEST},static,255.255.255.0,1h", f"--dhcp-host={MAC},{self.GUEST},{DHCP_HOSTNAME}",
            f"--dhcp-option=option:router,{self.GATEWAY}", f"--dhcp-option=option:classless-static-route,{routes}",
            log="dnsmasq.log",
        )  # fmt: skip
        if self.metadata is not None:
            sh(*ns, "addr", "add", f"{self.METADATA_ADDRESS}/32", "dev", "lo")
            self._start(
                sys.executable, "-m", "http.server", "80", "--bind", self.METADATA_ADDRESS,
                "--directory", str(self.metadata), log="metadata-http.log",
            )  # fmt: skip
            wait_until(
                lambda: self.run("ss", "-Hltn", "sport = :80").stdout.strip(),
                30,
                message="the metadata HTTP server never listened",
            )

    def _start(self, *argv: str, log: str) -> None:
        with (self.work / log).open("ab") as output:
            self.processes.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", self.netns, *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )


# ---------------------------------------------------------------------------------------------------------------
# A guest in plain QEMU.


@dataclass
class Guest:
    """A running QEMU guest: its process, serial console log, human monitor socket, and where its SSH port is
    reached from (``netns`` None: the root namespace)."""

    process: subprocess.Popen[bytes]
    console_log: Path
    monitor: Path
    ssh_address: tuple[str, int]
    netns: str | None = None
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

    def ssh(self, key: KeyPair, command: str) -> subprocess.CompletedProcess[str]:
        """``command`` run as root over SSH with ``key`` (and no other); the host key is not checked."""
        host, port = self.ssh_address
        argv = ["ssh", *SSH_OPTIONS, "-i", str(key.private), "-p", str(port), f"root@{host}", command]
        return subprocess.run(self._in_netns(argv), capture_output=True, text=True, timeout=60, check=False)

    def served_host_keys(self) -> list[str]:
        """The ed25519 host key the SSH server proves it holds, as ``"TYPE BASE64"``. One key type per scan: a scan
        of every type opens five connections at once, and dropbear (under emulation, on a busy machine) once
        answered none of them in time."""
        host, port = self.ssh_address
        argv = ["ssh-keyscan", "-T", "30", "-t", "ed25519", "-p", str(port), host]
        scan = subprocess.run(self._in_netns(argv), capture_output=True, text=True, timeout=60, check=False)
        assert scan.returncode == 0, f"ssh-keyscan failed ({scan.returncode}): {scan.stderr}\n{self.tail()}"
        return sorted(" ".join(line.split()[1:3]) for line in scan.stdout.splitlines() if not line.startswith("#"))

    def log_uptime(self, message: str) -> float:
        """The guest's uptime on its ``stratus: [UPTIME] message`` console line."""
        match = re.search(rf"^stratus: \[(?P<uptime>[0-9.]+)\] {re.escape(message)}\r?$", self.console(), re.M)
        assert match is not None, f"no {message!r} line on the console:\n{self.tail()}"
        return float(match["uptime"])

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

    def _in_netns(self, argv: list[str]) -> list[str]:
        return argv if self.netns is None else ["ip", "netns", "exec", self.netns, *argv]


def boot(
    image: Path,
    work: Path,
    netdev: str,
    ssh_address: tuple[str, int],
    config_drive: Path | None = None,
    netns: str | None = None,
) -> Iterator[Guest]:
    """Boot ``image`` (on a qcow2 overlay) up to its ready line, yield the guest, kill it afterwards."""
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        pytest.fail("qemu-system-x86_64 is not installed (make deps)")
    overlay = work / "overlay.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(image), "-F", "qcow2", str(overlay)],
        check=True,
        timeout=60,
    )
    console_log, monitor = work / "console.log", work / "monitor.sock"
    command = [
        qemu,
        "-machine", "pc", "-accel", "tcg",  # never KVM here: it hangs on this host (MACHINE-NOTES)
        "-m", "256", "-smp", "1",
        "-nodefaults", "-display", "none", "-no-reboot",
        "-serial", f"file:{console_log}",
        "-monitor", f"unix:{monitor},server=on,wait=off",
        "-drive", f"file={overlay},if=virtio,format=qcow2",
        "-netdev", netdev,
        "-device", f"virtio-net-pci,netdev=n0,mac={MAC}",
    ]  # fmt: skip
    if config_drive is not None:
        command += ["-drive", f"file={config_drive},if=ide,media=cdrom,format=raw,readonly=on"]
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]
    with (work / "qemu.log").open("wb") as qemu_log:
        started = time.monotonic()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT, start_new_session=True
        )
    vm = Guest(process, console_log, monitor, ssh_address, netns)
    try:
        vm.wait_for_ready(BOOT_TIMEOUT)
        vm.boot_seconds = time.monotonic() - started
        yield vm
    finally:
        vm.kill()


@pytest.fixture(scope="module")
def guest(tiny_image: Path, keys: dict[str, KeyPair], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    """The tiny image booted once with a config drive and a user-mode NIC whose SSH port is forwarded to
    127.0.0.1, up to its ready line."""
    work = tmp_path_factory.mktemp("tiny-guest")
    config_drive = make_config_drive(work, keys["authorized"].public)
    port = free_local_port()
    netdev = f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22"
    yield from boot(tiny_image, work, netdev, ("127.0.0.1", port), config_drive=config_drive)


def lan_netdev() -> str:
    return f"tap,id=n0,ifname={Lan.TAP},script=no,downscript=no"


@pytest.fixture(scope="module")
def metadata_guest(
    tiny_image: Path, keys: dict[str, KeyPair], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Guest]:
    """The tiny image booted without a config drive, on a Lan whose metadata service serves an OpenStack tree."""
    work = tmp_path_factory.mktemp("tiny-metadata-guest")
    tree = write_tree(
        work / "metadata",
        {
            "openstack/latest/meta_data.json": meta_data(METADATA_HOSTNAME, keys["authorized"].public),
            "openstack/latest/user_data": METADATA_USER_DATA,
        },
    )
    with Lan(work, metadata=tree) as lan:
        yield from boot(tiny_image, work, lan_netdev(), (Lan.GUEST, 22), netns=lan.netns)


@pytest.fixture(scope="module")
def bare_guest(tiny_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    """The tiny image booted without a config drive, on a Lan that routes to 169.254.169.254 where nothing answers."""
    work = tmp_path_factory.mktemp("tiny-bare-guest")
    with Lan(work) as lan:
        yield from boot(tiny_image, work, lan_netdev(), (Lan.GUEST, 22), netns=lan.netns)


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


def test_guest_boots_with_dhcp_config_drive_and_user_data(guest: Guest, keys: dict[str, KeyPair]) -> None:
    print(f"boot to ready under TCG: {guest.boot_seconds:.1f} s")
    console = guest.console()
    nics = markers.nics(console)
    assert nics == {"eth0": markers.Nic("eth0", MAC, "10.0.2.15/24")}, guest.tail()
    assert markers.metadata_source(console) == "config-drive"
    assert "USERDATA-RAN-42" in console
    assert f"AUTHORIZED-KEY {keys['authorized'].public}" in console.replace("\r", "").splitlines()
    assert markers.ready_hostname(console) == HOSTNAME
    ready_lines = [line for line in console.splitlines() if line.startswith(markers.READY_MARKER)]
    assert len(ready_lines) == 1
    # The order the boot script promises: NIC lines, then user data, then the single ready line.
    assert console.index(markers.NIC_MARKER) < console.index("USERDATA-RAN-42") < console.index(ready_lines[0])


def test_ssh_with_the_config_drive_key_runs_commands_as_root_on_the_named_host(
    guest: Guest, keys: dict[str, KeyPair]
) -> None:
    result = guest.ssh(keys["authorized"], "hostname; id -u")
    assert result.returncode == 0, f"{result.stderr}\n{guest.tail()}"
    assert result.stdout.split() == [HOSTNAME, "0"]
    # The SSH server's log is kept in the guest, for whoever debugs a refused login.
    assert "Pubkey auth succeeded for 'root'" in guest.ssh(keys["authorized"], "logread").stdout


def test_ssh_refuses_a_key_the_metadata_did_not_authorize_and_offers_no_password_login(
    guest: Guest, keys: dict[str, KeyPair]
) -> None:
    result = guest.ssh(keys["stranger"], "hostname")
    assert result.returncode == 255
    assert result.stdout == ""
    # The only method left to try is "publickey": dropbear runs with password logins off.
    assert "Permission denied (publickey)" in result.stderr


def test_ssh_host_key_served_is_the_one_announced_on_the_console(guest: Guest) -> None:
    announced = markers.ssh_host_keys(guest.console())
    assert len(announced) == 1 and announced[0].startswith("ssh-ed25519 "), guest.tail()
    assert guest.served_host_keys() == announced


def test_acpi_power_button_powers_the_guest_off(guest: Guest) -> None:
    guest.monitor_command("system_powerdown")
    try:
        returncode = guest.process.wait(timeout=POWEROFF_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the guest did not power off within {POWEROFF_TIMEOUT:.0f} s:\n{guest.tail()}")
    assert returncode == 0
    # A power-off, not a reboot or a panic (QEMU runs with -no-reboot, which also exits on those).
    assert "reboot: Power down" in guest.console(), guest.tail()


# ---------------------------------------------------------------------------------------------------------------
# Without a config drive: the metadata service, or nothing.


def test_without_config_drive_the_metadata_service_gives_hostname_key_and_user_data(
    metadata_guest: Guest, keys: dict[str, KeyPair]
) -> None:
    print(f"boot to ready under TCG (metadata service): {metadata_guest.boot_seconds:.1f} s")
    console = metadata_guest.console()
    assert markers.nics(console) == {"eth0": markers.Nic("eth0", MAC, f"{Lan.GUEST}/24")}, metadata_guest.tail()
    assert markers.metadata_source(console) == "metadata-service"
    assert markers.ready_hostname(console) == METADATA_HOSTNAME
    assert "METADATA-USERDATA-RAN-42" in console
    result = metadata_guest.ssh(keys["authorized"], "hostname")
    assert result.returncode == 0, f"{result.stderr}\n{metadata_guest.tail()}"
    assert result.stdout.strip() == METADATA_HOSTNAME
    assert metadata_guest.ssh(keys["stranger"], "hostname").returncode == 255


def test_two_boots_of_the_image_have_different_host_keys(guest: Guest, metadata_guest: Guest) -> None:
    first, second = markers.ssh_host_keys(guest.console()), markers.ssh_host_keys(metadata_guest.console())
    assert first and second
    assert set(first).isdisjoint(second)
    assert metadata_guest.served_host_keys() == second


def test_without_config_drive_or_metadata_service_the_guest_is_ready_within_the_bound(bare_guest: Guest) -> None:
    print(f"boot to ready under TCG (no metadata at all): {bare_guest.boot_seconds:.1f} s")
    console = bare_guest.console()
    assert markers.metadata_source(console) == "none", bare_guest.tail()
    waited = bare_guest.log_uptime("no answer from the metadata service") - bare_guest.log_uptime("network configured")
    print(f"waited for the metadata service: {waited:.1f} s of guest time")
    assert waited <= METADATA_WAIT_BOUND
    # The host name falls back to the one DHCP gave; nobody can log in (no authorized keys), but SSH runs.
    assert markers.ready_hostname(console) == DHCP_HOSTNAME
    assert len(markers.ssh_host_keys(console)) == 1


# ---------------------------------------------------------------------------------------------------------------
# The guest's metadata client on its own: the same script and the same busybox as in the guest, run in a Lan.


@pytest.fixture(scope="module")
def busybox_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH of busybox applets only, as in the guest (Debian's busybox-static is the binary the image holds)."""
    directory = tmp_path_factory.mktemp("busybox-bin")
    busybox = shutil.which("busybox")
    assert busybox is not None, "busybox is not installed (make deps)"
    for applet in ("sh", "awk", "timeout", "wget", "mv", "rm", "mkdir", "usleep"):
        (directory / applet).symlink_to(busybox)
    return str(directory)


def fetch_metadata(lan: Lan, busybox_path: str, into: Path, seconds: int) -> tuple[int, float]:
    """Run the guest's metadata client in ``lan`` with a deadline ``seconds`` away: (exit status, seconds taken)."""
    with open("/proc/uptime") as uptime:
        deadline = int(float(uptime.read().split()[0]) * 100) + seconds * 100
    started = time.monotonic()
    result = lan.run(
        "env", f"PATH={busybox_path}", "sh", str(METADATA_FETCH), str(into), str(deadline), timeout=seconds + 30
    )
    return result.returncode, time.monotonic() - started


def test_metadata_client_falls_back_to_the_ec2_key_when_openstack_metadata_is_missing(
    tmp_path: Path, busybox_path: str
) -> None:
    tree = write_tree(
        tmp_path / "metadata",
        {
            "latest/meta-data/public-keys/0/openssh-key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEc2 ec2@test\n",
            "latest/meta-data/hostname": "tiny-ec2.novalocal\n",
        },
    )
    with Lan(tmp_path, metadata=tree) as lan:
        status, _ = fetch_metadata(lan, busybox_path, tmp_path / "fetched", seconds=5)
    assert status == 0
    fetched = tmp_path / "fetched"
    assert sorted(path.name for path in fetched.iterdir()) == ["hostname", "openssh-key"]
    assert (fetched / "openssh-key").read_text() == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEc2 ec2@test\n"
    assert (fetched / "hostname").read_text() == "tiny-ec2.novalocal\n"


def test_metadata_client_gives_up_by_its_deadline_when_nothing_answers(tmp_path: Path, busybox_path: str) -> None:
    with Lan(tmp_path) as lan:
        lan.run("ip", "addr", "add", f"{Lan.METADATA_ADDRESS}/32", "dev", "lo", check=True)  # owned, refusing
        status, taken = fetch_metadata(lan, busybox_path, tmp_path / "fetched", seconds=3)
    assert status == 1
    assert 2.0 <= taken <= 4.0  # it kept retrying, and stopped at the deadline
    assert list((tmp_path / "fetched").iterdir()) == []
