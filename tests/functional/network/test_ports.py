"""Ports over real HTTP: fixed IPs, MACs, security groups and port security, bindings for admins, updates that
reallocate, concurrent creates on one subnet; raw HTTP, openstacksdk and the CLI."""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.functional.network import BASE, cli_json, create, delete, fault, get, network, port, sdk, subnet

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

FIELDS = {
    "id", "name", "network_id", "tenant_id", "project_id", "mac_address", "admin_state_up", "status", "device_id",
    "device_owner", "fixed_ips", "allowed_address_pairs", "extra_dhcp_opts", "security_groups",
    "port_security_enabled", "binding:vnic_type", "ip_allocation", "dns_name", "dns_assignment", "description",
    "tags", "created_at", "updated_at", "revision_number", "qos_policy_id",
}  # fmt: skip
BINDING = {"binding:host_id", "binding:profile", "binding:vif_type", "binding:vif_details"}


@pytest.fixture
def lan(cloud, tokens, unique):
    """A demo network with one /24 subnet (gateway .1, DHCP port .2)."""
    net = network(cloud, tokens.demo, unique)
    sub = subnet(cloud, tokens.demo, net["id"], "10.50.0.0/24")
    yield net, sub
    for item in get(cloud, tokens.admin, f"/ports?network_id={net['id']}")["ports"]:
        if item["device_owner"] != "network:dhcp":
            cloud.request("DELETE", f"{BASE}/ports/{item['id']}", tokens.admin)
    cloud.request("DELETE", f"{BASE}/networks/{net['id']}", tokens.admin)


def _default_group(cloud, token):
    return get(cloud, token, "/security-groups?name=default")["security_groups"][0]["id"]


def test_port_lifecycle_with_neutrons_fields(cloud, tokens, lan, unique):
    net, sub = lan
    created = port(cloud, tokens.demo, net["id"], name=unique, device_id="server-1", device_owner="compute:nova")
    assert set(created) == FIELDS
    assert created["status"] == "DOWN" and created["mac_address"].startswith("fa:16:3e:")
    (fixed,) = created["fixed_ips"]
    assert fixed["subnet_id"] == sub["id"] and ipaddress.ip_address(fixed["ip_address"]) in ipaddress.ip_network(
        sub["cidr"]
    )
    assert fixed["ip_address"] not in ("10.50.0.0", "10.50.0.1", "10.50.0.2", "10.50.0.255")
    assert created["security_groups"] == [_default_group(cloud, tokens.demo)]
    assert created["binding:vnic_type"] == "normal" and created["port_security_enabled"] is True

    path = f"{BASE}/ports/{created['id']}"
    moved = cloud.request("PUT", path, tokens.demo, json={"port": {"fixed_ips": [{"ip_address": "10.50.0.77"}]}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["port"]["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.50.0.77"}]
    assert moved.json()["port"]["revision_number"] == 2
    found = get(cloud, tokens.demo, f"/ports?fixed_ips=ip_address=10.50.0.77&network_id={net['id']}")["ports"]
    assert [p["id"] for p in found] == [created["id"]]
    assert [p["id"] for p in get(cloud, tokens.demo, "/ports?device_id=server-1")["ports"]] == [created["id"]]
    reused = port(cloud, tokens.demo, net["id"], fixed_ips=[{"ip_address": fixed["ip_address"]}])
    assert reused["fixed_ips"][0]["ip_address"] == fixed["ip_address"]  # freed by the update

    delete(cloud, tokens.demo, "ports", created["id"])
    fault(cloud.request("GET", path, tokens.demo), "PortNotFound", 404)


def test_bindings_are_for_admins(cloud, tokens, lan):
    net, _ = lan
    body = {"port": {"network_id": net["id"], "binding:host_id": "host-1"}}
    fault(cloud.request("POST", f"{BASE}/ports", tokens.demo, json=body), "PolicyNotAuthorized", 403)
    mine = port(cloud, tokens.demo, net["id"])
    bound = cloud.request(
        "PUT", f"{BASE}/ports/{mine['id']}", tokens.admin, json={"port": {"binding:host_id": "host-1"}}
    ).json()["port"]
    assert set(bound) == FIELDS | BINDING
    assert bound["binding:host_id"] == "host-1" and bound["binding:vif_type"] == "tap"
    assert set(get(cloud, tokens.demo, f"/ports/{mine['id']}")["port"]) == FIELDS
    assert [p["id"] for p in get(cloud, tokens.admin, "/ports?binding:host_id=host-1")["ports"]] == [mine["id"]]
    fault(cloud.request("GET", f"{BASE}/ports?binding:host_id=host-1", tokens.demo), "HTTPBadRequest", 400)


@pytest.mark.parametrize(
    ("attrs", "fault_type", "code"),
    [
        ({"fixed_ips": [{"ip_address": "10.60.0.5"}]}, "InvalidIpForNetwork", 400),
        ({"fixed_ips": [{"subnet_id": "SUBNET", "ip_address": "10.60.0.5"}]}, "InvalidIpForSubnet", 400),
        ({"fixed_ips": [{"subnet_id": "SUBNET", "ip_address": "10.50.0.255"}]}, "InvalidIpForSubnet", 400),
        ({"fixed_ips": [{"subnet_id": "SUBNET", "ip_address": "10.50.0.2"}]}, "IpAddressAlreadyAllocated", 409),
        ({"fixed_ips": [{"subnet_id": "SUBNET", "ip_address": "10.50.0.1"}]}, "IpAddressAlreadyAllocated", 409),
        ({"fixed_ips": [{"subnet_id": "00000000-0000-0000-0000-000000000000"}]}, "SubnetNotFound", 404),
        ({"fixed_ips": [{}]}, "InvalidInput", 400),
        ({"mac_address": "MAC"}, "MacAddressInUse", 409),
        ({"mac_address": "01:00:5e:00:00:01"}, "HTTPBadRequest", 400),
        ({"mac_address": "not-a-mac"}, "HTTPBadRequest", 400),
        ({"security_groups": ["00000000-0000-0000-0000-000000000000"]}, "SecurityGroupNotFound", 404),
        ({"port_security_enabled": False, "security_groups": ["DEFAULT"]},
         "PortSecurityAndIPRequiredForSecurityGroups", 400),
        ({"port_security_enabled": False, "allowed_address_pairs": [{"ip_address": "10.50.0.9"}]},
         "AddressPairAndPortSecurityRequired", 409),
        ({"allowed_address_pairs": [{"ip_address": "bad"}]}, "HTTPBadRequest", 400),
        ({"binding:vnic_type": "weird"}, "HTTPBadRequest", 400),
        ({"network_id": "00000000-0000-0000-0000-000000000000"}, "NetworkNotFound", 404),
    ],
)  # fmt: skip
def test_bad_ports_leave_nothing_behind(cloud, tokens, lan, unique, attrs, fault_type, code):
    net, sub = lan
    existing = port(cloud, tokens.demo, net["id"])
    replace = {"SUBNET": sub["id"], "MAC": existing["mac_address"], "DEFAULT": _default_group(cloud, tokens.demo)}

    def fill(value):
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return replace.get(value, value) if isinstance(value, str) else value

    body = {"port": {"network_id": net["id"], "name": unique, **fill(attrs)}}
    fault(cloud.request("POST", f"{BASE}/ports", tokens.demo, json=body), fault_type, code)
    assert get(cloud, tokens.demo, f"/ports?name={unique}")["ports"] == []
    assert len(get(cloud, tokens.admin, f"/ports?network_id={net['id']}")["ports"]) == 2  # DHCP and existing


def test_port_security_can_be_turned_off_only_without_groups(cloud, tokens, lan):
    net, _ = lan
    open_port = port(cloud, tokens.demo, net["id"], port_security_enabled=False)
    assert open_port["security_groups"] == [] and open_port["port_security_enabled"] is False
    guarded = port(cloud, tokens.demo, net["id"], allowed_address_pairs=[{"ip_address": "10.50.0.200/30"}])
    assert guarded["allowed_address_pairs"] == [{"ip_address": "10.50.0.200/30", "mac_address": guarded["mac_address"]}]
    path = f"{BASE}/ports/{guarded['id']}"
    fault(cloud.request("PUT", path, tokens.demo, json={"port": {"port_security_enabled": False}}),
          "PortSecurityPortHasSecurityGroup", 409)  # fmt: skip
    body = {"port": {"port_security_enabled": False, "security_groups": [], "allowed_address_pairs": []}}
    off = cloud.request("PUT", path, tokens.demo, json=body)
    assert off.status_code == 200 and off.json()["port"]["security_groups"] == []


def test_other_projects_ports_are_404(cloud, tokens, lan):
    net, _ = lan
    mine = port(cloud, tokens.demo, net["id"])
    for method, body in (("GET", None), ("PUT", {"port": {"name": "x"}}), ("DELETE", None)):
        fault(cloud.request(method, f"{BASE}/ports/{mine['id']}", tokens.other, json=body), "PortNotFound", 404)
    assert mine["id"] not in {p["id"] for p in get(cloud, tokens.other, "/ports")["ports"]}
    fault(cloud.request("POST", f"{BASE}/ports", tokens.other, json={"port": {"network_id": net["id"]}}),
          "NetworkNotFound", 404)  # fmt: skip


def test_concurrent_creates_on_one_subnet_are_duplicate_free_then_a_clean_409(cloud, tokens, unique):
    net = network(cloud, tokens.demo, unique)
    pool = [{"start": "10.70.0.10", "end": "10.70.0.99"}]  # 90 addresses, no DHCP port
    sub = subnet(cloud, tokens.demo, net["id"], "10.70.0.0/24", allocation_pools=pool, enable_dhcp=False)

    def attempt(_: int):
        return cloud.request("POST", f"{BASE}/ports", tokens.demo, json={"port": {"network_id": net["id"]}})

    with ThreadPoolExecutor(16) as threads:
        answers = list(threads.map(attempt, range(100)))
    made = [a.json()["port"] for a in answers if a.status_code == 201]
    refused = [a for a in answers if a.status_code != 201]
    addresses = [p["fixed_ips"][0]["ip_address"] for p in made]
    assert len(made) == 90 and len(set(addresses)) == 90
    assert {ipaddress.ip_address(a) for a in addresses} == {ipaddress.ip_address("10.70.0.10") + i for i in range(90)}
    assert len(refused) == 10
    for answer in refused:
        assert net["id"] in fault(answer, "IpAddressGenerationFailure", 409)
    assert len(get(cloud, tokens.demo, f"/ports?network_id={net['id']}")["ports"]) == 90
    ids = [p["id"] for p in made]
    listed = get(cloud, tokens.demo, f"/ports?network_id={net['id']}&fields=id&fields=fixed_ips")["ports"]
    assert sorted(p["id"] for p in listed) == sorted(ids) and set(listed[0]) == {"id", "fixed_ips"}
    with ThreadPoolExecutor(8) as threads:
        list(threads.map(lambda port_id: delete(cloud, tokens.demo, "ports", port_id), ids))
    delete(cloud, tokens.demo, "subnets", sub["id"])
    delete(cloud, tokens.demo, "networks", net["id"])


def test_openstacksdk_manages_ports(cloud, tokens, lan, unique):
    net, sub = lan
    conn = sdk(cloud)
    made = conn.network.create_port(network_id=net["id"], name=unique, fixed_ips=[{"subnet_id": sub["id"]}])
    assert made.status == "DOWN" and made.fixed_ips[0]["subnet_id"] == sub["id"]
    conn.network.update_port(made, name=unique + "-x", description="renamed")
    again = conn.network.get_port(made.id)
    assert again.name == unique + "-x" and again.description == "renamed"
    assert [p.id for p in conn.network.ports(network_id=net["id"], device_owner="")] == [made.id]
    conn.network.set_tags(again, ["blue", "green"])
    assert [p.id for p in conn.network.ports(tags="blue")] == [made.id]
    conn.network.delete_port(made)
    assert conn.network.find_port(made.id) is None


@pytest.mark.one_database  # a CLI walk-through: the same requests on either database
def test_the_cli_creates_a_port_with_a_fixed_ip(cloud, tokens, lan, unique):
    net, sub = lan
    created = cli_json(
        cloud, "stratus", "port", "create", "--network", net["id"],
        "--fixed-ip", f"subnet={sub['id']},ip-address=10.50.0.42", unique,
    )  # fmt: skip
    assert created["name"] == unique
    assert "10.50.0.42" in str(created["fixed_ips"])
    listed = cli_json(cloud, "stratus", "port", "list", "--network", net["id"])
    assert unique in [p["Name"] for p in listed]
    cloud.openstack("stratus", "port", "delete", unique)
    assert get(cloud, tokens.demo, f"/ports?name={unique}")["ports"] == []


def test_ports_list_in_bulk(cloud, tokens, lan):
    net, _ = lan
    made = [create(cloud, tokens.demo, "port", "ports", network_id=net["id"]) for _ in range(3)]
    listed = get(cloud, tokens.demo, f"/ports?network_id={net['id']}&device_owner=")["ports"]
    assert {p["id"] for p in listed} == {p["id"] for p in made}
    assert all(p["security_groups"] and p["fixed_ips"] for p in listed)


def test_listed_ports_are_the_documents_a_field_by_field_listing_gives(cloud, tokens, lan, unique):
    """Full listings are written by the database, ``fields=`` listings and single ports by Python: the same ports
    must read the same both ways, for a member and for an admin (who also sees the binding), after each kind of
    change."""
    net, sub = lan
    second = subnet(cloud, tokens.demo, net["id"], "10.51.0.0/24")
    web = create(cloud, tokens.demo, "security_group", "security-groups", name=f"{unique}-web")
    plain = port(cloud, tokens.demo, net["id"])
    varied = port(
        cloud, tokens.demo, net["id"], name=f"{unique}-ünïcode \"quoted\"", description="line\nbreak",
        fixed_ips=[{"subnet_id": second["id"]}, {"subnet_id": sub["id"], "ip_address": "10.50.0.99"}],
        security_groups=[web["id"], _default_group(cloud, tokens.demo)],
        allowed_address_pairs=[{"ip_address": "10.50.0.200", "mac_address": "fa:16:3e:00:00:01"}],
        admin_state_up=False, device_id="server-x", device_owner="compute:nova",
    )  # fmt: skip
    unguarded = port(cloud, tokens.demo, net["id"], port_security_enabled=False, security_groups=[])
    cloud.request("PUT", f"{BASE}/ports/{plain['id']}/tags/{unique}", tokens.demo)  # an update: updated_at moves
    bound = {"port": {"binding:host_id": "host-9", "binding:profile": {"pci_slot": "0000:00:01.0"}}}
    assert cloud.request("PUT", f"{BASE}/ports/{varied['id']}", tokens.admin, json=bound).status_code == 200

    def same_both_ways() -> None:
        for token, fields in ((tokens.demo, FIELDS), (tokens.admin, FIELDS | BINDING)):
            query = f"/ports?network_id={net['id']}&sort_key=id"
            whole = get(cloud, token, query)["ports"]
            picked = get(cloud, token, query + "".join(f"&fields={name}" for name in sorted(fields)))["ports"]
            assert len(whole) == 4 and set(whole[0]) == fields  # the DHCP port and the three above
            assert whole == picked
            for one in whole:
                assert one == get(cloud, token, f"/ports/{one['id']}")["port"]

    same_both_ways()
    listed = {p["id"]: p for p in get(cloud, tokens.demo, f"/ports?network_id={net['id']}")["ports"]}
    assert listed[varied["id"]]["fixed_ips"] == [
        {"subnet_id": second["id"], "ip_address": varied["fixed_ips"][0]["ip_address"]},
        {"subnet_id": sub["id"], "ip_address": "10.50.0.99"},
    ]
    assert listed[varied["id"]]["security_groups"] == [web["id"], _default_group(cloud, tokens.demo)]
    assert listed[varied["id"]]["admin_state_up"] is False and listed[unguarded["id"]]["security_groups"] == []
    assert listed[plain["id"]]["tags"] == [unique] and listed[plain["id"]]["updated_at"].endswith("Z")
    page = cloud.request("GET", f"{BASE}/ports?network_id={net['id']}&limit=2", tokens.demo).json()
    assert len(page["ports"]) == 2 and page["ports_links"][0]["rel"] == "next"

    # PostgreSQL keeps each port's document, rebuilt by triggers: every part of a port that changes on its own
    # (its fixed IPs, its security groups, its row) must show in the next whole listing.
    changes = (
        (varied, {"fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.50.0.98"}]}, tokens.demo),
        (varied, {"security_groups": [web["id"]]}, tokens.demo),
        (unguarded, {"port_security_enabled": True, "security_groups": [web["id"]]}, tokens.demo),
        (plain, {"name": f"{unique}-renamed", "admin_state_up": False}, tokens.demo),
        (varied, {"binding:host_id": "", "binding:profile": {}}, tokens.admin),
    )
    for changed, body, token in changes:
        assert cloud.request("PUT", f"{BASE}/ports/{changed['id']}", token, json={"port": body}).status_code == 200
        same_both_ways()
    assert cloud.request("DELETE", f"{BASE}/subnets/{second['id']}", tokens.demo).status_code == 204
    same_both_ways()  # the subnet's addresses were freed with it
    listed = {p["id"]: p for p in get(cloud, tokens.demo, f"/ports?network_id={net['id']}")["ports"]}
    assert listed[varied["id"]]["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.50.0.98"}]
    assert listed[unguarded["id"]]["security_groups"] == [web["id"]]
    for each in (varied, unguarded):
        cloud.request("PUT", f"{BASE}/ports/{each['id']}", tokens.demo, json={"port": {"security_groups": []}})
    cloud.request("DELETE", f"{BASE}/security-groups/{web['id']}", tokens.demo)


def test_port_security_on_a_shared_network_is_for_its_owner_or_an_admin(cloud, tokens, unique):
    """Issue 11 item 4, Neutron's ``create_port:port_security_enabled`` / ``allowed_address_pairs`` policies: a
    user of another project's shared network may not turn anti-spoofing off or widen it, on create or update,
    whatever the value; the network's owner (here demo, a member) and an admin may. A refusal leaves nothing."""
    shared = network(cloud, tokens.admin, unique, shared=True, project_id=tokens.demo_project)
    subnet(cloud, tokens.admin, shared["id"], "10.51.0.0/24")
    pairs = [{"ip_address": "10.51.0.200/30"}]
    for attrs in ({"port_security_enabled": False}, {"port_security_enabled": True}, {"allowed_address_pairs": pairs}):
        refused = cloud.request(
            "POST", f"{BASE}/ports", tokens.other, json={"port": {"network_id": shared["id"], **attrs}}
        )
        assert f"network:port:{next(iter(attrs))}" in fault(refused, "PolicyNotAuthorized", 403)
    assert get(cloud, tokens.other, f"/ports?network_id={shared['id']}")["ports"] == []
    theirs = port(cloud, tokens.other, shared["id"])
    for attrs in ({"port_security_enabled": False, "security_groups": []}, {"allowed_address_pairs": pairs}):
        refused = cloud.request("PUT", f"{BASE}/ports/{theirs['id']}", tokens.other, json={"port": attrs})
        fault(refused, "PolicyNotAuthorized", 403)
    kept = get(cloud, tokens.other, f"/ports/{theirs['id']}")["port"]
    assert (kept["port_security_enabled"], kept["allowed_address_pairs"]) == (True, [])
    assert kept["revision_number"] == theirs["revision_number"]

    owners = port(cloud, tokens.demo, shared["id"], port_security_enabled=False)
    assert owners["port_security_enabled"] is False
    widened = port(cloud, tokens.admin, shared["id"], project_id=tokens.other_project, allowed_address_pairs=pairs)
    assert widened["allowed_address_pairs"][0]["ip_address"] == "10.51.0.200/30"
    for item in (theirs, owners, widened):
        delete(cloud, tokens.admin, "ports", item["id"])
    delete(cloud, tokens.admin, "networks", shared["id"])
