"""The Placement API's read side over real HTTP: the version document and microversion negotiation, one resource
provider per compute host with the scheduler's inventory (the host's size and allocation ratios), usages and
allocations that follow a server, Placement's filters and its error body, admin only and read only; and the
``openstack resource provider ...`` commands of osc-placement against it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from common import settings
from common.db import Database
from compute.models import ComputeHost
from tests.functional.compute import BASE, version, wait_for_hosts
from tests.functional.compute.conftest import create_server, wait_for_status

pytestmark = pytest.mark.functional

PLACEMENT = "/placement"


def placement(minor: int) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement 1.{minor}"}


def error(response: Any, status: int) -> dict[str, Any]:
    """Assert Placement's error body (``{"errors": [...]}``) and return its one error."""
    assert response.status_code == status, response.text
    [found] = response.json()["errors"]
    assert found["status"] == status and found["request_id"] == response.headers["X-OpenStack-Request-ID"]
    assert "code" not in found  # only from 1.23
    return found


@pytest.fixture(scope="module")
def admin(cloud) -> str:
    token = cloud.admin_token()
    wait_for_hosts(cloud, token, 3)
    return token


def hypervisors(cloud, admin: str) -> dict[str, dict[str, Any]]:
    found = cloud.request("GET", f"{BASE}/os-hypervisors/detail", admin, headers=version("2.53")).json()
    return {h["hypervisor_hostname"]: h for h in found["hypervisors"]}


def providers(cloud, admin: str, query: str = "", minor: int = 0) -> list[dict[str, Any]]:
    response = cloud.request("GET", f"{PLACEMENT}/resource_providers{query}", admin, headers=placement(minor))
    assert response.status_code == 200, response.text
    return response.json()["resource_providers"]


def test_the_root_is_the_version_document_for_anyone(cloud):
    response = cloud.request("GET", PLACEMENT)
    assert response.status_code == 200
    assert response.json() == {
        "versions": [
            {"id": "v1.0", "max_version": "1.9", "min_version": "1.0", "status": "CURRENT",
             "links": [{"rel": "self", "href": ""}]}
        ]
    }  # fmt: skip
    assert response.headers["OpenStack-API-Version"] == "placement 1.0"
    assert "openstack-api-version" in response.headers["Vary"].lower()


def test_microversions_are_negotiated_and_echoed(cloud, admin):
    latest = cloud.request(
        "GET", f"{PLACEMENT}/resource_providers", admin, headers={"OpenStack-API-Version": "placement latest"}
    )
    assert latest.headers["OpenStack-API-Version"] == "placement 1.9"
    too_new = error(cloud.request("GET", PLACEMENT, headers=placement(10)), 406)
    assert too_new["title"] == "Not Acceptable" and "Unacceptable version header: 1.10" in too_new["detail"]
    assert (too_new["min_version"], too_new["max_version"]) == ("1.0", "1.9")
    bad = error(cloud.request("GET", PLACEMENT, headers={"OpenStack-API-Version": "placement pony.horse"}), 400)
    assert "invalid version string: pony.horse" in bad["detail"]
    other = cloud.request("GET", PLACEMENT, headers={"OpenStack-API-Version": "compute 2.1"})
    assert other.headers["OpenStack-API-Version"] == "placement 1.0"  # another service's header is not ours


def test_each_compute_host_is_a_provider_with_the_schedulers_inventory(cloud, admin):
    hosts = hypervisors(cloud, admin)
    listed = {p["name"]: p for p in providers(cloud, admin)}
    assert set(listed) == set(hosts)
    name, shown = sorted(listed.items())[0]
    assert shown["uuid"] == hosts[name]["id"]  # the hypervisor's id, as Nova's compute node uuid
    base = f"{PLACEMENT}/resource_providers/{shown['uuid']}"
    assert shown["links"] == [
        {"rel": "self", "href": base}, {"rel": "inventories", "href": f"{base}/inventories"},
        {"rel": "usages", "href": f"{base}/usages"},
    ]  # fmt: skip
    assert set(shown) == {"generation", "uuid", "name", "links"}
    at_1_1 = providers(cloud, admin, minor=1)[0]
    assert at_1_1["links"][-1] == {
        "rel": "aggregates",
        "href": f"{PLACEMENT}/resource_providers/{at_1_1['uuid']}/aggregates",
    }

    inventories = cloud.request("GET", f"{base}/inventories", admin).json()
    assert inventories["resource_provider_generation"] == shown["generation"]
    host = hosts[name]
    assert inventories["inventories"] == {
        "VCPU": {"total": host["vcpus"], "reserved": 0, "min_unit": 1, "max_unit": host["vcpus"] * 4,
                 "step_size": 1, "allocation_ratio": 4.0},
        "MEMORY_MB": {"total": host["memory_mb"], "reserved": 0, "min_unit": 1, "max_unit": host["memory_mb"],
                      "step_size": 1, "allocation_ratio": 1.0},
        "DISK_GB": {"total": host["local_gb"], "reserved": 0, "min_unit": 1, "max_unit": host["local_gb"],
                    "step_size": 1, "allocation_ratio": 1.0},
    }  # fmt: skip
    one = cloud.request("GET", f"{base}/inventories/MEMORY_MB", admin).json()
    assert one == inventories["inventories"]["MEMORY_MB"] | {"resource_provider_generation": shown["generation"]}
    missing = error(cloud.request("GET", f"{base}/inventories/VGPU", admin), 404)
    assert f"No inventory of class VGPU for {shown['uuid']}" in missing["detail"]


def test_the_inventory_reads_the_hosts_own_allocation_ratio(cloud, admin):
    """A host whose record says 8 vCPUs per CPU (not the default 4) shows 8: the API reads the record."""
    name, shown = sorted((p["name"], p) for p in providers(cloud, admin))[-1]
    database = Database(settings.load(cloud.server.env).effective_database_url)
    with database.session() as session:
        session.get(ComputeHost, name).cpu_allocation_ratio = 8.0
    try:
        url = f"{PLACEMENT}/resource_providers/{shown['uuid']}/inventories/VCPU"
        assert cloud.request("GET", url, admin).json()["allocation_ratio"] == 8.0
    finally:
        with database.session() as session:
            session.get(ComputeHost, name).cpu_allocation_ratio = 4.0
        database.engine.dispose()


def test_the_listing_filters_by_name_and_uuid_and_refuses_filters_of_later_versions(cloud, admin):
    every = providers(cloud, admin)
    first = every[0]
    assert providers(cloud, admin, f"?name={first['name']}") == [first]
    assert providers(cloud, admin, f"?uuid={first['uuid']}") == [first]
    assert providers(cloud, admin, f"?uuid={uuid.uuid4()}") == [] and providers(cloud, admin, "?name=nope") == []
    bad_uuid = error(cloud.request("GET", f"{PLACEMENT}/resource_providers?uuid=spameggs", admin), 400)
    assert bad_uuid["title"] == "Bad Request" and "Invalid query string parameters" in bad_uuid["detail"]
    for query in ("?spam=eggs", "?member_of=in:" + str(uuid.uuid4()), "?resources=VCPU:1"):
        refused = error(
            cloud.request("GET", f"{PLACEMENT}/resource_providers{query}", admin, headers=placement(2)), 400
        )
        assert "Additional properties are not allowed" in refused["detail"], query
    refused = error(
        cloud.request("GET", f"{PLACEMENT}/resource_providers?resources=VCPU:1", admin, headers=placement(3)), 400
    )
    assert "Additional properties are not allowed" in refused["detail"]


def test_member_of_from_1_3_finds_no_provider_in_a_cloud_without_aggregates(cloud, admin):
    one, two = uuid.uuid4(), uuid.uuid4()
    assert providers(cloud, admin, f"?member_of={one}", minor=3) == []
    assert providers(cloud, admin, f"?member_of=in:{one},{two}", minor=3) == []
    url = f"{PLACEMENT}/resource_providers?member_of="
    bad = error(cloud.request("GET", url + "in:nope", admin, headers=placement(3)), 400)
    assert "Expected 'member_of' parameter to contain valid UUID(s). Got: nope" in bad["detail"]
    unprefixed = error(cloud.request("GET", url + f"{one},{two}", admin, headers=placement(3)), 400)
    assert "must be prefixed with the 'in:' or '!in:' keyword" in unprefixed["detail"]
    forbidden = error(cloud.request("GET", url + f"!{one}", admin, headers=placement(9)), 400)
    assert "Forbidden member_of parameters are not supported" in forbidden["detail"]


def test_resources_from_1_4_lists_the_providers_with_room(cloud, admin):
    def uuids(query: str) -> list[str]:
        return [p["uuid"] for p in providers(cloud, admin, query, minor=4)]

    every = uuids("")
    assert uuids("?resources=VCPU:1,MEMORY_MB:64") == every  # the fake hosts are roomy
    largest = max(h["memory_mb"] for h in hypervisors(cloud, admin).values())
    assert uuids(f"?resources=MEMORY_MB:{largest + 1}") == []  # past every host's max_unit
    first = providers(cloud, admin)[0]
    assert uuids(f"?name={first['name']}&resources=DISK_GB:1") == [first["uuid"]]
    url = f"{PLACEMENT}/resource_providers?resources="
    for value, words in (
        ("VCPU", "Badly formed resources parameter"),
        ("VCPU:0", "Requested resource VCPU requires amount >= 1. Got: 0."),
        ("VCPU:two", "Requested resource VCPU expected positive integer amount. Got: two."),
        ("PCI_DEVICE:1", "Invalid resource class in resources parameter: No such resource class PCI_DEVICE."),
    ):
        assert words in error(cloud.request("GET", url + value, admin, headers=placement(4)), 400)["detail"], value


def test_traits_from_1_6_are_none(cloud, admin):
    provider = providers(cloud, admin, minor=6)[0]
    assert provider["links"][-1] == {
        "rel": "traits",
        "href": f"{PLACEMENT}/resource_providers/{provider['uuid']}/traits",
    }
    url = f"{PLACEMENT}/resource_providers/{provider['uuid']}/traits"
    error(cloud.request("GET", url, admin, headers=placement(5)), 404)
    shown = cloud.request("GET", url, admin, headers=placement(6)).json()
    assert shown == {"traits": [], "resource_provider_generation": provider["generation"]}
    listed = cloud.request(
        "GET", f"{PLACEMENT}/traits?name=startswith:HW_&associated=true", admin, headers=placement(6)
    )
    assert listed.status_code == 200 and listed.json() == {"traits": []}
    bad = error(cloud.request("GET", f"{PLACEMENT}/traits?name=HW_CPU", admin, headers=placement(6)), 400)
    assert "Badly formatted name parameter" in bad["detail"]
    error(cloud.request("GET", f"{PLACEMENT}/traits?associated=maybe", admin, headers=placement(6)), 400)
    missing = error(cloud.request("GET", f"{PLACEMENT}/traits/HW_CPU_X86_AVX", admin, headers=placement(6)), 404)
    assert "No such trait(s): HW_CPU_X86_AVX." in missing["detail"]


def test_usages_and_allocations_follow_a_server(cloud, admin, server_image, unique):
    server = create_server(cloud, admin, server_image, unique, flavor="1")
    shown = wait_for_status(cloud, admin, server["id"], "ACTIVE")
    server_project = shown["tenant_id"]
    flavor = cloud.request("GET", f"{BASE}/flavors/1", admin).json()["flavor"]
    try:
        host = shown["OS-EXT-SRV-ATTR:host"]
        [provider] = providers(cloud, admin, f"?name={host}")
        base = f"{PLACEMENT}/resource_providers/{provider['uuid']}"
        wanted = {"VCPU": flavor["vcpus"], "MEMORY_MB": flavor["ram"], "DISK_GB": flavor["disk"]}
        held = cloud.request("GET", f"{base}/allocations", admin).json()
        assert held["allocations"][server["id"]] == {"resources": wanted}
        assert held["resource_provider_generation"] == provider["generation"]
        usages = cloud.request("GET", f"{base}/usages", admin).json()["usages"]
        assert set(usages) == {"VCPU", "MEMORY_MB", "DISK_GB"}
        summed = {rc: sum(a["resources"].get(rc, 0) for a in held["allocations"].values()) for rc in usages}
        assert usages == summed and all(usages[rc] >= wanted[rc] for rc in wanted)
        project = cloud.request("GET", f"{PLACEMENT}/usages?project_id={server_project}", admin, headers=placement(9))
        assert all(project.json()["usages"][rc] >= wanted[rc] for rc in wanted)
        consumer = cloud.request("GET", f"{PLACEMENT}/allocations/{server['id']}", admin).json()
        assert consumer == {
            "allocations": {provider["uuid"]: {"generation": provider["generation"], "resources": wanted}}
        }
    finally:
        cloud.request("DELETE", f"{BASE}/servers/{server['id']}", admin)
    nobody = cloud.request("GET", f"{PLACEMENT}/allocations/{uuid.uuid4()}", admin)
    assert nobody.status_code == 200 and nobody.json() == {"allocations": {}}


def test_project_usages_from_1_9(cloud, admin):
    url = f"{PLACEMENT}/usages"
    error(cloud.request("GET", f"{url}?project_id=x", admin, headers=placement(8)), 404)
    nothing = cloud.request("GET", f"{url}?project_id={uuid.uuid4().hex}", admin, headers=placement(9))
    assert nothing.status_code == 200 and nothing.json() == {"usages": {}}
    required = error(cloud.request("GET", url, admin, headers=placement(9)), 400)
    assert "'project_id' is a required property" in required["detail"]
    error(cloud.request("GET", f"{url}?project_id=x&consumer_type=INSTANCE", admin, headers=placement(9)), 400)


def test_an_unknown_provider_is_placements_404(cloud, admin):
    missing = str(uuid.uuid4())
    for suffix in ("", "/inventories", "/usages", "/allocations"):
        found = error(cloud.request("GET", f"{PLACEMENT}/resource_providers/{missing}{suffix}", admin), 404)
        assert found["title"] == "Not Found" and f"No resource provider with uuid {missing} found" in found["detail"]


def test_aggregates_and_resource_classes_come_with_their_microversions(cloud, admin):
    uuid_ = providers(cloud, admin)[0]["uuid"]
    url = f"{PLACEMENT}/resource_providers/{uuid_}/aggregates"
    error(cloud.request("GET", url, admin), 404)
    assert cloud.request("GET", url, admin, headers=placement(1)).json() == {"aggregates": []}
    error(cloud.request("GET", f"{PLACEMENT}/resource_classes", admin, headers=placement(1)), 404)
    classes = cloud.request("GET", f"{PLACEMENT}/resource_classes", admin, headers=placement(2)).json()
    assert [c["name"] for c in classes["resource_classes"]] == ["VCPU", "MEMORY_MB", "DISK_GB"]
    vcpu = cloud.request("GET", f"{PLACEMENT}/resource_classes/VCPU", admin, headers=placement(2)).json()
    assert vcpu == {"name": "VCPU", "links": [{"rel": "self", "href": f"{PLACEMENT}/resource_classes/VCPU"}]}
    error(cloud.request("GET", f"{PLACEMENT}/resource_classes/CUSTOM_X", admin, headers=placement(2)), 404)


def test_admin_only_and_read_only(cloud, admin):
    member = cloud.demo().get_token()
    forbidden = error(cloud.request("GET", f"{PLACEMENT}/resource_providers", member), 403)
    assert forbidden["title"] == "Forbidden" and "placement:resource_providers:list" in forbidden["detail"]
    anonymous = cloud.request("GET", f"{PLACEMENT}/resource_providers")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == 401  # keystonemiddleware's body
    uuid_ = providers(cloud, admin)[0]["uuid"]
    body = {"name": "mine", "uuid": str(uuid.uuid4())}
    created = error(cloud.request("POST", f"{PLACEMENT}/resource_providers", admin, json=body), 405)
    assert created["title"] == "Method Not Allowed"
    deleted = cloud.request("DELETE", f"{PLACEMENT}/resource_providers/{uuid_}", admin)
    assert deleted.status_code == 405 and "GET" in deleted.headers["Allow"]
    assert deleted.headers["OpenStack-API-Version"] == "placement 1.0"
    assert uuid_ in {p["uuid"] for p in providers(cloud, admin)}


def test_the_openstack_cli_reads_providers_inventories_usages_and_allocations(cloud, admin, server_image, unique):
    def cli(*args: str) -> Any:
        return json.loads(cloud.openstack("stratus-admin", *args, "-f", "json").stdout)

    hosts = hypervisors(cloud, admin)
    listed = cli("resource", "provider", "list")
    assert {(p["name"], p["uuid"]) for p in listed} == {(n, h["id"]) for n, h in hosts.items()}
    server = create_server(cloud, admin, server_image, unique, flavor="1")
    try:
        host = wait_for_status(cloud, admin, server["id"], "ACTIVE")["OS-EXT-SRV-ATTR:host"]
        uuid_ = hosts[host]["id"]
        assert cli("resource", "provider", "show", uuid_)["name"] == host
        inventory = {row["resource_class"]: row for row in cli("resource", "provider", "inventory", "list", uuid_)}
        assert inventory["VCPU"]["allocation_ratio"] == 4.0 and inventory["VCPU"]["total"] == hosts[host]["vcpus"]
        assert inventory["MEMORY_MB"]["total"] == hosts[host]["memory_mb"]
        usage = {row["resource_class"]: row["usage"] for row in cli("resource", "provider", "usage", "show", uuid_)}
        assert usage["VCPU"] >= 1
        held = cli("resource", "provider", "allocation", "show", server["id"])
        assert [row["resource_provider"] for row in held] == [uuid_] and held[0]["resources"]["VCPU"] == 1
        filtered = cli("resource", "provider", "list", "--name", host)
        assert [p["uuid"] for p in filtered] == [uuid_]
        roomy = cli("--os-placement-api-version", "1.4", "resource", "provider", "list", "--resource", "VCPU=1")
        assert uuid_ in {p["uuid"] for p in roomy}
        project = wait_for_status(cloud, admin, server["id"], "ACTIVE")["tenant_id"]
        used = {
            r["resource_class"]: r["usage"]
            for r in cli("--os-placement-api-version", "1.9", "resource", "usage", "show", project)
        }
        assert used["VCPU"] >= 1 and used["MEMORY_MB"] >= 1
        with_allocations = cli("resource", "provider", "show", "--allocations", uuid_)["allocations"]
        assert with_allocations[server["id"]]["resources"]["VCPU"] == 1
        classes = cli("--os-placement-api-version", "1.2", "resource", "class", "list")
        assert [c["name"] for c in classes] == ["VCPU", "MEMORY_MB", "DISK_GB"]
        assert cli("--os-placement-api-version", "1.6", "trait", "list") == []
        assert cli("--os-placement-api-version", "1.6", "resource", "provider", "trait", "list", uuid_) == []
        assert cli("--os-placement-api-version", "1.1", "resource", "provider", "aggregate", "list", uuid_) == []
    finally:
        cloud.request("DELETE", f"{BASE}/servers/{server['id']}", admin)
    member = cloud.openstack("stratus", "resource", "provider", "list", check=False)
    assert member.returncode != 0 and ("403" in member.stderr or "Forbidden" in member.stderr)
