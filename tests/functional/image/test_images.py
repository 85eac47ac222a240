"""Image records over real HTTP: create, patch, list, delete, and Glance's answers to bad requests."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.functional

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def _create(cloud, token: str, **attributes) -> dict:
    response = cloud.request("POST", "/image/v2/images", token, json=attributes)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_shows_every_glance_attribute(cloud, unique):
    image = _create(
        cloud,
        cloud.demo().get_token(),
        name=unique,
        disk_format="qcow2",
        container_format="bare",
        ramdisk_id="r-1",
        kernel_id="k-1",
        tags=["a", "b"],
        min_ram=64,
    )
    for key in (
        "id",
        "name",
        "status",
        "visibility",
        "protected",
        "os_hidden",
        "owner",
        "disk_format",
        "container_format",
        "size",
        "virtual_size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "min_disk",
        "min_ram",
        "tags",
        "created_at",
        "updated_at",
        "self",
        "file",
        "schema",
    ):
        assert key in image, key
    assert image["status"] == "queued" and image["visibility"] == "shared" and image["size"] is None
    assert image["ramdisk_id"] == "r-1" and image["kernel_id"] == "k-1" and image["tags"] == ["a", "b"]
    assert image["self"] == f"/v2/images/{image['id']}" and image["created_at"].endswith("Z")


def test_json_patch_adds_replaces_and_removes(cloud, unique):
    token = cloud.demo().get_token()
    image = _create(cloud, token, name=unique, disk_format="raw", container_format="bare")
    ops = [
        {"op": "replace", "path": "/name", "value": f"{unique}-2"},
        {"op": "add", "path": "/colour", "value": "blue"},
        {"op": "add", "path": "/owner_specified.openstack.md5", "value": ""},
        {"op": "replace", "path": "/tags", "value": ["x"]},
    ]
    patched = cloud.request("PATCH", f"/image/v2/images/{image['id']}", token, json=ops, headers=PATCH)
    removed = cloud.request(
        "PATCH", f"/image/v2/images/{image['id']}", token, json=[{"op": "remove", "path": "/colour"}], headers=PATCH
    )

    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == f"{unique}-2" and body["colour"] == "blue" and body["tags"] == ["x"]
    assert "colour" not in removed.json()


@pytest.mark.parametrize(
    ("ops", "status"),
    [
        ([{"op": "replace", "path": "/status", "value": "active"}], 403),
        ([{"op": "replace", "path": "/size", "value": 3}], 403),
        ([{"op": "add", "path": "/locations", "value": "x"}], 403),
        ([{"op": "remove", "path": "/name"}], 403),
        ([{"op": "remove", "path": "/no-such-property"}], 409),
        ([{"op": "replace", "path": "/min_ram", "value": "lots"}], 400),
        ([{"op": "replace", "path": "/disk_format", "value": "floppy"}], 400),
        ([{"op": "move", "path": "/name"}], 400),
        ({"op": "replace"}, 400),
    ],
)
def test_bad_patches_get_glance_status_codes(cloud, unique, ops, status):
    token = cloud.demo().get_token()
    image = _create(cloud, token, name=unique)
    response = cloud.request("PATCH", f"/image/v2/images/{image['id']}", token, json=ops, headers=PATCH)
    assert response.status_code == status, response.text
    assert response.json()["message"]


def test_patch_needs_the_json_patch_media_type(cloud, unique):
    token = cloud.demo().get_token()
    image = _create(cloud, token, name=unique)
    response = cloud.request("PATCH", f"/image/v2/images/{image['id']}", token, json=[])
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"disk_format": "floppy"}, 400, "disk_format"),
        ({"min_disk": -1}, 400, "min_disk"),
        ({"name": "x" * 256}, 400, "name"),
        ({"status": "active"}, 403, "status"),
        ({"size": 10}, 403, "size"),
        ({"visibility": "public"}, 403, "publicize"),
        ({"colour": 3}, 400, "colour"),
        ({"id": "not-a-uuid"}, 400, "id"),
    ],
)
def test_bad_create_bodies_name_the_problem(cloud, body, status, named):
    response = cloud.request("POST", "/image/v2/images", cloud.demo().get_token(), json=body)
    assert response.status_code == status, response.text
    assert named in response.json()["message"]


def test_protected_images_cannot_be_deleted_until_unprotected(cloud, unique):
    token = cloud.demo().get_token()
    image = _create(cloud, token, name=unique, protected=True)
    refused = cloud.request("DELETE", f"/image/v2/images/{image['id']}", token)
    cloud.request(
        "PATCH",
        f"/image/v2/images/{image['id']}",
        token,
        json=[{"op": "replace", "path": "/protected", "value": False}],
        headers=PATCH,
    )
    deleted = cloud.request("DELETE", f"/image/v2/images/{image['id']}", token)
    assert refused.status_code == 403 and deleted.status_code == 204
    assert cloud.request("GET", f"/image/v2/images/{image['id']}", token).status_code == 404


def test_list_filters_sorts_and_paginates_with_next_links(cloud, unique):
    token = cloud.demo().get_token()
    ids = [
        _create(cloud, token, name=f"{unique}-{i}", disk_format="raw", container_format="bare", tags=[unique])["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    url = f"/image/v2/images?tag={unique}&limit=2&sort_key=name&sort_dir=asc"
    while url:
        page = cloud.request("GET", url.replace("/v2/", "/image/v2/", 1) if url.startswith("/v2/") else url, token)
        body = page.json()
        seen += [i["id"] for i in body["images"]]
        url = body.get("next")
    assert seen == ids
    by_name = cloud.request("GET", f"/image/v2/images?name={unique}-3", token).json()["images"]
    assert [i["id"] for i in by_name] == [ids[3]]
    assert cloud.request("GET", "/image/v2/images?marker=nope", token).status_code == 400
    assert cloud.request("GET", "/image/v2/images?sort_key=colour", token).status_code == 400
    assert cloud.request("GET", "/image/v2/images?limit=-1", token).status_code == 400


def test_list_filters_on_custom_properties(cloud, unique):
    token = cloud.demo().get_token()
    wanted = _create(cloud, token, name=unique, flavour=unique)
    _create(cloud, token, name=unique, flavour="other")
    found = cloud.request("GET", f"/image/v2/images?flavour={unique}", token).json()["images"]
    assert [i["id"] for i in found] == [wanted["id"]]


def test_deactivated_image_cannot_be_downloaded_by_its_owner(cloud, unique):
    token = cloud.demo().get_token()
    image = _create(cloud, token, name=unique, disk_format="raw", container_format="bare")
    cloud.request(
        "PUT",
        f"/image/v2/images/{image['id']}/file",
        token,
        data=b"d" * 1024,
        headers={"Content-Type": "application/octet-stream"},
    )
    admin = cloud.admin_token()
    # Glance's secure-RBAC default: admins and members of the owning project (de)activate.
    assert cloud.request("POST", f"/image/v2/images/{image['id']}/actions/deactivate", token).status_code == 204
    assert cloud.request("GET", f"/image/v2/images/{image['id']}", token).json()["status"] == "deactivated"
    assert cloud.request("GET", f"/image/v2/images/{image['id']}/file", token).status_code == 403
    assert cloud.request("GET", f"/image/v2/images/{image['id']}/file", admin).status_code == 200
    assert cloud.request("POST", f"/image/v2/images/{image['id']}/actions/reactivate", token).status_code == 204
    assert cloud.request("GET", f"/image/v2/images/{image['id']}/file", token).content == b"d" * 1024


def test_tags_can_be_added_and_removed(cloud, unique):
    token = cloud.demo().get_token()
    image = _create(cloud, token, name=unique)
    assert cloud.request("PUT", f"/image/v2/images/{image['id']}/tags/green", token).status_code == 204
    assert cloud.request("GET", f"/image/v2/images/{image['id']}", token).json()["tags"] == ["green"]
    assert cloud.request("DELETE", f"/image/v2/images/{image['id']}/tags/green", token).status_code == 204
    assert cloud.request("DELETE", f"/image/v2/images/{image['id']}/tags/green", token).status_code == 404


def test_schemas_are_published(cloud):
    token = cloud.demo().get_token()
    for name in ("image", "images", "member", "members"):
        schema = cloud.request("GET", f"/image/v2/schemas/{name}", token).json()
        assert schema["name"] == name
    assert "disk_format" in cloud.request("GET", "/image/v2/schemas/image", token).json()["properties"]


def test_reader_may_list_but_not_create_images(cloud, unique):
    admin = cloud.admin_token()
    user = cloud.request("POST", "/identity/v3/users", admin, json={"user": {"name": unique, "password": "pw"}})
    user_id = user.json()["user"]["id"]
    reader = cloud.request("GET", "/identity/v3/roles?name=reader", admin).json()["roles"][0]["id"]
    demo = cloud.request("GET", "/identity/v3/projects?name=demo", admin).json()["projects"][0]["id"]
    cloud.request("PUT", f"/identity/v3/projects/{demo}/users/{user_id}/roles/{reader}", admin)
    token = cloud.session(unique, "pw", project="demo").get_token()

    assert cloud.request("GET", "/image/v2/images", token).status_code == 200
    refused = cloud.request("POST", "/image/v2/images", token, json={"name": unique})
    assert refused.status_code == 403 and refused.json()["title"] == "Forbidden"


def test_a_marker_of_an_image_the_caller_cannot_see_is_a_missing_marker(cloud, unique):
    """Issue 11 item 5: paging starts only from an image the caller may list; another project's private image
    answers exactly as an id that is no image, whatever the sort."""
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    hidden = _create(cloud, admin, name=unique, disk_format="raw", container_format="bare")["id"]
    missing = "5d1f0a7e-0000-4000-8000-000000000000"
    for sort in ("", "&sort_key=name&sort_dir=asc", "&sort=size:desc"):
        invisible = cloud.request("GET", f"/image/v2/images?limit=1&marker={hidden}{sort}", demo)
        absent = cloud.request("GET", f"/image/v2/images?limit=1&marker={missing}{sort}", demo)
        assert (invisible.status_code, absent.status_code) == (400, 400), invisible.text
        assert invisible.text.replace(hidden, missing) == absent.text
    assert cloud.request("GET", f"/image/v2/images?limit=1&marker={hidden}", admin).status_code == 200
    cloud.request("DELETE", f"/image/v2/images/{hidden}", admin)
