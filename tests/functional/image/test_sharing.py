"""Visibility and membership between two projects, as Glance defines them."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.functional

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def _image(cloud, token: str, name: str, visibility: str) -> str:
    response = cloud.request("POST", "/image/v2/images", token, json={"name": name, "visibility": visibility})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _listed(cloud, token: str, query: str = "") -> set[str]:
    return {i["id"] for i in cloud.request("GET", f"/image/v2/images?limit=1000{query}", token).json()["images"]}


def test_private_images_of_another_project_are_invisible(cloud, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    private = _image(cloud, admin, unique, "private")
    assert cloud.request("GET", f"/image/v2/images/{private}", demo).status_code == 404
    assert private not in _listed(cloud, demo)
    assert cloud.request("DELETE", f"/image/v2/images/{private}", demo).status_code == 404
    assert cloud.request("GET", f"/image/v2/images/{private}/file", demo).status_code == 404


def test_public_and_community_images(cloud, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    public = _image(cloud, admin, unique, "public")
    community = _image(cloud, admin, unique, "community")

    assert public in _listed(cloud, demo)
    assert community not in _listed(cloud, demo)
    assert community in _listed(cloud, demo, "&visibility=community")
    assert cloud.request("GET", f"/image/v2/images/{community}", demo).status_code == 200
    modify = cloud.request(
        "PATCH",
        f"/image/v2/images/{public}",
        demo,
        json=[{"op": "replace", "path": "/name", "value": "mine"}],
        headers=PATCH,
    )
    assert modify.status_code == 403


def test_only_admins_publish_but_owners_may_go_community(cloud, unique):
    demo = cloud.demo().get_token()
    image = _image(cloud, demo, unique, "private")
    public = cloud.request(
        "PATCH",
        f"/image/v2/images/{image}",
        demo,
        json=[{"op": "replace", "path": "/visibility", "value": "public"}],
        headers=PATCH,
    )
    community = cloud.request(
        "PATCH",
        f"/image/v2/images/{image}",
        demo,
        json=[{"op": "replace", "path": "/visibility", "value": "community"}],
        headers=PATCH,
    )
    assert public.status_code == 403
    assert community.status_code == 200 and community.json()["visibility"] == "community"


def test_shared_image_membership_accept_and_reject(cloud, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    demo_project = cloud.request("GET", "/identity/v3/auth/projects", demo).json()["projects"][0]["id"]
    shared = _image(cloud, admin, unique, "shared")
    assert cloud.request("GET", f"/image/v2/images/{shared}", demo).status_code == 404

    added = cloud.request("POST", f"/image/v2/images/{shared}/members", admin, json={"member": demo_project})
    assert added.status_code == 200 and added.json()["status"] == "pending"
    assert (
        cloud.request("POST", f"/image/v2/images/{shared}/members", admin, json={"member": demo_project}).status_code
        == 409
    )
    # pending: visible by id, not listed
    assert cloud.request("GET", f"/image/v2/images/{shared}", demo).status_code == 200
    assert shared not in _listed(cloud, demo)
    assert shared in _listed(cloud, demo, "&member_status=pending&visibility=shared")
    # the owner cannot accept for the member
    member_url = f"/image/v2/images/{shared}/members/{demo_project}"
    assert cloud.request("PUT", member_url, admin, json={"status": "accepted"}).status_code in (200, 403)
    cloud.request("PUT", member_url, admin, json={"status": "pending"})
    assert cloud.request("PUT", member_url, demo, json={"status": "accepted"}).json()["status"] == "accepted"
    assert shared in _listed(cloud, demo)
    assert cloud.request("PUT", member_url, demo, json={"status": "rejected"}).json()["status"] == "rejected"
    assert shared not in _listed(cloud, demo)
    # the member may not add others or remove itself; the owner removes it
    assert (
        cloud.request("POST", f"/image/v2/images/{shared}/members", demo, json={"member": "someone"}).status_code == 403
    )
    assert cloud.request("DELETE", member_url, admin).status_code == 204
    assert cloud.request("GET", f"/image/v2/images/{shared}", demo).status_code == 404


def test_members_only_on_shared_images(cloud, unique):
    admin = cloud.admin_token()
    private = _image(cloud, admin, unique, "private")
    response = cloud.request("POST", f"/image/v2/images/{private}/members", admin, json={"member": "p"})
    assert response.status_code == 403


def test_openstack_cli_shares_an_image(cloud, unique):
    demo_project = json.loads(
        cloud.openstack("stratus", "project", "show", "demo", "-f", "json", check=False).stdout or "{}"
    ).get("id")
    if demo_project is None:  # a member cannot look projects up by name; ask the admin
        demo_project = json.loads(cloud.openstack("stratus-admin", "project", "show", "demo", "-f", "json").stdout)[
            "id"
        ]
    image = json.loads(cloud.openstack("stratus-admin", "image", "create", "--shared", unique, "-f", "json").stdout)
    cloud.openstack("stratus-admin", "image", "add", "project", image["id"], demo_project)
    cloud.openstack("stratus", "image", "set", "--accept", image["id"])
    members = json.loads(cloud.openstack("stratus-admin", "image", "member", "list", image["id"], "-f", "json").stdout)
    assert [(m["Member ID"], m["Status"]) for m in members] == [(demo_project, "accepted")]
    listed = json.loads(cloud.openstack("stratus", "image", "list", "-f", "json").stdout)
    assert image["id"] in {i["ID"] for i in listed}
