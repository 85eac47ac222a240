"""What the router and floating IP tests share: the cloud's external network and a routed tenant network.

A physical network carries one flat network (Neutron's rule), so every test of a session uses the same flat
external network on ``public``, found or made here (each test process has its own cloud). Tests that need an
external network of their own make a VXLAN one with ``router:external``, which the API accepts as Neutron does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.functional.network import BASE, create, get, network, subnet

EXTERNAL_NAME = "l3-public"
EXTERNAL_CIDR = "172.24.4.0/24"


def external_network(cloud: Any, admin: str) -> dict[str, Any]:
    """The flat external network on physical network ``public``, with its subnet 172.24.4.0/24 (gateway .1)."""
    found = get(cloud, admin, f"/networks?name={EXTERNAL_NAME}")["networks"]
    if found:
        return found[0]
    made = network(
        cloud,
        admin,
        EXTERNAL_NAME,
        **{"router:external": True, "provider:network_type": "flat", "provider:physical_network": "public"},
    )
    subnet(cloud, admin, made["id"], EXTERNAL_CIDR, gateway_ip="172.24.4.1", enable_dhcp=False)
    return get(cloud, admin, f"/networks/{made['id']}")["network"]


@dataclass(frozen=True)
class Lan:
    """A project's network and subnet behind a router with a gateway on the external network."""

    network: dict[str, Any]
    subnet: dict[str, Any]
    router: dict[str, Any]
    external: dict[str, Any]


def router(cloud: Any, token: str, name: str, **attrs: Any) -> dict[str, Any]:
    return create(cloud, token, "router", "routers", name=name, **attrs)


def put(cloud: Any, token: str, path: str, body: dict[str, Any]) -> Any:
    return cloud.request("PUT", f"{BASE}{path}", token, json=body)


def routed_lan(cloud: Any, token: str, admin: str, name: str, cidr: str) -> Lan:
    external = external_network(cloud, admin)
    net = network(cloud, token, name)
    sub = subnet(cloud, token, net["id"], cidr)
    made = router(cloud, token, name, external_gateway_info={"network_id": external["id"]})
    added = put(cloud, token, f"/routers/{made['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert added.status_code == 200, added.text
    return Lan(net, sub, made, external)


def dismantle(cloud: Any, token: str, lan: Lan) -> None:
    """Remove what ``routed_lan`` made (after the test's floating IPs and ports are gone)."""
    path = f"{BASE}/routers/{lan.router['id']}"
    removed = put(cloud, token, f"/routers/{lan.router['id']}/remove_router_interface", {"subnet_id": lan.subnet["id"]})
    assert removed.status_code == 200, removed.text
    assert cloud.request("DELETE", path, token).status_code == 204
    assert cloud.request("DELETE", f"{BASE}/networks/{lan.network['id']}", token).status_code == 204
