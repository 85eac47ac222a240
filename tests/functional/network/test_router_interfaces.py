"""Several interfaces added one after the other to a router, as Tempest's test_add_multiple_router_interfaces
does (its routers are administratively down): each interface is its subnet's gateway, and each interface port
becomes ACTIVE, as in Neutron (OVN's router ports are up whatever the router's state), so a client that waits
for an interface to be ACTIVE before removing it is not left waiting; the router going up keeps them ACTIVE."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.network import get, network, subnet
from tests.functional.network.l3 import put, router
from tests.harness import wait_until

pytestmark = [pytest.mark.functional]


def _add(cloud: Any, token: str, router_id: str, subnet_id: str) -> dict[str, Any]:
    added = put(cloud, token, f"/routers/{router_id}/add_router_interface", {"subnet_id": subnet_id})
    assert added.status_code == 200, added.text
    assert added.json()["subnet_id"] == subnet_id
    return added.json()


@pytest.mark.parametrize("admin_state_up", [False, True])
def test_add_multiple_router_interfaces_all_become_active(cloud, tokens, unique, admin_state_up):
    made = router(cloud, tokens.demo, unique, admin_state_up=admin_state_up)
    octet = 93 if admin_state_up else 96
    subnets = [
        subnet(cloud, tokens.demo, network(cloud, tokens.demo, f"{unique}-{i}")["id"], f"10.{octet + i}.0.0/24")
        for i in range(3)
    ]
    interfaces = [_add(cloud, tokens.demo, made["id"], s["id"]) for s in subnets]

    def statuses() -> list[str]:
        return [get(cloud, tokens.demo, f"/ports/{i['port_id']}")["port"]["status"] for i in interfaces]

    wait_until(lambda: statuses() == ["ACTIVE"] * 3, 30, interval=0.2, message="interfaces never all ACTIVE")
    for interface, sub in zip(interfaces, subnets, strict=True):
        shown = get(cloud, tokens.demo, f"/ports/{interface['port_id']}")["port"]
        assert shown["device_id"] == made["id"] and shown["device_owner"] == "network:router_interface"
        assert [ip["subnet_id"] for ip in shown["fixed_ips"]] == [sub["id"]]
        assert shown["fixed_ips"][0]["ip_address"] == sub["gateway_ip"]
    for interface in interfaces:
        removed = put(cloud, tokens.demo, f"/routers/{made['id']}/remove_router_interface",
                      {"port_id": interface["port_id"]})  # fmt: skip
        assert removed.status_code == 200, removed.text
