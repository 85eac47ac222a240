"""Consoles of a real guest: a user of the openstack CLI gets a serial console URL, types into the guest's root
shell on ttyS0 through the console proxy and sees the server's name; the console log still records it all; the
noVNC URL's websocket speaks RFB from QEMU's VNC server. Both listen on the host's loopback only."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.sync.client import ClientConnection, connect

from manage.clouds import write_clouds_yaml
from tests.e2e.guests import OpenStack
from tests.e2e.kernel import remove_domains_under, virsh
from tests.harness import Cloud, running_cloud, wait_until

pytestmark = pytest.mark.e2e

ADMIN, DEMO = "e2e-admin", "e2e-demo"
NAME = "e2e-console"
READY = f"STRATUS-READY hostname={NAME}"


@pytest.fixture(scope="module")
def booted(tiny_image: Path, libvirtd: str) -> Iterator[tuple[Cloud, OpenStack, dict]]:
    """A libvirt cloud with one ACTIVE tiny guest that printed its ready marker."""
    state = Path(tempfile.mkdtemp(prefix="stratus-e2e-consoles-", dir="/var/tmp"))  # QEMU must reach the disks
    state.chmod(0o711)
    env = {
        "STRATUS_COMPUTE_DRIVER": "libvirt",
        "STRATUS_COMPUTE_FAKE_HOSTS": "0",
        "STRATUS_LIBVIRT_URI": libvirtd,
        "STRATUS_INSTANCES_PATH": str(state / "instances"),
        "STRATUS_IMAGE_CACHE_PATH": str(state / "cache"),
    }
    try:
        with running_cloud(state, env) as cloud:
            cloud.bootstrap(ADMIN, DEMO)
            clouds_yaml = state / "clouds.yaml"
            write_clouds_yaml(
                clouds_yaml, cloud.auth_url, "RegionOne", {"e2e-admin": ("admin", ADMIN), "e2e": ("demo", DEMO)}
            )
            openstack = OpenStack(clouds_yaml)
            openstack(
                "e2e-admin", "image", "create", "--public", "--file", str(tiny_image),
                "--disk-format", "qcow2", "--container-format", "bare", "tiny",
            )  # fmt: skip
            create = ("server", "create", "--image", "tiny", "--flavor", "m1.tiny", "--wait", NAME, "-f", "json")
            created = json.loads(openstack("e2e", *create))
            wait_until(
                lambda: openstack("e2e", "console", "log", "show", NAME),
                120,
                interval=1,
                message=f"{NAME} never printed its ready marker",
                until=lambda log: READY in log,
            )
            try:
                yield cloud, openstack, created
            finally:
                remove_domains_under(state)
    finally:
        shutil.rmtree(state, ignore_errors=True)


def console_url(openstack: OpenStack, kind: str) -> str:
    return json.loads(openstack("e2e", "console", "url", "show", f"--{kind}", NAME, "-f", "json"))["url"]


def read_until(websocket: ClientConnection, marker: bytes, timeout: float = 30) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{marker!r} never came; the console showed {data[-500:]!r}")
        try:
            message = websocket.recv(timeout=left)
        except TimeoutError:
            continue
        data += message if isinstance(message, bytes) else message.encode()
    return data


def test_the_domain_listens_for_its_consoles_on_the_loopback_only(booted) -> None:
    _, _, created = booted
    root = ET.fromstring(virsh("dumpxml", f"stratus-{created['id']}"))
    source = root.find("./devices/serial/source")
    assert root.find("./devices/serial").get("type") == "tcp"
    assert source.get("host") == "127.0.0.1" and 10000 <= int(source.get("service")) <= 20000
    assert root.find("./devices/serial/log").get("file").endswith("/console.log")
    graphics = root.find("./devices/graphics")
    assert graphics.get("type") == "vnc" and graphics.get("listen") == "127.0.0.1" and int(graphics.get("port")) >= 5900


def test_typing_hostname_on_the_serial_console_shows_the_servers_name(booted) -> None:
    _, openstack, _ = booted
    with connect(console_url(openstack, "serial"), open_timeout=10) as websocket:
        websocket.send(b"\n")
        # The shell computes the marker, so it is the shell's answer and not the terminal echoing our line.
        websocket.send(b"echo CONSOLE-$((6*7)); hostname\n")
        answer = read_until(websocket, b"CONSOLE-42\r\n" + NAME.encode())
    assert answer.count(b"CONSOLE-42") >= 1
    log = wait_until(
        lambda: openstack("e2e", "console", "log", "show", NAME),
        30,
        interval=1,
        message="the console log did not record the session",
        until=lambda text: "CONSOLE-42" in text,
    )
    assert READY in log  # the log keeps everything the guest wrote, before and during the session


def test_the_novnc_websocket_speaks_rfb(booted) -> None:
    _, openstack, _ = booted
    url = urlsplit(console_url(openstack, "novnc"))
    assert url.path == "/vnc.html"
    path = parse_qs(url.query)["path"][0]
    with connect(f"ws://{url.netloc}/{path}", open_timeout=10, subprotocols=["binary"]) as websocket:
        assert read_until(websocket, b"\n", timeout=15).startswith(b"RFB 003.008")
