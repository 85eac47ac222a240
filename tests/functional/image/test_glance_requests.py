"""Requests shaped as Tempest's image client sends them: the older JSON-patch media type, empty image ids,
(de)activation by the owner, protected images, owner changes and Glance's reserved ``os_glance_*`` namespace."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.functional

V20 = {"Content-Type": "application/openstack-images-v2.0-json-patch"}
V21 = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def _create(cloud, token: str, **attributes) -> dict:
    response = cloud.request("POST", "/image/v2/images", token, json=attributes)
    assert response.status_code == 201, response.text
    return response.json()


def _patch(cloud, token: str, image_id: str, ops, headers=V20):
    return cloud.request("PATCH", f"/image/v2/images/{image_id}", token, json=ops, headers=headers)


def test_v20_json_patch_adds_replaces_and_removes(cloud, unique):
    token = cloud.demo().get_token()
    image = _create(cloud, token, name=unique)
    patched = _patch(
        cloud, token, image["id"], [{"replace": "/name", "value": f"{unique}-2"}, {"add": "/colour", "value": "blue"}]
    )
    removed = _patch(cloud, token, image["id"], [{"remove": "/colour"}])

    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == f"{unique}-2" and patched.json()["colour"] == "blue"
    assert removed.status_code == 200, removed.text
    assert "colour" not in removed.json()


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "replace", "path": "/name", "value": "x"}],
        [{"replace": "/name", "remove": "/colour", "value": "x"}],
        [{"value": "x"}],
        [{"replace": "name", "value": "x"}],
    ],
)
def test_v20_json_patch_refuses_malformed_operations(cloud, unique, ops):
    token = cloud.demo().get_token()
    image = _create(cloud, token, name=unique)
    response = _patch(cloud, token, image["id"], ops)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "400 Bad Request"


def test_json_patch_of_unknown_media_type_is_415(cloud, unique):
    token = cloud.demo().get_token()
    image = _create(cloud, token, name=unique)
    response = _patch(cloud, token, image["id"], [], headers={"Content-Type": "application/json-patch+json"})
    assert response.status_code == 415


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH"])
def test_empty_image_id_is_404_not_the_list(cloud, method):
    token = cloud.demo().get_token()
    kwargs = {"json": [], "headers": V20} if method == "PATCH" else {}
    response = cloud.request(method, "/image/v2/images/", token, **kwargs)
    assert response.status_code == 404, response.text
    assert cloud.request("GET", "/image/v2/images", token).status_code == 200


def test_only_admins_and_the_owner_project_deactivate(cloud, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    image = _create(cloud, admin, name=unique, visibility="public", disk_format="raw", container_format="bare")
    uploaded = cloud.request(
        "PUT",
        f"/image/v2/images/{image['id']}/file",
        admin,
        data=b"x" * 512,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 204, uploaded.text
    path = f"/image/v2/images/{image['id']}/actions"

    assert cloud.request("POST", f"{path}/deactivate", demo).status_code == 403
    assert cloud.request("POST", f"{path}/deactivate", admin).status_code == 204
    assert cloud.request("GET", f"/image/v2/images/{image['id']}", demo).json()["status"] == "deactivated"
    assert cloud.request("GET", f"/image/v2/images/{image['id']}/file", demo).status_code == 403
    assert cloud.request("POST", f"{path}/reactivate", demo).status_code == 403
    assert cloud.request("POST", f"{path}/reactivate", admin).status_code == 204
    assert cloud.request("DELETE", f"/image/v2/images/{image['id']}", admin).status_code == 204


def test_queued_image_cannot_be_deactivated(cloud, unique):
    token = cloud.demo().get_token()
    image = _create(cloud, token, name=unique)
    response = cloud.request("POST", f"/image/v2/images/{image['id']}/actions/deactivate", token)
    assert response.status_code == 400, response.text


def test_protected_image_is_deleted_after_unprotecting_with_v20_patch(cloud, unique):
    token = cloud.demo().get_token()
    image = _create(cloud, token, name=unique, protected=True)
    assert cloud.request("DELETE", f"/image/v2/images/{image['id']}", token).status_code == 403

    unprotected = _patch(cloud, token, image["id"], [{"replace": "/protected", "value": False}])

    assert unprotected.status_code == 200, unprotected.text
    assert unprotected.json()["protected"] is False
    assert cloud.request("DELETE", f"/image/v2/images/{image['id']}", token).status_code == 204


def test_admin_changes_owner_and_members_cannot(cloud, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    image = _create(cloud, admin, name=unique, owner="0" * 32)
    changed = _patch(cloud, admin, image["id"], [{"replace": "/owner", "value": "1" * 32}])
    assert changed.status_code == 200, changed.text
    assert cloud.request("GET", f"/image/v2/images/{image['id']}", admin).json()["owner"] == "1" * 32

    own = _create(cloud, demo, name=unique)
    refused = _patch(cloud, demo, own["id"], [{"replace": "/owner", "value": "1" * 32}])
    assert refused.status_code == 403, refused.text
    assert cloud.request("DELETE", f"/image/v2/images/{image['id']}", admin).status_code == 204


def test_os_glance_properties_are_reserved(cloud, unique):
    token = cloud.demo().get_token()
    created = cloud.request("POST", "/image/v2/images", token, json={"name": unique, "os_glance_foo": "bar"})
    assert created.status_code == 403, created.text

    image = _create(cloud, token, name=unique)
    for ops, headers in (
        ([{"add": "/os_glance_foo", "value": "bar"}], V20),
        ([{"op": "add", "path": "/os_glance_import_task", "value": "x"}], V21),
        ([{"remove": "/os_glance_foo"}], V20),
    ):
        response = _patch(cloud, token, image["id"], ops, headers=headers)
        assert response.status_code == 403, response.text


def test_metadef_schemas_are_published(cloud):
    token = cloud.demo().get_token()
    names = {
        "namespace": "namespace",
        "namespaces": "namespaces",
        "resource_type": "resource_type_association",
        "resource_types": "resource_type_associations",
        "object": "object",
        "objects": "objects",
        "property": "property",
        "properties": "properties",
        "tag": "tag",
        "tags": "tags",
    }
    for path, name in names.items():
        response = cloud.request("GET", f"/image/v2/schemas/metadefs/{path}", token)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["name"] == name
    assert cloud.request("GET", "/image/v2/schemas/metadefs/nothing", token).status_code == 404
