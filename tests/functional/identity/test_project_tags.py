"""Keystone project tags over real HTTP: the tags API, its limits, the project list's tag filters, and the CLI."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

V3 = "/identity/v3"


def _project(cloud, name: str, token: str, tags: list[str] | None = None) -> dict:
    body = {"name": name, **({"tags": tags} if tags is not None else {})}
    response = cloud.request("POST", f"{V3}/projects", token, json={"project": body})
    assert response.status_code == 201, response.text
    return response.json()["project"]


def test_tag_add_check_replace_list_delete(cloud, unique):
    token = cloud.admin_token()
    project = _project(cloud, unique, token)
    tags = f"{V3}/projects/{project['id']}/tags"

    added = cloud.request("PUT", f"{tags}/blue", token, json={})
    assert added.status_code == 201 and added.headers["Location"].endswith(f"/projects/{project['id']}/tags/blue")
    assert cloud.request("GET", f"{tags}/blue", token).status_code == 204
    assert cloud.request("HEAD", f"{tags}/blue", token).status_code == 204
    assert cloud.request("GET", f"{tags}/red", token).status_code == 404
    assert cloud.request("PUT", f"{tags}/blue", token, json={}).status_code == 201  # again: still one
    assert cloud.request("GET", tags, token).json()["tags"] == ["blue"]

    replaced = cloud.request("PUT", tags, token, json={"tags": ["a", "b", "c"]})
    assert replaced.status_code == 200 and sorted(replaced.json()["tags"]) == ["a", "b", "c"]
    assert sorted(cloud.request("GET", f"{V3}/projects/{project['id']}", token).json()["project"]["tags"]) == [
        "a",
        "b",
        "c",
    ]

    assert cloud.request("DELETE", f"{tags}/a", token).status_code == 204
    assert cloud.request("GET", f"{tags}/a", token).status_code == 404
    assert cloud.request("DELETE", f"{tags}/a", token).status_code == 404
    assert cloud.request("DELETE", tags, token).status_code == 204
    assert cloud.request("GET", tags, token).json()["tags"] == []


def test_bad_tags_are_400_and_change_nothing(cloud, unique):
    token = cloud.admin_token()
    project = _project(cloud, unique, token, tags=["keep"])
    tags = f"{V3}/projects/{project['id']}/tags"

    for body in ({"tags": ["a/b"]}, {"tags": ["a,b"]}, {"tags": [""]}, {"tags": ["x" * 256]}, {"tags": "a"}, {}):
        response = cloud.request("PUT", tags, token, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == 400
    too_many = cloud.request("PUT", tags, token, json={"tags": [f"t{i}" for i in range(81)]})
    assert too_many.status_code == 400
    assert cloud.request("PUT", f"{tags}/a,b", token, json={}).status_code == 400
    assert cloud.request("PUT", f"{tags}/{'x' * 256}", token, json={}).status_code == 400
    assert cloud.request("GET", tags, token).json()["tags"] == ["keep"]

    assert cloud.request("PUT", tags, token, json={"tags": [f"t{i}" for i in range(80)]}).status_code == 200
    full = cloud.request("PUT", f"{tags}/one-more", token, json={})
    assert full.status_code == 400 and "80" in full.json()["error"]["message"]

    assert cloud.request("GET", f"{V3}/projects/nope/tags", token).status_code == 404
    assert cloud.request("PUT", f"{V3}/projects/nope/tags/x", token, json={}).status_code == 404


def test_project_list_filters_by_tags(cloud, unique):
    token = cloud.admin_token()
    ab = _project(cloud, unique + "-ab", token, tags=[unique + "a", unique + "b"])
    a = _project(cloud, unique + "-a", token, tags=[unique + "a"])
    c = _project(cloud, unique + "-c", token, tags=[unique + "c"])
    mine = {ab["id"], a["id"], c["id"]}

    def listed(query: str) -> set[str]:
        response = cloud.request("GET", f"{V3}/projects?{query}", token)
        assert response.status_code == 200, response.text
        return {p["id"] for p in response.json()["projects"]} & mine

    ta, tb, tc = unique + "a", unique + "b", unique + "c"
    assert listed(f"tags={ta},{tb}") == {ab["id"]}
    assert listed(f"tags-any={tb},{tc}") == {ab["id"], c["id"]}
    assert listed(f"not-tags={ta},{tb}") == {a["id"], c["id"]}
    assert listed(f"not-tags-any={ta}") == {c["id"]}
    assert listed(f"tags={ta}&not-tags-any={tb}") == {a["id"]}
    assert cloud.request("GET", f"{V3}/projects?tags=", token).status_code == 400


def test_only_admins_change_tags_and_members_read_their_projects_tags(cloud, unique):
    token = cloud.admin_token()
    project = _project(cloud, unique, token, tags=["x"])
    user = cloud.request("POST", f"{V3}/users", token, json={"user": {"name": unique, "password": "pw"}}).json()["user"]
    member = cloud.request("GET", f"{V3}/roles?name=member", token).json()["roles"][0]["id"]
    grant = f"{V3}/projects/{project['id']}/users/{user['id']}/roles/{member}"
    assert cloud.request("PUT", grant, token).status_code == 204
    auth = {
        "identity": {"methods": ["password"], "password": {"user": {"id": user["id"], "password": "pw"}}},
        "scope": {"project": {"id": project["id"]}},
    }
    user_token = cloud.request("POST", f"{V3}/auth/tokens", json={"auth": auth}).headers["X-Subject-Token"]
    tags = f"{V3}/projects/{project['id']}/tags"

    assert cloud.request("GET", tags, user_token).json()["tags"] == ["x"]
    assert cloud.request("GET", f"{tags}/x", user_token).status_code == 204
    assert cloud.request("PUT", f"{tags}/y", user_token, json={}).status_code == 403
    assert cloud.request("PUT", tags, user_token, json={"tags": []}).status_code == 403
    assert cloud.request("DELETE", tags, user_token).status_code == 403
    assert cloud.request("DELETE", f"{tags}/x", user_token).status_code == 403


@pytest.mark.one_database
def test_openstack_cli_sets_lists_and_filters_project_tags(cloud, unique):
    cloud.openstack("stratus-admin", "project", "create", "--tag", unique + "-a", unique)
    cloud.openstack("stratus-admin", "project", "set", "--tag", unique + "-b", unique)
    shown = json.loads(cloud.openstack("stratus-admin", "project", "show", unique, "-f", "json").stdout)
    assert sorted(shown["tags"]) == [unique + "-a", unique + "-b"]

    listed = json.loads(
        cloud.openstack("stratus-admin", "project", "list", "--tags", f"{unique}-a,{unique}-b", "-f", "json").stdout
    )
    assert [p["Name"] for p in listed] == [unique]
    cloud.openstack("stratus-admin", "project", "set", "--remove-tag", unique + "-a", unique)
    none = json.loads(cloud.openstack("stratus-admin", "project", "list", "--tags", unique + "-a", "-f", "json").stdout)
    assert none == []
    cloud.openstack("stratus-admin", "project", "set", "--clear-tags", unique)
    shown = json.loads(cloud.openstack("stratus-admin", "project", "show", unique, "-f", "json").stdout)
    assert shown["tags"] == []
