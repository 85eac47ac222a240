"""Networks over real HTTP: Neutron's fields, admin-only provider attributes, visibility across projects,
listing filters, fields, sorting and pages, VNIs under concurrency; raw HTTP, openstacksdk and the CLI."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlparse

import pytest

from tests.functional.network import BASE, cli_json, delete, fault, get, network, port, sdk, subnet

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

FIELDS = {
    "id", "name", "tenant_id", "project_id", "admin_state_up", "status", "subnets", "shared", "mtu",
    "router:external", "port_security_enabled", "availability_zones", "availability_zone_hints",
    "ipv4_address_scope", "ipv6_address_scope", "is_default", "l2_adjacency", "dns_domain", "description", "tags",
    "created_at", "updated_at", "revision_number", "qos_policy_id",
}  # fmt: skip
PROVIDER = {"provider:network_type", "provider:physical_network", "provider:segmentation_id"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_network_lifecycle_with_neutrons_fields(cloud, tokens, unique):
    created = network(cloud, tokens.demo, unique, description="first")
    assert set(created) == FIELDS
    assert created["tenant_id"] == created["project_id"] == tokens.demo_project
    assert created["mtu"] == 1450 and created["status"] == "ACTIVE" and created["admin_state_up"] is True
    assert created["shared"] is False and created["router:external"] is False and created["subnets"] == []
    assert created["revision_number"] == 1 and TIMESTAMP.match(created["created_at"])
    assert created["port_security_enabled"] is True and created["availability_zones"] == []

    path = f"{BASE}/networks/{created['id']}"
    updated = cloud.request("PUT", path, tokens.demo, json={"network": {"name": unique + "-x", "mtu": "1400"}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["network"]["name"] == unique + "-x" and updated.json()["network"]["mtu"] == 1400
    assert updated.json()["network"]["revision_number"] == 2
    assert get(cloud, tokens.reader, f"/networks/{created['id']}")["network"]["mtu"] == 1400
    shown = get(cloud, tokens.demo, f"/networks/{created['id']}")["network"]
    (listed,) = get(cloud, tokens.demo, f"/networks?id={created['id']}")["networks"]  # read as text, not ORM
    assert listed == shown and TIMESTAMP.match(listed["updated_at"]) and listed["updated_at"] >= listed["created_at"]

    delete(cloud, tokens.demo, "networks", created["id"])
    assert created["id"] in fault(cloud.request("GET", path, tokens.demo), "NetworkNotFound", 404)
    fault(cloud.request("DELETE", path, tokens.demo), "NetworkNotFound", 404)


def test_provider_attributes_are_for_admins(cloud, tokens, unique):
    vni = 500 + int(unique[-6:], 16) % 400  # below the tenant range, so no tenant network can hold it
    admin_net = network(cloud, tokens.admin, unique, shared=True, **{"provider:segmentation_id": vni})
    assert set(admin_net) == FIELDS | PROVIDER
    assert admin_net["provider:network_type"] == "vxlan" and admin_net["provider:segmentation_id"] == vni
    assert admin_net["provider:physical_network"] is None
    seen_by_demo = get(cloud, tokens.demo, f"/networks/{admin_net['id']}")["network"]
    assert set(seen_by_demo) == FIELDS and seen_by_demo["shared"] is True

    body = {"network": {"name": unique, "provider:network_type": "vxlan"}}
    assert "network:network:provider" in fault(
        cloud.request("POST", f"{BASE}/networks", tokens.demo, json=body), "PolicyNotAuthorized", 403
    )
    for attrs in ({"shared": True}, {"router:external": True}):
        response = cloud.request("POST", f"{BASE}/networks", tokens.demo, json={"network": {"name": unique, **attrs}})
        fault(response, "PolicyNotAuthorized", 403)
    same_vni = {"network": {"name": unique, "provider:segmentation_id": vni}}
    assert str(vni) in fault(
        cloud.request("POST", f"{BASE}/networks", tokens.admin, json=same_vni), "TunnelIdInUse", 409
    )
    other_type = {"network": {"name": unique, "provider:network_type": "vlan"}}
    fault(cloud.request("POST", f"{BASE}/networks", tokens.admin, json=other_type), "InvalidInput", 400)
    assert [n for n in get(cloud, tokens.demo, f"/networks?name={unique}")["networks"]] == [seen_by_demo]
    delete(cloud, tokens.admin, "networks", admin_net["id"])


def test_other_projects_networks_are_404_unless_shared_or_external(cloud, tokens, unique):
    private = network(cloud, tokens.demo, unique)
    shared = network(cloud, tokens.admin, unique + "-shared", shared=True)
    external = network(cloud, tokens.admin, unique + "-ext", **{"router:external": True})
    path = f"{BASE}/networks/{private['id']}"
    for method, body in (("GET", None), ("PUT", {"network": {"name": "x"}}), ("DELETE", None)):
        fault(cloud.request(method, path, tokens.other, json=body), "NetworkNotFound", 404)
    listed = {n["id"] for n in get(cloud, tokens.other, "/networks")["networks"]}
    assert private["id"] not in listed and {shared["id"], external["id"]} <= listed
    assert get(cloud, tokens.other, f"/networks/{external['id']}")["network"]["router:external"] is True

    # a shared network takes other projects' ports; an external one is visible but not theirs to use
    theirs = port(cloud, tokens.other, shared["id"])
    assert theirs["project_id"] == tokens.other_project
    body = {"port": {"network_id": external["id"]}}
    fault(cloud.request("POST", f"{BASE}/ports", tokens.other, json=body), "NetworkNotFound", 404)
    fault(cloud.request("PUT", f"{BASE}/networks/{shared['id']}", tokens.other, json={"network": {"name": "x"}}),
          "PolicyNotAuthorized", 403)  # fmt: skip
    # unsharing while another project has a port there is refused
    unshare = {"network": {"shared": False}}
    fault(
        cloud.request("PUT", f"{BASE}/networks/{shared['id']}", tokens.admin, json=unshare), "InvalidSharedSetting", 409
    )
    delete(cloud, tokens.other, "ports", theirs["id"])
    for token, item in ((tokens.demo, private), (tokens.admin, shared), (tokens.admin, external)):
        delete(cloud, token, "networks", item["id"])


def test_readers_read_and_members_write(cloud, tokens, unique):
    created = network(cloud, tokens.demo, unique)
    assert get(cloud, tokens.reader, f"/networks/{created['id']}")["network"]["id"] == created["id"]
    for method, path, body in (
        ("POST", "/networks", {"network": {"name": unique}}),
        ("PUT", f"/networks/{created['id']}", {"network": {"name": "x"}}),
        ("DELETE", f"/networks/{created['id']}", None),
    ):
        fault(cloud.request(method, f"{BASE}{path}", tokens.reader, json=body), "PolicyNotAuthorized", 403)
    assert cloud.request("GET", f"{BASE}/networks").status_code == 401
    delete(cloud, tokens.demo, "networks", created["id"])


def test_listing_filters_fields_sorting_and_pages(cloud, tokens, unique):
    made = [network(cloud, tokens.demo, f"{unique}-{i}", admin_state_up=i % 2 == 0) for i in range(5)]
    names = [n["name"] for n in made]
    query = f"/networks?name={names[1]}&name={names[3]}"
    assert {n["name"] for n in get(cloud, tokens.demo, query)["networks"]} == {names[1], names[3]}
    down = get(cloud, tokens.demo, f"/networks?admin_state_up=False&tenant_id={tokens.demo_project}")["networks"]
    assert {n["name"] for n in down if n["name"].startswith(unique)} == {names[1], names[3]}
    assert get(cloud, tokens.demo, f"/networks?name={names[0]}&is_default=true")["networks"] == []
    only = get(cloud, tokens.demo, f"/networks?id={made[0]['id']}&fields=id&fields=name")["networks"]
    assert only == [{"id": made[0]["id"], "name": names[0]}]
    assert get(cloud, tokens.demo, f"/networks/{made[0]['id']}?fields=mtu")["network"] == {"mtu": 1450}

    # pages of two, newest name first, followed through the next links
    seen, url = [], f"{BASE}/networks?limit=2&sort_key=name&sort_dir=desc&" + "&".join(f"name={n}" for n in names)
    while url:
        body = cloud.request("GET", url.replace(cloud.url, ""), tokens.demo).json()
        seen += [n["name"] for n in body["networks"]]
        url = next((link["href"] for link in body.get("networks_links", []) if link["rel"] == "next"), None)
        assert not url or "/network/v2.0/networks?" in url
    assert seen == sorted(names, reverse=True)
    last_page = f"{BASE}/networks?limit=2&sort_key=name&" + "&".join(f"name={n}" for n in names)
    first = cloud.request("GET", last_page, tokens.demo).json()
    marker = parse_qs(urlparse(first["networks_links"][0]["href"]).query)["marker"][0]
    back = get(cloud, tokens.demo, f"{last_page.removeprefix(BASE)}&marker={marker}&page_reverse=True")
    assert [n["name"] for n in back["networks"]] == names[:1]

    fault(cloud.request("GET", f"{BASE}/networks?colour=blue", tokens.demo), "HTTPBadRequest", 400)
    assert "sort_key" in fault(
        cloud.request("GET", f"{BASE}/networks?sort_key=colour", tokens.demo), "HTTPBadRequest", 400
    )
    fault(cloud.request("GET", f"{BASE}/networks?limit=-1", tokens.demo), "HTTPBadRequest", 400)
    fault(cloud.request("GET", f"{BASE}/networks?limit=1&marker=nope", tokens.demo), "NetworkNotFound", 404)

    conn = sdk(cloud)
    paged = [n.name for n in conn.network.networks(limit=2, sort_key="name", sort_dir="asc") if n.name in names]
    assert paged == sorted(names)
    assert [n.id for n in conn.network.networks(name=names[2], is_admin_state_up=True)] == [made[2]["id"]]
    for item in made:
        conn.network.delete_network(item["id"])


@pytest.mark.parametrize(
    ("attrs", "fault_type", "words"),
    [
        ({"mtu": 9000}, "InvalidInput", "maximum is 1450"),
        ({"mtu": "big"}, "HTTPBadRequest", "mtu"),
        ({"admin_state_up": "maybe"}, "HTTPBadRequest", "admin_state_up"),
        ({"colour": "blue"}, "HTTPBadRequest", "colour"),
        ({"name": "x" * 256}, "HTTPBadRequest", "name"),
        ({"availability_zone_hints": ["az1"]}, "HTTPBadRequest", "availability_zone_hints"),
    ],
)
def test_bad_network_bodies_are_400s_naming_the_field(cloud, tokens, unique, attrs, fault_type, words):
    response = cloud.request("POST", f"{BASE}/networks", tokens.demo, json={"network": {"name": unique, **attrs}})
    assert words in fault(response, fault_type, 400)
    assert get(cloud, tokens.demo, f"/networks?name={unique}")["networks"] == []


def test_bodies_that_are_not_a_network_object(cloud, tokens):
    for data in ("[]", '{"networks": {}}', "not json"):
        response = cloud.request(
            "POST", f"{BASE}/networks", tokens.demo, data=data, headers={"Content-Type": "application/json"}
        )
        fault(response, "HTTPBadRequest", 400)


def test_concurrent_creates_never_share_a_vni(cloud, tokens, unique):
    def create(index: int) -> dict:
        return network(cloud, tokens.admin, f"{unique}-{index}")

    with ThreadPoolExecutor(16) as pool:
        made = list(pool.map(create, range(40)))
    vnis = [n["provider:segmentation_id"] for n in made]
    assert len(set(vnis)) == 40 and all(1001 <= v <= 16_000_000 for v in vnis)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: delete(cloud, tokens.admin, "networks", n["id"]), made))


def test_network_delete_refuses_while_ports_remain(cloud, tokens, unique):
    created = network(cloud, tokens.demo, unique)
    subnet(cloud, tokens.demo, created["id"], "10.77.0.0/24")
    used = port(cloud, tokens.demo, created["id"], device_id="vm-1")
    assert created["id"] in fault(
        cloud.request("DELETE", f"{BASE}/networks/{created['id']}", tokens.demo), "NetworkInUse", 409
    )
    delete(cloud, tokens.demo, "ports", used["id"])
    delete(cloud, tokens.demo, "networks", created["id"])  # its subnet and DHCP port go with it
    assert get(cloud, tokens.demo, f"/ports?network_id={created['id']}")["ports"] == []
    assert get(cloud, tokens.admin, f"/subnets?network_id={created['id']}")["subnets"] == []


@pytest.mark.one_database  # a CLI walk-through: the same requests on either database
def test_the_cli_manages_networks(cloud, tokens, unique):
    created = cli_json(cloud, "stratus", "network", "create", "--description", "made by the CLI", unique)
    assert created["name"] == unique and created["mtu"] == 1450 and created["description"] == "made by the CLI"
    cloud.openstack("stratus", "network", "set", "--name", unique + "-renamed", "--disable", unique)
    shown = cli_json(cloud, "stratus", "network", "show", unique + "-renamed")
    assert shown["id"] == created["id"] and shown["admin_state_up"] is False
    listed = cli_json(cloud, "stratus", "network", "list")
    assert unique + "-renamed" in [n["Name"] for n in listed]
    admin_view = cli_json(cloud, "stratus-admin", "network", "show", created["id"])
    assert admin_view["provider:network_type"] == "vxlan" and admin_view["provider:segmentation_id"] >= 1001
    cloud.openstack("stratus", "network", "delete", unique + "-renamed")
    assert cloud.openstack("stratus", "network", "show", created["id"], check=False).returncode != 0
