"""Debian's cloud-init, which we did not write, judges our metadata: a Debian 12 guest boots in a one-host cloud
on the Linux dataplane, once with a config drive and once without one (the metadata service at 169.254.169.254),
and cloud-init must set the server's host name, install its key pair for the default user, run its user data and
configure its NIC from network_data.json with the address Neutron gave the port.

The image (``deploy/images/cloud/build-cloud.sh``, a few minutes the first time) is cached in ``.stratus/build/``.
Both servers boot at once; cloud-init's four stages under software emulation make this about three minutes on an
idle machine.
"""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openstack as sdk
import pytest

from deploy.images.cloud import markers
from manage.clouds import write_clouds_yaml
from tests.conftest import CLOUD_IMAGE, build_cloud_image_command
from tests.e2e.guests import OpenStack, guest_cloud_settings, in_parallel
from tests.e2e.kernel import remove_leftovers
from tests.harness import running_cloud, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

HOST = f"eci{secrets.token_hex(2)}"
UNDERLAY_BRIDGE = f"ul{HOST}"
UNDERLAY = f"198.19.{secrets.randbelow(256)}.0/24"
PASSWORDS = {"admin": "eci-admin", "demo": "eci-demo"}
SUBNET, GATEWAY = "10.9.0.0/24", "10.9.0.1"
IMAGE = CLOUD_IMAGE
BOOT_TIMEOUT = 600.0
"""Two guests running cloud-init at once under software emulation on a shared machine."""
DEFAULT_USER = "debian"
"""Debian's cloud.cfg names the default user; cloud-init installs the key pair for it."""
USER_DATA = "#!/bin/sh\necho STRATUS-USERDATA-RAN\n"
USER_DATA_RAN = re.compile(r"^STRATUS-USERDATA-RAN\r?$", re.MULTILINE)


@pytest.fixture(scope="module")
def cloud_image() -> Path:
    """The cloud-init image, built once and then cached with its inputs' stamp (a no-op when up to date; the
    session's controlling process started building it in the background when the session began)."""
    result = subprocess.run(build_cloud_image_command(), capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        pytest.fail(f"build-cloud.sh failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return IMAGE


@dataclass(frozen=True)
class Server:
    """A server booted for cloud-init: its name, the address Neutron gave its port, and the key pair's key."""

    name: str
    server_id: str
    ip: str
    public_key: str


@dataclass
class World:
    openstack: OpenStack
    demo: sdk.connection.Connection
    """The demo member through openstacksdk: the CLI cannot ask for a server without a config drive (it leaves
    ``config_drive`` out for "False", and Stratus then gives one, as for the tiny image)."""
    image: str
    flavor: str
    network: str
    public_key: str


@pytest.fixture(scope="module")
def world(
    cloud_image: Path, libvirtd: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """A one-host cloud on the Linux dataplane with the image, a flavor big enough for it, the demo project's
    key pair and a network with a subnet. When a test failed, the logs and consoles are kept in pytest's
    temporary directory (``cloud-init-logs*``)."""
    failed_before = request.session.testsfailed
    state, env = guest_cloud_settings(HOST, libvirtd, hosts=1, underlay_bridge=UNDERLAY_BRIDGE, underlay=UNDERLAY)
    keys = tmp_path_factory.mktemp("cloud-init-key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "eci", "-f", str(keys / "id")], check=True)
    network_ids: set[str] = set()
    ok = False
    try:
        with running_cloud(state, env) as cloud:
            cloud.bootstrap(PASSWORDS["admin"], PASSWORDS["demo"])
            clouds_yaml = state / "clouds.yaml"
            write_clouds_yaml(clouds_yaml, cloud.auth_url, "RegionOne", {n: (n, p) for n, p in PASSWORDS.items()})
            openstack = OpenStack(clouds_yaml)

            def network() -> str:
                made = openstack.json("demo", "network", "create", "ci-net")["id"]
                network_ids.add(made)
                openstack("demo", "subnet", "create", "--network", made, "--subnet-range", SUBNET, "ci-subnet")
                return made

            image = ("image", "create", "--public", "--disk-format", "qcow2", "--container-format", "bare")
            made, uploaded, flavor, _ = in_parallel(
                network,
                lambda: openstack.json("admin", *image, "--file", str(cloud_image), "debian-cloud-init"),
                lambda: openstack.json(
                    "admin", "flavor", "create", "--ram", "512", "--disk", "2", "--vcpus", "1", "ci"
                ),
                lambda: openstack("demo", "keypair", "create", "--public-key", str(keys / "id.pub"), "ci-key"),
            )
            demo = sdk.connect(
                auth_url=cloud.auth_url, username="demo", password=PASSWORDS["demo"], project_name="demo",
                user_domain_name="Default", project_domain_name="Default", region_name="RegionOne",
            )  # fmt: skip
            public_key = (keys / "id.pub").read_text().strip()
            yield World(openstack, demo, uploaded["id"], flavor["id"], made, public_key)
            ok = request.session.testsfailed == failed_before
            if not ok:
                keep = tmp_path_factory.mktemp("cloud-init-logs")
                shutil.copytree(state / "log", keep / "log", dirs_exist_ok=True)
                for console in state.glob("instances/**/console.log"):
                    shutil.copy(console, keep / f"console-{console.parent.name}.log")
    finally:
        remove_leftovers(state, (HOST,), UNDERLAY_BRIDGE, network_ids)
        shutil.rmtree(state, ignore_errors=True)


def create(world: World, name: str, config_drive: bool) -> Server:
    """Ask for the server (not waiting for it): the key pair, the user data, one NIC on the network."""
    created = world.demo.compute.create_server(
        name=name, image_id=world.image, flavor_id=world.flavor, key_name="ci-key",
        user_data=base64.b64encode(USER_DATA.encode()).decode(), networks=[{"uuid": world.network}],
        has_config_drive=config_drive,
    )  # fmt: skip
    ip = wait_until(
        lambda: world.openstack.json("demo", "port", "list", "--device-id", created.id),
        120,
        interval=1,
        message=f"{name} got no port",
        until=bool,
    )[0]["Fixed IP Addresses"][0]["ip_address"]
    return Server(name, created.id, ip, world.public_key)


def cloud_init_report(world: World, server: Server) -> tuple[markers.Report, str]:
    """Until the guest printed what cloud-init did (its report and the whole console), or the server failed."""

    def console() -> str:
        status = world.openstack.json("demo", "server", "show", server.server_id)["status"]
        assert status != "ERROR", f"{server.name} failed to build"
        if status == "BUILD":  # no console to read yet: the API refuses it (409) until the guest is spawned
            return ""
        return world.openstack("demo", "console", "log", "show", server.server_id)

    text = wait_until(
        console,
        BOOT_TIMEOUT,
        interval=5,
        message=f"{server.name}: cloud-init never finished",
        until=lambda text: markers.report(text) is not None,
    )
    found = markers.report(text)
    assert found is not None
    return found, text


def assert_configured(found: markers.Report, console: str, server: Server) -> None:
    """What cloud-init must have done for any OpenStack datasource: the host name, the default user's key, the
    user data, the NIC configured from network_data.json with the port's address."""
    assert found.status == "done", f"cloud-init status {found.status!r}: {found.errors}"
    assert found.hostname == server.name
    keys = found.authorized_keys.get(f"/home/{DEFAULT_USER}/.ssh/authorized_keys", [])
    assert server.public_key in keys, f"the key pair is not installed for {DEFAULT_USER}: {found.authorized_keys}"
    assert USER_DATA_RAN.search(console), "the user data script did not run"
    # network_data.json gives the address statically: cloud-init renders it, ifupdown applies it (no DHCP).
    for line in ("auto eth0", "iface eth0 inet static", f"address {server.ip}/24"):
        assert line in found.eni, f"cloud-init did not render {line!r} from network_data.json: {found.eni}"
    assert f"{server.ip}/24" in found.addresses, f"eth0 has {found.addresses}, Neutron gave {server.ip}"
    assert any(route.startswith(f"default via {GATEWAY} ") for route in found.routes), found.routes


@pytest.fixture(scope="module")
def servers(world: World) -> dict[str, Server]:
    """Both servers, asked for at once so that they boot side by side."""
    drive, metadata = in_parallel(
        lambda: create(world, "ci-drive", config_drive=True),
        lambda: create(world, "ci-metadata", config_drive=False),
    )
    return {"drive": drive, "metadata": metadata}


def test_cloud_init_configures_a_server_from_its_config_drive(world: World, servers: dict[str, Server]) -> None:
    server = servers["drive"]
    found, console = cloud_init_report(world, server)
    assert found.datasource == "configdrive", f"cloud-init's datasource: {found.datasource}"
    assert_configured(found, console, server)


def test_cloud_init_configures_a_server_from_the_metadata_service(world: World, servers: dict[str, Server]) -> None:
    server = servers["metadata"]
    found, console = cloud_init_report(world, server)
    # The OpenStack datasource runs only where the guest's SMBIOS product is "OpenStack Nova" (the libvirt
    # driver's sysinfo); in its init-local stage it takes a DHCP lease of its own to reach 169.254.169.254.
    assert found.datasource == "openstack", f"cloud-init's datasource: {found.datasource}"
    assert_configured(found, console, server)
