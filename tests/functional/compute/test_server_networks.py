"""Servers on networks, with fake hosts and the in-memory dataplane: the server's ports are made in its create,
bound to its host, reported ACTIVE once the host's agent has wired them, shown in ``addresses``, and deleted (or,
for a port the user brought, detached) with the server. Bad requests leave neither server nor port behind."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.compute import BASE, cli_json, fault
from tests.functional.compute.conftest import (
    COMPUTE,
    action,
    show,
    wait_for_pending_deletes,
    wait_for_status,
    wait_until_gone,
)
from tests.harness import wait_until

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]
NET = "/network/v2.0"


def network_with_subnet(cloud, token: str, name: str, cidr: str = "10.0.0.0/24") -> tuple[str, str]:
    net = cloud.request("POST", f"{NET}/networks", token, json={"network": {"name": name}}).json()["network"]
    subnet = cloud.request(
        "POST",
        f"{NET}/subnets",
        token,
        json={"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4, "name": f"{name}-subnet"}},
    )
    assert subnet.status_code == 201, subnet.text
    return net["id"], subnet.json()["subnet"]["id"]


def ports_of(cloud, token: str, **filters: str) -> list[dict[str, Any]]:
    response = cloud.request("GET", f"{NET}/ports", token, params=filters)
    assert response.status_code == 200, response.text
    return response.json()["ports"]


def boot(cloud, token: str, image: str, name: str, networks: Any, expect: int = 202) -> Any:
    body = {"server": {"name": name, "imageRef": image, "flavorRef": "1", "networks": networks}}
    response = cloud.request("POST", f"{BASE}/servers", token, json=body, headers=COMPUTE)
    assert response.status_code == expect, response.text
    return response


def wait_for_port_status(cloud, token: str, port_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    return wait_until(
        lambda: cloud.request("GET", f"{NET}/ports/{port_id}", token).json()["port"],
        timeout,
        message=f"port {port_id} never became {status}",
        until=lambda port: port["status"] == status,
    )


def test_a_server_on_a_network_gets_a_port_wired_on_its_host_and_loses_it_when_deleted(cloud, server_image, unique):
    token, admin = cloud.demo().get_token(), cloud.admin_token()
    net_id, _ = network_with_subnet(cloud, token, unique)
    server_id = boot(cloud, token, server_image, unique, [{"uuid": net_id}]).json()["server"]["id"]
    server = wait_for_status(cloud, token, server_id, "ACTIVE")

    (port,) = ports_of(cloud, token, device_id=server_id)
    assert port["device_owner"] == "compute:nova" and port["status"] == "ACTIVE"
    (address,) = server["addresses"][unique]
    assert address == {
        "version": 4,
        "addr": port["fixed_ips"][0]["ip_address"],
        "OS-EXT-IPS:type": "fixed",
        "OS-EXT-IPS-MAC:mac_addr": port["mac_address"],
    }
    host = cloud.request("GET", f"{BASE}/servers/{server_id}", admin).json()["server"]["OS-EXT-SRV-ATTR:host"]
    bound = cloud.request("GET", f"{NET}/ports/{port['id']}", admin).json()["port"]
    assert bound["binding:host_id"] == host and bound["binding:vif_type"] == "tap"
    (dhcp,) = ports_of(cloud, token, network_id=net_id, device_owner="network:dhcp")
    assert wait_for_port_status(cloud, admin, dhcp["id"], "ACTIVE")["binding:host_id"] == host
    assert dhcp["fixed_ips"][0]["ip_address"] == "10.0.0.2"  # the first of the pool, as Neutron gives it
    listed = cloud.request("GET", f"{BASE}/servers/detail", token, headers=COMPUTE).json()["servers"]
    assert next(s for s in listed if s["id"] == server_id)["addresses"] == server["addresses"]

    assert cloud.request("DELETE", f"{BASE}/servers/{server_id}", token).status_code == 204
    wait_until_gone(cloud, token, server_id)
    assert ports_of(cloud, token, device_id=server_id) == []
    assert cloud.request("DELETE", f"{NET}/networks/{net_id}", token).status_code == 204


def test_a_fixed_ip_is_given_and_a_users_own_port_is_used_then_only_detached(cloud, server_image, unique):
    token = cloud.demo().get_token()
    net_id, _ = network_with_subnet(cloud, token, unique, "10.9.0.0/24")
    fixed = boot(cloud, token, server_image, f"{unique}-a", [{"uuid": net_id, "fixed_ip": "10.9.0.50"}])
    fixed_id = fixed.json()["server"]["id"]
    own = cloud.request("POST", f"{NET}/ports", token, json={"port": {"network_id": net_id}}).json()["port"]
    given = boot(cloud, token, server_image, f"{unique}-b", [{"port": own["id"]}]).json()["server"]["id"]
    for server_id in (fixed_id, given):
        wait_for_status(cloud, token, server_id, "ACTIVE")
    assert show(cloud, token, fixed_id)["addresses"][unique][0]["addr"] == "10.9.0.50"
    assert wait_for_port_status(cloud, token, own["id"], "ACTIVE")["device_id"] == given

    in_use = boot(cloud, token, server_image, f"{unique}-c", [{"port": own["id"]}], expect=409)
    assert "still in use" in fault(in_use, "conflictingRequest", 409)
    for server_id in (fixed_id, given):
        cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)
        wait_until_gone(cloud, token, server_id)
    kept = cloud.request("GET", f"{NET}/ports/{own['id']}", token).json()["port"]
    assert (kept["device_id"], kept["device_owner"], kept["status"]) == ("", "", "DOWN")  # detached, not deleted
    cloud.request("DELETE", f"{NET}/ports/{own['id']}", token)
    cloud.request("DELETE", f"{NET}/networks/{net_id}", token)


def test_bad_network_requests_leave_nothing_behind(cloud, server_image, unique):
    token = cloud.demo().get_token()
    net_id, _ = network_with_subnet(cloud, token, unique, "10.8.0.0/29")  # .2 DHCP, .3 .. .6 for servers
    wait_for_pending_deletes(cloud)
    before = {s["id"] for s in cloud.request("GET", f"{BASE}/servers", token).json()["servers"]}
    missing = boot(cloud, token, server_image, unique, [{"uuid": "5d1f0a7e-0000-4000-8000-000000000000"}], 400)
    assert "could not be found" in fault(missing, "badRequest", 400)
    outside = boot(cloud, token, server_image, unique, [{"uuid": net_id, "fixed_ip": "10.7.0.9"}], expect=400)
    fault(outside, "badRequest", 400)
    body = {"server": {"name": unique, "imageRef": server_image, "flavorRef": "1", "networks": [{"uuid": net_id}]}}
    body["server"]["max_count"] = 5  # one address too many: the whole request fails
    crowded = cloud.request("POST", f"{BASE}/servers", token, json=body, headers=COMPUTE)
    fault(crowded, "conflictingRequest", 409)
    groups = boot(cloud, token, server_image, unique, [{"uuid": net_id}], expect=202)  # the pool still has room
    wait_for_status(cloud, token, groups.json()["server"]["id"], "ACTIVE")
    cloud.request("DELETE", f"{BASE}/servers/{groups.json()['server']['id']}", token)
    wait_until_gone(cloud, token, groups.json()["server"]["id"])
    after = {s["id"] for s in cloud.request("GET", f"{BASE}/servers", token).json()["servers"]}
    assert after == before
    assert [p["device_owner"] for p in ports_of(cloud, token, network_id=net_id)] == ["network:dhcp"]
    cloud.request("DELETE", f"{NET}/networks/{net_id}", token)


@pytest.mark.one_database  # a CLI walk-through: the same requests on either database
def test_the_openstack_cli_boots_on_a_network_by_name_with_a_fixed_ip_and_on_a_port(cloud, server_image, unique):
    token = cloud.demo().get_token()
    net_id, _ = network_with_subnet(cloud, token, unique, "10.6.0.0/24")
    by_name = cli_json(
        cloud, "stratus", "server", "create", "--image", server_image, "--flavor", "m1.tiny",
        "--network", unique, "--wait", f"{unique}-name",
    )  # fmt: skip
    assert by_name["status"] == "ACTIVE" and "10.6.0." in str(by_name["addresses"])
    fixed = cli_json(
        cloud, "stratus", "server", "create", "--image", server_image, "--flavor", "m1.tiny",
        "--nic", f"net-id={net_id},v4-fixed-ip=10.6.0.77", "--wait", f"{unique}-fixed",
    )  # fmt: skip
    assert "10.6.0.77" in str(fixed["addresses"])
    port = cli_json(cloud, "stratus", "port", "create", "--network", unique, f"{unique}-port")
    on_port = cli_json(
        cloud, "stratus", "server", "create", "--image", server_image, "--flavor", "m1.tiny",
        "--port", port["id"], "--wait", f"{unique}-port",
    )  # fmt: skip
    assert port["fixed_ips"][0]["ip_address"] in str(on_port["addresses"])
    cloud.openstack("stratus", "server", "delete", "--wait", by_name["id"], fixed["id"], on_port["id"])
    cloud.openstack("stratus", "port", "delete", port["id"])
    cloud.openstack("stratus", "network", "delete", net_id)


@pytest.fixture(scope="module")
def intruder(cloud) -> tuple[str, str]:
    """(token, project id) of a member of a project of its own, who knows the demo project's server ids."""
    admin = cloud.admin_token()
    project = cloud.request("POST", "/identity/v3/projects", admin, json={"project": {"name": "srvnet-intruder"}})
    assert project.status_code == 201, project.text
    project_id = project.json()["project"]["id"]
    user = cloud.request(
        "POST", "/identity/v3/users", admin, json={"user": {"name": "srvnet-intruder", "password": "intruder-secret"}}
    ).json()["user"]["id"]
    member = cloud.request("GET", "/identity/v3/roles?name=member", admin).json()["roles"][0]["id"]
    grant = f"/identity/v3/projects/{project_id}/users/{user}/roles/{member}"
    assert cloud.request("PUT", grant, admin).status_code == 204
    return cloud.session("srvnet-intruder", "intruder-secret", project="srvnet-intruder").get_token(), project_id


def test_a_port_of_another_project_cannot_name_a_server_and_one_that_does_is_never_the_servers(
    cloud, server_image, unique, intruder
):
    """Issue 11 item 3: ``device_id`` naming another project's server is refused (Neutron's 409), and a port
    that names it anyway (an admin's, or one written before) shows in no address, is not bound by the server's
    resize nor deleted with the server: a server's ports are those of its project, as Nova finds them."""
    token, admin = cloud.demo().get_token(), cloud.admin_token()
    other, other_project = intruder
    net_id, _ = network_with_subnet(cloud, token, unique, "10.5.0.0/24")
    server_id = boot(cloud, token, server_image, unique, [{"uuid": net_id}]).json()["server"]["id"]
    wait_for_status(cloud, token, server_id, "ACTIVE")
    other_net, _ = network_with_subnet(cloud, other, f"{unique}-other", "10.5.1.0/24")
    naming = {"network_id": other_net, "device_id": server_id, "device_owner": "compute:nova"}

    refused = cloud.request("POST", f"{NET}/ports", other, json={"port": naming})
    assert refused.status_code == 409 and refused.json()["NeutronError"]["type"] == "DeviceIDNotOwnedByTenant"
    nothing = {**naming, "device_id": "5d1f0a7e-0000-4000-8000-000000000000"}  # the same answer: no oracle
    missing = cloud.request("POST", f"{NET}/ports", other, json={"port": nothing})
    assert (missing.status_code, missing.json()["NeutronError"]["type"]) == (409, "DeviceIDNotOwnedByTenant")
    plain = cloud.request("POST", f"{NET}/ports", other, json={"port": {"network_id": other_net}}).json()["port"]
    moved = cloud.request("PUT", f"{NET}/ports/{plain['id']}", other, json={"port": {"device_id": server_id}})
    assert moved.status_code == 409 and moved.json()["NeutronError"]["type"] == "DeviceIDNotOwnedByTenant"
    assert [p["id"] for p in ports_of(cloud, other, network_id=other_net, device_owner="")] == [plain["id"]]

    planted = cloud.request("POST", f"{NET}/ports", admin, json={"port": {**naming, "project_id": other_project}})
    assert planted.status_code == 201, planted.text  # an admin may name any device
    planted_id = planted.json()["port"]["id"]
    assert list(show(cloud, token, server_id)["addresses"]) == [unique]
    listed = cloud.request("GET", f"{BASE}/servers/detail", admin, headers=COMPUTE, params={"all_tenants": 1})
    assert list(next(s for s in listed.json()["servers"] if s["id"] == server_id)["addresses"]) == [unique]

    assert action(cloud, token, server_id, {"resize": {"flavorRef": "2"}}).status_code == 202
    wait_for_status(cloud, token, server_id, "VERIFY_RESIZE")
    assert action(cloud, token, server_id, {"confirmResize": None}).status_code == 204
    wait_for_status(cloud, token, server_id, "ACTIVE")
    unbound = cloud.request("GET", f"{NET}/ports/{planted_id}", admin).json()["port"]
    assert (unbound["binding:host_id"], unbound["status"]) == ("", "DOWN")

    cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)
    wait_until_gone(cloud, token, server_id)
    kept = cloud.request("GET", f"{NET}/ports/{planted_id}", other)
    assert kept.status_code == 200 and kept.json()["port"]["device_id"] == server_id  # not the server's to delete
    for port_id in (planted_id, plain["id"]):
        cloud.request("DELETE", f"{NET}/ports/{port_id}", other)
    cloud.request("DELETE", f"{NET}/networks/{other_net}", other)
    cloud.request("DELETE", f"{NET}/networks/{net_id}", token)


def test_an_admin_cannot_boot_a_server_on_another_projects_port(cloud, server_image, unique, intruder):
    """Nova's ``PortNotUsable``: a server's ports are of its own project, even when an admin boots it."""
    admin = cloud.admin_token()
    other, _ = intruder
    net_id, _ = network_with_subnet(cloud, other, unique, "10.5.2.0/24")
    theirs = cloud.request("POST", f"{NET}/ports", other, json={"port": {"network_id": net_id}}).json()["port"]
    refused = boot(cloud, admin, server_image, unique, [{"port": theirs["id"]}], expect=400)
    assert "not usable" in fault(refused, "badRequest", 400)
    assert cloud.request("GET", f"{NET}/ports/{theirs['id']}", other).json()["port"]["device_id"] == ""
    cloud.request("DELETE", f"{NET}/ports/{theirs['id']}", other)
    cloud.request("DELETE", f"{NET}/networks/{net_id}", other)
