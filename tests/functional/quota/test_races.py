"""Concurrent creates never exceed a limit, on SQLite and PostgreSQL: 50 requests race for 10 places and
exactly 10 win, each loser gets its API's own over-quota fault, and what the quota reports is what exists."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest

from tests.functional.quota.conftest import COMPUTE, LATEST, NETWORK, set_compute, set_network

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

RACERS = 50
FLAVORS = {"1": (1, 128), "3": (2, 2048)}  # m1.tiny and m1.medium: (vCPUs, MiB)


def _race(requests: list[Any]) -> list[Any]:
    """Run every request at once (a barrier releases them together) and return their responses in order."""
    start = Barrier(len(requests))

    def run(request: Any) -> Any:
        start.wait()
        return request()

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(run, requests))


def _boot(cloud, token: str, image: str, name: str, flavor: str = "1", networks: Any = "none") -> Any:
    body = {"server": {"name": name, "imageRef": image, "flavorRef": flavor, "networks": networks}}
    return lambda: cloud.request("POST", f"{COMPUTE}/servers", token, json=body, headers=LATEST)


def _servers(cloud, token: str) -> list[dict[str, Any]]:
    return cloud.request("GET", f"{COMPUTE}/servers/detail", token, headers=LATEST).json()["servers"]


def _nova_quota_faults(responses: list[Any]) -> list[str]:
    refused = [r for r in responses if r.status_code != 202]
    assert all(r.status_code == 403 and list(r.json()) == ["forbidden"] for r in refused), refused[0].text
    return [r.json()["forbidden"]["message"] for r in refused]


def test_fifty_concurrent_server_creates_against_ten_instances_leave_exactly_ten(cloud, tenant, server_image, unique):
    set_compute(cloud, tenant.project_id, instances=10)
    responses = _race([_boot(cloud, tenant.member, server_image, f"{unique}-{i}") for i in range(RACERS)])

    messages = _nova_quota_faults(responses)
    assert len(messages) == RACERS - 10 and len(_servers(cloud, tenant.member)) == 10
    assert set(messages) == {"Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"}
    detail = cloud.request("GET", f"{COMPUTE}/os-quota-sets/{tenant.project_id}/detail", tenant.member).json()
    assert detail["quota_set"]["instances"]["in_use"] == 10


def test_mixed_flavors_racing_for_cores_and_ram_never_exceed_either(cloud, tenant, server_image, unique):
    cores, ram = 9, 6 * 1024
    set_compute(cloud, tenant.project_id, instances=-1, cores=cores, ram=ram)
    flavors = ["1" if i % 2 else "3" for i in range(RACERS)]
    responses = _race([_boot(cloud, tenant.member, server_image, f"{unique}-{i}", f) for i, f in enumerate(flavors)])

    messages = _nova_quota_faults(responses)
    servers = _servers(cloud, tenant.member)
    used_cores = sum(FLAVORS[s["flavor"]["id"]][0] for s in servers)
    used_ram = sum(FLAVORS[s["flavor"]["id"]][1] for s in servers)
    assert used_cores <= cores and used_ram <= ram
    assert len(servers) + len(messages) == RACERS and all(m.startswith("Quota exceeded for ") for m in messages)
    # Nothing was refused that would have fitted: a refusal at any moment still holds with the final usage.
    for response, flavor in zip(responses, flavors, strict=True):
        if response.status_code == 403:
            vcpus, memory = FLAVORS[flavor]
            assert used_cores + vcpus > cores or used_ram + memory > ram
    absolute = cloud.request("GET", f"{COMPUTE}/limits", tenant.member).json()["limits"]["absolute"]
    assert (absolute["totalCoresUsed"], absolute["totalRAMUsed"]) == (used_cores, used_ram)


def _network(cloud, token: str, name: str, dhcp: bool = False) -> str:
    network = cloud.request("POST", f"{NETWORK}/networks", token, json={"network": {"name": name}}).json()["network"]
    subnet = {"network_id": network["id"], "cidr": "10.9.0.0/24", "ip_version": 4, "enable_dhcp": dhcp}
    assert cloud.request("POST", f"{NETWORK}/subnets", token, json={"subnet": subnet}).status_code == 201
    return network["id"]


def test_fifty_concurrent_port_creates_against_ten_ports_leave_exactly_ten(cloud, tenant, unique):
    set_network(cloud, tenant.project_id, port=10)
    network_id = _network(cloud, tenant.member, unique)
    body = {"port": {"network_id": network_id}}
    responses = _race(
        [lambda: cloud.request("POST", f"{NETWORK}/ports", tenant.member, json=body) for _ in range(RACERS)]
    )

    refused = [r for r in responses if r.status_code != 201]
    assert len(refused) == RACERS - 10 and {r.status_code for r in refused} == {409}
    error = refused[0].json()["NeutronError"]
    assert error["type"] == "OverQuota" and error["message"] == "Quota exceeded for resources: ['port']."
    assert error["detail"] == "port: limit 10, in use 10, requested 1"
    ports = cloud.request("GET", f"{NETWORK}/ports?network_id={network_id}", tenant.member).json()["ports"]
    assert len(ports) == 10


def test_servers_racing_for_the_last_ports_get_novas_fault_and_leave_nothing_behind(
    cloud, tenant, server_image, unique
):
    network_id = _network(cloud, tenant.member, unique, dhcp=True)  # its DHCP port counts: 3 left of 4
    set_network(cloud, tenant.project_id, port=4)
    networks = [{"uuid": network_id}]
    boots = [_boot(cloud, tenant.member, server_image, f"{unique}-{i}", networks=networks) for i in range(10)]
    responses = _race(boots)

    messages = _nova_quota_faults(responses)
    assert len(messages) == 7
    assert set(messages) == {"Quota exceeded for port: Requested 1, but already used 4 of 4 port"}
    assert len(_servers(cloud, tenant.member)) == 3
    ports = cloud.request("GET", f"{NETWORK}/ports?network_id={network_id}", tenant.member).json()["ports"]
    assert len(ports) == 4
