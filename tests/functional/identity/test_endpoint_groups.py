"""OS-EP-FILTER over real HTTP: endpoint groups, their endpoints, project associations, and the CLI."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

V3 = "/identity/v3"
EP = f"{V3}/OS-EP-FILTER"


def _create(cloud, kind: str, body: dict, token: str, path: str | None = None) -> dict:
    response = cloud.request("POST", path or f"{V3}/{kind}s", token, json={kind: body})
    assert response.status_code == 201, response.text
    return response.json()[kind]


def _service_with_endpoints(cloud, unique: str, token: str) -> tuple[dict, dict, dict]:
    service = _create(cloud, "service", {"type": unique, "name": unique}, token)
    public = _create(
        cloud, "endpoint", {"service_id": service["id"], "interface": "public", "url": "http://p.example/"}, token
    )
    internal = _create(
        cloud, "endpoint", {"service_id": service["id"], "interface": "internal", "url": "http://i.example/"}, token
    )
    return service, public, internal


def test_endpoint_group_crud_and_its_endpoints(cloud, unique):
    token = cloud.admin_token()
    service, public, internal = _service_with_endpoints(cloud, unique, token)
    body = {"name": unique, "description": "d", "filters": {"service_id": service["id"]}}
    group = _create(cloud, "endpoint_group", body, token, f"{EP}/endpoint_groups")
    assert group["filters"] == {"service_id": service["id"]} and group["description"] == "d"
    assert group["links"]["self"].endswith(f"{EP}/endpoint_groups/{group['id']}")
    url = f"{EP}/endpoint_groups/{group['id']}"

    assert group in cloud.request("GET", f"{EP}/endpoint_groups", token).json()["endpoint_groups"]
    assert cloud.request("GET", f"{EP}/endpoint_groups?name={unique}", token).json()["endpoint_groups"] == [group]
    assert cloud.request("GET", url, token).json()["endpoint_group"] == group
    assert cloud.request("HEAD", url, token).status_code == 200
    listed = cloud.request("GET", f"{url}/endpoints", token).json()["endpoints"]
    assert {e["id"] for e in listed} == {public["id"], internal["id"]}

    narrowed = cloud.request(
        "PATCH", url, token, json={"endpoint_group": {"filters": {"service_id": service["id"], "interface": "public"}}}
    )
    assert narrowed.status_code == 200 and narrowed.json()["endpoint_group"]["name"] == unique
    assert [e["id"] for e in cloud.request("GET", f"{url}/endpoints", token).json()["endpoints"]] == [public["id"]]
    renamed = cloud.request("PATCH", url, token, json={"endpoint_group": {"name": unique + "-2", "description": None}})
    assert renamed.json()["endpoint_group"]["name"] == unique + "-2"
    assert renamed.json()["endpoint_group"]["description"] == ""

    builtin = _create(
        cloud,
        "endpoint_group",
        {"name": unique + "-id", "filters": {"interface": "admin"}},
        token,
        f"{EP}/endpoint_groups",
    )
    admin_endpoints = cloud.request("GET", f"{EP}/endpoint_groups/{builtin['id']}/endpoints", token).json()
    assert admin_endpoints["endpoints"] and {e["interface"] for e in admin_endpoints["endpoints"]} == {"admin"}

    assert cloud.request("DELETE", url, token).status_code == 204
    assert cloud.request("GET", url, token).status_code == 404
    assert cloud.request("HEAD", url, token).status_code == 404
    assert cloud.request("DELETE", url, token).status_code == 404
    ids = {g["id"] for g in cloud.request("GET", f"{EP}/endpoint_groups", token).json()["endpoint_groups"]}
    assert group["id"] not in ids


def test_bad_endpoint_group_requests_are_clear_errors(cloud, unique):
    token = cloud.admin_token()
    for body in (
        {"name": unique},
        {"filters": {}},
        {"name": unique, "filters": {"url": "x"}},
        {"name": unique, "filters": {"interface": 1}},
        {"name": unique, "filters": "interface=public"},
        {"name": "", "filters": {}},
        {"name": unique, "filters": {}, "colour": "blue"},
    ):
        response = cloud.request("POST", f"{EP}/endpoint_groups", token, json={"endpoint_group": body})
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == 400
    group = _create(cloud, "endpoint_group", {"name": unique, "filters": {}}, token, f"{EP}/endpoint_groups")
    url = f"{EP}/endpoint_groups/{group['id']}"
    bad_patch = cloud.request("PATCH", url, token, json={"endpoint_group": {"filters": {"enabled": "true"}}})
    assert bad_patch.status_code == 400
    assert cloud.request("GET", url, token).json()["endpoint_group"]["filters"] == {}
    assert cloud.request("GET", f"{EP}/endpoint_groups/nope/endpoints", token).status_code == 404
    assert cloud.request("PUT", f"{url}/projects/nope", token).status_code == 404
    assert cloud.request("PUT", f"{EP}/endpoint_groups/nope/projects/nope", token).status_code == 404


def test_projects_associate_with_endpoint_groups_and_endpoints(cloud, unique):
    token = cloud.admin_token()
    service, public, internal = _service_with_endpoints(cloud, unique, token)
    project = _create(cloud, "project", {"name": unique}, token)
    group = _create(
        cloud,
        "endpoint_group",
        {"name": unique, "filters": {"service_id": service["id"], "interface": "public"}},
        token,
        f"{EP}/endpoint_groups",
    )
    association = f"{EP}/endpoint_groups/{group['id']}/projects/{project['id']}"
    assert cloud.request("GET", association, token).status_code == 404
    assert cloud.request("PUT", association, token).status_code == 204
    assert cloud.request("PUT", association, token).status_code == 204  # again: still one
    assert cloud.request("HEAD", association, token).status_code == 200
    assert cloud.request("GET", association, token).json()["project"]["id"] == project["id"]
    projects = cloud.request("GET", f"{EP}/endpoint_groups/{group['id']}/projects", token).json()["projects"]
    assert [p["id"] for p in projects] == [project["id"]]
    groups = cloud.request("GET", f"{EP}/projects/{project['id']}/endpoint_groups", token).json()["endpoint_groups"]
    assert [g["id"] for g in groups] == [group["id"]]

    direct = f"{EP}/projects/{project['id']}/endpoints/{internal['id']}"
    assert cloud.request("HEAD", direct, token).status_code == 404
    assert cloud.request("PUT", direct, token).status_code == 204
    assert cloud.request("HEAD", direct, token).status_code == 204
    endpoints = cloud.request("GET", f"{EP}/projects/{project['id']}/endpoints", token).json()["endpoints"]
    assert {e["id"] for e in endpoints} == {public["id"], internal["id"]}
    users = cloud.request("GET", f"{EP}/endpoints/{internal['id']}/projects", token).json()["projects"]
    assert [p["id"] for p in users] == [project["id"]]
    assert cloud.request("PUT", f"{EP}/projects/{project['id']}/endpoints/nope", token).status_code == 404

    assert cloud.request("DELETE", direct, token).status_code == 204
    assert cloud.request("DELETE", direct, token).status_code == 404
    assert cloud.request("DELETE", association, token).status_code == 204
    assert cloud.request("DELETE", association, token).status_code == 404
    assert cloud.request("GET", f"{EP}/projects/{project['id']}/endpoints", token).json()["endpoints"] == []

    assert cloud.request("PUT", association, token).status_code == 204
    assert cloud.request("DELETE", f"{V3}/projects/{project['id']}", token).status_code == 204
    assert cloud.request("GET", f"{EP}/endpoint_groups/{group['id']}/projects", token).json()["projects"] == []


def test_only_admins_manage_endpoint_groups(cloud, unique):
    token = cloud.admin_token()
    user = _create(cloud, "user", {"name": unique, "password": "pw"}, token)
    auth = {"identity": {"methods": ["password"], "password": {"user": {"id": user["id"], "password": "pw"}}}}
    user_token = cloud.request("POST", f"{V3}/auth/tokens", json={"auth": auth}).headers["X-Subject-Token"]
    group = _create(cloud, "endpoint_group", {"name": unique, "filters": {}}, token, f"{EP}/endpoint_groups")
    body = {"endpoint_group": {"name": unique, "filters": {}}}
    assert cloud.request("POST", f"{EP}/endpoint_groups", user_token, json=body).status_code == 403
    assert cloud.request("GET", f"{EP}/endpoint_groups", user_token).status_code == 403
    assert cloud.request("DELETE", f"{EP}/endpoint_groups/{group['id']}", user_token).status_code == 403


@pytest.mark.one_database
def test_openstack_cli_manages_endpoint_groups(cloud, unique, tmp_path):
    token = cloud.admin_token()
    service, public, _internal = _service_with_endpoints(cloud, unique, token)
    cloud.openstack("stratus-admin", "project", "create", unique)
    filters = tmp_path / "filters.json"
    filters.write_text(json.dumps({"service_id": service["id"], "interface": "public"}))
    created = json.loads(
        cloud.openstack(
            "stratus-admin", "endpoint", "group", "create", "--description", "d", unique, str(filters), "-f", "json"
        ).stdout
    )
    assert created["name"] == unique
    listed = json.loads(cloud.openstack("stratus-admin", "endpoint", "group", "list", "-f", "json").stdout)
    assert created["id"] in {g["ID"] for g in listed}

    cloud.openstack("stratus-admin", "endpoint", "group", "add", "project", unique, unique)
    mine = json.loads(
        cloud.openstack("stratus-admin", "endpoint", "group", "list", "--project", unique, "-f", "json").stdout
    )
    assert [g["ID"] for g in mine] == [created["id"]]
    endpoints = json.loads(
        cloud.openstack("stratus-admin", "endpoint", "list", "--project", unique, "-f", "json").stdout
    )
    assert [e["ID"] for e in endpoints] == [public["id"]]
    cloud.openstack("stratus-admin", "endpoint", "group", "remove", "project", unique, unique)
    cloud.openstack("stratus-admin", "endpoint", "group", "delete", unique)
    left = json.loads(cloud.openstack("stratus-admin", "endpoint", "group", "list", "-f", "json").stdout)
    assert created["id"] not in {g["ID"] for g in left}
