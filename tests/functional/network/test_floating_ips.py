"""Floating IPs over real HTTP: allocation from an external network (the address held by a port of its own),
association through the router between the port's subnet and that network, the 404s and 409s Neutron gives,
disassociation when the port goes, hostile bodies, the quota under concurrency; raw HTTP, openstacksdk, the
``openstack floating ip`` commands and ``openstack server add/remove floating ip`` on a fake-driver server."""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.functional.compute.conftest import server_image, wait_for_status  # noqa: F401 (a fixture)
from tests.functional.network import BASE, cli_json, create, delete, fault, get, network, port, sdk, subnet
from tests.functional.network.l3 import dismantle, external_network, put, routed_lan, router
from tests.functional.quota.conftest import new_tenant, set_network  # noqa: F401 (new_tenant is a fixture)
from tests.functional.quota.test_cli import stratus_json

pytestmark = [pytest.mark.functional]

FIELDS = {
    "id", "tenant_id", "project_id", "floating_network_id", "floating_ip_address", "fixed_ip_address", "port_id",
    "router_id", "status", "port_details", "description", "tags", "created_at", "updated_at", "revision_number",
}  # fmt: skip
EXTERNAL = ipaddress.ip_network("172.24.4.0/24")


def floating_ip(cloud: Any, token: str, network_id: str, **attrs: Any) -> dict[str, Any]:
    return create(cloud, token, "floatingip", "floatingips", floating_network_id=network_id, **attrs)


def _holders(cloud: Any, admin: str, floating_ip_id: str) -> list[dict[str, Any]]:
    return get(cloud, admin, f"/ports?device_id={floating_ip_id}")["ports"]


def test_a_floating_ip_is_allocated_associated_and_released_with_its_port(cloud, tokens, unique):
    lan = routed_lan(cloud, tokens.demo, tokens.admin, unique, "10.91.1.0/24")
    made = floating_ip(cloud, tokens.demo, lan.external["id"], description="web")
    assert set(made) == FIELDS and made["project_id"] == tokens.demo_project
    assert made["port_id"] is None and made["fixed_ip_address"] is None and made["router_id"] is None
    assert made["status"] == "DOWN" and made["description"] == "web"
    address = ipaddress.ip_address(made["floating_ip_address"])
    assert address in EXTERNAL and str(address) != "172.24.4.1"
    (holder,) = _holders(cloud, tokens.admin, made["id"])
    assert holder["device_owner"] == "network:floatingip" and holder["project_id"] == ""
    assert holder["fixed_ips"][0]["ip_address"] == made["floating_ip_address"]
    fault(cloud.request("DELETE", f"{BASE}/ports/{holder['id']}", tokens.admin), "ServicePortInUse", 409)

    vm = port(cloud, tokens.demo, lan.network["id"])
    path = f"/floatingips/{made['id']}"
    associated = put(cloud, tokens.demo, path, {"floatingip": {"port_id": vm["id"]}})
    assert associated.status_code == 200, associated.text
    shown = associated.json()["floatingip"]
    assert shown["port_id"] == vm["id"] and shown["router_id"] == lan.router["id"]
    assert shown["fixed_ip_address"] == vm["fixed_ips"][0]["ip_address"]
    assert shown["port_details"] == {
        "name": vm["name"], "network_id": lan.network["id"], "mac_address": vm["mac_address"],
        "admin_state_up": True, "status": "DOWN", "device_id": "", "device_owner": "",
    }  # fmt: skip
    assert made["port_details"] is None
    assert get(cloud, tokens.demo, f"/floatingips?port_id={vm['id']}")["floatingips"][0]["id"] == made["id"]
    # the interface the floating IP goes through cannot be removed, nor the gateway cleared
    in_use = put(cloud, tokens.demo, f"/routers/{lan.router['id']}/remove_router_interface",
                 {"subnet_id": lan.subnet["id"]})  # fmt: skip
    fault(in_use, "RouterInterfaceInUseByFloatingIP", 409)
    clear = put(cloud, tokens.demo, f"/routers/{lan.router['id']}", {"router": {"external_gateway_info": None}})
    fault(clear, "RouterExternalGatewayInUseByFloatingIp", 409)

    unset = put(cloud, tokens.demo, path, {"floatingip": {"port_id": None}})
    assert unset.json()["floatingip"]["router_id"] is None and unset.json()["floatingip"]["fixed_ip_address"] is None
    assert put(cloud, tokens.demo, path, {"floatingip": {"port_id": vm["id"]}}).status_code == 200
    # deleting the port disassociates the floating IP, which stays the project's
    delete(cloud, tokens.demo, "ports", vm["id"])
    kept = get(cloud, tokens.demo, path)["floatingip"]
    assert (kept["port_id"], kept["fixed_ip_address"], kept["router_id"]) == (None, None, None)
    delete(cloud, tokens.demo, "floatingips", made["id"])
    assert _holders(cloud, tokens.admin, made["id"]) == []
    fault(cloud.request("GET", f"{BASE}{path}", tokens.demo), "FloatingIPNotFound", 404)
    dismantle(cloud, tokens.demo, lan)


def test_association_needs_a_router_path_an_own_port_and_a_free_fixed_ip(cloud, tokens, unique):
    lan = routed_lan(cloud, tokens.demo, tokens.admin, unique, "10.91.2.0/24")
    first = floating_ip(cloud, tokens.demo, lan.external["id"])
    second = floating_ip(cloud, tokens.demo, lan.external["id"])
    vm = port(cloud, tokens.demo, lan.network["id"])
    assert put(cloud, tokens.demo, f"/floatingips/{first['id']}", {"floatingip": {"port_id": vm["id"]}}).ok
    duplicate = put(cloud, tokens.demo, f"/floatingips/{second['id']}", {"floatingip": {"port_id": vm["id"]}})
    assert vm["fixed_ips"][0]["ip_address"] in fault(duplicate, "FloatingIPPortAlreadyAssociated", 409)

    # a network no router connects to the external network
    lonely = network(cloud, tokens.demo, unique + "-lonely")
    lonely_sub = subnet(cloud, tokens.demo, lonely["id"], "10.91.3.0/24")
    stranded = port(cloud, tokens.demo, lonely["id"])
    refused = put(cloud, tokens.demo, f"/floatingips/{second['id']}", {"floatingip": {"port_id": stranded["id"]}})
    message = fault(refused, "ExternalGatewayForFloatingIPNotFound", 404)
    assert lan.external["id"] in message and lonely_sub["id"] in message
    # a router on that subnet without a gateway is no path either
    gatewayless = router(cloud, tokens.demo, unique + "-nogw")
    assert put(cloud, tokens.demo, f"/routers/{gatewayless['id']}/add_router_interface",
               {"subnet_id": lonely_sub["id"]}).ok  # fmt: skip
    refused = put(cloud, tokens.demo, f"/floatingips/{second['id']}", {"floatingip": {"port_id": stranded["id"]}})
    fault(refused, "ExternalGatewayForFloatingIPNotFound", 404)

    # another project's port is one the caller cannot see
    theirs_net = network(cloud, tokens.other, unique)
    subnet(cloud, tokens.other, theirs_net["id"], "10.91.4.0/24")
    theirs = port(cloud, tokens.other, theirs_net["id"])
    refused = put(cloud, tokens.demo, f"/floatingips/{second['id']}", {"floatingip": {"port_id": theirs["id"]}})
    fault(refused, "PortNotFound", 404)
    # a fixed address the port does not have, and a fixed address without a port
    wrong = {"floatingip": {"port_id": vm["id"], "fixed_ip_address": "10.91.2.250"}}
    fault(put(cloud, tokens.demo, f"/floatingips/{second['id']}", wrong), "BadRequest", 400)
    fault(put(cloud, tokens.demo, f"/floatingips/{second['id']}", {"floatingip": {"fixed_ip_address": "10.91.2.5"}}),
          "BadRequest", 400)  # fmt: skip
    # the router's own port is no target
    (interface,) = get(cloud, tokens.demo, f"/ports?device_id={lan.router['id']}")["ports"]
    fault(put(cloud, tokens.demo, f"/floatingips/{second['id']}", {"floatingip": {"port_id": interface["id"]}}),
          "BadRequest", 400)  # fmt: skip
    assert get(cloud, tokens.demo, f"/floatingips/{second['id']}")["floatingip"]["port_id"] is None

    for item in (first, second):
        delete(cloud, tokens.demo, "floatingips", item["id"])
    delete(cloud, tokens.demo, "ports", vm["id"])
    delete(cloud, tokens.demo, "ports", stranded["id"])
    assert put(cloud, tokens.demo, f"/routers/{gatewayless['id']}/remove_router_interface",
               {"subnet_id": lonely_sub["id"]}).ok  # fmt: skip
    delete(cloud, tokens.demo, "routers", gatewayless["id"])
    delete(cloud, tokens.demo, "networks", lonely["id"])
    delete(cloud, tokens.other, "ports", theirs["id"])
    delete(cloud, tokens.other, "networks", theirs_net["id"])
    dismantle(cloud, tokens.demo, lan)


def test_allocation_rules_external_networks_only_and_admin_chosen_addresses(cloud, tokens, unique):
    external = external_network(cloud, tokens.admin)
    internal = network(cloud, tokens.demo, unique)
    body = {"floatingip": {"floating_network_id": internal["id"]}}
    assert "not a valid external network" in fault(
        cloud.request("POST", f"{BASE}/floatingips", tokens.demo, json=body), "BadRequest", 400
    )
    body = {"floatingip": {"floating_network_id": "f" * 36}}
    fault(cloud.request("POST", f"{BASE}/floatingips", tokens.demo, json=body), "NetworkNotFound", 404)
    chosen = {"floatingip": {"floating_network_id": external["id"], "floating_ip_address": "172.24.4.201"}}
    fault(cloud.request("POST", f"{BASE}/floatingips", tokens.demo, json=chosen), "PolicyNotAuthorized", 403)
    made = cloud.request("POST", f"{BASE}/floatingips", tokens.admin,
                         json={"floatingip": {**chosen["floatingip"], "project_id": tokens.demo_project}})  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["floatingip"]["floating_ip_address"] == "172.24.4.201"
    assert made.json()["floatingip"]["project_id"] == tokens.demo_project
    again = cloud.request("POST", f"{BASE}/floatingips", tokens.admin, json=chosen)
    fault(again, "IpAddressAlreadyAllocated", 409)
    for address, fault_type in (("172.24.4.1", "IpAddressAlreadyAllocated"), ("10.1.1.1", "InvalidIpForNetwork")):
        body = {"floatingip": {"floating_network_id": external["id"], "floating_ip_address": address}}
        fault(cloud.request("POST", f"{BASE}/floatingips", tokens.admin, json=body), fault_type, 400 if
              fault_type == "InvalidIpForNetwork" else 409)  # fmt: skip
    # a VXLAN external network without subnets has nothing to give
    empty = network(cloud, tokens.admin, unique + "-empty", **{"router:external": True})
    body = {"floatingip": {"floating_network_id": empty["id"]}}
    assert "IPv4 subnet" in fault(cloud.request("POST", f"{BASE}/floatingips", tokens.demo, json=body),
                                  "BadRequest", 400)  # fmt: skip
    delete(cloud, tokens.demo, "floatingips", made.json()["floatingip"]["id"])
    delete(cloud, tokens.admin, "networks", empty["id"])
    delete(cloud, tokens.demo, "networks", internal["id"])


def test_other_projects_floating_ips_are_404(cloud, tokens, unique):
    external = external_network(cloud, tokens.admin)
    made = floating_ip(cloud, tokens.demo, external["id"])
    path = f"{BASE}/floatingips/{made['id']}"
    for method, body in (("GET", None), ("PUT", {"floatingip": {"port_id": None}}), ("DELETE", None)):
        fault(cloud.request(method, path, tokens.other, json=body), "FloatingIPNotFound", 404)
    assert made["id"] not in {f["id"] for f in get(cloud, tokens.other, "/floatingips")["floatingips"]}
    fault(cloud.request("DELETE", path, tokens.reader), "PolicyNotAuthorized", 403)
    for bad in ("x" * 300, "1 OR 1=1", made["floating_ip_address"]):
        fault(cloud.request("GET", f"{BASE}/floatingips/{bad}", tokens.demo), "FloatingIPNotFound", 404)
    delete(cloud, tokens.demo, "floatingips", made["id"])


@pytest.mark.parametrize(
    "attrs",
    [
        {"floating_ip_address": "not-an-ip"},
        {"floating_ip_address": "2001:db8::5"},
        {"floating_ip_address": "172.24.4.9 ; reboot"},
        {"floating_ip_address": 17},
        {"port_id": ["x"]},
        {"fixed_ip_address": "1" * 100},
        {"description": "d" * 256},
        {"unknown": True},
    ],
)
def test_hostile_floating_ip_bodies_are_400_and_allocate_nothing(cloud, tokens, attrs):
    external = external_network(cloud, tokens.admin)
    before = len(get(cloud, tokens.admin, f"/ports?network_id={external['id']}")["ports"])
    body = {"floatingip": {"floating_network_id": external["id"], **attrs}}
    answer = cloud.request("POST", f"{BASE}/floatingips", tokens.admin, json=body)
    assert answer.status_code == 400, answer.text
    assert list(answer.json()) == ["NeutronError"]
    assert len(get(cloud, tokens.admin, f"/ports?network_id={external['id']}")["ports"]) == before


@pytest.mark.both_databases
def test_fifty_concurrent_creates_with_a_quota_of_ten_make_exactly_ten(cloud, tokens, new_tenant):  # noqa: F811
    external = external_network(cloud, tokens.admin)
    tenant = new_tenant("fip")
    set_network(cloud, tenant.project_id, floatingip=10)
    body = {"floatingip": {"floating_network_id": external["id"]}}

    def attempt(_: int):
        return cloud.request("POST", f"{BASE}/floatingips", tenant.member, json=body)

    with ThreadPoolExecutor(16) as threads:
        answers = list(threads.map(attempt, range(50)))
    made = [a.json()["floatingip"] for a in answers if a.status_code == 201]
    assert len(made) == 10 and len({f["floating_ip_address"] for f in made}) == 10
    for answer in (a for a in answers if a.status_code != 201):
        assert fault(answer, "OverQuota", 409)
    assert len(get(cloud, tenant.member, "/floatingips")["floatingips"]) == 10
    details = get(cloud, tenant.member, f"/quotas/{tenant.project_id}/details")["quota"]
    assert details["floatingip"] == {"limit": 10, "used": 10, "reserved": 0}
    held = [p for p in get(cloud, tokens.admin, f"/ports?network_id={external['id']}")["ports"]
            if p["device_id"] in {f["id"] for f in made}]  # fmt: skip
    assert len(held) == 10
    for item in made:
        delete(cloud, tenant.member, "floatingips", item["id"])


def test_the_router_quota_is_neutrons_409(cloud, new_tenant):  # noqa: F811
    tenant = new_tenant("router")
    set_network(cloud, tenant.project_id, router=1)
    first = router(cloud, tenant.member, "r1")
    refused = cloud.request("POST", f"{BASE}/routers", tenant.member, json={"router": {"name": "r2"}})
    assert "router" in fault(refused, "OverQuota", 409)
    delete(cloud, tenant.member, "routers", first["id"])


def test_openstacksdk_manages_floating_ips(cloud, tokens, unique):
    lan = routed_lan(cloud, tokens.demo, tokens.admin, unique, "10.91.5.0/24")
    conn = sdk(cloud)
    vm = conn.network.create_port(network_id=lan.network["id"])
    made = conn.network.create_ip(floating_network_id=lan.external["id"], port_id=vm.id)
    assert made.port_id == vm.id and made.router_id == lan.router["id"]
    assert conn.network.find_ip(made.floating_ip_address).id == made.id
    conn.network.update_ip(made, port_id=None)
    assert conn.network.get_ip(made.id).port_id is None
    conn.network.update_ip(made, port_id=vm.id, fixed_ip_address=vm.fixed_ips[0]["ip_address"])
    assert [ip.id for ip in conn.network.ips(port_id=vm.id)] == [made.id]
    conn.network.delete_ip(made)
    assert conn.network.find_ip(made.id) is None
    conn.network.delete_port(vm)
    dismantle(cloud, tokens.demo, lan)


def test_the_cli_manages_floating_ips(cloud, tokens, unique):
    lan = routed_lan(cloud, tokens.demo, tokens.admin, unique, "10.91.6.0/24")
    vm = port(cloud, tokens.demo, lan.network["id"], name=unique)
    made = cli_json(cloud, "stratus", "floating", "ip", "create", lan.external["name"], "--port", unique)
    assert made["port_id"] == vm["id"] and made["router_id"] == lan.router["id"]
    address = made["floating_ip_address"]
    cloud.openstack("stratus", "floating", "ip", "unset", "--port", address)
    assert cli_json(cloud, "stratus", "floating", "ip", "show", address)["port_id"] is None
    cloud.openstack("stratus", "floating", "ip", "set", "--port", vm["id"],
                    "--fixed-ip-address", vm["fixed_ips"][0]["ip_address"], address)  # fmt: skip
    listed = cli_json(cloud, "stratus", "floating", "ip", "list", "--port", vm["id"])
    assert [f["Floating IP Address"] for f in listed] == [address]
    chosen = cli_json(cloud, "stratus-admin", "floating", "ip", "create", lan.external["id"],
                      "--floating-ip-address", "172.24.4.210", "--project", "demo")  # fmt: skip
    assert chosen["floating_ip_address"] == "172.24.4.210"
    cloud.openstack("stratus", "floating", "ip", "delete", address, "172.24.4.210")
    assert cloud.openstack("stratus", "floating", "ip", "show", address, check=False).returncode != 0
    delete(cloud, tokens.demo, "ports", vm["id"])
    dismantle(cloud, tokens.demo, lan)


def test_server_add_and_remove_floating_ip_through_the_cli(cloud, tokens, unique, server_image):  # noqa: F811
    lan = routed_lan(cloud, tokens.demo, tokens.admin, unique, "10.91.7.0/24")
    made = floating_ip(cloud, tokens.demo, lan.external["id"])
    server = cli_json(
        cloud, "stratus", "server", "create", "--image", server_image, "--flavor", "m1.tiny",
        "--network", lan.network["id"], unique,
    )  # fmt: skip
    wait_for_status(cloud, tokens.demo, server["id"], "ACTIVE")
    cloud.openstack("stratus", "server", "add", "floating", "ip", unique, made["floating_ip_address"])
    shown = get(cloud, tokens.demo, f"/floatingips/{made['id']}")["floatingip"]
    (vm,) = get(cloud, tokens.demo, f"/ports?device_id={server['id']}")["ports"]
    assert shown["port_id"] == vm["id"] and shown["router_id"] == lan.router["id"]
    cloud.openstack("stratus", "server", "remove", "floating", "ip", unique, made["floating_ip_address"])
    assert get(cloud, tokens.demo, f"/floatingips/{made['id']}")["floatingip"]["port_id"] is None
    # deleting the server disassociates its floating IPs
    cloud.openstack("stratus", "server", "add", "floating", "ip", unique, made["floating_ip_address"])
    cloud.openstack("stratus", "server", "delete", "--wait", unique)
    assert get(cloud, tokens.demo, f"/floatingips/{made['id']}")["floatingip"]["port_id"] is None
    delete(cloud, tokens.demo, "floatingips", made["id"])
    dismantle(cloud, tokens.demo, lan)


def test_a_port_that_loses_the_associated_address_loses_the_floating_ip(cloud, tokens, unique):
    lan = routed_lan(cloud, tokens.demo, tokens.admin, unique, "10.91.8.0/24")
    vm = port(
        cloud, tokens.demo, lan.network["id"], fixed_ips=[{"subnet_id": lan.subnet["id"], "ip_address": "10.91.8.40"}]
    )
    made = floating_ip(cloud, tokens.demo, lan.external["id"], port_id=vm["id"])
    assert made["fixed_ip_address"] == "10.91.8.40"
    kept = put(cloud, tokens.demo, f"/ports/{vm['id']}", {"port": {"name": "renamed"}})
    assert kept.ok and get(cloud, tokens.demo, f"/floatingips/{made['id']}")["floatingip"]["port_id"] == vm["id"]
    moved = {"port": {"fixed_ips": [{"subnet_id": lan.subnet["id"], "ip_address": "10.91.8.41"}]}}
    assert put(cloud, tokens.demo, f"/ports/{vm['id']}", moved).status_code == 200
    shown = get(cloud, tokens.demo, f"/floatingips/{made['id']}")["floatingip"]
    assert (shown["port_id"], shown["fixed_ip_address"], shown["router_id"]) == (None, None, None)
    delete(cloud, tokens.demo, "floatingips", made["id"])
    delete(cloud, tokens.demo, "ports", vm["id"])
    dismantle(cloud, tokens.demo, lan)


def _limits(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {row["Resource"]: row["Limit"] for row in rows}


def test_the_clis_show_and_set_the_router_and_floating_ip_quotas(cloud, new_tenant):  # noqa: F811
    tenant = new_tenant("cli")
    shown = _limits(cli_json(cloud, "stratus-admin", "quota", "show", tenant.project_id))
    assert (shown["routers"], shown["floating_ips"]) == (10, 50)
    cloud.openstack("stratus-admin", "quota", "set", "--routers", "3", "--floating-ips", "4", tenant.project_id)
    shown = _limits(cli_json(cloud, "stratus-admin", "quota", "show", tenant.project_id))
    assert (shown["routers"], shown["floating_ips"]) == (3, 4)
    limits = get(cloud, cloud.admin_token(), f"/quotas/{tenant.project_id}")["quota"]
    assert (limits["router"], limits["floatingip"]) == (3, 4)
    # the stratus admin CLI reads the same registry
    rows = {r["resource"]: r for r in stratus_json(cloud, "quota", "show", tenant.name)}
    assert (rows["router"]["limit"], rows["floatingip"]["limit"]) == (3, 4)
    assert rows["floatingip"]["service"] == "network" and rows["router"]["in_use"] == 0


@pytest.mark.both_databases
def test_concurrent_associations_of_one_fixed_ip_let_exactly_one_win(cloud, tokens, unique):
    lan = routed_lan(cloud, tokens.demo, tokens.admin, unique, "10.91.9.0/24")
    vm = port(cloud, tokens.demo, lan.network["id"])
    made = [floating_ip(cloud, tokens.demo, lan.external["id"]) for _ in range(8)]

    def attempt(item: dict[str, Any]):
        return put(cloud, tokens.demo, f"/floatingips/{item['id']}", {"floatingip": {"port_id": vm["id"]}})

    with ThreadPoolExecutor(8) as threads:
        answers = list(threads.map(attempt, made))
    assert sum(a.status_code == 200 for a in answers) == 1, [a.text for a in answers]
    for answer in (a for a in answers if a.status_code != 200):
        fault(answer, "FloatingIPPortAlreadyAssociated", 409)
    assert len(get(cloud, tokens.demo, f"/floatingips?port_id={vm['id']}")["floatingips"]) == 1
    for item in made:
        delete(cloud, tokens.demo, "floatingips", item["id"])
    delete(cloud, tokens.demo, "ports", vm["id"])
    dismantle(cloud, tokens.demo, lan)
