"""Glance's metadata definitions (metadefs): namespaces, objects, properties, tags and resource types, as Glance
serves them and as Tempest's metadefs tests and the openstack CLI drive them."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.functional

NS = "/image/v2/metadefs/namespaces"


def _project_id(cloud, token: str, name: str) -> str:
    return cloud.request("GET", f"/identity/v3/projects?name={name}", token).json()["projects"][0]["id"]


def _create(cloud, token: str, name: str, expect: int = 201, **body):
    response = cloud.request("POST", NS, token, json={"namespace": name, **body})
    assert response.status_code == expect, response.text
    return response.json()


def _unprotect(cloud, token: str, name: str) -> None:
    response = cloud.request("PUT", f"{NS}/{name}", token, json={"namespace": name, "protected": False})
    assert response.status_code == 200, response.text


def _glance_fault(response, status: int) -> None:
    """Glance answers errors with webob's body: the status line as ``code``, a title and a message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"].startswith(str(status)) and body["title"] and body["message"], body


@pytest.mark.both_databases  # unique names, cascades and the seed rest on the database
def test_stratus_namespaces_are_seeded_public_protected_and_true(cloud):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    listed = cloud.request("GET", f"{NS}?limit=1000", demo).json()["namespaces"]
    names = {n["namespace"] for n in listed}
    assert {"OS::Stratus::Scheduling", "OS::Stratus::Snapshot"} <= names

    shown = cloud.request("GET", f"{NS}/OS::Stratus::Scheduling", demo).json()
    assert shown["visibility"] == "public" and shown["protected"] is True
    assert set(shown["properties"]) == {"architecture"}, "only what the scheduler reads is described"
    assert {a["name"] for a in shown["resource_type_associations"]} == {"OS::Glance::Image", "OS::Cinder::Volume"}
    snapshot = cloud.request("GET", f"{NS}/OS::Stratus::Snapshot", demo).json()
    assert snapshot["properties"]["image_type"]["enum"] == ["snapshot"]
    assert all(p["readonly"] for p in snapshot["properties"].values())

    _glance_fault(cloud.request("DELETE", f"{NS}/OS::Stratus::Scheduling", admin), 403)
    _glance_fault(cloud.request("DELETE", f"{NS}/OS::Stratus::Scheduling/properties/architecture", admin), 403)
    volume_ones = cloud.request("GET", f"{NS}?resource_types=OS::Cinder::Volume&limit=1000", demo).json()
    volume_names = {n["namespace"] for n in volume_ones["namespaces"]}
    assert "OS::Stratus::Scheduling" in volume_names and "OS::Stratus::Snapshot" not in volume_names

    types = cloud.request("GET", "/image/v2/metadefs/resource_types", demo).json()["resource_types"]
    assert {"OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor"} <= {t["name"] for t in types}
    assert all(t["created_at"].endswith("Z") for t in types)


@pytest.mark.both_databases  # unique names, cascades and the seed rest on the database
def test_namespace_lifecycle_as_tempest_drives_it(cloud, unique):
    admin = cloud.admin_token()
    resource_type = cloud.request("GET", "/image/v2/metadefs/resource_types", admin).json()["resource_types"][0]
    response = cloud.request(
        "POST",
        NS,
        admin,
        json={
            "namespace": unique,
            "visibility": "public",
            "description": "Tempest",
            "display_name": unique,
            "resource_type_associations": [{"name": resource_type["name"]}],
            "protected": True,
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"].endswith(f"/image/v2/metadefs/namespaces/{unique}")
    created = response.json()
    assert created["self"] == f"/v2/metadefs/namespaces/{unique}"
    assert created["schema"] == "/v2/schemas/metadefs/namespace"
    assert created["owner"] == _project_id(cloud, admin, "admin")
    assert created["resource_type_associations"][0]["name"] == resource_type["name"]

    assert unique in {n["namespace"] for n in cloud.request("GET", NS, admin).json()["namespaces"]}, "newest first"
    assert cloud.request("GET", f"{NS}/{unique}", admin).json()["visibility"] == "public"
    _glance_fault(cloud.request("DELETE", f"{NS}/{unique}", admin), 403)

    update = {"namespace": unique, "description": "Tempest", "visibility": "private", "display_name": unique}
    updated = cloud.request("PUT", f"{NS}/{unique}", admin, json={**update, "protected": False})
    assert updated.status_code == 200, updated.text
    assert updated.json()["visibility"] == "private" and updated.json()["protected"] is False
    assert cloud.request("DELETE", f"{NS}/{unique}", admin).status_code == 204
    _glance_fault(cloud.request("GET", f"{NS}/{unique}", admin), 404)


def test_namespace_put_replaces_its_attributes_and_renames_it(cloud, unique):
    admin = cloud.admin_token()
    _create(cloud, admin, unique, display_name="Shown", description="Said", visibility="public", tags=[{"name": "t"}])
    _create(cloud, admin, f"{unique}-other")
    renamed = cloud.request("PUT", f"{NS}/{unique}", admin, json={"namespace": f"{unique}-new"})
    assert renamed.status_code == 200, renamed.text
    body = renamed.json()
    assert body["visibility"] == "private" and body["protected"] is False
    assert "display_name" not in body and "description" not in body, "Glance: what a PUT leaves out is unset"
    assert cloud.request("GET", f"{NS}/{unique}-new", admin).json()["tags"] == [{"name": "t"}], "contents kept"
    _glance_fault(cloud.request("PUT", f"{NS}/{unique}-new", admin, json={"namespace": f"{unique}-other"}), 409)
    _create(cloud, admin, f"{unique}-other", expect=409)


def test_hostile_namespace_bodies_are_refused_with_nothing_stored(cloud, unique):
    admin = cloud.admin_token()
    for body in (
        {"namespace": ""},
        {"namespace": "a/b"},
        {"namespace": "x" * 81},
        {"namespace": "ctl\u0001"},
        {"namespace": unique, "visibility": "shared"},
        {"namespace": unique, "protected": "yes"},
        {"namespace": unique, "description": "d" * 501},
        {"namespace": unique, "surprise": 1},
        {"namespace": unique, "properties": {"p": {"title": "P", "type": "float"}}},
        {"namespace": unique, "tags": [{"name": "t"}, {"name": "t"}]},
        {"namespace": 7},
        [],
    ):
        response = cloud.request("POST", NS, admin, json=body)
        assert response.status_code in (400, 409), (body, response.text)
        _glance_fault(response, response.status_code)
    _glance_fault(cloud.request("POST", NS, admin, json={"namespace": unique, "created_at": "now"}), 403)
    _glance_fault(cloud.request("POST", NS, admin, data="{not json", headers={"Content-Type": "application/json"}), 400)
    _glance_fault(cloud.request("GET", f"{NS}/{unique}", admin), 404)


def test_private_namespace_of_another_project_is_404_and_members_cannot_write(cloud, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    _create(cloud, admin, unique, visibility="private", properties={"p": {"title": "P", "type": "string"}})
    for method, path in (
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("GET", "/properties"),
        ("GET", "/properties/p"),
        ("GET", "/objects"),
        ("GET", "/tags"),
        ("GET", "/resource_types"),
        ("DELETE", "/properties"),
        ("POST", "/tags/t"),
    ):
        response = cloud.request(method, f"{NS}/{unique}{path}", demo, json={"namespace": unique})
        _glance_fault(response, 404)
    assert unique not in {n["namespace"] for n in cloud.request("GET", f"{NS}?limit=1000", demo).json()["namespaces"]}

    demo_project = _project_id(cloud, admin, "demo")
    _create(cloud, admin, f"{unique}-theirs", visibility="private", owner=demo_project)
    assert cloud.request("GET", f"{NS}/{unique}-theirs", demo).json()["owner"] == demo_project
    _glance_fault(cloud.request("PUT", f"{NS}/{unique}-theirs", demo, json={"namespace": f"{unique}-theirs"}), 403)
    _glance_fault(cloud.request("POST", NS, demo, json={"namespace": f"{unique}-mine"}), 403)
    _glance_fault(cloud.request("POST", f"{NS}/OS::Stratus::Scheduling/tags/mine", demo), 403)
    assert cloud.request("GET", f"{NS}/{unique}", None).status_code == 401


def test_objects_are_validated_json_schema_fragments(cloud, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    _create(cloud, admin, unique, visibility="public")
    cpu = {
        "name": "CPU Limits",
        "description": "Limits",
        "required": ["quota:cpu_period"],
        "properties": {"quota:cpu_period": {"title": "Period", "type": "integer", "minimum": 1000, "maximum": 10**6}},
    }
    created = cloud.request("POST", f"{NS}/{unique}/objects", admin, json=cpu)
    assert created.status_code == 201, created.text
    assert created.json()["self"] == f"/v2/metadefs/namespaces/{unique}/objects/CPU Limits"
    assert created.json()["properties"]["quota:cpu_period"]["maximum"] == 10**6
    _glance_fault(cloud.request("POST", f"{NS}/{unique}/objects", admin, json=cpu), 409)
    shown = cloud.request("GET", f"{NS}/{unique}/objects/CPU Limits", demo).json()
    assert shown["required"] == ["quota:cpu_period"] and shown["schema"] == "/v2/schemas/metadefs/object"

    for bad in (
        {"name": "o", "required": ["missing"]},
        {"name": "o", "properties": {"p": {"type": "string"}}},
        {"name": "o", "properties": {"p": {"title": "P", "type": "integer", "minimum": 5, "maximum": 1}}},
        {"name": "o", "properties": {"p": {"title": "P", "type": "string", "pattern": "(unclosed"}}},
        {"name": "o", "properties": "not a map"},
        {"name": "x" * 256},
        {"description": "no name"},
    ):
        _glance_fault(cloud.request("POST", f"{NS}/{unique}/objects", admin, json=bad), 400)
    _glance_fault(cloud.request("POST", f"{NS}/{unique}/objects", demo, json={"name": "o"}), 403)

    updated = cloud.request("PUT", f"{NS}/{unique}/objects/CPU Limits", admin, json={"name": "CPU"})
    assert updated.status_code == 200 and updated.json()["name"] == "CPU", updated.text
    listed = cloud.request("GET", f"{NS}/{unique}/objects", admin).json()["objects"]
    assert [o["name"] for o in listed] == ["CPU"]
    assert cloud.request("DELETE", f"{NS}/{unique}/objects/CPU", admin).status_code == 204
    _glance_fault(cloud.request("GET", f"{NS}/{unique}/objects/CPU", admin), 404)
    cloud.request("POST", f"{NS}/{unique}/objects", admin, json={"name": "a"})
    assert cloud.request("DELETE", f"{NS}/{unique}/objects", admin).status_code == 204
    assert cloud.request("GET", f"{NS}/{unique}/objects", admin).json()["objects"] == []


def test_properties_as_tempest_drives_them_and_incoherent_definitions_are_400(cloud, unique):
    admin = cloud.admin_token()
    _create(cloud, admin, unique)
    name = "OS::Glance::Image"
    enum = ["xen", "qemu", "kvm"]
    assert cloud.request("POST", f"{NS}/{unique}/resource_types", admin, json={"name": name}).status_code == 201
    created = cloud.request(
        "POST", f"{NS}/{unique}/properties", admin, json={"name": name, "title": "T", "type": "string", "enum": enum}
    )
    assert created.status_code == 201, created.text
    assert created.json() == {"name": name, "title": "T", "type": "string", "enum": enum}
    assert cloud.request("GET", f"{NS}/{unique}/properties/{name}", admin).json()["name"] == name
    body = {"name": name, "title": "T2", "type": "string", "enum": enum}
    assert cloud.request("PUT", f"{NS}/{unique}/properties/{name}", admin, json=body).json()["title"] == "T2"
    listed = cloud.request("GET", f"{NS}/{unique}/properties", admin).json()
    assert listed == {"properties": {name: {"title": "T2", "type": "string", "enum": enum}}}
    again = {"name": name, "title": "T", "type": "string"}
    _glance_fault(cloud.request("POST", f"{NS}/{unique}/properties", admin, json=again), 409)

    for bad in (
        {"name": "p", "title": "P", "type": "float"},
        {"name": "p", "type": "string"},
        {"name": "p", "title": "P"},
        {"name": "", "title": "P", "type": "string"},
        {"name": "p", "title": "P", "type": "integer", "enum": [1, "two"]},
        {"name": "p", "title": "P", "type": "string", "enum": ["a"], "default": "b"},
        {"name": "p", "title": "P", "type": "integer", "default": True},
        {"name": "p", "title": "P", "type": "integer", "minimum": 3, "default": 1},
        {"name": "p", "title": "P", "type": "string", "minLength": 3, "maxLength": 1},
        {"name": "p", "title": "P", "type": "string", "pattern": "["},
        {"name": "p", "title": "P", "type": "string", "minLength": -1},
        {"name": "p", "title": "P", "type": "array", "items": {"type": "integer", "enum": ["x"]}},
        {"name": "p", "title": "P", "type": "string", "readonly": "no"},
        {"name": "p", "title": "P", "type": "string", "description": "d" * 9000},
        {"name": "p", "title": "P", "type": "string", "unknown": 1},
    ):
        _glance_fault(cloud.request("POST", f"{NS}/{unique}/properties", admin, json=bad), 400)

    assert cloud.request("DELETE", f"{NS}/{unique}/properties/{name}", admin).status_code == 204
    assert cloud.request("GET", f"{NS}/{unique}/properties", admin).json() == {"properties": {}}
    _glance_fault(cloud.request("DELETE", f"{NS}/{unique}/properties/{name}", admin), 404)


def test_property_names_with_a_resource_type_prefix(cloud, unique):
    admin = cloud.admin_token()
    _create(
        cloud,
        admin,
        unique,
        resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "hw_"}],
        properties={"disk_bus": {"title": "Disk bus", "type": "string"}},
    )
    shown = cloud.request("GET", f"{NS}/{unique}?resource_type=OS::Glance::Image", admin).json()
    assert set(shown["properties"]) == {"hw_disk_bus"}
    prop = cloud.request("GET", f"{NS}/{unique}/properties/hw_disk_bus?resource_type=OS::Glance::Image", admin)
    assert prop.status_code == 200 and prop.json()["name"] == "hw_disk_bus", prop.text
    assert cloud.request("GET", f"{NS}/{unique}/properties/hw_disk_bus", admin).status_code == 404


@pytest.mark.both_databases  # unique names, cascades and the seed rest on the database
def test_tags_as_tempest_drives_them_with_append_semantics(cloud, unique):
    admin = cloud.admin_token()
    _create(cloud, admin, unique)
    three = {"tags": [{"name": "sample-tag1"}, {"name": "sample-tag2"}, {"name": "sample-tag3"}]}
    created = cloud.request("POST", f"{NS}/{unique}/tags", admin, json=three)
    assert created.status_code == 201 and created.json() == three, created.text
    listed = cloud.request("GET", f"{NS}/{unique}/tags", admin).json()["tags"]
    assert sorted(t["name"] for t in listed) == ["sample-tag1", "sample-tag2", "sample-tag3"]

    appended = cloud.request(
        "POST", f"{NS}/{unique}/tags", admin, json={"tags": [{"name": "four"}]}, headers={"X-Openstack-Append": "True"}
    )
    assert appended.status_code == 201, appended.text
    assert len(cloud.request("GET", f"{NS}/{unique}/tags", admin).json()["tags"]) == 4
    taken = {"tags": [{"name": "four"}]}
    _glance_fault(
        cloud.request("POST", f"{NS}/{unique}/tags", admin, json=taken, headers={"X-Openstack-Append": "true"}), 409
    )
    replaced = cloud.request("POST", f"{NS}/{unique}/tags", admin, json={"tags": [{"name": "only"}]})
    assert replaced.status_code == 201
    assert [t["name"] for t in cloud.request("GET", f"{NS}/{unique}/tags", admin).json()["tags"]] == ["only"]
    twice = {"tags": [{"name": "d"}, {"name": "d"}]}
    _glance_fault(cloud.request("POST", f"{NS}/{unique}/tags", admin, json=twice), 409)
    assert [t["name"] for t in cloud.request("GET", f"{NS}/{unique}/tags", admin).json()["tags"]] == ["only"]

    one = cloud.request("POST", f"{NS}/{unique}/tags/tag_name", admin, headers={"Content-Type": "application/json"})
    assert one.status_code == 201 and one.json()["name"] == "tag_name", one.text
    assert set(one.json()) == {"name", "created_at", "updated_at"}
    _glance_fault(cloud.request("POST", f"{NS}/{unique}/tags/tag_name", admin), 409)
    _glance_fault(cloud.request("POST", f"{NS}/{unique}/tags/{'t' * 256}", admin), 400)
    renamed = cloud.request("PUT", f"{NS}/{unique}/tags/tag_name", admin, json={"name": "update-tag"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "update-tag", renamed.text
    _glance_fault(cloud.request("PUT", f"{NS}/{unique}/tags/update-tag", admin, json={"name": "only"}), 409)
    assert cloud.request("GET", f"{NS}/{unique}/tags/update-tag", admin).json()["name"] == "update-tag"
    assert cloud.request("DELETE", f"{NS}/{unique}/tags/update-tag", admin).status_code == 204
    _glance_fault(cloud.request("GET", f"{NS}/{unique}/tags/update-tag", admin), 404)
    assert cloud.request("DELETE", f"{NS}/{unique}/tags", admin).status_code == 204
    assert cloud.request("GET", f"{NS}/{unique}/tags", admin).json() == {"tags": []}


@pytest.mark.both_databases  # unique names, cascades and the seed rest on the database
def test_resource_type_associations(cloud, unique):
    admin = cloud.admin_token()
    _create(cloud, admin, unique)
    new_type = f"OS::Test::{unique}"[:80]
    association = {"name": new_type, "prefix": "t_", "properties_target": "image"}
    created = cloud.request("POST", f"{NS}/{unique}/resource_types", admin, json=association)
    assert created.status_code == 201, created.text
    assert {k: created.json()[k] for k in association} == association
    types = cloud.request("GET", "/image/v2/metadefs/resource_types", admin).json()["resource_types"]
    assert new_type in {t["name"] for t in types}, "a new resource type is made by its first association"
    _glance_fault(cloud.request("POST", f"{NS}/{unique}/resource_types", admin, json=association), 409)
    _glance_fault(cloud.request("POST", f"{NS}/{unique}/resource_types", admin, json={"name": "x" * 81}), 400)
    listed = cloud.request("GET", f"{NS}/{unique}/resource_types", admin).json()["resource_type_associations"]
    assert [a["name"] for a in listed] == [new_type]
    only = cloud.request("GET", f"{NS}?resource_types={new_type}", admin).json()["namespaces"]
    assert [n["namespace"] for n in only] == [unique]

    protected = {"namespace": unique, "protected": True}
    assert cloud.request("PUT", f"{NS}/{unique}", admin, json=protected).status_code == 200
    _glance_fault(cloud.request("DELETE", f"{NS}/{unique}/resource_types/{new_type}", admin), 403)
    _glance_fault(cloud.request("DELETE", f"{NS}/{unique}/tags", admin), 403)
    _unprotect(cloud, admin, unique)
    assert cloud.request("DELETE", f"{NS}/{unique}/resource_types/{new_type}", admin).status_code == 204
    _glance_fault(cloud.request("DELETE", f"{NS}/{unique}/resource_types/{new_type}", admin), 404)
    assert cloud.request("GET", f"{NS}/{unique}/resource_types", admin).json() == {"resource_type_associations": []}


def test_namespace_list_pages_sorts_and_filters(cloud, unique):
    admin, demo = cloud.admin_token(), cloud.demo().get_token()
    for suffix in ("a", "b", "c"):
        _create(cloud, admin, f"{unique}-{suffix}", visibility="public", resource_type_associations=[{"name": unique}])
    query = f"resource_types={unique}&sort_key=namespace&sort_dir=asc&limit=2"
    first = cloud.request("GET", f"{NS}?{query}", demo).json()
    assert [n["namespace"] for n in first["namespaces"]] == [f"{unique}-a", f"{unique}-b"]
    assert first["first"] == "/v2/metadefs/namespaces" and first["schema"] == "/v2/schemas/metadefs/namespaces"
    second = cloud.request("GET", "/image" + first["next"], demo).json()
    assert [n["namespace"] for n in second["namespaces"]] == [f"{unique}-c"] and "next" not in second
    private = cloud.request("GET", f"{NS}?resource_types={unique}&visibility=private", admin).json()["namespaces"]
    assert private == []
    for bad in ("limit=-1", "limit=x", "sort_key=owner", "sort_dir=up", "visibility=shared"):
        _glance_fault(cloud.request("GET", f"{NS}?{bad}", demo), 400)
    _glance_fault(cloud.request("GET", f"{NS}?marker={unique}-none", demo), 404)


def test_openstack_cli_manages_metadefs(cloud, unique):
    def run(*args: str) -> str:
        return cloud.openstack("stratus-admin", "image", "metadef", *args).stdout

    def as_json(*args: str):
        return json.loads(run(*args, "-f", "json"))

    created = as_json(
        "namespace",
        "create",
        unique,
        "--display-name",
        "CLI",
        "--description",
        "made by the CLI",
        "--public",
        "--protected",
    )
    assert created["namespace"] == unique
    assert unique in {n["namespace"] for n in as_json("namespace", "list")}
    shown = as_json("namespace", "show", unique)
    assert shown["display_name"] == "CLI" and shown["visibility"] == "public" and shown["protected"] is True
    failed = cloud.openstack("stratus-admin", "image", "metadef", "namespace", "delete", unique, check=False)
    assert failed.returncode != 0, "a protected namespace is not deleted"
    run("namespace", "set", unique, "--description", "changed", "--unprotected", "--public")
    shown = as_json("namespace", "show", unique)
    assert shown["description"] == "changed" and shown["protected"] is False

    prop = as_json(
        "property",
        "create",
        unique,
        "--name",
        "arch",
        "--title",
        "Arch",
        "--type",
        "string",
        "--schema",
        json.dumps({"enum": ["x86_64", "aarch64"]}),
    )
    assert prop["name"] == "arch"
    assert "arch" in {p["name"] for p in as_json("property", "list", unique)}
    assert as_json("property", "show", unique, "arch")["title"] == "Arch"
    run("property", "set", unique, "arch", "--title", "Architecture")
    assert as_json("property", "show", unique, "arch")["title"] == "Architecture"

    obj = as_json("object", "create", "--namespace", unique, "Limits")
    assert obj["name"] == "Limits"
    assert "Limits" in {o["name"] for o in as_json("object", "list", unique)}
    assert as_json("object", "show", unique, "Limits")["name"] == "Limits"
    run("object", "update", unique, "Limits", "--name", "CPU Limits")
    assert as_json("object", "show", unique, "CPU Limits")["name"] == "CPU Limits"

    run("namespace", "set", unique, "--tag", "fast", "--tag", "cheap")
    tags = cloud.request("GET", f"{NS}/{unique}/tags", cloud.admin_token()).json()["tags"]
    assert sorted(t["name"] for t in tags) == ["cheap", "fast"]
    run("namespace", "unset", unique, "--tag", "fast")
    assert [t["name"] for t in cloud.request("GET", f"{NS}/{unique}/tags", cloud.admin_token()).json()["tags"]] == [
        "cheap"
    ]
    run("namespace", "unset", unique, "--all-tags")
    assert cloud.request("GET", f"{NS}/{unique}/tags", cloud.admin_token()).json()["tags"] == []

    types = {t["Name"] for t in as_json("resource", "type", "list")}
    assert "OS::Glance::Image" in types
    run("resource", "type", "association", "create", unique, "OS::Glance::Image")
    associations = as_json("resource", "type", "association", "list", unique)
    assert "OS::Glance::Image" in json.dumps(associations)
    run("resource", "type", "association", "delete", unique, "OS::Glance::Image")

    run("object", "delete", unique, "CPU Limits")
    run("property", "delete", unique, "arch")
    run("namespace", "delete", unique)
    gone = cloud.openstack("stratus-admin", "image", "metadef", "namespace", "show", unique, check=False)
    assert gone.returncode != 0
