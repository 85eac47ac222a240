"""The operator's views over real HTTP: hypervisors and their usage, services (enable, disable, force down),
availability zones and a project's limits; the fields of each microversion, admin-only answers, errors;
through raw HTTP, the openstack CLI and openstacksdk."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import delete

from common import settings
from common.db import Database
from compute.models import ServiceRecord
from tests.functional.compute import BASE, cli_json, fault, sdk, version, wait_for_hosts
from tests.functional.compute.conftest import (
    create_server,
    show,
    wait_for_pending_deletes,
    wait_for_status,
    wait_until_gone,
)

pytestmark = pytest.mark.functional

HYPERVISOR_FIELDS = {"id", "hypervisor_hostname", "state", "status"}
HYPERVISOR_DETAIL_FIELDS = HYPERVISOR_FIELDS | {
    "vcpus",
    "memory_mb",
    "local_gb",
    "vcpus_used",
    "memory_mb_used",
    "local_gb_used",
    "hypervisor_type",
    "hypervisor_version",
    "free_ram_mb",
    "free_disk_gb",
    "current_workload",
    "running_vms",
    "cpu_info",
    "disk_available_least",
    "host_ip",
    "service",
}
SERVICE_FIELDS = {"id", "binary", "host", "zone", "status", "state", "updated_at", "disabled_reason"}
LIMITS = {
    "maxTotalInstances",
    "maxTotalCores",
    "maxTotalRAMSize",
    "maxServerMeta",
    "maxImageMeta",
    "maxPersonality",
    "maxPersonalitySize",
    "maxTotalKeypairs",
    "maxServerGroups",
    "maxServerGroupMembers",
    "totalInstancesUsed",
    "totalCoresUsed",
    "totalRAMUsed",
    "totalServerGroupsUsed",
}
NETWORK_LIMITS = {
    "maxSecurityGroups",
    "maxSecurityGroupRules",
    "maxTotalFloatingIps",
    "totalSecurityGroupsUsed",
    "totalFloatingIpsUsed",
}


@pytest.fixture
def hosts(cloud) -> list[dict]:
    """The three fake hosts, up and registered (detail view, admin)."""
    token = cloud.admin_token()
    names = {h["hypervisor_hostname"] for h in wait_for_hosts(cloud, token)}
    detail = cloud.request("GET", f"{BASE}/os-hypervisors/detail", token).json()["hypervisors"]
    return [h for h in detail if h["hypervisor_hostname"] in names]


@pytest.fixture
def scheduler_record(cloud) -> Iterator[str]:
    """A ``nova-scheduler`` service row, as a scheduler that reports itself would keep."""
    database = Database(settings.load(cloud.server.env).effective_database_url)
    host = f"control-{time.monotonic_ns()}"
    with database.session() as session:
        session.add(ServiceRecord(binary="nova-scheduler", host=host, last_seen=datetime.now(UTC)))
    try:
        yield host
    finally:
        with database.session() as session:
            session.execute(delete(ServiceRecord).where(ServiceRecord.host == host))
        database.dispose()


def _service_update(cloud, token, action, body, microversion="2.11"):
    return cloud.request("PUT", f"{BASE}/os-services/{action}", token, json=body, headers=version(microversion))


# --- hypervisors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("microversion", "cpu_info_is_text"), [(None, True), ("2.27", True), ("2.28", False)])
def test_hypervisor_fields_per_microversion(cloud, hosts, microversion, cpu_info_is_text):
    token = cloud.admin_token()
    headers = version(microversion) if microversion else {}
    brief = cloud.request("GET", f"{BASE}/os-hypervisors", token, headers=headers).json()["hypervisors"]
    assert all(set(h) == HYPERVISOR_FIELDS and isinstance(h["id"], int) for h in brief)
    detail = cloud.request("GET", f"{BASE}/os-hypervisors/detail", token, headers=headers).json()["hypervisors"]
    for hypervisor in detail:
        assert set(hypervisor) == HYPERVISOR_DETAIL_FIELDS
        assert set(hypervisor["service"]) == {"host", "id", "disabled_reason"}
        assert isinstance(hypervisor["service"]["id"], int)
        cpu_info = json.loads(hypervisor["cpu_info"]) if cpu_info_is_text else hypervisor["cpu_info"]
        assert cpu_info["arch"]
    one = hosts[0]
    shown = cloud.request("GET", f"{BASE}/os-hypervisors/{one['id']}", token, headers=headers).json()["hypervisor"]
    assert shown["hypervisor_hostname"] == one["hypervisor_hostname"] and set(shown) == HYPERVISOR_DETAIL_FIELDS
    assert shown["state"] == "up" and shown["status"] == "enabled" and shown["vcpus"] > 0
    assert shown["free_ram_mb"] == shown["memory_mb"] - shown["memory_mb_used"]


def test_hypervisor_usage_follows_the_servers_on_it(cloud, hosts, server_image, unique):
    demo, admin = cloud.demo().get_token(), cloud.admin_token()
    server = create_server(cloud, demo, server_image, unique, flavor="2")
    wait_for_status(cloud, demo, server["id"], "ACTIVE")
    host = show(cloud, admin, server["id"])["OS-EXT-SRV-ATTR:host"]
    hypervisor = next(h for h in hosts if h["hypervisor_hostname"] == host)
    now = cloud.request("GET", f"{BASE}/os-hypervisors/{hypervisor['id']}", admin).json()["hypervisor"]
    assert now["running_vms"] >= 1 and now["vcpus_used"] >= 1 and now["memory_mb_used"] >= 512
    assert now["local_gb_used"] >= 5 and now["free_disk_gb"] == now["local_gb"] - now["local_gb_used"]

    found = cloud.request("GET", f"{BASE}/os-hypervisors/{host}/servers", admin).json()["hypervisors"]
    assert {"name": unique, "uuid": server["id"]} in found[0]["servers"]
    stats = cloud.request("GET", f"{BASE}/os-hypervisors/statistics", admin).json()["hypervisor_statistics"]
    detail = cloud.request("GET", f"{BASE}/os-hypervisors/detail", admin).json()["hypervisors"]
    assert stats["count"] == len(detail)
    assert stats["running_vms"] == sum(h["running_vms"] for h in detail)
    assert stats["memory_mb_used"] == sum(h["memory_mb_used"] for h in detail)
    assert set(stats) == {"count"} | HYPERVISOR_DETAIL_FIELDS - {
        "id",
        "hypervisor_hostname",
        "state",
        "status",
        "hypervisor_type",
        "hypervisor_version",
        "cpu_info",
        "host_ip",
        "service",
    }

    busy = cloud.request("DELETE", f"{BASE}/os-services/{hypervisor['service']['id']}", admin)
    assert "hosting instances" in fault(busy, "conflictingRequest", 409)
    cloud.request("DELETE", f"{BASE}/servers/{server['id']}", demo)
    wait_until_gone(cloud, demo, server["id"])


def test_deleting_a_service_record(cloud, scheduler_record):
    """Only the scheduler's row is deleted here: a deleted compute host would be gone for the other tests."""
    token = cloud.admin_token()
    listed = cloud.request("GET", f"{BASE}/os-services?binary=nova-scheduler", token).json()["services"]
    record = next(s for s in listed if s["host"] == scheduler_record)
    assert cloud.request("DELETE", f"{BASE}/os-services/{record['id']}", token).status_code == 204
    after = cloud.request("GET", f"{BASE}/os-services?host={scheduler_record}", token).json()["services"]
    assert after == []
    assert "not found" in fault(
        cloud.request("DELETE", f"{BASE}/os-services/{record['id']}", token), "itemNotFound", 404
    )


def test_hypervisor_search_pages_and_errors(cloud, hosts):
    token = cloud.admin_token()
    name = hosts[0]["hypervisor_hostname"]
    search = cloud.request("GET", f"{BASE}/os-hypervisors/{name}/search", token).json()["hypervisors"]
    assert [h["hypervisor_hostname"] for h in search] == [name] and set(search[0]) == HYPERVISOR_FIELDS
    common = name.rsplit("-", 1)[0]
    assert len(cloud.request("GET", f"{BASE}/os-hypervisors/{common}/search", token).json()["hypervisors"]) >= 3
    assert "nope" in fault(cloud.request("GET", f"{BASE}/os-hypervisors/nope/search", token), "itemNotFound", 404)
    fault(cloud.request("GET", f"{BASE}/os-hypervisors/nope/servers", token), "itemNotFound", 404)
    fault(cloud.request("GET", f"{BASE}/os-hypervisors/{name}", token), "itemNotFound", 404)  # ids are integers
    fault(cloud.request("GET", f"{BASE}/os-hypervisors/99999999999", token), "itemNotFound", 404)
    uptime = cloud.request("GET", f"{BASE}/os-hypervisors/{hosts[0]['id']}/uptime", token)
    fault(uptime, "notImplemented", 501)

    every = [h["id"] for h in cloud.request("GET", f"{BASE}/os-hypervisors", token).json()["hypervisors"]]
    first = cloud.request("GET", f"{BASE}/os-hypervisors/detail?limit=1", token, headers=version("2.33")).json()
    assert [h["id"] for h in first["hypervisors"]] == every[:1]
    link = first["hypervisors_links"][0]
    assert "/compute/v2.1/os-hypervisors/detail?" in link["href"]
    assert parse_qs(urlparse(link["href"]).query) == {"limit": ["1"], "marker": [str(every[0])]}
    rest = cloud.request("GET", f"{BASE}/os-hypervisors?marker={every[0]}", token, headers=version("2.33")).json()
    assert [h["id"] for h in rest["hypervisors"]] == every[1:] and "hypervisors_links" not in rest
    old = cloud.request("GET", f"{BASE}/os-hypervisors?limit=1", token, headers=version("2.32")).json()
    assert len(old["hypervisors"]) == len(every)  # no paging before 2.33


@pytest.mark.parametrize(
    "path",
    [
        "/os-hypervisors",
        "/os-hypervisors/detail",
        "/os-hypervisors/statistics",
        "/os-services",
        "/os-availability-zone/detail",
        "/os-aggregates",
    ],
)
def test_operator_views_are_403_for_members(cloud, path):
    assert "compute:" in fault(cloud.request("GET", f"{BASE}{path}", cloud.demo().get_token()), "forbidden", 403)


def test_cli_and_sdk_show_hypervisors(cloud, hosts):
    listed = cli_json(cloud, "stratus-admin", "hypervisor", "list")
    assert {h["hypervisor_hostname"] for h in hosts} <= {h["Hypervisor Hostname"] for h in listed}
    name = hosts[0]["hypervisor_hostname"]
    shown = cli_json(cloud, "stratus-admin", "--os-compute-api-version", "2.87", "hypervisor", "show", name)
    assert shown["hypervisor_hostname"] == name and shown["state"] == "up" and shown["aggregates"] == []
    assert shown["cpu_info"]["arch"]  # usage and cpu_info are gone from 2.88, which the CLI negotiates by default
    latest = cli_json(cloud, "stratus-admin", "hypervisor", "show", name)
    assert latest["hypervisor_hostname"] == name and latest["state"] == "up" and not latest.get("vcpus")
    conn = sdk(cloud, admin=True)
    found = conn.compute.find_hypervisor(name, ignore_missing=False)
    assert found.name == name and found.state == "up"
    assert conn.compute.get_hypervisor(found.id).name == name
    assert len(list(conn.compute.hypervisors(hypervisor_hostname_pattern=name))) == 1


# --- services -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("microversion", "forced_down"), [(None, False), ("2.10", False), ("2.11", True)])
def test_service_fields_per_microversion(cloud, hosts, scheduler_record, microversion, forced_down):
    headers = version(microversion) if microversion else {}
    listed = cloud.request("GET", f"{BASE}/os-services", cloud.admin_token(), headers=headers).json()["services"]
    fields = SERVICE_FIELDS | ({"forced_down"} if forced_down else set())
    assert all(set(s) == fields and isinstance(s["id"], int) for s in listed)
    computes = {s["host"]: s for s in listed if s["binary"] == "nova-compute"}
    assert {h["hypervisor_hostname"] for h in hosts} <= set(computes)
    one = computes[hosts[0]["hypervisor_hostname"]]
    assert one["zone"] == "nova" and one["state"] == "up" and one["status"] == "enabled" and one["updated_at"]
    assert one["id"] == hosts[0]["service"]["id"]
    scheduler = next(s for s in listed if s["host"] == scheduler_record)
    assert scheduler["binary"] == "nova-scheduler" and scheduler["zone"] == "internal" and scheduler["state"] == "up"


def test_disable_enable_and_force_down_a_compute_service(cloud, hosts):
    token = cloud.admin_token()
    host = hosts[0]["hypervisor_hostname"]
    body = {"host": host, "binary": "nova-compute"}
    try:
        reason = _service_update(cloud, token, "disable-log-reason", body | {"disabled_reason": "maintenance"})
        assert reason.json() == {"service": body | {"status": "disabled", "disabled_reason": "maintenance"}}
        shown = cloud.request("GET", f"{BASE}/os-services?host={host}&binary=nova-compute", token).json()["services"]
        assert [(s["status"], s["disabled_reason"]) for s in shown] == [("disabled", "maintenance")]
        hypervisor = cloud.request("GET", f"{BASE}/os-hypervisors/{hosts[0]['id']}", token).json()["hypervisor"]
        assert hypervisor["status"] == "disabled" and hypervisor["service"]["disabled_reason"] == "maintenance"

        assert _service_update(cloud, token, "enable", body).json() == {"service": body | {"status": "enabled"}}
        assert _service_update(cloud, token, "disable", body).json() == {"service": body | {"status": "disabled"}}
        shown = cloud.request("GET", f"{BASE}/os-services?host={host}", token).json()["services"][0]
        assert shown["status"] == "disabled" and shown["disabled_reason"] is None

        down = _service_update(cloud, token, "force-down", body | {"forced_down": True})
        assert down.json() == {"service": body | {"forced_down": True}}
        shown = cloud.request("GET", f"{BASE}/os-services?host={host}", token, headers=version("2.11")).json()
        assert shown["services"][0]["state"] == "down" and shown["services"][0]["forced_down"] is True
    finally:
        _service_update(cloud, token, "force-down", body | {"forced_down": False})
        _service_update(cloud, token, "enable", body)
    shown = cloud.request("GET", f"{BASE}/os-services?host={host}", token, headers=version("2.11")).json()
    assert (shown["services"][0]["state"], shown["services"][0]["status"]) == ("up", "enabled")


@pytest.mark.parametrize(
    ("action", "body", "microversion", "code", "text"),
    [
        ("disable", {"host": "nowhere", "binary": "nova-compute"}, "2.11", 404, "nowhere"),
        ("disable", {"host": "bad host!", "binary": "nova-compute"}, "2.11", 400, "host"),
        ("disable", {"binary": "nova-compute"}, "2.11", 400, "host"),
        ("disable", {"host": "h", "binary": "nova-compute", "extra": 1}, "2.11", 400, "extra"),
        ("disable-log-reason", {"host": "h", "binary": "nova-compute"}, "2.11", 400, "disabled reason"),
        ("force-down", {"host": "h", "binary": "nova-compute", "forced_down": True}, "2.10", 400, "forced_down"),
        ("force-down", {"host": "h", "binary": "nova-compute"}, "2.11", 400, "forced_down"),
        ("reboot", {"host": "h", "binary": "nova-compute"}, "2.11", 404, "Unknown action"),
    ],
)
def test_bad_service_updates(cloud, action, body, microversion, code, text):
    response = _service_update(cloud, cloud.admin_token(), action, body, microversion)
    assert text in fault(response, {400: "badRequest", 404: "itemNotFound"}[code], code)


def test_members_cannot_change_services(cloud, hosts):
    body = {"host": hosts[0]["hypervisor_hostname"], "binary": "nova-compute"}
    fault(_service_update(cloud, cloud.demo().get_token(), "disable", body), "forbidden", 403)
    fault(cloud.request("DELETE", f"{BASE}/os-services/1", cloud.demo().get_token()), "forbidden", 403)
    fault(cloud.request("DELETE", f"{BASE}/os-services/1", cloud.admin_token()), "itemNotFound", 404)


def test_cli_lists_and_disables_compute_services(cloud, hosts):
    host = hosts[1]["hypervisor_hostname"]
    listed = cli_json(cloud, "stratus-admin", "compute", "service", "list", "--service", "nova-compute")
    assert {h["hypervisor_hostname"] for h in hosts} <= {s["Host"] for s in listed}
    try:
        cloud.openstack(
            "stratus-admin", "compute", "service", "set", "--disable", "--disable-reason", "cli", host, "nova-compute"
        )
        mine = cli_json(cloud, "stratus-admin", "compute", "service", "list", "--host", host, "--long")
        assert [(s["Status"], s["Disabled Reason"]) for s in mine] == [("disabled", "cli")]
    finally:
        cloud.openstack("stratus-admin", "compute", "service", "set", "--enable", host, "nova-compute")
    assert cli_json(cloud, "stratus-admin", "compute", "service", "list", "--host", host)[0]["Status"] == "enabled"


# --- availability zones ------------------------------------------------------------------------------------


def test_zones_for_members_and_in_detail_for_admins(cloud, hosts, scheduler_record):
    listed = cloud.request("GET", f"{BASE}/os-availability-zone", cloud.demo().get_token()).json()
    assert listed == {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]}

    detail = cloud.request("GET", f"{BASE}/os-availability-zone/detail", cloud.admin_token()).json()
    zones = {z["zoneName"]: z for z in detail["availabilityZoneInfo"]}
    assert set(zones) == {"nova", "internal"}
    for hypervisor in hosts:
        service = zones["nova"]["hosts"][hypervisor["hypervisor_hostname"]]["nova-compute"]
        assert service["available"] is True and service["active"] is True and service["updated_at"]
    assert zones["internal"]["hosts"][scheduler_record]["nova-scheduler"]["available"] is True

    cli = cli_json(cloud, "stratus", "availability", "zone", "list", "--compute")
    assert cli == [{"Zone Name": "nova", "Zone Status": "available"}]
    admin_cli = cli_json(cloud, "stratus-admin", "availability", "zone", "list", "--compute", "--long")
    assert {(z["Zone Name"], z["Host Name"]) for z in admin_cli} >= {("nova", h["hypervisor_hostname"]) for h in hosts}
    assert [z.name for z in sdk(cloud).compute.availability_zones()] == ["nova"]


def test_a_zone_whose_services_are_all_disabled_is_unavailable(cloud, hosts):
    token = cloud.admin_token()
    every = [s for s in cloud.request("GET", f"{BASE}/os-services", token).json()["services"] if s["zone"] == "nova"]
    try:
        for service in every:
            _service_update(cloud, token, "disable", {"host": service["host"], "binary": service["binary"]})
        listed = cloud.request("GET", f"{BASE}/os-availability-zone", cloud.demo().get_token()).json()
        assert listed["availabilityZoneInfo"] == [
            {"zoneName": "nova", "zoneState": {"available": False}, "hosts": None}
        ]
    finally:
        for service in every:
            _service_update(cloud, token, "enable", {"host": service["host"], "binary": service["binary"]})


# --- limits -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("microversion", "fields"), [(None, LIMITS | NETWORK_LIMITS), ("2.35", LIMITS | NETWORK_LIMITS), ("2.36", LIMITS)]
)
def test_limit_fields_per_microversion(cloud, microversion, fields):
    headers = version(microversion) if microversion else {}
    limits = cloud.request("GET", f"{BASE}/limits", cloud.demo().get_token(), headers=headers).json()["limits"]
    assert limits["rate"] == [] and set(limits["absolute"]) == fields
    assert limits["absolute"]["maxServerMeta"] == 128 and limits["absolute"]["maxTotalInstances"] == -1


def test_limits_count_the_projects_servers_and_groups(cloud, server_image, unique):
    session = cloud.demo()
    demo, admin = session.get_token(), cloud.admin_token()

    def used(token, query=""):
        absolute = cloud.request("GET", f"{BASE}/limits{query}", token).json()["limits"]["absolute"]
        return {k: v for k, v in absolute.items() if k.startswith("total")}

    wait_for_pending_deletes(cloud)
    before = used(demo)
    server = create_server(cloud, demo, server_image, unique, flavor="3")
    group = cloud.request(
        "POST", f"{BASE}/os-server-groups", demo, json={"server_group": {"name": unique, "policies": ["affinity"]}}
    ).json()["server_group"]
    after = used(demo)
    assert after["totalInstancesUsed"] == before["totalInstancesUsed"] + 1
    assert after["totalCoresUsed"] == before["totalCoresUsed"] + 2
    assert after["totalRAMUsed"] == before["totalRAMUsed"] + 2048
    assert after["totalServerGroupsUsed"] == before["totalServerGroupsUsed"] + 1
    assert used(admin, f"?tenant_id={session.get_project_id()}") == after
    fault(cloud.request("GET", f"{BASE}/limits?tenant_id=someone-else", demo), "forbidden", 403)

    cli = {row["Name"]: row["Value"] for row in cli_json(cloud, "stratus", "limits", "show", "--absolute")}
    assert cli["instances_used"] == after["totalInstancesUsed"] and cli["server_meta"] == 128
    limits = sdk(cloud).compute.get_limits()
    assert limits.absolute.instances_used == after["totalInstancesUsed"]
    assert limits.absolute.server_meta == 128

    cloud.request("DELETE", f"{BASE}/servers/{server['id']}", demo)
    cloud.request("DELETE", f"{BASE}/os-server-groups/{group['id']}", demo)
    wait_until_gone(cloud, demo, server["id"])
    assert used(demo) == before
