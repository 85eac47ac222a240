"""Routers reach a host through the whole stack (API, control side, agents on the fake dataplane): a router is
placed on a live network host, its ports are bound there and become ACTIVE once that host's agent applied it, and
an associated floating IP becomes ACTIVE; disassociated, it is DOWN."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.compute.conftest import server_image, wait_for_status  # noqa: F401 (a fixture)
from tests.functional.network import cli_json, create, delete, get
from tests.functional.network.l3 import dismantle, routed_lan
from tests.harness import wait_until

pytestmark = [pytest.mark.functional]


def _router_ports(cloud: Any, admin: str, router_id: str) -> list[dict[str, Any]]:
    return get(cloud, admin, f"/ports?device_id={router_id}")["ports"]


def test_a_router_runs_on_a_host_and_its_floating_ip_turns_active_once_wired(cloud, tokens, unique, server_image):  # noqa: F811
    lan = routed_lan(cloud, tokens.demo, tokens.admin, unique, "10.92.1.0/24")
    router_id = lan.router["id"]

    def placed() -> bool:
        ports = _router_ports(cloud, tokens.admin, router_id)
        hosts = {p["binding:host_id"] for p in ports}
        return len(ports) == 2 and len(hosts) == 1 and "" not in hosts and {p["status"] for p in ports} == {"ACTIVE"}

    wait_until(placed, 30, interval=0.2, message="the router's ports were never bound and ACTIVE on one host")
    server = cli_json(
        cloud, "stratus", "server", "create", "--image", server_image, "--flavor", "m1.tiny",
        "--network", lan.network["id"], unique,
    )  # fmt: skip
    wait_for_status(cloud, tokens.demo, server["id"], "ACTIVE")
    (vm,) = get(cloud, tokens.demo, f"/ports?device_id={server['id']}")["ports"]
    made = create(cloud, tokens.demo, "floatingip", "floatingips", floating_network_id=lan.external["id"],
                  port_id=vm["id"])  # fmt: skip

    def status() -> str:
        return get(cloud, tokens.demo, f"/floatingips/{made['id']}")["floatingip"]["status"]

    wait_until(lambda: status() == "ACTIVE", 30, interval=0.2, message="the floating IP never became ACTIVE")
    cloud.openstack("stratus", "floating", "ip", "unset", "--port", made["floating_ip_address"])
    wait_until(lambda: status() == "DOWN", 30, interval=0.2, message="a disassociated floating IP stayed ACTIVE")
    delete(cloud, tokens.demo, "floatingips", made["id"])
    cloud.openstack("stratus", "server", "delete", "--wait", unique)
    dismantle(cloud, tokens.demo, lan)
