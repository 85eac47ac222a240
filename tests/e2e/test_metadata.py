"""The metadata service from a real guest: a tiny-image server on a tenant network reads its own documents at
169.254.169.254 (served by its network's DHCP namespace through the host's metadata proxy and the metadata API),
at boot from its user data and later from its shell; headers it forges change nothing, and a request from an
address that is not its own (anti-spoofing drops it) gets nothing at all. One cloud for the module: two simulated
hosts on the Linux dataplane, one guest."""

from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from manage.clouds import write_clouds_yaml
from tests.e2e.guests import Guest, OpenStack, guest_cloud_settings
from tests.e2e.kernel import remove_leftovers
from tests.harness import Cloud, running_cloud, wait_until

pytestmark = pytest.mark.e2e

RUN = secrets.token_hex(2)
HOST = f"md{RUN}"
HOSTS = (f"{HOST}-1", f"{HOST}-2")
UNDERLAY_BRIDGE = f"ul{HOST}"
UNDERLAY = f"198.19.{secrets.randbelow(256)}.0/24"
PASSWORDS = {"admin": "md-admin", "demo": "md-demo"}
BOOT_TIMEOUT = 240.0
GUEST_IP = "10.0.0.11"
SPOOFED_IP = "10.0.0.99"
DHCP_IP = "10.0.0.2"
USER_DATA = """#!/bin/sh
for try in 1 2 3 4 5 6 7 8 9 10; do
    doc=$(wget -qO- http://169.254.169.254/openstack/latest/meta_data.json) && break
    sleep 1
done
echo "MD-BOOT-BEGIN $doc MD-BOOT-END"
"""
BOOT_DOCUMENT = re.compile(r"MD-BOOT-BEGIN (.*?) MD-BOOT-END")


@dataclass
class MetadataWorld:
    cloud: Cloud
    openstack: OpenStack
    network_id: str
    guest: Guest


@pytest.fixture(scope="module")
def world(tiny_image: Path, libvirtd: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadataWorld]:
    state, env = guest_cloud_settings(
        HOST, libvirtd, hosts=len(HOSTS), underlay_bridge=UNDERLAY_BRIDGE, underlay=UNDERLAY
    )
    network_ids: set[str] = set()
    ok = False
    try:
        with running_cloud(state, env) as cloud:
            cloud.bootstrap(PASSWORDS["admin"], PASSWORDS["demo"])
            clouds_yaml = state / "clouds.yaml"
            write_clouds_yaml(clouds_yaml, cloud.auth_url, "RegionOne", {n: (n, pw) for n, pw in PASSWORDS.items()})
            openstack = OpenStack(clouds_yaml)
            image = ("image", "create", "--public", "--disk-format", "qcow2", "--container-format", "bare")
            openstack("admin", *image, "--file", str(tiny_image), "tiny")
            openstack("admin", "role", "add", "--project", "demo", "--user", "admin", "admin")
            network_id = openstack.json("demo", "network", "create", "md-net")["id"]
            network_ids.add(network_id)
            openstack("demo", "subnet", "create", "--network", network_id, "--subnet-range", "10.0.0.0/24", "md-sub")
            user_data = state / "user-data.sh"
            user_data.write_text(USER_DATA)
            created = openstack.json(
                "admin",
                "server", "create", "--image", "tiny", "--flavor", "m1.tiny",
                "--nic", f"net-id={network_id},v4-fixed-ip={GUEST_IP}",
                "--user-data", str(user_data), "--config-drive", "True",
                "--availability-zone", f"nova:{HOSTS[1]}",
                "--wait", "md-guest",
                project="demo",
            )  # fmt: skip
            (port,) = openstack.json("admin", "port", "list", "--device-id", created["id"])
            console_log = state / "instances" / HOSTS[1] / "instances" / created["id"] / "console.log"
            guest = Guest("md-guest", created["id"], HOSTS[1], network_id, port["ID"], port["MAC Address"],
                          GUEST_IP, console_log)  # fmt: skip
            guest.wait_for_shell(BOOT_TIMEOUT)
            yield MetadataWorld(cloud, openstack, network_id, guest)
            ok = True
    finally:
        if not ok:
            keep = tmp_path_factory.mktemp("metadata-logs")
            shutil.copytree(state / "log", keep / "log", dirs_exist_ok=True)
            for console in state.glob("instances/*/instances/*/console.log"):
                shutil.copy(console, keep / f"console-{console.parent.name}.log")
        remove_leftovers(state, HOSTS, UNDERLAY_BRIDGE, network_ids)
        shutil.rmtree(state, ignore_errors=True)


def fetch(guest: Guest, path: str) -> tuple[int, str]:
    return guest.run(f"timeout 10 wget -qO- http://169.254.169.254{path}; echo", timeout=30)


def test_the_guest_read_its_own_meta_data_at_boot_from_its_user_data(world: MetadataWorld) -> None:
    found = BOOT_DOCUMENT.search(world.guest.console())
    assert found, "the user-data script printed no metadata document"
    assert json.loads(found[1])["uuid"] == world.guest.server_id


def test_the_guest_reads_both_layouts_from_its_shell(world: MetadataWorld) -> None:
    guest = world.guest
    rc, out = fetch(guest, "/openstack/latest/meta_data.json")
    assert rc == 0 and json.loads(out.strip())["uuid"] == guest.server_id
    assert fetch(guest, "/latest/meta-data/local-ipv4")[1].strip() == GUEST_IP
    assert fetch(guest, "/openstack/latest/user_data")[1].startswith("#!/bin/sh")
    network = json.loads(fetch(guest, "/openstack/latest/network_data.json")[1].strip())
    assert [(n["type"], n["ip_address"]) for n in network["networks"]] == [("ipv4", GUEST_IP)]


def test_the_route_to_the_metadata_address_came_by_dhcp_via_the_dhcp_port(world: MetadataWorld) -> None:
    _, out = world.guest.run("ip route show 169.254.169.254")
    assert f"via {DHCP_IP}" in out


def test_forged_identity_headers_change_nothing(world: MetadataWorld) -> None:
    guest = world.guest
    forged = "\\r\\n".join(
        [
            "GET /openstack/latest/meta_data.json HTTP/1.0",
            "Host: 169.254.169.254",
            "X-Forwarded-For: 10.0.0.12",
            f"X-Stratus-Network-ID: {world.network_id}",
            "X-Stratus-Signature: " + "0" * 64,
            "X-Instance-ID: 00000000-0000-0000-0000-000000000000",
        ]
    )
    _, out = guest.run(f"printf '{forged}\\r\\n\\r\\n' | timeout 10 nc 169.254.169.254 80; echo", timeout=30)
    assert "200 OK" in out.split("\n", 1)[0] or " 200 " in out, out
    body = out[out.index("{") : out.rindex("}") + 1]
    assert json.loads(body)["uuid"] == guest.server_id


def test_a_request_from_an_address_not_its_own_gets_nothing(world: MetadataWorld) -> None:
    guest = world.guest
    guest.run(f"ip addr add {SPOOFED_IP}/24 dev eth0")
    try:
        guest.run(f"ip route replace 169.254.169.254/32 via {DHCP_IP} dev eth0 src {SPOOFED_IP}")
        _, out = fetch(guest, "/openstack/latest/meta_data.json")
        assert guest.server_id not in out and "{" not in out  # dropped on the way: wget times out with nothing
    finally:
        guest.run(f"ip route replace 169.254.169.254/32 via {DHCP_IP} dev eth0 src {GUEST_IP}")
        guest.run(f"ip addr del {SPOOFED_IP}/24 dev eth0")
    assert guest.server_id in fetch(guest, "/openstack/latest/meta_data.json")[1]


def test_the_proxy_listens_in_the_dhcp_namespace_the_dataplane_lists(world: MetadataWorld) -> None:
    served = [json.loads(path.read_text()) for path in world.cloud.state_dir.glob("dataplane/*/metadata.json")]
    entries = [entry for listing in served for entry in listing]
    assert {"network_id": world.network_id, "namespace": f"qdhcp-{world.network_id}"} in entries
    wait_until(
        lambda: any("listening in qdhcp-" in p.read_text() for p in world.cloud.log_dir.glob("metadata-proxy*.log")),
        timeout=10,
        message="no metadata proxy says it listens",
    )
