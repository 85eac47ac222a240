"""What Nova's quotas limit, each refused with Nova's 403 "Quota exceeded for ...": servers (as many as fit
between min_count and max_count), cores and RAM through a resize, key pairs, server groups and their members,
metadata items. Deleting frees quota at once; so does a failed build (its ports too), while the server stays in
ERROR with its fault until it is deleted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.compute import fault
from tests.functional.compute.conftest import action, create_server, show, wait_for_status, wait_until_gone
from tests.functional.quota.conftest import COMPUTE, LATEST, NETWORK, set_compute, set_network

pytestmark = pytest.mark.functional


def _post(cloud, token: str, path: str, body: dict[str, Any]):
    return cloud.request("POST", f"{COMPUTE}{path}", token, json=body, headers=LATEST)


def _boot(cloud, token: str, image: str, name: str, **extra: Any):
    body = {"server": {"name": name, "imageRef": image, "flavorRef": "1", "networks": "none", **extra}}
    return _post(cloud, token, "/servers", body)


def _in_use(cloud, token: str, project_id: str) -> dict[str, int]:
    detail = cloud.request("GET", f"{COMPUTE}/os-quota-sets/{project_id}/detail", token, headers=LATEST)
    return {key: value["in_use"] for key, value in detail.json()["quota_set"].items() if key != "id"}


def test_deleting_a_server_frees_its_quota_at_once(cloud, tenant, server_image, unique):
    set_compute(cloud, tenant.project_id, instances=2)
    first = create_server(cloud, tenant.member, server_image, f"{unique}-1")
    create_server(cloud, tenant.member, server_image, f"{unique}-2")
    refused = _boot(cloud, tenant.member, server_image, f"{unique}-3")
    assert fault(refused, "forbidden", 403) == (
        "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
    )
    wait_for_status(cloud, tenant.member, first["id"], "ACTIVE")
    assert cloud.request("DELETE", f"{COMPUTE}/servers/{first['id']}", tenant.member).status_code == 204
    assert _boot(cloud, tenant.member, server_image, f"{unique}-3").status_code == 202  # no wait for the host


def test_a_failed_build_frees_its_ports_and_its_quota_at_once(cloud, tenant, server_image, unique):
    admin = cloud.admin_token()
    huge = {"flavor": {"name": unique, "vcpus": 1, "ram": 10_000_000, "disk": 1}}
    flavor = cloud.request("POST", f"{COMPUTE}/flavors", admin, json=huge).json()["flavor"]["id"]
    set_compute(cloud, tenant.project_id, ram=-1)
    set_network(cloud, tenant.project_id, port=1)
    network = cloud.request("POST", f"{NETWORK}/networks", tenant.member, json={"network": {"name": unique}})
    network_id = network.json()["network"]["id"]
    subnet = {"network_id": network_id, "cidr": "10.8.0.0/24", "ip_version": 4, "enable_dhcp": False}
    cloud.request("POST", f"{NETWORK}/subnets", tenant.member, json={"subnet": subnet})
    try:
        networks = [{"uuid": network_id}]
        server = create_server(cloud, tenant.member, server_image, unique, flavor=flavor, networks=networks)
        assert wait_for_status(cloud, tenant.member, server["id"], "ERROR")["fault"]["message"].startswith("No valid")
    finally:
        cloud.request("DELETE", f"{COMPUTE}/flavors/{flavor}", admin)

    port = cloud.request("POST", f"{NETWORK}/ports", tenant.member, json={"port": {"network_id": network_id}})
    assert port.status_code == 201, port.text  # the failed server's port went with the failure
    assert _in_use(cloud, tenant.member, tenant.project_id)["instances"] == 0  # the failed build holds nothing
    assert show(cloud, tenant.member, server["id"])["status"] == "ERROR"  # it stays, with its fault, until deleted
    cloud.request("DELETE", f"{COMPUTE}/servers/{server['id']}", tenant.member)
    wait_until_gone(cloud, tenant.member, server["id"])
    assert _in_use(cloud, tenant.member, tenant.project_id)["instances"] == 0


def test_a_multiple_create_makes_as_many_as_fit_and_at_least_min_count(cloud, tenant, server_image, unique):
    set_compute(cloud, tenant.project_id, instances=3)
    create_server(cloud, tenant.member, server_image, f"{unique}-first")
    made = _boot(cloud, tenant.member, server_image, unique, min_count=1, max_count=5, return_reservation_id=True)
    assert made.status_code == 202, made.text
    assert _in_use(cloud, tenant.member, tenant.project_id)["instances"] == 3
    refused = _boot(cloud, tenant.member, server_image, f"{unique}-more", min_count=1, max_count=2)
    assert fault(refused, "forbidden", 403).startswith("Quota exceeded for instances: Requested 1, but already used 3")


def test_a_resize_counts_the_larger_flavor_until_confirmed_and_checks_the_growth(cloud, tenant, server_image, unique):
    set_compute(cloud, tenant.project_id, cores=3)
    first = create_server(cloud, tenant.member, server_image, f"{unique}-1")  # m1.tiny: 1 vCPU
    second = create_server(cloud, tenant.member, server_image, f"{unique}-2")
    for server in (first, second):
        wait_for_status(cloud, tenant.member, server["id"], "ACTIVE")
    assert action(cloud, tenant.member, first["id"], {"resize": {"flavorRef": "3"}}).status_code == 202  # 2 vCPUs
    wait_for_status(cloud, tenant.member, first["id"], "VERIFY_RESIZE")
    assert _in_use(cloud, tenant.member, tenant.project_id)["cores"] == 3

    refused = action(cloud, tenant.member, second["id"], {"resize": {"flavorRef": "3"}})
    assert fault(refused, "forbidden", 403) == "Quota exceeded for cores: Requested 1, but already used 3 of 3 cores"
    assert action(cloud, tenant.member, first["id"], {"revertResize": None}).status_code == 202
    wait_for_status(cloud, tenant.member, first["id"], "ACTIVE")
    assert _in_use(cloud, tenant.member, tenant.project_id)["cores"] == 2


def test_key_pairs_are_limited_per_user(cloud, tenant, unique):
    set_compute(cloud, tenant.project_id, key_pairs=1)
    assert _post(cloud, tenant.member, "/os-keypairs", {"keypair": {"name": f"{unique}-1"}}).status_code == 201
    refused = _post(cloud, tenant.member, "/os-keypairs", {"keypair": {"name": f"{unique}-2"}})
    assert fault(refused, "forbidden", 403).startswith("Quota exceeded for key_pairs: Requested 1, but already used 1")
    assert _in_use(cloud, tenant.member, tenant.project_id)["key_pairs"] == 1
    assert _post(cloud, tenant.reader, "/os-keypairs", {"keypair": {"name": f"{unique}-3"}}).status_code == 201


def test_server_groups_and_their_members_are_limited(cloud, tenant, server_image, unique):
    set_compute(cloud, tenant.project_id, server_groups=1, server_group_members=2)
    body = {"server_group": {"name": unique, "policies": ["anti-affinity"]}}
    group = _post(cloud, tenant.member, "/os-server-groups", body).json()["server_group"]["id"]
    refused = _post(cloud, tenant.member, "/os-server-groups", body)
    assert "server_groups: Requested 1, but already used 1 of 1" in fault(refused, "forbidden", 403)
    hints = {"group": group}
    create_server(cloud, tenant.member, server_image, f"{unique}-1", hints=hints)
    create_server(cloud, tenant.member, server_image, f"{unique}-2", hints=hints)
    body = {
        "server": {"name": f"{unique}-3", "imageRef": server_image, "flavorRef": "1", "networks": "none"},
        "os:scheduler_hints": hints,
    }
    third = _post(cloud, tenant.member, "/servers", body)
    assert "server_group_members: Requested 1, but already used 2 of 2" in fault(third, "forbidden", 403)


def test_metadata_items_are_limited_per_server(cloud, tenant, server_image, unique):
    set_compute(cloud, tenant.project_id, metadata_items=2)
    refused = _boot(cloud, tenant.member, server_image, unique, metadata={"a": "1", "b": "2", "c": "3"})
    assert "metadata_items: Requested 3, but already used 0 of 2" in fault(refused, "forbidden", 403)
    server = create_server(cloud, tenant.member, server_image, unique, metadata={"a": "1"})
    path = f"/servers/{server['id']}/metadata"
    assert _post(cloud, tenant.member, path, {"metadata": {"b": "2"}}).status_code == 200
    fault(_post(cloud, tenant.member, path, {"metadata": {"c": "3"}}), "forbidden", 403)
    item = cloud.request("PUT", f"{COMPUTE}{path}/c", tenant.member, json={"meta": {"c": "3"}}, headers=LATEST)
    fault(item, "forbidden", 403)
    assert cloud.request("GET", f"{COMPUTE}{path}", tenant.member).json()["metadata"] == {"a": "1", "b": "2"}
