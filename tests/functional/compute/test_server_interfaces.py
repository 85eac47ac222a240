"""``os-interface`` over real HTTP with fake hosts and the in-memory dataplane: a NIC attached to a running or stopped
server by network, fixed IP or port gets its port bound and wired on the server's host (ACTIVE), shows in
``addresses`` and is hot-plugged into the guest (seen through the diagnostics); a detach unplugs it and frees the
port (deleted if the attach made it, given back if the user brought it). Hostile requests change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.compute import BASE, cli_json
from tests.functional.compute.conftest import action, wait_for_status
from tests.functional.compute.test_server_networks import (
    NET,
    boot,
    network_with_subnet,
    ports_of,
    wait_for_port_status,
)
from tests.harness import wait_until

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]
KEYS = {"port_state", "fixed_ips", "mac_addr", "net_id", "port_id"}


def _interfaces(cloud, token: str, server_id: str) -> list[dict[str, Any]]:
    response = cloud.request("GET", f"{BASE}/servers/{server_id}/os-interface", token)
    assert response.status_code == 200, response.text
    return response.json()["interfaceAttachments"]


def _attach(cloud, token: str, server_id: str, expect: int = 200, **body: Any) -> Any:
    response = cloud.request(
        "POST", f"{BASE}/servers/{server_id}/os-interface", token, json={"interfaceAttachment": body}
    )
    assert response.status_code == expect, response.text
    return response.json()


def _post_attach(cloud, token: str, server_id: str, body: dict[str, Any]) -> Any:
    return cloud.request("POST", f"{BASE}/servers/{server_id}/os-interface", token, json={"interfaceAttachment": body})


def _plugged_nics(cloud, server_id: str) -> int:
    """How many NICs the guest has, as its host's hypervisor says (the legacy diagnostics: ``<tap>_rx`` each)."""
    body = cloud.request("GET", f"{BASE}/servers/{server_id}/diagnostics", cloud.admin_token()).json()
    return len([k for k in body if k.endswith("_rx")])


def _wait_nics(cloud, server_id: str, count: int) -> None:
    wait_until(
        lambda: _plugged_nics(cloud, server_id), 30, message=f"{count} NICs never plugged", until=lambda n: n == count
    )


def _wait_detached(cloud, token: str, server_id: str, port_id: str) -> None:
    wait_until(
        lambda: [i["port_id"] for i in _interfaces(cloud, token, server_id)],
        30,
        message=f"port {port_id} never detached",
        until=lambda ids: port_id not in ids,
    )


@pytest.fixture
def networked_server(cloud, server_image, unique):
    token = cloud.demo().get_token()
    net_id, subnet_id = network_with_subnet(cloud, token, unique)
    server_id = boot(cloud, token, server_image, unique, [{"uuid": net_id}]).json()["server"]["id"]
    wait_for_status(cloud, token, server_id, "ACTIVE")
    yield token, server_id, net_id, subnet_id
    cloud.request("DELETE", f"{BASE}/servers/{server_id}", token)


def test_attach_by_network_and_fixed_ip_then_detach(cloud, networked_server, unique):
    token, server_id, net_id, subnet_id = networked_server
    (first,) = _interfaces(cloud, token, server_id)
    assert set(first) == KEYS and first["net_id"] == net_id and first["port_state"] == "ACTIVE"
    assert _plugged_nics(cloud, server_id) == 1

    made = _attach(cloud, token, server_id, net_id=net_id, fixed_ips=[{"ip_address": "10.0.0.77"}])[
        "interfaceAttachment"
    ]
    assert set(made) == KEYS and made["fixed_ips"] == [{"subnet_id": subnet_id, "ip_address": "10.0.0.77"}]
    wait_for_port_status(cloud, token, made["port_id"], "ACTIVE")
    _wait_nics(cloud, server_id, 2)
    shown = cloud.request("GET", f"{BASE}/servers/{server_id}/os-interface/{made['port_id']}", token).json()
    assert shown["interfaceAttachment"]["port_state"] == "ACTIVE"
    server = cloud.request("GET", f"{BASE}/servers/{server_id}", token).json()["server"]
    assert "10.0.0.77" in {a["addr"] for a in server["addresses"][unique]}

    assert (
        cloud.request("DELETE", f"{BASE}/servers/{server_id}/os-interface/{made['port_id']}", token).status_code == 202
    )
    _wait_detached(cloud, token, server_id, made["port_id"])
    _wait_nics(cloud, server_id, 1)
    assert cloud.request("GET", f"{NET}/ports/{made['port_id']}", token).status_code == 404  # the attach made it
    server = cloud.request("GET", f"{BASE}/servers/{server_id}", token).json()["server"]
    assert "10.0.0.77" not in {a["addr"] for a in server["addresses"][unique]}


def test_a_users_port_is_attached_to_a_stopped_server_and_given_back(cloud, networked_server, unique):
    token, server_id, net_id, _ = networked_server
    assert action(cloud, token, server_id, {"os-stop": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "SHUTOFF")
    port = cloud.request("POST", f"{NET}/ports", token, json={"port": {"network_id": net_id}}).json()["port"]
    made = _attach(cloud, token, server_id, port_id=port["id"])["interfaceAttachment"]
    assert made["port_id"] == port["id"] and made["mac_addr"] == port["mac_address"]
    wait_for_port_status(cloud, token, port["id"], "ACTIVE")
    wait_until(
        lambda: cloud.request("GET", f"{NET}/ports/{port['id']}", token).json()["port"]["device_id"],
        10,
        message="the port never named the server",
        until=lambda device: device == server_id,
    )
    assert action(cloud, token, server_id, {"os-start": None}).status_code == 202
    wait_for_status(cloud, token, server_id, "ACTIVE")
    _wait_nics(cloud, server_id, 2)
    assert cloud.request("DELETE", f"{BASE}/servers/{server_id}/os-interface/{port['id']}", token).status_code == 202
    _wait_detached(cloud, token, server_id, port["id"])
    kept = cloud.request("GET", f"{NET}/ports/{port['id']}", cloud.admin_token()).json()["port"]
    assert kept["device_id"] == "" and kept["binding:host_id"] == ""  # the user's port outlives the attachment


def test_hostile_attach_and_detach_requests_change_nothing(cloud, networked_server, unique):
    token, server_id, net_id, _ = networked_server
    admin = cloud.admin_token()
    before = {i["port_id"] for i in _interfaces(cloud, token, server_id)}
    other_net = cloud.request("POST", f"{NET}/networks", admin, json={"network": {"name": f"{unique}-adm"}}).json()
    other_port = cloud.request("POST", f"{NET}/ports", admin, json={"port": {"network_id": other_net["network"]["id"]}})
    bad = [
        ({"net_id": net_id, "port_id": next(iter(before))}, 400),
        ({"fixed_ips": [{"ip_address": "10.0.0.9"}]}, 400),
        ({"net_id": "not-a-uuid"}, 400),
        ({"net_id": other_net["network"]["id"]}, 404),  # another project's network
        ({"port_id": other_port.json()["port"]["id"]}, 404),  # another project's port
        ({"port_id": next(iter(before))}, 409),  # in use (by this very server)
        ({"net_id": net_id, "fixed_ips": [{"ip_address": "192.168.9.9"}]}, 400),  # not in the subnet
        ({"net_id": net_id, "bogus": 1}, 400),
    ]
    for body, status in bad:
        response = cloud.request(
            "POST", f"{BASE}/servers/{server_id}/os-interface", token, json={"interfaceAttachment": body}
        )
        assert response.status_code == status, (body, response.text)
    assert {i["port_id"] for i in _interfaces(cloud, token, server_id)} == before
    assert len(ports_of(cloud, token, network_id=net_id, device_owner="compute:nova")) == 1
    unknown = cloud.request(
        "DELETE", f"{BASE}/servers/{server_id}/os-interface/{other_port.json()['port']['id']}", token
    )
    assert unknown.status_code == 404
    stranger = cloud.request("GET", f"{BASE}/servers/{server_id}/os-interface", admin)
    assert stranger.status_code == 200  # admins see it
    demo_other = cloud.request("GET", f"{BASE}/servers/not-a-server/os-interface", token)
    assert demo_other.status_code == 404
    cloud.request("DELETE", f"{NET}/ports/{other_port.json()['port']['id']}", admin)
    cloud.request("DELETE", f"{NET}/networks/{other_net['network']['id']}", admin)


def test_the_last_interface_can_be_detached(cloud, networked_server):
    token, server_id, _, _ = networked_server
    (only,) = _interfaces(cloud, token, server_id)
    assert (
        cloud.request("DELETE", f"{BASE}/servers/{server_id}/os-interface/{only['port_id']}", token).status_code == 202
    )
    _wait_detached(cloud, token, server_id, only["port_id"])
    _wait_nics(cloud, server_id, 0)
    server = cloud.request("GET", f"{BASE}/servers/{server_id}", token).json()["server"]
    assert server["addresses"] == {}


def test_openstack_server_add_and_remove_port_and_network(cloud, networked_server, unique):
    _, server_id, net_id, _ = networked_server
    token = cloud.demo().get_token()
    cloud.openstack("stratus", "server", "add", "network", server_id, net_id)
    wait_until(lambda: len(_interfaces(cloud, token, server_id)), 30, message="no second NIC", until=lambda n: n == 2)
    port = cli_json(cloud, "stratus", "port", "create", "--network", net_id, f"{unique}-p")
    cloud.openstack("stratus", "server", "add", "port", server_id, port["id"])
    wait_for_port_status(cloud, token, port["id"], "ACTIVE")
    _wait_nics(cloud, server_id, 3)
    cloud.openstack("stratus", "server", "remove", "port", server_id, port["id"])
    _wait_detached(cloud, token, server_id, port["id"])
    cloud.openstack("stratus", "server", "remove", "network", server_id, net_id)
    wait_until(lambda: len(_interfaces(cloud, token, server_id)), 30, message="NICs left", until=lambda n: n == 0)


def test_openstack_server_add_fixed_ip_attaches_a_nic_at_that_address(cloud, networked_server, unique):
    token, server_id, net_id, _ = networked_server
    made = cli_json(
        cloud, "stratus", "server", "add", "fixed", "ip", "--fixed-ip-address", "10.0.0.88", server_id, net_id
    )
    assert made["Network ID"] == net_id and "10.0.0.88" in str(made["Fixed IPs"])
    wait_for_port_status(cloud, token, made["Port ID"], "ACTIVE")
    _wait_nics(cloud, server_id, 2)
    server = cloud.request("GET", f"{BASE}/servers/{server_id}", token).json()["server"]
    assert "10.0.0.88" in {a["addr"] for a in server["addresses"][unique]}
    taken = cloud.openstack("stratus", "server", "add", "fixed", "ip", "--fixed-ip-address", "10.0.0.88", server_id,
                            net_id, check=False)  # fmt: skip
    assert taken.returncode != 0  # the address is in use: nothing more is attached
    assert len(_interfaces(cloud, token, server_id)) == 2


def test_an_attach_naming_no_network_takes_the_projects_only_one(cloud, networked_server):
    """Nova's rule: the project's one usable network, a 400 with Nova's words when there are several (other tests
    of the session leave networks in the demo project)."""
    token, server_id, _, _ = networked_server
    networks = cloud.request("GET", f"{NET}/networks", token).json()["networks"]
    usable = [n for n in networks if not n.get("router:external")]
    response = _post_attach(cloud, token, server_id, {})
    if len(usable) > 1:
        assert response.status_code == 400
        assert response.json()["badRequest"]["message"] == (
            "Multiple possible networks found, use a Network ID to be more specific."
        )
        assert len(_interfaces(cloud, token, server_id)) == 1
    else:
        assert response.status_code == 200, response.text
        wait_for_port_status(cloud, token, response.json()["interfaceAttachment"]["port_id"], "ACTIVE")
