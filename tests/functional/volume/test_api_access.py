"""Who sees what: another project's volumes, snapshots and attachments are 404 (never 403), a project id in the
path that is not the token's is Cinder's 400, admins see every project's with ``all_tenants``, and both path
forms (with and without the project id) answer alike."""

from __future__ import annotations

import pytest

from tests.functional.volume.api_support import (
    BASE,
    available_volume,
    block_storage,
    call,
    create_volume,
    fault,
    member_of_new_project,
    project_id,
)

__all__ = ["block_storage"]
pytestmark = pytest.mark.usefixtures("block_storage")


def test_other_projects_volumes_are_404_everywhere(cloud, unique):
    demo = cloud.demo().get_token()
    volume = create_volume(cloud, demo, unique)
    other, _ = member_of_new_project(cloud, unique)
    for method, path, body in (
        ("GET", f"/volumes/{volume['id']}", None),
        ("PUT", f"/volumes/{volume['id']}", {"volume": {"name": "stolen"}}),
        ("DELETE", f"/volumes/{volume['id']}", None),
        ("POST", f"/volumes/{volume['id']}/action", {"os-extend": {"new_size": 5}}),
        ("GET", f"/volumes/{volume['id']}/metadata", None),
        ("POST", "/snapshots", {"snapshot": {"volume_id": volume["id"]}}),
    ):
        response = call(cloud, method, path, other, json=body)
        assert f"Volume {volume['id']} could not be found." == fault(response, "itemNotFound", 404), (method, path)
    listed = call(cloud, "GET", "/volumes/detail", other).json()["volumes"]
    assert volume["id"] not in [v["id"] for v in listed]
    # all_tenants is an admin's: a member asking for it still sees only its own project.
    assert volume["id"] not in [v["id"] for v in call(cloud, "GET", "/volumes?all_tenants=1", other).json()["volumes"]]
    admin = cloud.admin_token()
    everyone = call(cloud, "GET", "/volumes?all_tenants=1", admin).json()["volumes"]
    assert volume["id"] in [v["id"] for v in everyone]
    shown = call(cloud, "GET", f"/volumes/{volume['id']}", admin, "3.70").json()["volume"]
    assert shown["os-vol-tenant-attr:tenant_id"] == project_id(cloud, admin, "demo")


def test_both_path_forms_and_a_foreign_project_in_the_path(cloud, unique):
    demo = cloud.demo().get_token()
    demo_project = project_id(cloud, cloud.admin_token(), "demo")
    volume = available_volume(cloud, demo, unique)  # settled: the two answers compared must not race its creation
    with_project = cloud.request("GET", f"{BASE}/{demo_project}/volumes/{volume['id']}", demo)
    assert (
        with_project.status_code == 200
        and with_project.json() == call(cloud, "GET", f"/volumes/{volume['id']}", demo).json()
    )
    admin_project = project_id(cloud, cloud.admin_token(), "admin")
    foreign = cloud.request("GET", f"{BASE}/{admin_project}/volumes/{volume['id']}", demo)
    assert fault(foreign, "badRequest", 400) == "Malformed request url"
    assert volume["links"][0]["href"] == f"{cloud.url}{BASE}/{demo_project}/volumes/{volume['id']}"


def test_private_types_are_invisible_to_projects_without_access(cloud, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    body = {"volume_type": {"name": unique, "os-volume-type-access:is_public": False}}
    made = call(cloud, "POST", "/types", admin, json=body).json()["volume_type"]
    fault(call(cloud, "GET", f"/types/{made['id']}", demo), "itemNotFound", 404)
    refused = call(cloud, "POST", "/volumes", demo, json={"volume": {"size": 1, "volume_type": unique}})
    fault(refused, "itemNotFound", 404)
    share = {"addProjectAccess": {"project": project_id(cloud, admin, "demo")}}
    assert call(cloud, "POST", f"/types/{made['id']}/action", admin, json=share).status_code == 202
    assert call(cloud, "GET", f"/types/{made['id']}", demo).status_code == 200
    fault(call(cloud, "POST", "/types", demo, json={"volume_type": {"name": unique + "x"}}), "forbidden", 403)
