"""`make up`, then `make up HOSTS=2` on the same state: the host of the first run is retired at once, and guests
booted at once on a new network land on the two new hosts, get their addresses by DHCP and reach each other.

Before, the first run's host stayed "up" for a minute after the second `services up` stopped its agents: the first
guest was scheduled there (it sorts first by name) and stayed in BUILD, and a network whose DHCP server was placed
there gave no address to guests on the other hosts. The same launcher as `make up` runs here, with the Linux
dataplane and QEMU guests; everything this module makes carries its own host name (``e2r<hex>``) or lives under
its state directory, and is removed whatever happens. About two minutes.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.images import markers
from manage.clouds import write_clouds_yaml
from tests.e2e.guests import Guest, OpenStack, guest_cloud_settings, in_parallel
from tests.e2e.kernel import remove_leftovers
from tests.harness import Cloud, running_cloud, wait_until

# Two QEMU guests under software emulation: about two minutes on an idle machine, more on a busy one.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

HOST = f"e2r{secrets.token_hex(2)}"
NEW_HOSTS = (f"{HOST}-1", f"{HOST}-2")
UNDERLAY_BRIDGE = f"ul{HOST}"
UNDERLAY = f"198.19.{secrets.randbelow(256)}.0/24"
PASSWORDS = {"admin": "e2r-admin", "demo": "e2r-demo"}
BOOT_TIMEOUT = 180.0


def _compute_hosts(openstack: OpenStack) -> dict[str, str]:
    """Every compute service's host and state, as `openstack compute service list` shows them."""
    services = openstack.json("admin", "compute", "service", "list", "--service", "nova-compute")
    return {service["Host"]: service["State"] for service in services}


@pytest.fixture(scope="module")
def one_host_cloud(libvirtd: str) -> Iterator[tuple[Cloud, OpenStack]]:
    """The cloud as `make up` leaves it on this machine: one host, named after the machine."""
    state, env = guest_cloud_settings(HOST, libvirtd, hosts=1, underlay_bridge=UNDERLAY_BRIDGE, underlay=UNDERLAY)
    try:
        with running_cloud(state, env) as cloud:
            cloud.bootstrap(PASSWORDS["admin"], PASSWORDS["demo"])
            clouds_yaml = state / "clouds.yaml"
            write_clouds_yaml(clouds_yaml, cloud.auth_url, "RegionOne", {n: (n, p) for n, p in PASSWORDS.items()})
            yield cloud, OpenStack(clouds_yaml)
    finally:
        remove_leftovers(state, (HOST, *NEW_HOSTS), UNDERLAY_BRIDGE)
        shutil.rmtree(state, ignore_errors=True)


def _boot(cloud: Cloud, openstack: OpenStack, name: str, network: str, group: str, security_group: str) -> Guest:
    created = openstack.json(
        "demo", "server", "create", "--image", "tiny", "--flavor", "m1.tiny", "--network", network,
        "--security-group", security_group, "--hint", f"group={group}", "--wait", name,
    )  # fmt: skip
    host = openstack.json("admin", "server", "show", created["id"])["OS-EXT-SRV-ATTR:host"]
    (port,) = openstack.json("admin", "port", "list", "--device-id", created["id"])
    ip = port["Fixed IP Addresses"][0]["ip_address"]
    console_log = cloud.state_dir / "instances" / host / "instances" / created["id"] / "console.log"
    guest = Guest(name, created["id"], host, network, port["ID"], port["MAC Address"], ip, console_log)
    guest.wait_for_shell(BOOT_TIMEOUT)
    return guest


def test_make_up_with_two_hosts_retires_the_first_and_new_guests_reach_each_other(
    one_host_cloud: tuple[Cloud, OpenStack], tiny_image: Path
) -> None:
    cloud, openstack = one_host_cloud
    started = time.monotonic()
    wait_until(lambda: _compute_hosts(openstack).get(HOST) == "up", 60, interval=0.5, message=f"{HOST} never came up")

    assert (cloud.state_dir / "dataplane" / HOST).is_dir(), "the first host's network agent set up no dataplane"
    cloud.env["STRATUS_HOSTS"] = "2"  # what `make up HOSTS=2` writes into the state directory's settings
    image = ("image", "create", "--public", "--disk-format", "qcow2", "--container-format", "bare")
    in_parallel(
        lambda: cloud.manage("services", "up"), lambda: openstack("admin", *image, "--file", str(tiny_image), "tiny")
    )
    second_up = time.monotonic()
    assert HOST not in _compute_hosts(openstack), "the host of the first run is still a compute service"
    hypervisors = openstack.json("admin", "hypervisor", "list")
    assert HOST not in {h["Hypervisor Hostname"] for h in hypervisors}
    assert not (cloud.state_dir / "dataplane" / HOST).exists(), "the retired host's wiring was left behind"
    wait_until(
        lambda: _compute_hosts(openstack),
        60,
        interval=0.5,
        message="the two new hosts never came up",
        until=lambda hosts: hosts == dict.fromkeys(NEW_HOSTS, "up"),
    )

    network = openstack.json("admin", "network", "create", "--project", "demo", "fresh-net")["id"]
    openstack("admin", "subnet", "create", "--project", "demo", "--network", network, "--subnet-range",
              "10.7.0.0/24", "fresh-subnet")  # fmt: skip
    group = openstack.json("demo", "server", "group", "create", "--policy", "anti-affinity", "apart")["id"]
    sg = openstack.json("demo", "security", "group", "create", "pingable")["id"]
    openstack("demo", "security", "group", "rule", "create", "--ingress", "--protocol", "icmp", sg)
    one, two = in_parallel(
        lambda: _boot(cloud, openstack, "fresh-1", network, group, sg),
        lambda: _boot(cloud, openstack, "fresh-2", network, group, sg),
    )
    booted = time.monotonic()
    assert {one.host, two.host} == set(NEW_HOSTS)
    for guest in (one, two):
        nic = markers.nics(guest.console())["eth0"]
        assert nic == markers.Nic("eth0", guest.mac, f"{guest.ip}/24"), f"{guest.name} got no DHCP lease: {nic}"
    assert one.reaches(two.ip) and two.reaches(one.ip)
    print(
        f"second services up {second_up - started:.1f} s, both guests at their shell {booted - second_up:.1f} s later"
    )
    openstack("demo", "server", "delete", "--wait", one.server_id, two.server_id)
