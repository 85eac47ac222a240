"""Volumes in real QEMU guests (libvirt hosts, the file volume backend): a guest writes a pattern to its hot-plugged
``/dev/vdb``, the volume is detached and attached to a second guest that reads the same pattern; an online
extend is seen by the guest in ``/sys/block/vdb/size``; a server booted from a volume keeps its data in the volume
after the server is deleted with delete_on_termination=false, and a new server booted from it reads it back (the
tiny image runs from its initramfs, so the data goes to the raw disk past its boot partition).

Everything this module makes carries its own host name (``e2v<hex>``) or lives under its state directory, and is
removed whatever happens. Run under ``flock /tmp/stratus-e2e.lock``.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from manage.clouds import write_clouds_yaml
from tests.e2e.guests import Guest, OpenStack, guest_cloud_settings
from tests.e2e.kernel import remove_leftovers
from tests.harness import Cloud, running_cloud, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

HOST = f"e2v{secrets.token_hex(2)}"
UNDERLAY_BRIDGE = f"ul{HOST}"
UNDERLAY = f"198.19.{secrets.randbelow(256)}.0/24"
PASSWORDS = {"admin": "e2v-admin", "demo": "e2v-demo"}
BOOT_TIMEOUT = 240.0
GiB = 1 << 30


@pytest.fixture(scope="module")
def cloud(libvirtd: str, tiny_image: Path) -> Iterator[tuple[Cloud, OpenStack, str]]:
    """A one-host cloud booting QEMU guests, the tiny image in it, and a network of the demo project."""
    state, env = guest_cloud_settings(HOST, libvirtd, hosts=1, underlay_bridge=UNDERLAY_BRIDGE, underlay=UNDERLAY)
    env["STRATUS_VOLUME_DIR"] = str(state / "volumes")
    try:
        with running_cloud(state, env) as running:
            running.bootstrap(PASSWORDS["admin"], PASSWORDS["demo"])
            clouds_yaml = state / "clouds.yaml"
            write_clouds_yaml(clouds_yaml, running.auth_url, "RegionOne", {n: (n, p) for n, p in PASSWORDS.items()})
            openstack = OpenStack(clouds_yaml)
            openstack("admin", "image", "create", "--public", "--disk-format", "qcow2", "--container-format", "bare",
                      "--file", str(tiny_image), "tiny")  # fmt: skip
            network = openstack.json("admin", "network", "create", "--project", "demo", "vol-net")["id"]
            openstack("admin", "subnet", "create", "--project", "demo", "--network", network, "--subnet-range",
                      "10.9.0.0/24", "vol-subnet")  # fmt: skip
            yield running, openstack, network
    finally:
        remove_leftovers(state, (HOST,), UNDERLAY_BRIDGE)
        shutil.rmtree(state, ignore_errors=True)


def boot(cloud: Cloud, openstack: OpenStack, network: str, name: str, *how: str) -> Guest:
    source = how or ("--image", "tiny")
    created = openstack.json(
        "demo", "server", "create", *source, "--flavor", "m1.tiny", "--network", network, "--wait", name
    )
    host = openstack.json("admin", "server", "show", created["id"])["OS-EXT-SRV-ATTR:host"]
    (port,) = openstack.json("admin", "port", "list", "--device-id", created["id"])
    ip = port["Fixed IP Addresses"][0]["ip_address"]
    # One host keeps its instances right in the instances path; several hosts each in a directory of their own.
    instances = cloud.state_dir / "instances"
    layouts = (instances / created["id"], instances / host / "instances" / created["id"])
    console_log = next((d for d in layouts if d.is_dir()), layouts[0]) / "console.log"
    guest = Guest(name, created["id"], host, network, port["ID"], port["MAC Address"], ip, console_log)
    try:
        guest.wait_for_shell(BOOT_TIMEOUT)
    except AssertionError as exc:
        found = sorted(str(p) for p in (cloud.state_dir / "instances").rglob("console.log"))
        tail = console_log.read_text(errors="replace")[-3000:] if console_log.exists() else "(no console log)"
        raise AssertionError(f"{exc}\nconsole logs: {found}\n{tail}") from None
    return guest


def volume(openstack: OpenStack, volume_id: str) -> dict[str, Any]:
    return openstack.json("demo", "volume", "show", volume_id)


def wait_volume(openstack: OpenStack, volume_id: str, status: str, timeout: float = 120) -> dict[str, Any]:
    return wait_until(
        lambda: volume(openstack, volume_id),
        timeout,
        interval=0.5,
        message=f"volume {volume_id} never became {status}",
        until=lambda found: found["status"] == status,
    )


def attach(openstack: OpenStack, guest: Guest, volume_id: str) -> None:
    """``server add volume``, then until the volume is in use; a failed attach shows the host's error."""
    openstack("demo", "server", "add", "volume", guest.server_id, volume_id)
    try:
        wait_volume(openstack, volume_id, "in-use")
    except AssertionError as exc:
        events = openstack.json("admin", "server", "event", "list", guest.server_id)
        request = next(e["Request ID"] for e in events if e["Action"] == "attach_volume")
        details = openstack.json("admin", "server", "event", "show", guest.server_id, request)
        raise AssertionError(f"{exc}\n{details}") from None


def guest_sees(guest: Guest, path: str, timeout: float = 60) -> str:
    """What ``cat path`` prints in the guest, once it exists there."""

    def read() -> str | None:
        rc, out = guest.run(f"cat {path}")
        return out.strip() if rc == 0 else None

    return wait_until(read, timeout, interval=1, message=f"{guest.name} never saw {path}")


def write_pattern(guest: Guest, device: str, pattern: str, seek: int = 0) -> None:
    rc, out = guest.run(f"echo {pattern} | dd of={device} bs=512 seek={seek} count=1 conv=sync,fsync 2>&1")
    assert rc == 0, out


def read_pattern(guest: Guest, device: str, skip: int = 0) -> str:
    rc, out = guest.run(f"dd if={device} bs=512 skip={skip} count=1 2>/dev/null | head -n 1")
    assert rc == 0, out
    return out.strip()


def test_a_pattern_written_in_one_guest_is_read_in_another_and_extend_is_seen(cloud) -> None:
    running, openstack, network = cloud
    made = openstack.json("demo", "volume", "create", "--size", "1", "data")["id"]
    wait_volume(openstack, made, "available")
    first = boot(running, openstack, network, "writer")
    attach(openstack, first, made)
    assert guest_sees(first, "/sys/block/vdb/size") == str(GiB // 512)
    rc, serial = first.run("cat /sys/block/vdb/serial")
    assert rc == 0 and serial.strip() == made[:20]  # virtio-blk serials are 20 bytes
    pattern = f"STRATUS-{secrets.token_hex(8)}"
    write_pattern(first, "/dev/vdb", pattern)

    openstack("demo", "volume", "set", "--size", "2", made)  # online extend (Cinder 3.42)
    wait_until(
        lambda: first.run("cat /sys/block/vdb/size")[1].strip(),
        60,
        interval=1,
        message="the guest never saw the volume grow",
        until=lambda size: size == str(2 * GiB // 512),
    )
    assert wait_volume(openstack, made, "in-use")["size"] == 2

    openstack("demo", "server", "remove", "volume", first.server_id, made)
    wait_volume(openstack, made, "available")
    wait_until(lambda: first.run("test -e /sys/block/vdb")[0] != 0, 30, interval=1, message="vdb is still there")

    second = boot(running, openstack, network, "reader")
    attach(openstack, second, made)
    guest_sees(second, "/sys/block/vdb/size")
    assert read_pattern(second, "/dev/vdb") == pattern
    openstack("demo", "server", "delete", "--wait", first.server_id, second.server_id)
    wait_volume(openstack, made, "available")


def test_a_server_booted_from_a_volume_keeps_its_data_after_it_is_deleted(cloud) -> None:
    running, openstack, network = cloud
    made = openstack.json("demo", "volume", "create", "--size", "1", "--image", "tiny", "--bootable", "root")["id"]
    wait_volume(openstack, made, "available", timeout=180)
    first = boot(running, openstack, network, "bfv-1", "--volume", made)
    assert openstack.json("demo", "server", "show", first.server_id)["image"] in ("", "N/A (booted from volume)")
    pattern = f"KEPT-{secrets.token_hex(8)}"
    # The tiny image runs from its initramfs: the data is written to the root disk itself, far past its boot
    # partition (sector 2,000,000 of the 1 GiB volume).
    write_pattern(first, "/dev/vda", pattern, seek=2_000_000)
    openstack("demo", "server", "delete", "--wait", first.server_id)  # --volume: delete_on_termination false
    wait_volume(openstack, made, "available")

    second = boot(running, openstack, network, "bfv-2", "--volume", made)
    assert read_pattern(second, "/dev/vda", skip=2_000_000) == pattern
    openstack("demo", "server", "delete", "--wait", second.server_id)
    wait_volume(openstack, made, "available")
