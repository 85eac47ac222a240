"""Deleting an external network, as Neutron: its floating IPs that are not associated go with it (and their
address-holding ports), while a router's gateway or an associated floating IP keeps it in use (409, and then
nothing is deleted)."""

from __future__ import annotations

import pytest

from tests.functional.network import BASE, create, fault, get, network, port, subnet
from tests.functional.network.l3 import put, router

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def _external(cloud, admin, name, cidr):
    made = network(cloud, admin, name, **{"router:external": True})
    return made, subnet(cloud, admin, made["id"], cidr, enable_dhcp=False)


def _floating_ip(cloud, token, network_id, **attrs):
    return create(cloud, token, "floatingip", "floatingips", floating_network_id=network_id, **attrs)


def test_delete_external_network_takes_its_unassociated_floating_ips(cloud, tokens, unique):
    external, external_subnet = _external(cloud, tokens.admin, unique, "172.30.71.0/24")
    mine = _floating_ip(cloud, tokens.admin, external["id"])
    theirs = _floating_ip(cloud, tokens.demo, external["id"])
    listed = get(cloud, tokens.admin, f"/floatingips?floating_network_id={external['id']}")["floatingips"]
    assert {f["id"] for f in listed} == {mine["id"], theirs["id"]}

    assert cloud.request("DELETE", f"{BASE}/networks/{external['id']}", tokens.admin).status_code == 204
    left = {f["id"] for f in get(cloud, tokens.admin, "/floatingips")["floatingips"]}
    assert not left & {mine["id"], theirs["id"]}
    assert external_subnet["id"] not in {s["id"] for s in get(cloud, tokens.admin, "/subnets")["subnets"]}
    assert get(cloud, tokens.admin, f"/ports?network_id={external['id']}")["ports"] == []


def test_an_associated_floating_ip_keeps_the_external_network_in_use(cloud, tokens, unique):
    external, _ = _external(cloud, tokens.admin, unique, "172.30.72.0/24")
    lan = network(cloud, tokens.demo, unique)
    lan_subnet = subnet(cloud, tokens.demo, lan["id"], "10.72.0.0/24")
    gateway = router(cloud, tokens.demo, unique, external_gateway_info={"network_id": external["id"]})
    added = put(cloud, tokens.demo, f"/routers/{gateway['id']}/add_router_interface", {"subnet_id": lan_subnet["id"]})
    assert added.status_code == 200, added.text
    vm = port(cloud, tokens.demo, lan["id"])
    associated = _floating_ip(cloud, tokens.demo, external["id"], port_id=vm["id"])
    loose = _floating_ip(cloud, tokens.demo, external["id"])

    path = f"{BASE}/networks/{external['id']}"
    fault(cloud.request("DELETE", path, tokens.admin), "NetworkInUse", 409)
    kept = {f["id"] for f in get(cloud, tokens.demo, "/floatingips")["floatingips"]}
    assert {associated["id"], loose["id"]} <= kept  # the failed delete removed nothing

    assert cloud.request("DELETE", f"{BASE}/floatingips/{associated['id']}", tokens.demo).status_code == 204
    cleared = put(cloud, tokens.demo, f"/routers/{gateway['id']}", {"router": {"external_gateway_info": None}})
    assert cleared.status_code == 200, cleared.text
    assert cloud.request("DELETE", path, tokens.admin).status_code == 204
    assert loose["id"] not in {f["id"] for f in get(cloud, tokens.demo, "/floatingips")["floatingips"]}
