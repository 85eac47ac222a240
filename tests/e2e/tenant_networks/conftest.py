"""The world every test of the package shares, built once: a private cloud with two simulated hosts on the Linux
dataplane, two projects with a network each on the same CIDR, and three QEMU guests at their root shell. Also the
order the test modules run in, since the last one deletes the world."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from manage.clouds import write_clouds_yaml
from tests.e2e.guests import Guest, OpenStack, guest_cloud_settings, in_parallel
from tests.e2e.kernel import remove_leftovers
from tests.e2e.libvirtd_gate import LibvirtdGate
from tests.e2e.tenant_networks.world import (
    BOOT_TIMEOUT,
    HOST,
    HOSTS,
    PASSWORDS,
    RESYNC_INTERVAL,
    UNDERLAY,
    UNDERLAY_BRIDGE,
    World,
)
from tests.harness import Cloud, running_cloud

HERE = Path(__file__).parent
MODULES = ("test_addresses_and_isolation", "test_security_groups", "test_agent_recovery", "test_teardown")
"""The package's test modules in the order they run (they share one world; ``test_teardown`` deletes it)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this package's tests together, module by module in the order of ``MODULES`` (each module's tests in
    their own order), where the first of them was collected: alphabetical order would put the teardown anywhere,
    and a module missing from ``MODULES`` fails collection here rather than run at an arbitrary point."""
    ours = [index for index, item in enumerate(items) if item.path.parent == HERE]
    if not ours:
        return
    block = sorted((items[index] for index in ours), key=lambda item: MODULES.index(item.path.stem))
    rest = [item for item in items if item.path.parent != HERE]
    items[:] = rest[: ours[0]] + block + rest[ours[0] :]


def _admit(openstack: OpenStack, project: str) -> None:
    """The project's member (the bootstrap made demo's) and the admin's role in the project (placing servers on a
    host is for admins only)."""
    calls = [lambda: openstack("admin", "role", "add", "--project", project, "--user", "admin", "admin")]
    if project != "demo":
        password = PASSWORDS[project]
        calls.append(
            lambda: (
                openstack("admin", "user", "create", "--project", project, "--password", password, project),
                openstack("admin", "role", "add", "--project", project, "--user", project, "member"),
            )
        )
    in_parallel(*calls)


def _tenant_network(openstack: OpenStack, project: str, name: str) -> tuple[str, str]:
    """The project's network on 10.0.0.0/24 and its dedicated group: both egress rules and ICMP in, nothing
    else (the default group would also let members of the same group in, whatever the ICMP rule says). The
    admin makes them for the project, so they need not wait for the project's user."""
    scope = ("--project", project)

    def network() -> str:
        made = openstack.json("admin", "network", "create", *scope, name)["id"]
        subnet = ("subnet", "create", *scope, "--network", made, "--subnet-range", "10.0.0.0/24", f"{name}-subnet")
        openstack("admin", *subnet)
        return made

    def group() -> str:
        made = openstack.json("admin", "security", "group", "create", *scope, "icmp-in")["id"]
        openstack("admin", "security", "group", "rule", "create", "--ingress", "--protocol", "icmp", made)
        return made

    network_id, group_id = in_parallel(network, group)
    return network_id, group_id


@dataclass(frozen=True)
class Server:
    name: str
    host: str
    ip: str


@dataclass(frozen=True)
class Tenant:
    project: str
    network: str
    servers: tuple[Server, ...]


TENANTS = (
    Tenant("demo", "a-net", (Server("a1", HOSTS[0], "10.0.0.11"), Server("a2", HOSTS[1], "10.0.0.12"))),
    Tenant("other", "b-net", (Server("b1", HOSTS[1], "10.0.0.11"),)),  # a1's address, on a2's host
)


def _boot(cloud: Cloud, openstack: OpenStack, project: str, server: Server, network: str, group: str) -> Guest:
    """Create the server as the admin acting in ``project``, placed on its host, and wait for its shell."""
    try:
        created = openstack.json(
            "admin",
            "server", "create", "--image", "tiny", "--flavor", "m1.tiny",
            "--nic", f"net-id={network},v4-fixed-ip={server.ip}",
            "--security-group", group,
            "--availability-zone", f"nova:{server.host}",
            "--wait", server.name,
            project=project,
        )  # fmt: skip
    except AssertionError as exc:
        shown = openstack.json("admin", "server", "show", server.name, project=project)
        raise AssertionError(f"{server.name} is {shown['status']}: {shown.get('fault')}") from exc
    (port,) = openstack.json("admin", "port", "list", "--device-id", created["id"])
    console_log = cloud.state_dir / "instances" / server.host / "instances" / created["id"] / "console.log"
    guest = Guest(
        server.name, created["id"], server.host, network, port["ID"], port["MAC Address"], server.ip, console_log
    )
    guest.wait_for_shell(BOOT_TIMEOUT)
    return guest


def _tenant(cloud: Cloud, openstack: OpenStack, tenant: Tenant, image: Future[str]) -> tuple[str, str, list[Guest]]:
    """Everything of one project, its servers booted in parallel once the image is there: (network id, group id,
    guests)."""
    if tenant.project != "demo":  # the bootstrap made demo
        openstack("admin", "project", "create", tenant.project)
    (network, group), _ = in_parallel(
        lambda: _tenant_network(openstack, tenant.project, tenant.network), lambda: _admit(openstack, tenant.project)
    )
    image.result()
    boots = (lambda s=s: _boot(cloud, openstack, tenant.project, s, network, group) for s in tenant.servers)
    return network, group, in_parallel(*boots)


def _keep_logs(state: Path, keep: Path) -> None:
    """The services' logs and the guests' consoles, for a run that failed."""
    shutil.copytree(state / "log", keep / "log", dirs_exist_ok=True)
    for console in state.glob("instances/*/instances/*/console.log"):
        shutil.copy(console, keep / f"console-{console.parent.name}.log")


@pytest.fixture(scope="package")
def world(
    tiny_image: Path,
    libvirtd: str,
    libvirtd_gate: LibvirtdGate,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """The cloud with both projects' networks and the three guests. When anything failed, the logs and consoles
    are kept in pytest's temporary directory (``tenant-networks-logs*``) before everything is removed. It holds
    the libvirtd gate itself: it outlives each of the package's modules."""
    libvirtd_gate.enter()
    try:
        yield from _world(tiny_image, libvirtd, request, tmp_path_factory)
    finally:
        libvirtd_gate.leave()


def _world(
    tiny_image: Path, libvirtd: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    failed_before = request.session.testsfailed
    state, env = guest_cloud_settings(
        HOST,
        libvirtd,
        hosts=len(HOSTS),
        underlay_bridge=UNDERLAY_BRIDGE,
        underlay=UNDERLAY,
        resync_interval=RESYNC_INTERVAL,
    )
    network_ids: set[str] = set()
    ok = False
    try:
        with running_cloud(state, env) as cloud:
            cloud.bootstrap(PASSWORDS["admin"], PASSWORDS["demo"])
            clouds_yaml = state / "clouds.yaml"
            write_clouds_yaml(
                clouds_yaml, cloud.auth_url, "RegionOne", {name: (name, pw) for name, pw in PASSWORDS.items()}
            )
            openstack = OpenStack(clouds_yaml)
            image = ("image", "create", "--public", "--disk-format", "qcow2", "--container-format", "bare")
            with ThreadPoolExecutor(max_workers=3) as pool:
                uploaded = pool.submit(openstack, "admin", *image, "--file", str(tiny_image), "tiny")
                tenants = [pool.submit(_tenant, cloud, openstack, tenant, uploaded) for tenant in TENANTS]
                (a_net, a_group, a_guests), (b_net, b_group, b_guests) = (tenant.result() for tenant in tenants)
            network_ids |= {a_net, b_net}
            world = World(cloud, openstack, {"a-net": a_net, "b-net": b_net}, {"demo": a_group, "other": b_group})
            world.guests = {guest.name: guest for guest in a_guests + b_guests}
            yield world
            ok = request.session.testsfailed == failed_before
    finally:
        if not ok:
            _keep_logs(state, tmp_path_factory.mktemp("tenant-networks-logs"))
        remove_leftovers(state, HOSTS, UNDERLAY_BRIDGE, network_ids)
        shutil.rmtree(state, ignore_errors=True)
