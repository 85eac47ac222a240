"""Server groups over real HTTP: the fields of each microversion, the policies each allows, members that come
and go with servers, visibility between projects, paging and errors; through raw HTTP, the openstack CLI and
openstacksdk."""

from __future__ import annotations

import pytest

from tests.functional.compute import BASE, cli_json, fault, sdk, version
from tests.functional.compute.conftest import create_server, wait_for_status, wait_until_gone

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

FIELDS = {"id", "name", "policies", "members", "metadata"}
OWNER_FIELDS = {"project_id", "user_id"}


def _create(cloud, token, name, policy="anti-affinity", headers=None):
    body = {"server_group": {"name": name, "policies": [policy]}}
    response = cloud.request("POST", f"{BASE}/os-server-groups", token, json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()["server_group"]


@pytest.mark.one_database  # a CLI walk-through: the same requests on either database
def test_cli_creates_lists_shows_and_deletes_a_group(cloud, unique):
    created = cli_json(cloud, "stratus", "server", "group", "create", "--policy", "anti-affinity", unique)
    assert created["name"] == unique and created["policy"] == "anti-affinity"  # the CLI negotiates 2.64 or later
    assert created["rules"] == {}
    assert unique in [g["Name"] for g in cli_json(cloud, "stratus", "server", "group", "list")]
    shown = cli_json(cloud, "stratus", "server", "group", "show", unique)
    assert shown["id"] == created["id"] and shown["members"] == []
    cloud.openstack("stratus", "server", "group", "delete", unique)
    assert cloud.openstack("stratus", "server", "group", "show", unique, check=False).returncode != 0


@pytest.mark.parametrize(
    ("microversion", "fields"),
    [(None, FIELDS), ("2.12", FIELDS), ("2.13", FIELDS | OWNER_FIELDS), ("2.37", FIELDS | OWNER_FIELDS)],
)
def test_fields_per_microversion(cloud, unique, microversion, fields):
    session = cloud.demo()
    token = session.get_token()
    headers = version(microversion) if microversion else {}
    created = _create(cloud, token, unique, headers=headers)
    assert set(created) == fields
    assert created["policies"] == ["anti-affinity"] and created["members"] == [] and created["metadata"] == {}
    if "project_id" in fields:
        assert created["project_id"] == session.get_project_id() and created["user_id"] == session.get_user_id()
    shown = cloud.request("GET", f"{BASE}/os-server-groups/{created['id']}", token, headers=headers).json()
    assert shown == {"server_group": created}
    listed = cloud.request("GET", f"{BASE}/os-server-groups", token, headers=headers).json()["server_groups"]
    assert created in listed
    assert cloud.request("DELETE", f"{BASE}/os-server-groups/{created['id']}", token).status_code == 204
    fault(cloud.request("GET", f"{BASE}/os-server-groups/{created['id']}", token), "itemNotFound", 404)


@pytest.mark.parametrize("policy", ["soft-affinity", "soft-anti-affinity"])
def test_soft_policies_need_2_15(cloud, unique, policy):
    token = cloud.demo().get_token()
    body = {"server_group": {"name": unique, "policies": [policy]}}
    old = cloud.request("POST", f"{BASE}/os-server-groups", token, json=body, headers=version("2.14"))
    assert "server_group.policies" in fault(old, "badRequest", 400)
    group = _create(cloud, token, unique, policy=policy, headers=version("2.15"))
    assert group["policies"] == [policy]
    cloud.request("DELETE", f"{BASE}/os-server-groups/{group['id']}", token)


@pytest.mark.parametrize(
    ("group", "field"),
    [
        ({"policies": ["affinity"]}, "server_group.name"),
        ({"name": "g"}, "server_group.policies"),
        ({"name": "g", "policies": []}, "server_group.policies"),
        ({"name": "g", "policies": ["affinity", "anti-affinity"]}, "server_group.policies"),
        ({"name": "g", "policies": ["together"]}, "server_group.policies"),
        ({"name": "", "policies": ["affinity"]}, "server_group.name"),
        ({"name": "g", "policy": "affinity"}, "server_group.polic"),  # the 2.64 form
    ],
)
def test_bad_groups_are_400_naming_the_field(cloud, group, field):
    response = cloud.request(
        "POST",
        f"{BASE}/os-server-groups",
        cloud.demo().get_token(),
        json={"server_group": group},
        headers=version("2.37"),
    )
    assert field in fault(response, "badRequest", 400)


def test_other_projects_groups_are_invisible_except_to_admins(cloud, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    group = _create(cloud, admin, unique)
    path = f"{BASE}/os-server-groups/{group['id']}"
    assert "could not be found" in fault(cloud.request("GET", path, demo), "itemNotFound", 404)
    fault(cloud.request("DELETE", path, demo), "itemNotFound", 404)
    demo_list = cloud.request("GET", f"{BASE}/os-server-groups?all_projects=True", demo).json()["server_groups"]
    assert group["id"] not in [g["id"] for g in demo_list]  # all_projects is for admins only

    mine = _create(cloud, demo, unique)
    everything = cloud.request("GET", f"{BASE}/os-server-groups?all_projects=True", admin).json()["server_groups"]
    assert {group["id"], mine["id"]} <= {g["id"] for g in everything}
    own = cloud.request("GET", f"{BASE}/os-server-groups", admin).json()["server_groups"]
    assert group["id"] in [g["id"] for g in own] and mine["id"] not in [g["id"] for g in own]
    assert cloud.request("GET", f"{BASE}/os-server-groups/{mine['id']}", admin).status_code == 200
    assert cloud.request("DELETE", f"{BASE}/os-server-groups/{mine['id']}", admin).status_code == 204
    assert cloud.request("DELETE", path, admin).status_code == 204


def test_listing_pages_with_limit_and_offset(cloud, unique):
    token = cloud.demo().get_token()
    groups = [_create(cloud, token, f"{unique}-{i}") for i in range(3)]
    everything = [g["id"] for g in cloud.request("GET", f"{BASE}/os-server-groups", token).json()["server_groups"]]
    start = everything.index(groups[0]["id"])
    page = cloud.request("GET", f"{BASE}/os-server-groups?limit=2&offset={start + 1}", token).json()["server_groups"]
    assert [g["id"] for g in page] == everything[start + 1 : start + 3]
    assert "offset" in fault(cloud.request("GET", f"{BASE}/os-server-groups?offset=-1", token), "badRequest", 400)
    for group in groups:
        cloud.request("DELETE", f"{BASE}/os-server-groups/{group['id']}", token)


def test_members_are_the_groups_live_servers(cloud, server_image, unique):
    token = cloud.demo().get_token()
    group = _create(cloud, token, unique)
    server = create_server(cloud, token, server_image, unique, hints={"group": group["id"]})
    wait_for_status(cloud, token, server["id"], "ACTIVE")
    shown = cloud.request("GET", f"{BASE}/os-server-groups/{group['id']}", token).json()["server_group"]
    assert shown["members"] == [server["id"]]
    assert cli_json(cloud, "stratus", "server", "group", "show", group["id"])["members"] == [server["id"]]

    cloud.request("DELETE", f"{BASE}/servers/{server['id']}", token)
    wait_until_gone(cloud, token, server["id"])
    shown = cloud.request("GET", f"{BASE}/os-server-groups/{group['id']}", token).json()["server_group"]
    assert shown["members"] == []
    cloud.request("DELETE", f"{BASE}/os-server-groups/{group['id']}", token)


def test_openstacksdk_manages_groups(cloud, unique):
    conn = sdk(cloud)
    group = conn.compute.create_server_group(name=unique, policies=["soft-anti-affinity"])
    assert group.policies == ["soft-anti-affinity"] and group.project_id == conn.current_project_id
    assert conn.compute.get_server_group(group.id).name == unique
    assert group.id in [g.id for g in conn.compute.server_groups()]
    assert conn.compute.find_server_group(unique).id == group.id
    conn.compute.delete_server_group(group)
    assert conn.compute.find_server_group(group.id) is None
