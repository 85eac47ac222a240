"""Project trees and projects acting as domains (Keystone v3) over real HTTP and through the openstack CLI."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

V3 = "/identity/v3"


def _project(cloud, token: str, name: str, **fields) -> dict:
    response = cloud.request("POST", f"{V3}/projects", token, json={"project": {"name": name, **fields}})
    assert response.status_code == 201, response.text
    return response.json()["project"]


def _domain(cloud, token: str, name: str) -> dict:
    response = cloud.request("POST", f"{V3}/domains", token, json={"domain": {"name": name}})
    assert response.status_code == 201, response.text
    return response.json()["domain"]


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status
    return error["message"]


def test_a_child_names_its_parent_and_a_top_level_project_its_domain(cloud, unique):
    token = cloud.admin_token()
    domain = _domain(cloud, token, unique)
    root = _project(cloud, token, f"{unique[-12:]}-root", domain_id=domain["id"])
    child = _project(cloud, token, f"{unique[-12:]}-child", domain_id=domain["id"], parent_id=root["id"])
    # With no domain named, a child goes in its parent's domain; a domain id as parent means top level.
    grandchild = _project(cloud, token, f"{unique[-12:]}-grandchild", parent_id=child["id"])
    top = _project(cloud, token, f"{unique[-12:]}-top", parent_id=domain["id"])

    assert root["parent_id"] == domain["id"] and root["is_domain"] is False
    assert child["parent_id"] == root["id"] and child["domain_id"] == domain["id"]
    assert grandchild["parent_id"] == child["id"] and grandchild["domain_id"] == domain["id"]
    assert top["parent_id"] == domain["id"] and top["domain_id"] == domain["id"]
    shown = cloud.request("GET", f"{V3}/projects/{child['id']}", token).json()["project"]
    assert shown == child

    by_parent = cloud.request("GET", f"{V3}/projects?parent_id={root['id']}", token).json()["projects"]
    by_domain_parent = cloud.request("GET", f"{V3}/projects?parent_id={domain['id']}", token).json()["projects"]
    assert by_parent == [child]
    assert {p["id"] for p in by_domain_parent} == {root["id"], top["id"]}


def test_parents_and_subtree_come_as_nested_ids_or_as_the_projects_the_caller_may_see(cloud, unique):
    token = cloud.admin_token()
    domain = _domain(cloud, token, unique)
    a = _project(cloud, token, f"{unique[-12:]}-a", domain_id=domain["id"])
    b = _project(cloud, token, f"{unique[-12:]}-b", parent_id=a["id"])
    c = _project(cloud, token, f"{unique[-12:]}-c", parent_id=b["id"])
    d = _project(cloud, token, f"{unique[-12:]}-d", parent_id=b["id"])

    ids = cloud.request("GET", f"{V3}/projects/{c['id']}?parents_as_ids", token).json()["project"]
    subtree = cloud.request("GET", f"{V3}/projects/{a['id']}?subtree_as_ids", token).json()["project"]
    leaf = cloud.request("GET", f"{V3}/projects/{d['id']}?subtree_as_ids&parents_as_ids", token).json()["project"]
    of_domain = cloud.request("GET", f"{V3}/projects/{domain['id']}?subtree_as_ids", token).json()["project"]
    assert ids["parents"] == {b["id"]: {a["id"]: {domain["id"]: None}}}
    assert subtree["subtree"] == {b["id"]: {c["id"]: None, d["id"]: None}}
    assert leaf["subtree"] is None and leaf["parents"] == {b["id"]: {a["id"]: {domain["id"]: None}}}
    assert of_domain["is_domain"] is True and of_domain["subtree"] == {
        a["id"]: {b["id"]: {c["id"]: None, d["id"]: None}}
    }

    # The admin holds no role on these projects: the list forms show none until it holds one on b.
    hidden = cloud.request("GET", f"{V3}/projects/{c['id']}?parents_as_list&subtree_as_list", token).json()
    assert hidden["project"]["parents"] == [] and hidden["project"]["subtree"] == []
    admin = cloud.request("GET", f"{V3}/auth/tokens", token, headers={"X-Subject-Token": token}).json()["token"]
    reader = cloud.request("GET", f"{V3}/roles?name=reader", token).json()["roles"][0]["id"]
    grant = f"{V3}/projects/{b['id']}/users/{admin['user']['id']}/roles/{reader}"
    assert cloud.request("PUT", grant, token).status_code == 204
    listed = cloud.request("GET", f"{V3}/projects/{c['id']}?parents_as_list", token).json()["project"]
    below = cloud.request("GET", f"{V3}/projects/{a['id']}?subtree_as_list", token).json()["project"]
    assert listed["parents"] == [{"project": cloud.request("GET", f"{V3}/projects/{b['id']}", token).json()["project"]}]
    assert [entry["project"]["id"] for entry in below["subtree"]] == [b["id"]]
    assert cloud.request("DELETE", grant, token).status_code == 204

    both = cloud.request("GET", f"{V3}/projects/{c['id']}?parents_as_list&parents_as_ids", token)
    assert "at the same time" in _error(both, 400)
    both = cloud.request("GET", f"{V3}/projects/{c['id']}?subtree_as_list&subtree_as_ids", token)
    assert "at the same time" in _error(both, 400)


def test_a_tree_refuses_bad_parents_and_more_than_five_levels(cloud, unique):
    token = cloud.admin_token()
    domain = _domain(cloud, token, unique)
    elsewhere = _project(cloud, token, f"{unique[-12:]}-default")  # in the default domain

    other_domain = cloud.request(
        "POST", f"{V3}/projects", token, json={"project": {"name": f"{unique[-12:]}-x", "domain_id": domain["id"],
                                                            "parent_id": elsewhere["id"]}}
    )  # fmt: skip
    assert "parent in a different domain" in _error(other_domain, 400)
    unknown = cloud.request("POST", f"{V3}/projects", token, json={"project": {"name": "x", "parent_id": "nope"}})
    _error(unknown, 404)
    domain_mismatch = cloud.request(
        "POST",
        f"{V3}/projects",
        token,
        json={"project": {"name": "x", "parent_id": domain["id"], "domain_id": "default"}},
    )
    assert "acting as a domain" in _error(domain_mismatch, 400)
    too_long = cloud.request("POST", f"{V3}/projects", token, json={"project": {"name": "x", "parent_id": "p" * 65}})
    _error(too_long, 400)

    parent = None
    for level in range(1, 6):
        fields = {"parent_id": parent["id"]} if parent else {"domain_id": domain["id"]}
        parent = _project(cloud, token, f"{unique[-12:]}-{level}", **fields)
    sixth = cloud.request("POST", f"{V3}/projects", token, json={"project": {"name": "six", "parent_id": parent["id"]}})
    assert "Max hierarchy depth" in _error(sixth, 403)
    names = cloud.request("GET", f"{V3}/projects?domain_id={domain['id']}", token).json()["projects"]
    assert "six" not in {p["name"] for p in names}


def test_a_tree_stays_consistent_on_update_and_delete(cloud, unique):
    token = cloud.admin_token()
    parent = _project(cloud, token, f"{unique[-12:]}-parent")
    child = _project(cloud, token, f"{unique[-12:]}-child", parent_id=parent["id"])
    other = _project(cloud, token, f"{unique[-12:]}-other")

    def patch(project_id: str, **fields):
        return cloud.request("PATCH", f"{V3}/projects/{project_id}", token, json={"project": fields})

    # parent_id never changes (so no cycle can be made); sending it back unchanged is fine.
    assert "parent_id" in _error(patch(parent["id"], parent_id=child["id"]), 403)
    assert "parent_id" in _error(patch(child["id"], parent_id=other["id"]), 403)
    assert patch(child["id"], parent_id=parent["id"], description="same parent").status_code == 200
    assert "is_domain" in _error(patch(child["id"], is_domain=True), 400)

    assert "subtree contains enabled projects" in _error(patch(parent["id"], enabled=False), 403)
    gone = cloud.request("DELETE", f"{V3}/projects/{parent['id']}", token)
    assert "not a leaf" in _error(gone, 403)
    assert cloud.request("GET", f"{V3}/projects/{parent['id']}", token).status_code == 200

    assert patch(child["id"], enabled=False).status_code == 200
    assert patch(parent["id"], enabled=False).status_code == 200
    assert "disabled parents" in _error(patch(child["id"], enabled=True), 403)
    under_disabled = cloud.request(
        "POST", f"{V3}/projects", token, json={"project": {"name": f"{unique[-12:]}-new", "parent_id": parent["id"]}}
    )
    assert "disabled project" in _error(under_disabled, 400)

    assert cloud.request("DELETE", f"{V3}/projects/{child['id']}", token).status_code == 204
    assert cloud.request("DELETE", f"{V3}/projects/{parent['id']}", token).status_code == 204


def test_a_project_acting_as_a_domain_is_a_domain(cloud, unique):
    token = cloud.admin_token()
    made = cloud.request(
        "POST", f"{V3}/projects", token, json={"project": {"name": unique, "domain_id": None, "is_domain": True}}
    )
    assert made.status_code == 201, made.text
    project = made.json()["project"]
    assert project["is_domain"] is True and project["domain_id"] is None and project["parent_id"] is None

    as_domains = cloud.request("GET", f"{V3}/domains", token).json()["domains"]
    as_projects = cloud.request("GET", f"{V3}/projects?is_domain=true", token).json()["projects"]
    plain = cloud.request("GET", f"{V3}/projects", token).json()["projects"]
    assert project["id"] in {d["id"] for d in as_domains}
    assert project in as_projects and project["id"] not in {p["id"] for p in plain}
    assert cloud.request("GET", f"{V3}/projects/{project['id']}", token).json()["project"] == project

    inside = _project(cloud, token, f"{unique[-12:]}-inside", parent_id=project["id"])
    assert inside["domain_id"] == project["id"] and inside["parent_id"] == project["id"]
    assert cloud.request("DELETE", f"{V3}/projects/{inside['id']}", token).status_code == 204

    nested = cloud.request(
        "POST", f"{V3}/projects", token, json={"project": {"name": "d2", "is_domain": True, "parent_id": project["id"]}}
    )
    assert "root projects" in _error(nested, 400)
    duplicate = cloud.request("POST", f"{V3}/projects", token, json={"project": {"name": unique, "is_domain": True}})
    _error(duplicate, 409)

    enabled = cloud.request("DELETE", f"{V3}/projects/{project['id']}", token)
    _error(enabled, 403)
    disabled = cloud.request("PATCH", f"{V3}/projects/{project['id']}", token, json={"project": {"enabled": False}})
    assert disabled.status_code == 200 and disabled.json()["project"]["enabled"] is False
    assert cloud.request("GET", f"{V3}/domains/{project['id']}", token).json()["domain"]["enabled"] is False
    assert cloud.request("DELETE", f"{V3}/projects/{project['id']}", token).status_code == 204
    assert cloud.request("GET", f"{V3}/domains/{project['id']}", token).status_code == 404


def test_a_domain_with_a_tree_is_deleted_whole(cloud, unique):
    token = cloud.admin_token()
    domain = _domain(cloud, token, unique)
    root = _project(cloud, token, f"{unique[-12:]}-root", domain_id=domain["id"])
    _project(cloud, token, f"{unique[-12:]}-child", parent_id=root["id"])
    assert cloud.request("PATCH", f"{V3}/domains/{domain['id']}", token, json={"domain": {"enabled": False}}).ok
    assert cloud.request("DELETE", f"{V3}/domains/{domain['id']}", token).status_code == 204
    assert cloud.request("GET", f"{V3}/projects/{root['id']}", token).status_code == 404


def test_openstack_cli_creates_a_child_and_shows_its_parents_and_children(cloud, unique):
    def run(*args: str) -> dict:
        return json.loads(cloud.openstack("stratus-admin", *args, "-f", "json").stdout)

    parent = run("project", "create", f"{unique[-12:]}-parent")
    child = run("project", "create", "--parent", f"{unique[-12:]}-parent", f"{unique[-12:]}-child")
    assert child["parent_id"] == parent["id"]
    shown = run("project", "show", "--parents", "--children", parent["id"])
    assert shown["parents"] == {"default": None}
    assert shown["subtree"] == {child["id"]: None}
    refused = cloud.openstack("stratus-admin", "project", "delete", parent["id"], check=False)
    assert refused.returncode != 0
    cloud.openstack("stratus-admin", "project", "delete", child["id"])
    cloud.openstack("stratus-admin", "project", "delete", parent["id"])
