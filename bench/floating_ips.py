"""How soon a floating IP answers once it is associated: ``PUT /v2.0/floatingips/{id}`` with a port, until the
first reply to a ping from the machine that runs the cloud.

Why: associating a floating IP is how a user reaches a new server, and moving one between servers is how a
service fails over; every second between the API's answer and the first packet is downtime. Neutron's L3 agent
takes from about one second (its RPC notification, then a full router resync) to several under load. Goal: p95
under 1 s.

Setup: a private cloud (``manage.private_cloud.running_cloud``) with two simulated hosts on the Linux dataplane,
each in its own network namespace on an underlay bridge of this run's own, and an external network on a bridge of
this run's own holding the machine's address (198.51.100.1/24 by default, a documentation range nothing routes;
nothing is NATed beyond the bridge). As the demo user: a network and subnet, a router with the external gateway and
the subnet attached, a security group rule allowing ICMP in, and two ports for "guests" bound to the last host, as
compute binds a server's port. Each guest is a network namespace of this run's own plugged into its port's bridge
with the port's MAC and address: the product wires and filters the port exactly as for a VM's tap, and the guest's
kernel answers pings at once (a TCG guest would only add its own jitter). The router lands on the first host by
name (both have none), so the guests' traffic to it crosses VXLAN between the two hosts.

Each sample: disassociate the floating IP and wait until it no longer answers (untimed), then associate it with
one guest's port (the PUT) and ping it from the root namespace every 10 ms until the first reply; time from the
PUT's start. The guests alternate, so the router's rules really change each time. Prints p50/p95/max and PASS or
MISS. Run as root. Exit status 0 unless the cloud failed.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/floating_ips.py`

from bench.identity import ApiFailure, percentile  # noqa: E402
from bench.network import ADMIN, DEMO, NET, Api, CloudFailure, cloud_env, login, tear_down_hosts  # noqa: E402

GOAL_P95_S = 1.0
ANSWER_TIMEOUT_S = 10.0
TENANT_CIDR = "10.32.0.0/24"


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=30)


@contextmanager
def external_bridge(name: str, address: str) -> Iterator[None]:
    """The machine's side of this run's external network: a bridge holding ``address`` (the dataplane makes the
    bridge too; making it first lets the benchmark own its removal)."""
    run("ip", "link", "add", name, "type", "bridge")
    try:
        run("ip", "addr", "add", address, "dev", name)
        run("ip", "link", "set", name, "up")
        yield
    finally:
        run("ip", "link", "del", name, check=False)


@contextmanager
def guest(tag: str, index: int, port: dict[str, Any], bridge: str, gateway: str, prefix: int) -> Iterator[str]:
    """A namespace standing for a server: a veth into the port's bridge with the port's MAC and address."""
    netns, outer, inner = f"bfip-{tag}-{index}", f"bfo{tag}{index}", f"bfi{tag}{index}"
    run("ip", "netns", "add", netns)
    try:
        run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", netns)
        run("ip", "link", "set", outer, "master", bridge, "up")
        address = port["fixed_ips"][0]["ip_address"]
        for argv in (
            ("link", "set", inner, "address", port["mac_address"]),
            ("addr", "add", f"{address}/{prefix}", "dev", inner),
            ("link", "set", inner, "up"),
            ("link", "set", "lo", "up"),
            ("route", "add", "default", "via", gateway),
        ):
            run("ip", "-n", netns, *argv)
        yield netns
    finally:
        run("ip", "link", "del", outer, check=False)
        run("ip", "netns", "del", netns, check=False)


def first_reply(address: str, timeout: float) -> bool:
    """Ping every 10 ms until one reply (True) or ``timeout`` seconds (False)."""
    result = run("ping", "-n", "-q", "-c", "1", "-i", "0.01", "-w", f"{timeout:g}", address, check=False)
    return result.returncode == 0


def wait_active(api: Api, port_id: str) -> None:
    deadline = time.monotonic() + 60
    while api.call("GET", f"{NET}/ports/{port_id}")["port"]["status"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise CloudFailure(f"port {port_id} never became ACTIVE")
        time.sleep(0.05)


def setup(admin: Api, demo: Api, host: str, external_cidr: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The demo project's ports (bound to ``host``) behind a router to the external network, and a floating IP."""
    external = admin.create(
        "network", name="bench-public", **{"router:external": True, "provider:network_type": "flat",
                                           "provider:physical_network": "public"},
    )  # fmt: skip
    network = ipaddress.ip_network(external_cidr)
    admin.create("subnet", network_id=external["id"], cidr=external_cidr, ip_version=4, enable_dhcp=False,
                 gateway_ip=str(network[1]))  # fmt: skip
    tenant = demo.create("network", name="bench-fip")
    subnet = demo.create("subnet", network_id=tenant["id"], cidr=TENANT_CIDR, ip_version=4)
    router = demo.create("router", name="bench-fip", external_gateway_info={"network_id": external["id"]})
    demo.call("PUT", f"{NET}/routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]})
    group = demo.call("GET", f"{NET}/security-groups?name=default")["security_groups"][0]
    rule = {"security_group_id": group["id"], "direction": "ingress", "ethertype": "IPv4", "protocol": "icmp"}
    demo.call("POST", f"{NET}/security-group-rules", {"security_group_rule": rule}, 201)
    ports = [
        admin.create(
            "port",
            network_id=tenant["id"],
            name=f"bench-fip-{i}",
            device_owner="compute:bench",
            device_id=f"bench-fip-guest-{i}",
            project_id=tenant["project_id"],  # binding a port to a host is an admin's act, for the demo project
            **{"binding:host_id": host},
        )
        for i in range(2)
    ]
    floating = demo.create("floatingip", floating_network_id=external["id"])
    return ports, floating


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20, help="associations timed (alternating guests)")
    parser.add_argument("--external-cidr", default="198.51.100.0/24", help="this run's external network")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/floating_ips.py needs root (namespaces and bridges)", file=sys.stderr)
        return 1
    from common.hostnames import machine_hosts
    from common.settings import load
    from manage.private_cloud import running_cloud
    from network.devicenames import vif_names

    tag = secrets.token_hex(2)
    bridge = f"bfipex{tag}"
    host_address = f"{ipaddress.ip_network(args.external_cidr)[1]}/{ipaddress.ip_network(args.external_cidr).prefixlen}"
    env = cloud_env(tag, wiring=True) | {
        "STRATUS_NETWORK_PHYSICAL_BRIDGES": f"public:{bridge}",
        "STRATUS_NETWORK_EXTERNAL_HOST_ADDRESS": host_address,
        "STRATUS_NETWORK_EXTERNAL_CIDR": args.external_cidr,
    }
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run (other work skews the figures)")
    samples: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="stratus-bench-fip-") as tmp, ExitStack() as stack:
            stack.enter_context(external_bridge(bridge, host_address))
            stack.callback(tear_down_hosts, env | {"STRATUS_STATE_DIR": tmp})
            try:
                cloud = stack.enter_context(running_cloud(Path(tmp), env))
                cloud.bootstrap(ADMIN.password, DEMO.password)
            except (RuntimeError, subprocess.CalledProcessError) as exc:
                raise ApiFailure(str(exc)) from exc
            hosts = machine_hosts(load(cloud.env))
            admin, demo = Api(cloud.url, login(cloud.auth_url, ADMIN)), Api(cloud.url, login(cloud.auth_url, DEMO))
            ports, floating = setup(admin, demo, hosts[-1], args.external_cidr)
            gateway, prefix = str(ipaddress.ip_network(TENANT_CIDR)[1]), ipaddress.ip_network(TENANT_CIDR).prefixlen
            for port in ports:
                wait_active(demo, port["id"])
            for index, port in enumerate(ports):
                stack.enter_context(guest(tag, index, port, vif_names(port["id"]).bridge, gateway, prefix))
            router = demo.call("GET", f"{NET}/routers?name=bench-fip")["routers"][0]
            placed = _router_host(cloud, router["id"])
            print(f"private cloud {cloud.url}, hosts {', '.join(hosts)}; guests on {hosts[-1]}, the router on {placed};"
                  f" floating IP {floating['floating_ip_address']}", flush=True)  # fmt: skip
            address = floating["floating_ip_address"]
            url = f"{NET}/floatingips/{floating['id']}"
            for sample in range(args.samples + 1):  # the first association is a warm-up (ARP, first NAT rules)
                # From unassociated, so the reply can only come through the new association (while a floating IP
                # moves, the old guest would answer until the router changes over, and the ping tells no guest apart).
                demo.call("PUT", url, {"floatingip": {"port_id": None}})
                deadline = time.monotonic() + ANSWER_TIMEOUT_S
                while first_reply(address, 0.2):
                    if time.monotonic() > deadline:
                        raise CloudFailure(f"{address} still answers {ANSWER_TIMEOUT_S:.0f} s after disassociating it")
                port = ports[sample % 2]
                started = time.perf_counter()
                demo.call("PUT", url, {"floatingip": {"port_id": port["id"]}})
                if not first_reply(address, ANSWER_TIMEOUT_S):
                    raise CloudFailure(f"no reply from {address} within {ANSWER_TIMEOUT_S:.0f} s of associating it")
                elapsed = time.perf_counter() - started
                if sample:
                    samples.append(elapsed)
                time.sleep(random.uniform(0.05, 0.2))  # not in step with the agents' own timers
    except (ApiFailure, CloudFailure) as exc:
        print(f"the cloud failed: {exc}", file=sys.stderr)
        return 1
    values = sorted(samples)
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    verdict = "PASS" if p95 < GOAL_P95_S else "MISS"
    print(f"floating IP associate -> first ping reply, {len(values)} associations (two guests in turn)")
    print(f"  p50 {p50:.3f} s  p95 {p95:.3f} s  max {values[-1]:.3f} s")
    print(f"Goals:\n  {verdict:<4}  associate -> first reply p95: {p95:.3f} s (goal < {GOAL_P95_S:.0f} s)")
    return 0


def _router_host(cloud: Any, router_id: str) -> str:
    """Where the control side placed the router (read from the database: the API does not show it)."""
    from common.db import Database
    from common.settings import load
    from network.models import Router

    db = Database(load(cloud.env).effective_database_url)
    try:
        with db.session() as session:
            record = session.get(Router, router_id)
            return record.host if record is not None and record.host else "(not placed yet)"
    finally:
        db.dispose()


if __name__ == "__main__":
    sys.exit(main())
