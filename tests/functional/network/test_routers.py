"""Routers over real HTTP: Neutron's fields, the external gateway (flat external networks, SNAT, fixed IPs),
interfaces by subnet and by port, extra routes (whole list and atomic add/remove), the 404s across projects,
the 409s of wrong states, hostile bodies; raw HTTP, openstacksdk and the ``openstack`` CLI."""

from __future__ import annotations

import ipaddress
import re

import pytest

from tests.functional.network import BASE, cli_json, delete, fault, get, network, port, sdk, subnet
from tests.functional.network.l3 import external_network, put, routed_lan, router

pytestmark = [pytest.mark.functional]

FIELDS = {
    "id", "name", "tenant_id", "project_id", "admin_state_up", "status", "external_gateway_info", "routes",
    "description", "tags", "created_at", "updated_at", "revision_number",
}  # fmt: skip
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _ports_of(cloud, admin: str, router_id: str) -> list[dict]:
    return get(cloud, admin, f"/ports?device_id={router_id}")["ports"]


def test_a_router_with_a_gateway_and_an_interface_has_neutrons_fields_and_ports(cloud, tokens, unique):
    lan = routed_lan(cloud, tokens.demo, tokens.admin, unique, "10.90.1.0/24")
    shown = get(cloud, tokens.demo, f"/routers/{lan.router['id']}")["router"]
    assert set(shown) == FIELDS and TIMESTAMP.match(shown["created_at"])
    assert shown["project_id"] == tokens.demo_project and shown["status"] == "ACTIVE" and shown["routes"] == []
    gateway = shown["external_gateway_info"]
    assert gateway["network_id"] == lan.external["id"] and gateway["enable_snat"] is True
    (fixed,) = gateway["external_fixed_ips"]
    assert ipaddress.ip_address(fixed["ip_address"]) in ipaddress.ip_network("172.24.4.0/24")
    assert fixed["ip_address"] != "172.24.4.1"

    owners = {p["device_owner"]: p for p in _ports_of(cloud, tokens.admin, lan.router["id"])}
    assert set(owners) == {"network:router_gateway", "network:router_interface"}
    interface = owners["network:router_interface"]
    assert interface["fixed_ips"] == [{"subnet_id": lan.subnet["id"], "ip_address": "10.90.1.1"}]
    assert interface["project_id"] == tokens.demo_project and interface["security_groups"] == []
    assert owners["network:router_gateway"]["project_id"] == ""
    # the tenant sees its interface port, not the gateway port (that belongs to no project)
    assert [p["device_owner"] for p in _ports_of(cloud, tokens.demo, lan.router["id"])] == ["network:router_interface"]
    (listed,) = get(cloud, tokens.demo, f"/routers?name={unique}")["routers"]
    assert listed == shown


def test_router_delete_is_409_with_interfaces_and_leaves_no_ports_behind(cloud, tokens, unique):
    lan = routed_lan(cloud, tokens.demo, tokens.admin, unique, "10.90.2.0/24")
    path = f"{BASE}/routers/{lan.router['id']}"
    assert lan.router["id"] in fault(cloud.request("DELETE", path, tokens.demo), "RouterInUse", 409)
    # the interface port is the router's: neither the ports API nor a subnet delete may remove it
    (interface,) = _ports_of(cloud, tokens.demo, lan.router["id"])
    fault(cloud.request("DELETE", f"{BASE}/ports/{interface['id']}", tokens.demo), "ServicePortInUse", 409)
    fault(cloud.request("PUT", f"{BASE}/ports/{interface['id']}", tokens.demo, json={"port": {"device_id": ""}}),
          "ServicePortInUse", 409)  # fmt: skip
    fault(cloud.request("DELETE", f"{BASE}/subnets/{lan.subnet['id']}", tokens.demo), "SubnetInUse", 409)
    moved = {"subnet": {"gateway_ip": None}}
    gone = cloud.request("PUT", f"{BASE}/subnets/{lan.subnet['id']}", tokens.demo, json=moved)
    assert interface["id"] in fault(gone, "GatewayIpInUse", 409)
    gateway = [p for p in _ports_of(cloud, tokens.admin, lan.router["id"]) if p["device_owner"].endswith("gateway")]
    fault(cloud.request("DELETE", f"{BASE}/ports/{gateway[0]['id']}", tokens.admin), "ServicePortInUse", 409)

    removed = put(cloud, tokens.demo, f"/routers/{lan.router['id']}/remove_router_interface",
                  {"subnet_id": lan.subnet["id"]})  # fmt: skip
    assert removed.status_code == 200, removed.text
    assert removed.json() == {
        "id": lan.router["id"], "tenant_id": tokens.demo_project, "project_id": tokens.demo_project,
        "port_id": interface["id"], "network_id": lan.network["id"], "subnet_id": lan.subnet["id"],
        "subnet_ids": [lan.subnet["id"]],
    }  # fmt: skip
    delete(cloud, tokens.demo, "routers", lan.router["id"])
    assert _ports_of(cloud, tokens.admin, lan.router["id"]) == []
    fault(cloud.request("GET", path, tokens.demo), "RouterNotFound", 404)
    delete(cloud, tokens.demo, "networks", lan.network["id"])


def test_interfaces_by_port_one_per_subnet_no_overlaps_and_gateway_ip_required(cloud, tokens, unique):
    made = router(cloud, tokens.demo, unique)
    base = f"/routers/{made['id']}"
    first = network(cloud, tokens.demo, unique)
    sub = subnet(cloud, tokens.demo, first["id"], "10.90.3.0/24")
    second = network(cloud, tokens.demo, unique + "-2")
    overlapping = subnet(cloud, tokens.demo, second["id"], "10.90.3.128/25")
    no_gateway = subnet(cloud, tokens.demo, second["id"], "10.90.4.0/24", gateway_ip=None)

    mine = port(cloud, tokens.demo, first["id"], fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.90.3.50"}])
    added = put(cloud, tokens.demo, f"{base}/add_router_interface", {"port_id": mine["id"]})
    assert added.status_code == 200, added.text
    assert added.json()["port_id"] == mine["id"] and added.json()["subnet_ids"] == [sub["id"]]
    claimed = get(cloud, tokens.demo, f"/ports/{mine['id']}")["port"]
    assert claimed["device_owner"] == "network:router_interface" and claimed["device_id"] == made["id"]
    assert claimed["security_groups"] == [] and claimed["port_security_enabled"] is False

    again = put(cloud, tokens.demo, f"{base}/add_router_interface", {"subnet_id": sub["id"]})
    assert sub["id"] in fault(again, "BadRequest", 400)
    assert "overlaps" in fault(put(cloud, tokens.demo, f"{base}/add_router_interface",
                                   {"subnet_id": overlapping["id"]}), "BadRequest", 400)  # fmt: skip
    assert "gateway IP" in fault(put(cloud, tokens.demo, f"{base}/add_router_interface",
                                     {"subnet_id": no_gateway["id"]}), "BadRequest", 400)  # fmt: skip
    for body in ({}, {"subnet_id": sub["id"], "port_id": mine["id"]}):
        fault(put(cloud, tokens.demo, f"{base}/add_router_interface", body), "BadRequest", 400)
    # a port with a device is somebody's
    used = port(cloud, tokens.demo, second["id"], device_id="some-server")
    fault(put(cloud, tokens.demo, f"{base}/add_router_interface", {"port_id": used["id"]}), "PortInUse", 409)

    fault(put(cloud, tokens.demo, f"{base}/remove_router_interface", {"port_id": used["id"]}),
          "RouterInterfaceNotFound", 404)  # fmt: skip
    fault(put(cloud, tokens.demo, f"{base}/remove_router_interface", {"subnet_id": no_gateway["id"]}),
          "RouterInterfaceNotFoundForSubnet", 404)  # fmt: skip
    fault(put(cloud, tokens.demo, f"{base}/remove_router_interface",
              {"port_id": mine["id"], "subnet_id": no_gateway["id"]}), "SubnetMismatchForPort", 400)  # fmt: skip
    assert put(cloud, tokens.demo, f"{base}/remove_router_interface", {"port_id": mine["id"]}).status_code == 200
    fault(cloud.request("GET", f"{BASE}/ports/{mine['id']}", tokens.demo), "PortNotFound", 404)  # deleted with it
    delete(cloud, tokens.demo, "routers", made["id"])
    delete(cloud, tokens.demo, "ports", used["id"])
    for item in (first, second):
        delete(cloud, tokens.demo, "networks", item["id"])


def test_a_subnet_on_another_router_is_refused_by_its_gateway_address(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    sub = subnet(cloud, tokens.demo, net["id"], "10.90.5.0/24")
    first, second = router(cloud, tokens.demo, unique), router(cloud, tokens.demo, unique + "-2")
    assert put(cloud, tokens.demo, f"/routers/{first['id']}/add_router_interface", {"subnet_id": sub["id"]}).ok
    refused = put(cloud, tokens.demo, f"/routers/{second['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert "10.90.5.1" in fault(refused, "IpAddressAlreadyAllocated", 409)
    assert _ports_of(cloud, tokens.demo, second["id"]) == []
    assert put(cloud, tokens.demo, f"/routers/{first['id']}/remove_router_interface", {"subnet_id": sub["id"]}).ok
    for item in (first, second):
        delete(cloud, tokens.demo, "routers", item["id"])
    delete(cloud, tokens.demo, "networks", net["id"])


def test_gateway_rules_external_networks_only_and_admin_only_snat_and_addresses(cloud, tokens, unique):
    external = external_network(cloud, tokens.admin)
    internal = network(cloud, tokens.demo, unique)
    made = router(cloud, tokens.demo, unique)
    path = f"/routers/{made['id']}"
    refused = put(cloud, tokens.demo, path, {"router": {"external_gateway_info": {"network_id": internal["id"]}}})
    assert "not an external network" in fault(refused, "BadRequest", 400)
    missing = {"router": {"external_gateway_info": {"network_id": "0" * 36}}}
    fault(put(cloud, tokens.demo, path, missing), "NetworkNotFound", 404)
    for info in (
        {"network_id": external["id"], "enable_snat": False},
        {"network_id": external["id"], "external_fixed_ips": [{"ip_address": "172.24.4.77"}]},
    ):
        fault(put(cloud, tokens.demo, path, {"router": {"external_gateway_info": info}}), "PolicyNotAuthorized", 403)
    assert _ports_of(cloud, tokens.admin, made["id"]) == []  # nothing half made

    info = {"network_id": external["id"], "enable_snat": False, "external_fixed_ips": [{"ip_address": "172.24.4.77"}]}
    updated = put(cloud, tokens.admin, path, {"router": {"external_gateway_info": info}})
    assert updated.status_code == 200, updated.text
    gateway = updated.json()["router"]["external_gateway_info"]
    assert gateway["enable_snat"] is False
    assert [ip["ip_address"] for ip in gateway["external_fixed_ips"]] == ["172.24.4.77"]
    taken = router(cloud, tokens.admin, unique + "-taken")
    fault(put(cloud, tokens.admin, f"/routers/{taken['id']}", {"router": {"external_gateway_info": info}}),
          "IpAddressAlreadyAllocated", 409)  # fmt: skip
    cleared = put(cloud, tokens.demo, path, {"router": {"external_gateway_info": {}}})
    assert cleared.status_code == 200 and cleared.json()["router"]["external_gateway_info"] is None
    assert _ports_of(cloud, tokens.admin, made["id"]) == []
    delete(cloud, tokens.demo, "routers", made["id"])
    delete(cloud, tokens.admin, "routers", taken["id"])
    delete(cloud, tokens.demo, "networks", internal["id"])


def test_extra_routes_are_checked_and_changed_atomically(cloud, tokens, unique):
    lan = routed_lan(cloud, tokens.demo, tokens.admin, unique, "10.90.6.0/24")
    path = f"/routers/{lan.router['id']}"
    good = [{"destination": "192.168.50.0/24", "nexthop": "10.90.6.20"}]
    updated = put(cloud, tokens.demo, path, {"router": {"routes": good}})
    assert updated.status_code == 200 and updated.json()["router"]["routes"] == good
    for bad, reason in (
        ({"destination": "192.168.50.0/24", "nexthop": "10.99.0.1"}, "not connected"),
        ({"destination": "192.168.50.0/24", "nexthop": "10.90.6.1"}, "used by router"),
        ({"destination": "192.168.50.1/24", "nexthop": "10.90.6.20"}, ""),
        ({"destination": "not-a-cidr", "nexthop": "10.90.6.20"}, ""),
        ({"destination": "2001:db8::/64", "nexthop": "10.90.6.20"}, ""),
    ):
        answer = put(cloud, tokens.demo, path, {"router": {"routes": [bad]}})
        assert reason in fault(answer, "InvalidRoutes", 400)
    assert get(cloud, tokens.demo, path)["router"]["routes"] == good  # unchanged by the refusals

    extra = {"destination": "192.168.60.0/24", "nexthop": "10.90.6.21"}
    added = put(cloud, tokens.demo, f"{path}/add_extraroutes", {"router": {"routes": [extra, good[0]]}})
    assert added.status_code == 200 and added.json()["router"]["routes"] == [*good, extra]
    in_use = put(cloud, tokens.demo, f"{path}/remove_router_interface", {"subnet_id": lan.subnet["id"]})
    fault(in_use, "RouterInterfaceInUseByRoute", 409)
    removed = put(cloud, tokens.demo, f"{path}/remove_extraroutes", {"router": {"routes": [good[0]]}})
    assert removed.status_code == 200 and removed.json()["router"]["routes"] == [extra]
    too_many = [{"destination": f"192.168.{i}.0/24", "nexthop": "10.90.6.20"} for i in range(31)]
    fault(put(cloud, tokens.demo, path, {"router": {"routes": too_many}}), "RoutesExhausted", 400)
    assert put(cloud, tokens.demo, path, {"router": {"routes": None}}).json()["router"]["routes"] == []
    assert put(cloud, tokens.demo, f"{path}/remove_router_interface", {"subnet_id": lan.subnet["id"]}).ok
    delete(cloud, tokens.demo, "routers", lan.router["id"])
    delete(cloud, tokens.demo, "networks", lan.network["id"])


def test_other_projects_routers_are_404(cloud, tokens, unique):
    made = router(cloud, tokens.demo, unique)
    net = network(cloud, tokens.demo, unique)
    sub = subnet(cloud, tokens.demo, net["id"], "10.90.7.0/24")
    path = f"{BASE}/routers/{made['id']}"
    for method, suffix, body in (
        ("GET", "", None),
        ("PUT", "", {"router": {"name": "x"}}),
        ("DELETE", "", None),
        ("PUT", "/add_router_interface", {"subnet_id": sub["id"]}),
        ("PUT", "/remove_router_interface", {"subnet_id": sub["id"]}),
        ("PUT", "/add_extraroutes", {"router": {"routes": []}}),
    ):
        fault(cloud.request(method, path + suffix, tokens.other, json=body), "RouterNotFound", 404)
    assert made["id"] not in {r["id"] for r in get(cloud, tokens.other, "/routers")["routers"]}
    # another project's subnet cannot be attached to one's own router
    theirs = router(cloud, tokens.other, unique)
    refused = put(cloud, tokens.other, f"/routers/{theirs['id']}/add_router_interface", {"subnet_id": sub["id"]})
    fault(refused, "SubnetNotFound", 404)
    fault(cloud.request("PUT", path, tokens.reader, json={"router": {"name": "x"}}), "PolicyNotAuthorized", 403)
    delete(cloud, tokens.other, "routers", theirs["id"])
    delete(cloud, tokens.demo, "routers", made["id"])
    delete(cloud, tokens.demo, "networks", net["id"])


@pytest.mark.parametrize(
    "body",
    [
        {"router": {"name": "x" * 256}},
        {"router": {"name": 7}},
        {"router": {"admin_state_up": "maybe"}},
        {"router": {"external_gateway_info": {"network_id": "x" * 40}}},
        {"router": {"external_gateway_info": {"enable_snat": True}}},
        {"router": {"external_gateway_info": "public"}},
        {"router": {"routes": [{"destination": "10.0.0.0/8"}]}},
        {"router": {"unknown": 1}},
        {"router": []},
        ["router"],
    ],
)
def test_hostile_router_bodies_are_400(cloud, tokens, body):
    answer = cloud.request("POST", f"{BASE}/routers", tokens.demo, json=body)
    assert answer.status_code == 400, answer.text
    assert list(answer.json()) == ["NeutronError"]


@pytest.mark.parametrize(
    "body", [{"subnet_id": 5}, {"port_id": "p" * 37}, {"subnet_id": "x", "extra": 1}, {"subnet_id": "'; drop"}]
)
def test_hostile_interface_bodies_are_clean_faults(cloud, tokens, unique, body):
    made = router(cloud, tokens.demo, unique)
    answer = put(cloud, tokens.demo, f"/routers/{made['id']}/add_router_interface", body)
    assert answer.status_code in (400, 404), answer.text
    assert list(answer.json()) == ["NeutronError"]
    assert _ports_of(cloud, tokens.demo, made["id"]) == []
    delete(cloud, tokens.demo, "routers", made["id"])


def test_ports_api_cannot_make_router_or_floating_ip_ports(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    subnet(cloud, tokens.demo, net["id"], "10.90.10.0/24")
    made = router(cloud, tokens.demo, unique)
    plain = port(cloud, tokens.demo, net["id"])
    for owner in ("network:router_interface", "network:router_gateway", "network:floatingip"):
        body = {"port": {"network_id": net["id"], "device_owner": owner, "device_id": made["id"]}}
        answer = cloud.request("POST", f"{BASE}/ports", tokens.demo, json=body)
        assert answer.status_code == 400 and list(answer.json()) == ["NeutronError"], answer.text
        update = {"port": {"device_owner": owner, "device_id": made["id"]}}
        answer = cloud.request("PUT", f"{BASE}/ports/{plain['id']}", tokens.demo, json=update)
        assert answer.status_code == 400 and list(answer.json()) == ["NeutronError"], answer.text
    assert _ports_of(cloud, tokens.demo, made["id"]) == []
    delete(cloud, tokens.demo, "ports", plain["id"])
    delete(cloud, tokens.demo, "routers", made["id"])
    delete(cloud, tokens.demo, "networks", net["id"])


def test_malformed_router_ids_are_404(cloud, tokens):
    for router_id in ("x" * 300, "%E2%80%AE", "1 OR 1=1"):
        fault(cloud.request("GET", f"{BASE}/routers/{router_id}", tokens.demo), "RouterNotFound", 404)


def test_external_networks_are_flat_on_a_known_physical_network(cloud, tokens, unique):
    external = external_network(cloud, tokens.admin)
    shown = get(cloud, tokens.admin, f"/networks/{external['id']}")["network"]
    assert shown["provider:network_type"] == "flat" and shown["provider:physical_network"] == "public"
    assert shown["provider:segmentation_id"] is None and shown["router:external"] is True and shown["mtu"] == 1500
    assert get(cloud, tokens.admin, "/networks?provider:physical_network=public")["networks"][0]["id"] == external["id"]
    seen = get(cloud, tokens.other, f"/networks/{external['id']}")["network"]
    assert seen["router:external"] is True and "provider:physical_network" not in seen
    flat = {"router:external": True, "provider:network_type": "flat"}
    for extra, fault_type, code in (
        ({"provider:physical_network": "public"}, "FlatNetworkInUse", 409),
        ({"provider:physical_network": "nowhere"}, "InvalidInput", 400),
        ({}, "InvalidInput", 400),
        ({"provider:physical_network": "public", "provider:segmentation_id": 7}, "InvalidInput", 400),
    ):
        body = {"network": {"name": unique, **flat, **extra}}
        fault(cloud.request("POST", f"{BASE}/networks", tokens.admin, json=body), fault_type, code)
    # tenants may neither put ports nor subnets on it
    fault(cloud.request("POST", f"{BASE}/ports", tokens.demo, json={"port": {"network_id": external["id"]}}),
          "NetworkNotFound", 404)  # fmt: skip
    body = {"subnet": {"network_id": external["id"], "cidr": "172.30.0.0/24", "ip_version": 4}}
    fault(cloud.request("POST", f"{BASE}/subnets", tokens.demo, json=body), "NetworkNotFound", 404)


def test_openstacksdk_manages_routers(cloud, tokens, unique):
    external = external_network(cloud, tokens.admin)
    conn = sdk(cloud)
    net = conn.network.create_network(name=unique)
    sub = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.90.8.0/24")
    made = conn.network.create_router(name=unique, external_gateway_info={"network_id": external["id"]})
    assert made.external_gateway_info["network_id"] == external["id"]
    answer = conn.network.add_interface_to_router(made, subnet=sub.id)
    assert answer["subnet_id"] == sub.id and answer["port_id"]
    conn.network.add_extra_routes_to_router(made, body={"router": {"routes": [
        {"destination": "192.168.70.0/24", "nexthop": "10.90.8.9"}]}})  # fmt: skip
    assert conn.network.get_router(made.id).routes == [{"destination": "192.168.70.0/24", "nexthop": "10.90.8.9"}]
    conn.network.remove_extra_routes_from_router(made, body={"router": {"routes": [
        {"destination": "192.168.70.0/24", "nexthop": "10.90.8.9"}]}})  # fmt: skip
    conn.network.update_router(made, name=unique + "-x")
    assert [r.name for r in conn.network.routers(name=unique + "-x")] == [unique + "-x"]
    conn.network.remove_interface_from_router(made, subnet=sub.id)
    conn.network.delete_router(made)
    assert conn.network.find_router(made.id) is None
    conn.network.delete_network(net)


def test_the_cli_builds_a_routed_network(cloud, tokens, unique):
    external = external_network(cloud, tokens.admin)
    net = network(cloud, tokens.demo, unique)
    sub = subnet(cloud, tokens.demo, net["id"], "10.90.9.0/24")
    made = cli_json(cloud, "stratus", "router", "create", unique)
    assert made["name"] == unique and made["project_id"] == tokens.demo_project
    cloud.openstack("stratus", "router", "set", "--external-gateway", external["name"], unique)
    cloud.openstack("stratus", "router", "add", "subnet", unique, sub["id"])
    cloud.openstack("stratus", "router", "set", "--route", "destination=192.168.80.0/24,gateway=10.90.9.5", unique)
    shown = cli_json(cloud, "stratus", "router", "show", unique)
    assert shown["external_gateway_info"]["network_id"] == external["id"]
    assert shown["routes"] == [{"destination": "192.168.80.0/24", "nexthop": "10.90.9.5"}]
    assert unique in {r["Name"] for r in cli_json(cloud, "stratus", "router", "list")}
    cloud.openstack("stratus", "router", "set", "--no-route", unique)
    # an admin chooses the gateway's address and turns SNAT off
    cloud.openstack(
        "stratus-admin", "router", "set", "--external-gateway", external["id"], "--disable-snat",
        "--fixed-ip", "ip-address=172.24.4.88", made["id"],
    )  # fmt: skip
    gateway = cli_json(cloud, "stratus", "router", "show", unique)["external_gateway_info"]
    assert gateway["enable_snat"] is False and gateway["external_fixed_ips"][0]["ip_address"] == "172.24.4.88"
    cloud.openstack("stratus", "router", "unset", "--external-gateway", unique)
    assert cli_json(cloud, "stratus", "router", "show", unique)["external_gateway_info"] in (None, {})
    cloud.openstack("stratus", "router", "remove", "subnet", unique, sub["id"])
    mine = port(cloud, tokens.demo, net["id"])
    cloud.openstack("stratus", "router", "add", "port", unique, mine["id"])
    cloud.openstack("stratus", "router", "remove", "port", unique, mine["id"])
    cloud.openstack("stratus", "router", "delete", unique)
    assert cloud.openstack("stratus", "router", "show", unique, check=False).returncode != 0
    delete(cloud, tokens.demo, "networks", net["id"])


def test_extensions_list_the_l3_aliases(cloud, tokens):
    aliases = {e["alias"] for e in get(cloud, tokens.demo, "/extensions")["extensions"]}
    assert {"router", "ext-gw-mode", "extraroute", "extraroute-atomic", "external-net"} <= aliases
    assert "external-gateway-multihoming" not in aliases and "l3_agent_scheduler" not in aliases


@pytest.mark.parametrize(
    ("suffix", "body"),
    [
        ("", {"router": {"routes": [{"destination": "10.0.0.0/8", "nexthop": "1" * 65}]}}),
        ("", {"router": {"routes": "10.0.0.0/8"}}),
        ("", {"router": {"external_gateway_info": {"network_id": None}}}),
        ("", {"router": {"external_gateway_info": {"external_fixed_ips": [{"ip_address": "x" * 70}]}}}),
        ("", {"router": {"project_id": "someone-else"}}),
        ("/add_extraroutes", {"router": {"routes": [{"destination": "$(reboot)", "nexthop": "10.0.0.1"}]}}),
        ("/add_extraroutes", {"router": {}}),
        ("/remove_extraroutes", {"routes": []}),
        ("/add_router_interface", []),
    ],
)
def test_hostile_router_updates_are_400_and_change_nothing(cloud, tokens, unique, suffix, body):
    made = router(cloud, tokens.demo, unique)
    answer = put(cloud, tokens.demo, f"/routers/{made['id']}{suffix}", body)
    assert answer.status_code == 400, answer.text
    assert list(answer.json()) == ["NeutronError"]
    assert get(cloud, tokens.demo, f"/routers/{made['id']}")["router"] == made
    delete(cloud, tokens.demo, "routers", made["id"])
