"""A router interface port's fixed IP changes through the ports API over real HTTP, as Neutron allows (Tempest's
``test_router_interface_port_update_with_fixed_ip``), and Neutron's refusals stay."""

from __future__ import annotations

import pytest

from tests.functional.network import BASE, fault, get, network, subnet
from tests.functional.network.l3 import put, router

pytestmark = [pytest.mark.functional]


def test_an_interface_ports_fixed_ip_moves_within_its_subnet_and_keeps_one_ipv4_address(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    sub = subnet(cloud, tokens.demo, net["id"], "10.93.0.0/24")
    made = router(cloud, tokens.demo, unique)
    added = put(cloud, tokens.demo, f"/routers/{made['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert added.status_code == 200, added.text
    path = f"/ports/{added.json()['port_id']}"

    # Tempest's request: the subnet only, so the port keeps its address on it
    same = put(cloud, tokens.demo, path, {"port": {"fixed_ips": [{"subnet_id": sub["id"]}]}})
    assert same.status_code == 200, same.text
    assert same.json()["port"]["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.93.0.1"}]

    nine = [{"subnet_id": sub["id"], "ip_address": "10.93.0.9"}]
    moved = put(cloud, tokens.demo, path, {"port": {"fixed_ips": nine}})
    assert moved.status_code == 200, moved.text
    shown = get(cloud, tokens.demo, path)["port"]
    assert shown["fixed_ips"] == nine
    assert (shown["device_owner"], shown["device_id"]) == ("network:router_interface", made["id"])
    assert get(cloud, tokens.demo, f"/subnets/{sub['id']}")["subnet"]["gateway_ip"] == "10.93.0.1"

    two = {"port": {"fixed_ips": [{"ip_address": "10.93.0.20"}, {"ip_address": "10.93.0.21"}]}}
    assert "multiple IPv4" in fault(put(cloud, tokens.demo, path, two), "BadRequest", 400)
    fault(put(cloud, tokens.demo, path, {"port": {"fixed_ips": []}}), "BadRequest", 400)
    fault(put(cloud, tokens.demo, path, {"port": {"device_owner": "compute:nova"}}), "ServicePortInUse", 409)
    assert get(cloud, tokens.demo, path)["port"]["fixed_ips"][0]["ip_address"] == "10.93.0.9"

    removed = put(cloud, tokens.demo, f"/routers/{made['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    assert removed.status_code == 200, removed.text
    assert cloud.request("GET", f"{BASE}{path}", tokens.demo).status_code == 404
