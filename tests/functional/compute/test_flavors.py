"""Flavors over real HTTP: the views per microversion, admin management, extra specs, private flavors shared
with projects, listing filters and pages, and the answers to bad requests; through raw HTTP, the openstack CLI
and openstacksdk."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.functional.compute import BASE, cli_json, fault, sdk, version

pytestmark = pytest.mark.functional

BRIEF_FIELDS = {"id", "name", "links"}
DETAIL_FIELDS = BRIEF_FIELDS | {
    "ram",
    "vcpus",
    "disk",
    "OS-FLV-EXT-DATA:ephemeral",
    "swap",
    "rxtx_factor",
    "os-flavor-access:is_public",
    "OS-FLV-DISABLED:disabled",
}


def _create(cloud, token, name, **fields):
    body = {"flavor": {"name": name, "ram": 64, "vcpus": 1, "disk": 1, **fields}}
    response = cloud.request("POST", f"{BASE}/flavors", token, json=body)
    assert response.status_code == 200, response.text
    return response.json()["flavor"]


@pytest.mark.parametrize("microversion", [None, "2.2", "2.37"])
def test_bootstrap_flavors_show_exactly_the_fields_of_each_view(cloud, microversion):
    token = cloud.demo().get_token()
    headers = version(microversion) if microversion else {}
    brief = cloud.request("GET", f"{BASE}/flavors", token, headers=headers).json()["flavors"]
    tiny = next(f for f in brief if f["id"] == "1")
    assert set(tiny) == BRIEF_FIELDS and tiny["name"] == "m1.tiny"
    assert tiny["links"][0]["rel"] == "self" and tiny["links"][0]["href"].endswith("/compute/v2.1/flavors/1")

    detail = cloud.request("GET", f"{BASE}/flavors/detail", token, headers=headers).json()["flavors"]
    assert all(set(f) == DETAIL_FIELDS for f in detail)
    shown = cloud.request("GET", f"{BASE}/flavors/1", token, headers=headers).json()["flavor"]
    assert set(shown) == DETAIL_FIELDS
    assert shown["ram"] == 128 and shown["vcpus"] == 1 and shown["disk"] == 1
    assert shown["swap"] == "" and shown["OS-FLV-EXT-DATA:ephemeral"] == 0 and shown["rxtx_factor"] == 1.0
    assert shown["os-flavor-access:is_public"] is True and shown["OS-FLV-DISABLED:disabled"] is False
    listed = [f["id"] for f in detail]
    assert listed == sorted(listed) and {"1", "2", "3"} <= set(listed)  # Nova sorts by flavor id


def test_admin_manages_flavors_with_the_cli(cloud, unique):
    created = cli_json(
        cloud,
        "stratus-admin",
        "flavor",
        "create",
        "--ram",
        "96",
        "--disk",
        "2",
        "--vcpus",
        "2",
        "--swap",
        "16",
        "--ephemeral",
        "1",
        "--property",
        "hw:cpu_policy=shared",
        unique,
    )
    assert created["name"] == unique and created["ram"] == 96 and created["swap"] == 16
    assert created["properties"] == {"hw:cpu_policy": "shared"}

    cloud.openstack("stratus-admin", "flavor", "set", "--property", "quota:disk_read_iops_sec=100", unique)
    cloud.openstack("stratus-admin", "flavor", "unset", "--property", "hw:cpu_policy", unique)
    shown = cli_json(cloud, "stratus", "flavor", "show", unique)
    assert shown["id"] == created["id"] and shown["vcpus"] == 2 and shown["OS-FLV-EXT-DATA:ephemeral"] == 1
    assert shown["properties"] == {"quota:disk_read_iops_sec": "100"}
    assert unique in [f["Name"] for f in cli_json(cloud, "stratus", "flavor", "list")]

    cloud.openstack("stratus-admin", "flavor", "delete", unique)
    missing = cloud.openstack("stratus", "flavor", "show", unique, check=False)
    assert missing.returncode != 0


def test_members_cannot_manage_flavors(cloud, unique):
    token = cloud.demo().get_token()
    body = {"flavor": {"name": unique, "ram": 64, "vcpus": 1, "disk": 1}}
    assert "compute:flavors:manage" in fault(
        cloud.request("POST", f"{BASE}/flavors", token, json=body), "forbidden", 403
    )
    fault(cloud.request("DELETE", f"{BASE}/flavors/1", token), "forbidden", 403)
    fault(cloud.request("POST", f"{BASE}/flavors/1/os-extra_specs", token, json={"extra_specs": {}}), "forbidden", 403)
    result = cloud.openstack("stratus", "flavor", "create", unique, check=False)
    assert result.returncode != 0 and "403" in result.stderr


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ram": None}, "flavor.ram"),
        ({"ram": 0}, "flavor.ram"),
        ({"vcpus": "two"}, "flavor.vcpus"),
        ({"disk": -1}, "flavor.disk"),
        ({"id": " padded"}, "flavor.id"),
        ({"rxtx_factor": 0}, "flavor.rxtx_factor"),
        ({"os-flavor-access:is_public": "maybe"}, "flavor.os-flavor-access:is_public"),
        ({"description": "only from 2.55"}, "flavor.description"),
    ],
)
def test_bad_flavor_bodies_are_400_naming_the_field(cloud, unique, fields, field):
    body = {"flavor": {"name": unique, "ram": 64, "vcpus": 1, "disk": 1, **fields}}
    body["flavor"] = {k: v for k, v in body["flavor"].items() if v is not None}
    response = cloud.request("POST", f"{BASE}/flavors", cloud.admin_token(), json=body)
    assert field in fault(response, "badRequest", 400)


def test_duplicate_names_and_ids_are_409_and_ids_are_generated(cloud, unique):
    token = cloud.admin_token()
    auto = _create(cloud, token, unique, id="auto")
    assert len(auto["id"]) == 36
    null = _create(cloud, token, unique + "-null", id=None, ram="128", vcpus="1", disk="0", swap="")
    assert len(null["id"]) == 36 and null["ram"] == 128 and null["swap"] == ""
    named = _create(cloud, token, unique + "-named", id=unique)
    assert named["id"] == unique

    same_name = {"flavor": {"name": unique, "ram": 64, "vcpus": 1, "disk": 1}}
    assert unique in fault(cloud.request("POST", f"{BASE}/flavors", token, json=same_name), "conflictingRequest", 409)
    same_id = {"flavor": {"name": unique + "-other", "ram": 64, "vcpus": 1, "disk": 1, "id": "1"}}
    assert "ID 1" in fault(cloud.request("POST", f"{BASE}/flavors", token, json=same_id), "conflictingRequest", 409)

    for flavor in (auto, null, named):
        assert cloud.request("DELETE", f"{BASE}/flavors/{flavor['id']}", token).status_code == 202
    fault(cloud.request("GET", f"{BASE}/flavors/{unique}", token), "itemNotFound", 404)
    fault(cloud.request("DELETE", f"{BASE}/flavors/{unique}", token), "itemNotFound", 404)


def test_extra_specs_answers(cloud, unique):
    admin = cloud.admin_token()
    flavor = _create(cloud, admin, unique)
    specs = f"{BASE}/flavors/{flavor['id']}/os-extra_specs"
    created = cloud.request("POST", specs, admin, json={"extra_specs": {"hw:numa_nodes": 1, "trait:X": "required"}})
    assert created.status_code == 200 and created.json() == {
        "extra_specs": {"hw:numa_nodes": "1", "trait:X": "required"}
    }
    assert cloud.request("PUT", f"{specs}/hw:numa_nodes", admin, json={"hw:numa_nodes": "2"}).json() == {
        "hw:numa_nodes": "2"
    }
    demo = cloud.demo().get_token()
    assert cloud.request("GET", f"{specs}/hw:numa_nodes", demo).json() == {"hw:numa_nodes": "2"}
    assert cloud.request("GET", specs, demo).json() == {"extra_specs": {"hw:numa_nodes": "2", "trait:X": "required"}}

    mismatch = cloud.request("PUT", f"{specs}/hw:numa_nodes", admin, json={"other": "2"})
    assert "mismatch" in fault(mismatch, "badRequest", 400)
    bad_key = cloud.request("POST", specs, admin, json={"extra_specs": {"bad/key": "1"}})
    assert "extra_specs" in fault(bad_key, "badRequest", 400)
    assert cloud.request("DELETE", f"{specs}/trait:X", admin).status_code == 200
    assert "trait:X" in fault(cloud.request("GET", f"{specs}/trait:X", demo), "itemNotFound", 404)
    fault(cloud.request("DELETE", f"{specs}/trait:X", admin), "itemNotFound", 404)
    cloud.request("DELETE", f"{BASE}/flavors/{flavor['id']}", admin)


def test_private_flavors_are_seen_only_by_the_projects_they_are_shared_with(cloud, unique):
    admin = cloud.admin_token()
    demo_session = cloud.demo()
    demo, demo_project = demo_session.get_token(), demo_session.get_project_id()
    flavor = _create(cloud, admin, unique, **{"os-flavor-access:is_public": False})
    path = f"{BASE}/flavors/{flavor['id']}"
    assert flavor["os-flavor-access:is_public"] is False
    fault(cloud.request("GET", path, demo), "itemNotFound", 404)
    assert flavor["id"] not in [f["id"] for f in cloud.request("GET", f"{BASE}/flavors", demo).json()["flavors"]]
    assert cloud.request("GET", f"{path}/os-flavor-access", admin).json() == {"flavor_access": []}

    cloud.openstack("stratus-admin", "flavor", "set", "--project", "demo", unique)
    assert cloud.request("GET", f"{path}/os-flavor-access", admin).json() == {
        "flavor_access": [{"flavor_id": flavor["id"], "tenant_id": demo_project}]
    }
    assert cloud.request("GET", path, demo).json()["flavor"]["name"] == unique
    assert unique in [f["Name"] for f in cli_json(cloud, "stratus", "flavor", "list")]
    assert cli_json(cloud, "stratus-admin", "flavor", "show", unique)["access_project_ids"] == [demo_project]

    again = cloud.request("POST", f"{path}/action", admin, json={"addTenantAccess": {"tenant": demo_project}})
    fault(again, "conflictingRequest", 409)
    unknown = cloud.request("POST", f"{path}/action", admin, json={"addTenantAccess": {"tenant": "no-such-project"}})
    assert "no-such-project" in fault(unknown, "badRequest", 400)
    public = cloud.request(
        "POST",
        f"{BASE}/flavors/1/action",
        admin,
        json={"addTenantAccess": {"tenant": demo_project}},
        headers=version("2.7"),
    )
    assert "public" in fault(public, "conflictingRequest", 409)
    fault(cloud.request("GET", f"{BASE}/flavors/1/os-flavor-access", admin), "itemNotFound", 404)
    fault(cloud.request("GET", f"{path}/os-flavor-access", demo), "forbidden", 403)

    cloud.openstack("stratus-admin", "flavor", "unset", "--project", "demo", unique)
    fault(cloud.request("GET", path, demo), "itemNotFound", 404)
    gone = cloud.request("POST", f"{path}/action", admin, json={"removeTenantAccess": {"tenant": demo_project}})
    fault(gone, "itemNotFound", 404)
    cloud.request("DELETE", path, admin)


def test_listing_filters_sorts_and_pages(cloud, unique):
    admin = cloud.admin_token()
    big = _create(cloud, admin, unique + "-big", ram=999_000, disk=900)
    private = _create(cloud, admin, unique + "-private", ram=998_000, **{"os-flavor-access:is_public": "false"})
    detail = f"{BASE}/flavors/detail"

    def ids(token, query):
        response = cloud.request("GET", f"{detail}?{query}", token)
        assert response.status_code == 200, response.text
        return [f["id"] for f in response.json()["flavors"]]

    assert big["id"] in ids(admin, "minRam=999000") and private["id"] not in ids(admin, "minRam=998000")
    assert ids(admin, "minDisk=900") == [big["id"]]
    assert private["id"] in ids(admin, "is_public=false") and big["id"] not in ids(admin, "is_public=false")
    assert {big["id"], private["id"]} <= set(ids(admin, "is_public=none"))
    demo = cloud.demo().get_token()
    assert private["id"] not in ids(demo, "is_public=none")  # only admins choose
    by_ram = ids(admin, "is_public=none&sort_key=memory_mb&sort_dir=desc")
    assert by_ram[:2] == [big["id"], private["id"]]

    every = ids(admin, "")
    first = cloud.request("GET", f"{detail}?limit=1", admin).json()
    assert [f["id"] for f in first["flavors"]] == every[:1]
    next_link = first["flavors_links"][0]
    assert next_link["rel"] == "next" and "/compute/v2.1/flavors/detail?" in next_link["href"]
    assert parse_qs(urlparse(next_link["href"]).query) == {"limit": ["1"], "marker": [every[0]]}
    assert ids(admin, f"limit=2&marker={every[0]}") == every[1:3]
    assert "flavors_links" not in cloud.request("GET", f"{BASE}/flavors", admin).json()

    for query, text in (
        ("marker=nope", "marker [nope] not found"),
        ("limit=-1", "limit"),
        ("sort_key=bogus", "sort_key"),
        ("sort_dir=sideways", "sort_dir"),
        ("minRam=lots", "minRam"),
        ("is_public=perhaps", "is_public"),
    ):
        assert text in fault(cloud.request("GET", f"{detail}?{query}", admin), "badRequest", 400), query
    for flavor in (big, private):
        cloud.request("DELETE", f"{BASE}/flavors/{flavor['id']}", admin)


def test_openstacksdk_manages_flavors_and_their_access(cloud, unique):
    conn = sdk(cloud, admin=True)
    flavor = conn.compute.create_flavor(name=unique, ram=64, vcpus=1, disk=1, is_public=False)
    assert flavor.id and flavor.is_public is False
    conn.compute.create_flavor_extra_specs(flavor, {"hw:mem_page_size": "small"})
    found = conn.compute.find_flavor(unique, get_extra_specs=True, is_public=None)
    assert found.id == flavor.id and found.extra_specs == {"hw:mem_page_size": "small"}
    project = conn.identity.find_project("demo")
    conn.compute.flavor_add_tenant_access(flavor.id, project.id)
    assert [a["tenant_id"] for a in conn.compute.get_flavor_access(flavor.id)] == [project.id]

    member = sdk(cloud)
    assert member.compute.get_flavor(flavor.id).name == unique
    assert unique in [f.name for f in member.compute.flavors()]
    conn.compute.flavor_remove_tenant_access(flavor.id, project.id)
    assert member.compute.find_flavor(unique) is None
    conn.compute.flavor_add_tenant_access(flavor.id, project.id)
    conn.compute.delete_flavor(flavor)  # its access list goes with it
    assert conn.compute.find_flavor(flavor.id) is None


def test_a_marker_of_a_flavor_the_caller_cannot_see_is_a_missing_marker(cloud, unique):
    """Issue 11 item 5: a private flavor not shared with the caller's project is no marker for them."""
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    flavor = _create(cloud, admin, unique, **{"os-flavor-access:is_public": False})
    missing = "no-such-flavor"
    for sort in ("", "&sort_key=name&sort_dir=desc"):
        hidden = cloud.request("GET", f"{BASE}/flavors?limit=1&marker={flavor['id']}{sort}", demo)
        absent = cloud.request("GET", f"{BASE}/flavors?limit=1&marker={missing}{sort}", demo)
        assert fault(hidden, "badRequest", 400).replace(flavor["id"], missing) == fault(absent, "badRequest", 400)
    own = cloud.request("GET", f"{BASE}/flavors?is_public=false&limit=1&marker={flavor['id']}", admin)
    assert own.status_code == 200, own.text
    cloud.request("DELETE", f"{BASE}/flavors/{flavor['id']}", admin)
