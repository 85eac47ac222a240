"""Server tags (microversion 2.26) over real HTTP with the fake driver: the tag API, its limits, the list filters,
tags at create (2.52) and the ``openstack server set/unset --tag`` CLI."""

from __future__ import annotations

import json

import pytest

from tests.functional.compute.conftest import create_server, wait_for_status

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

V226 = {"OpenStack-API-Version": "compute 2.26"}


def _tags(cloud, token: str, server_id: str) -> list[str]:
    response = cloud.request("GET", f"/compute/v2.1/servers/{server_id}/tags", token, headers=V226)
    assert response.status_code == 200, response.text
    return response.json()["tags"]


@pytest.fixture
def active_server(cloud, server_image, unique):
    token = cloud.demo().get_token()
    server = create_server(cloud, token, server_image, unique)
    wait_for_status(cloud, token, server["id"], "ACTIVE")
    yield token, server["id"]
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", token)


def test_tags_are_added_checked_replaced_and_deleted(cloud, active_server):
    token, server_id = active_server
    base = f"/compute/v2.1/servers/{server_id}/tags"
    assert _tags(cloud, token, server_id) == []
    added = cloud.request("PUT", f"{base}/blue", token, headers=V226)
    assert added.status_code == 201 and added.headers["Location"].endswith(f"{base}/blue")
    again = cloud.request("PUT", f"{base}/blue", token, headers=V226)
    assert again.status_code == 204 and again.headers["Location"].endswith(f"{base}/blue")  # already there
    assert cloud.request("GET", f"{base}/blue", token, headers=V226).status_code == 204
    assert cloud.request("GET", f"{base}/red", token, headers=V226).status_code == 404
    replaced = cloud.request("PUT", base, token, json={"tags": ["a", "b", "a"]}, headers=V226)
    assert replaced.status_code == 200 and replaced.json() == {"tags": ["a", "b"]}
    server = cloud.request("GET", f"/compute/v2.1/servers/{server_id}", token, headers=V226).json()["server"]
    assert sorted(server["tags"]) == ["a", "b"]
    old = cloud.request("GET", f"/compute/v2.1/servers/{server_id}", token).json()["server"]
    assert "tags" not in old  # before 2.26
    assert cloud.request("DELETE", f"{base}/a", token, headers=V226).status_code == 204
    missing = cloud.request("DELETE", f"{base}/a", token, headers=V226)
    assert missing.status_code == 404 and "itemNotFound" in missing.json()
    assert cloud.request("DELETE", base, token, headers=V226).status_code == 204
    assert _tags(cloud, token, server_id) == []


@pytest.mark.parametrize(
    "body",
    [
        {"tags": ["x" * 61]},
        {"tags": ["has,comma"]},
        {"tags": ["has/slash"]},
        {"tags": [""]},
        {"tags": [f"t{i}" for i in range(51)]},
        {"tags": "notalist"},
        {"tags": [1]},
        {"other": []},
    ],
)
def test_bad_tag_lists_are_400_and_change_nothing(cloud, active_server, body):
    token, server_id = active_server
    base = f"/compute/v2.1/servers/{server_id}/tags"
    cloud.request("PUT", f"{base}/keep", token, headers=V226)
    refused = cloud.request("PUT", base, token, json=body, headers=V226)
    assert refused.status_code == 400 and "badRequest" in refused.json(), refused.text
    assert _tags(cloud, token, server_id) == ["keep"]


def test_single_tag_limits(cloud, active_server):
    token, server_id = active_server
    base = f"/compute/v2.1/servers/{server_id}/tags"
    assert cloud.request("PUT", f"{base}/{'y' * 61}", token, headers=V226).status_code == 400
    assert cloud.request("PUT", f"{base}/a,b", token, headers=V226).status_code == 400
    assert cloud.request("PUT", f"{base}/a%2Fb", token, headers=V226).status_code in (400, 404)
    fifty = [f"t{i}" for i in range(50)]
    assert cloud.request("PUT", base, token, json={"tags": fifty}, headers=V226).status_code == 200
    over = cloud.request("PUT", f"{base}/one-more", token, headers=V226)
    assert over.status_code == 400 and "limit 50" in over.json()["badRequest"]["message"]
    assert len(_tags(cloud, token, server_id)) == 50


def test_tags_need_2_26_and_other_projects_see_404(cloud, active_server):
    token, server_id = active_server
    base = f"/compute/v2.1/servers/{server_id}/tags"
    assert cloud.request("GET", base, token).status_code == 404  # 2.1
    assert (
        cloud.request("PUT", f"{base}/x", token, headers={"OpenStack-API-Version": "compute 2.25"}).status_code == 404
    )
    other = cloud.admin_token()  # an admin of another project sees it; the check is on project scope for members
    assert cloud.request("GET", base, other, headers=V226).status_code == 200
    stranger = cloud.request("GET", "/compute/v2.1/servers/not-a-server/tags", token, headers=V226)
    assert stranger.status_code == 404


def test_tags_of_another_projects_server_are_404(cloud, server_image, unique):
    admin = cloud.admin_token()
    server = create_server(cloud, admin, server_image, unique)
    demo = cloud.demo().get_token()
    base = f"/compute/v2.1/servers/{server['id']}/tags"
    for method, path, body in (("GET", base, None), ("PUT", f"{base}/x", None), ("PUT", base, {"tags": []})):
        assert cloud.request(method, path, demo, json=body, headers=V226).status_code == 404
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", admin)


def test_tags_of_a_server_in_error_cannot_change(cloud, server_image, unique):
    admin = cloud.admin_token()
    flavor = {"flavor": {"name": unique, "ram": 10**8, "vcpus": 1, "disk": 0}}
    flavor_id = cloud.request("POST", "/compute/v2.1/flavors", admin, json=flavor).json()["flavor"]["id"]
    server = create_server(cloud, admin, server_image, unique, flavor=flavor_id)
    wait_for_status(cloud, admin, server["id"], "ERROR")
    base = f"/compute/v2.1/servers/{server['id']}/tags"
    for method, path, body in (("PUT", f"{base}/x", None), ("PUT", base, {"tags": ["x"]}), ("DELETE", base, None)):
        refused = cloud.request(method, path, admin, json=body, headers=V226)
        assert refused.status_code == 409 and "conflictingRequest" in refused.json(), refused.text
    assert _tags(cloud, admin, server["id"]) == []
    cloud.request("DELETE", f"/compute/v2.1/servers/{server['id']}", admin)
    cloud.request("DELETE", f"/compute/v2.1/flavors/{flavor_id}", admin)


def test_list_filters_on_tags(cloud, server_image, unique):
    token = cloud.demo().get_token()
    made = {}
    for name, tags in (("ab", ["a", "b"]), ("a", ["a"]), ("c", ["c"])):
        server = create_server(cloud, token, server_image, f"{unique}-{name}")
        wait_for_status(cloud, token, server["id"], "ACTIVE")
        body = {"tags": tags}
        assert cloud.request("PUT", f"/compute/v2.1/servers/{server['id']}/tags", token, json=body, headers=V226).ok
        made[name] = server["id"]

    def listed(query: str) -> set[str]:
        response = cloud.request("GET", f"/compute/v2.1/servers?name={unique}&{query}", token, headers=V226)
        assert response.status_code == 200, response.text
        return {name for name, sid in made.items() if sid in {s["id"] for s in response.json()["servers"]}}

    assert listed("tags=a,b") == {"ab"}
    assert listed("tags=a") == {"ab", "a"}
    assert listed("tags-any=b,c") == {"ab", "c"}
    assert listed("not-tags=a,b") == {"a", "c"}
    assert listed("not-tags-any=a") == {"c"}
    assert listed("tags=a&not-tags-any=b") == {"a"}
    for server_id in made.values():
        cloud.request("DELETE", f"/compute/v2.1/servers/{server_id}", token)


def test_tags_at_create_need_2_52(cloud, server_image, unique):
    token = cloud.demo().get_token()
    body = {"server": {"name": unique, "imageRef": server_image, "flavorRef": "1", "networks": "none", "tags": ["t"]}}
    old = cloud.request("POST", "/compute/v2.1/servers", token, json=body, headers=V226)
    assert old.status_code == 400
    from api.compute import microversions

    if microversions.MAX_VERSION < (2, 52):
        pytest.skip("the cloud serves microversions below 2.52")
    v252 = {"OpenStack-API-Version": "compute 2.52"}
    bad = {"server": {**body["server"], "tags": ["a/b"]}}
    assert cloud.request("POST", "/compute/v2.1/servers", token, json=bad, headers=v252).status_code == 400
    created = cloud.request("POST", "/compute/v2.1/servers", token, json=body, headers=v252)
    assert created.status_code == 202, created.text
    server_id = created.json()["server"]["id"]
    assert _tags(cloud, token, server_id) == ["t"]
    cloud.request("DELETE", f"/compute/v2.1/servers/{server_id}", token)


def test_openstack_cli_sets_unsets_and_filters_tags(cloud, active_server):
    _, server_id = active_server
    cli = ("--os-compute-api-version", "2.26")
    cloud.openstack("stratus", *cli, "server", "set", "--tag", "red", "--tag", "green", server_id)
    shown = json.loads(cloud.openstack("stratus", *cli, "server", "show", "-f", "json", server_id).stdout)
    assert sorted(shown["tags"]) == ["green", "red"]
    listed = json.loads(cloud.openstack("stratus", *cli, "server", "list", "--tags", "red", "-f", "json").stdout)
    assert server_id in {s["ID"] for s in listed}
    cloud.openstack("stratus", *cli, "server", "unset", "--tag", "red", server_id)
    shown = json.loads(cloud.openstack("stratus", *cli, "server", "show", "-f", "json", server_id).stdout)
    assert shown["tags"] == ["green"]
    listed = json.loads(cloud.openstack("stratus", *cli, "server", "list", "--tags", "red", "-f", "json").stdout)
    assert server_id not in {s["ID"] for s in listed}
