"""What the Placement API reads from the compute records, on seeded hosts, allocations and moves: the consumer that
holds each allocation while a server moves (the migration holds the source, the server the target, as in Nova; an
evacuation's server holds both), a provider's room for ``resources`` (ratio, max_unit, usage), a host's own
allocation ratios and generation, and a project's usages, by project and by user."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete

from compute.models import Allocation, ComputeHost, Instance, Migration
from tests.unit.api.conftest import InProcessCloud

PLACEMENT = "/placement"
LATEST = {"OpenStack-API-Version": "placement latest"}
FLAVOR = {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0}


@pytest.fixture
def scene(api_cloud: InProcessCloud) -> Iterator[dict[str, Any]]:
    """Two hosts (src with 8 CPUs at ratio 2, dst with 4 at the default 4) and what the test adds on them."""
    tag = uuid.uuid4().hex[:6]
    src, dst = f"src-{tag}", f"dst-{tag}"
    db = api_cloud.app.extensions["stratus"].db
    made: dict[str, Any] = {"src": src, "dst": dst, "servers": [], "db": db}
    with db.session() as session:
        session.add(ComputeHost(name=src, vcpus=8, memory_mb=4096, disk_gb=40, cpu_allocation_ratio=2.0,
                                claim_generation=7))  # fmt: skip
        session.add(ComputeHost(name=dst, vcpus=4, memory_mb=2048, disk_gb=0))
    yield made
    with db.session() as session:
        session.execute(delete(Allocation).where(Allocation.instance_id.in_(made["servers"])))
        session.execute(delete(Migration).where(Migration.instance_id.in_(made["servers"])))
        session.execute(delete(Instance).where(Instance.id.in_(made["servers"])))
        session.execute(delete(ComputeHost).where(ComputeHost.name.in_([src, dst])))


def _server(scene: dict[str, Any], project: str = "p-1", user: str = "u-1", **held: tuple[str, int, int, int]) -> str:
    """A server with an allocation per purpose: ``purpose=(host, vcpus, memory_mb, disk_gb)``."""
    with scene["db"].session() as session:
        instance = Instance(name="s", project_id=project, user_id=user, hostname="s", reservation_id="r",
                            flavor=FLAVOR, image_ref="", host=scene["src"], vm_state="active",
                            requested_networks=[])  # fmt: skip
        session.add(instance)
        session.flush()
        for purpose, (host, vcpus, memory_mb, disk_gb) in held.items():
            session.add(Allocation(instance_id=instance.id, purpose=purpose, host=host, vcpus=vcpus,
                                   memory_mb=memory_mb, disk_gb=disk_gb))  # fmt: skip
        scene["servers"].append(instance.id)
        return instance.id


def _move(scene: dict[str, Any], server: str, kind: str, status: str = "running") -> str:
    with scene["db"].session() as session:
        record = Migration(instance_id=server, migration_type=kind, status=status, source_compute=scene["src"],
                           dest_compute=scene["dst"])  # fmt: skip
        session.add(record)
        session.flush()
        return record.uuid


def _get(api_cloud: InProcessCloud, path: str) -> Any:
    response = api_cloud.client().get(PLACEMENT + path, headers={"X-Auth-Token": api_cloud.admin_token, **LATEST})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _uuid(api_cloud: InProcessCloud, name: str) -> str:
    [found] = _get(api_cloud, f"/resource_providers?name={name}")["resource_providers"]
    return found["uuid"]


def test_a_live_migration_holds_the_source_and_the_server_the_target(api_cloud, scene):
    server = _server(scene, instance=(scene["src"], 2, 1024, 10), migration=(scene["dst"], 2, 1024, 10))
    move = _move(scene, server, "live-migration")
    src, dst = _uuid(api_cloud, scene["src"]), _uuid(api_cloud, scene["dst"])
    assert list(_get(api_cloud, f"/allocations/{server}")["allocations"]) == [dst]
    assert list(_get(api_cloud, f"/allocations/{move}")["allocations"]) == [src]
    assert _get(api_cloud, f"/resource_providers/{src}/allocations")["allocations"] == {
        move: {"resources": {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 10}}
    }
    on_target = _get(api_cloud, f"/resource_providers/{dst}/allocations")["allocations"]
    assert on_target == {server: {"resources": {"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 10}}}


def test_an_evacuated_server_holds_both_hosts(api_cloud, scene):
    server = _server(scene, instance=(scene["src"], 1, 512, 1), migration=(scene["dst"], 1, 512, 1))
    _move(scene, server, "evacuation", status="pre-migrating")
    shown = _get(api_cloud, f"/allocations/{server}")["allocations"]
    assert set(shown) == {_uuid(api_cloud, scene["src"]), _uuid(api_cloud, scene["dst"])}


def test_a_server_after_its_move_holds_its_one_allocation(api_cloud, scene):
    server = _server(scene, instance=(scene["dst"], 1, 512, 1))
    move = _move(scene, server, "migration", status="confirmed")
    assert list(_get(api_cloud, f"/allocations/{server}")["allocations"]) == [_uuid(api_cloud, scene["dst"])]
    assert _get(api_cloud, f"/allocations/{move}") == {"allocations": {}}


def test_inventory_is_the_hosts_own_ratio_and_generation_and_a_class_it_lacks_is_left_out(api_cloud, scene):
    src, dst = _uuid(api_cloud, scene["src"]), _uuid(api_cloud, scene["dst"])
    shown = _get(api_cloud, f"/resource_providers/{src}/inventories")
    assert shown["resource_provider_generation"] == 7
    assert shown["inventories"]["VCPU"] == {"total": 8, "reserved": 0, "min_unit": 1, "max_unit": 16,
                                               "step_size": 1, "allocation_ratio": 2.0}  # fmt: skip
    assert set(_get(api_cloud, f"/resource_providers/{dst}/inventories")["inventories"]) == {"VCPU", "MEMORY_MB"}
    assert _get(api_cloud, f"/resource_providers/{dst}/usages")["usages"] == {"VCPU": 0, "MEMORY_MB": 0}


def test_resources_counts_the_ratio_the_usage_and_max_unit(api_cloud, scene):
    """src places 16 vCPUs (8 at ratio 2) and holds 10: room for 6, not 7; dst (4 at ratio 4) has room for 16."""
    _server(scene, instance=(scene["src"], 10, 1024, 1))
    names = {scene["src"], scene["dst"]}

    def fitting(query: str) -> set[str]:
        listed = _get(api_cloud, f"/resource_providers?resources={query}")["resource_providers"]
        return {p["name"] for p in listed} & names

    assert fitting("VCPU:6") == names
    assert fitting("VCPU:7") == {scene["dst"]}
    assert fitting("VCPU:17") == set()  # past dst's max_unit (16) and src's room
    assert fitting("DISK_GB:1") == {scene["src"]}  # dst reports no disk: no DISK_GB inventory
    assert fitting("MEMORY_MB:3072") == {scene["src"]}


def test_project_usages_sum_every_consumer_of_the_project_and_of_the_user(api_cloud, scene):
    project = f"p-{uuid.uuid4().hex[:6]}"
    _server(scene, project=project, user="alice", instance=(scene["src"], 2, 1024, 10),
            migration=(scene["dst"], 2, 1024, 10))  # fmt: skip
    _server(scene, project=project, user="bob", instance=(scene["dst"], 1, 512, 0))
    _server(scene, project="other", instance=(scene["dst"], 1, 512, 1))
    assert _get(api_cloud, f"/usages?project_id={project}") == {"usages": {"VCPU": 5, "MEMORY_MB": 2560, "DISK_GB": 20}}
    assert _get(api_cloud, f"/usages?project_id={project}&user_id=bob") == {"usages": {"VCPU": 1, "MEMORY_MB": 512}}
