"""Regions, services and endpoints made through /v3: Keystone's shapes and codes, the token catalog, the CLI.

Every test deletes what it made: other tests of the session count the built-in catalog exactly.
"""

from __future__ import annotations

import json

import pytest

# On PostgreSQL too: the writes lock rows (a service or region being deleted against an endpoint being added).
pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

V3 = "/identity/v3"


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status
    return error["message"]


def _service(cloud, token: str, unique: str, **fields) -> dict:
    body = {"type": f"type-{unique}", "name": f"svc-{unique}", **fields}
    return _ok(cloud.request("POST", f"{V3}/services", token, json={"service": body}), 201)["service"]


def _endpoint(cloud, token: str, **fields) -> dict:
    return _ok(cloud.request("POST", f"{V3}/endpoints", token, json={"endpoint": fields}), 201)["endpoint"]


def _delete(cloud, token: str, kind: str, item_id: str) -> None:
    cloud.request("DELETE", f"{V3}/{kind}/{item_id}", token)


def _catalog_entry(catalog: list[dict], service_id: str) -> dict | None:
    return next((s for s in catalog if s["id"] == service_id), None)


def test_region_crud_with_parent_and_chosen_id(cloud, unique):
    token = cloud.admin_token()
    parent = _ok(cloud.request("POST", f"{V3}/regions", token, json={"region": {"description": "p"}}), 201)["region"]
    child_id = f"child-{unique}"
    child = _ok(
        cloud.request(
            "PUT", f"{V3}/regions/{child_id}", token, json={"region": {"parent_region_id": parent["id"], "x": 1}}
        ),
        201,
    )["region"]
    try:
        assert len(parent["id"]) == 32 and parent["description"] == "p" and parent["parent_region_id"] is None
        assert child["id"] == child_id and child["parent_region_id"] == parent["id"] and child["x"] == 1
        assert child["links"]["self"].endswith(f"/identity/v3/regions/{child_id}")
        listed = _ok(cloud.request("GET", f"{V3}/regions", token))["regions"]
        assert child in listed and parent in listed
        assert listed[0]["id"] == "RegionOne"
        by_parent = _ok(cloud.request("GET", f"{V3}/regions?parent_region_id={parent['id']}", token))["regions"]
        assert by_parent == [child]

        updated = _ok(
            cloud.request("PATCH", f"{V3}/regions/{child_id}", token, json={"region": {"description": "new"}})
        )["region"]
        assert updated["description"] == "new" and updated["parent_region_id"] == parent["id"]
        assert _ok(cloud.request("GET", f"{V3}/regions/{child_id}", token))["region"] == updated
    finally:
        _delete(cloud, token, "regions", child_id)
        _delete(cloud, token, "regions", parent["id"])
    assert cloud.request("GET", f"{V3}/regions/{child_id}", token).status_code == 404


def test_region_duplicate_id_is_409_and_builtin_region_id_is_taken(cloud, unique):
    token = cloud.admin_token()
    region_id = f"dup-{unique}"
    _ok(cloud.request("PUT", f"{V3}/regions/{region_id}", token, json={"region": {}}), 201)
    try:
        again = cloud.request("POST", f"{V3}/regions", token, json={"region": {"id": region_id}})
        assert "Duplicate ID" in _error(again, 409)
        _error(cloud.request("PUT", f"{V3}/regions/RegionOne", token, json={"region": {}}), 409)
        mismatch = cloud.request("PUT", f"{V3}/regions/{region_id}", token, json={"region": {"id": "other"}})
        assert "Conflicting region IDs" in _error(mismatch, 400)
    finally:
        _delete(cloud, token, "regions", region_id)


def test_region_parent_must_exist_and_may_not_make_a_loop(cloud, unique):
    token = cloud.admin_token()
    missing = cloud.request("POST", f"{V3}/regions", token, json={"region": {"parent_region_id": f"no-{unique}"}})
    _error(missing, 404)
    top = _ok(cloud.request("PUT", f"{V3}/regions/top-{unique}", token, json={"region": {}}), 201)["region"]
    mid = _ok(
        cloud.request("PUT", f"{V3}/regions/mid-{unique}", token, json={"region": {"parent_region_id": top["id"]}}),
        201,
    )["region"]
    try:
        loop = cloud.request(
            "PATCH", f"{V3}/regions/{top['id']}", token, json={"region": {"parent_region_id": mid["id"]}}
        )
        assert "circular" in _error(loop, 400)
        itself = cloud.request(
            "PATCH", f"{V3}/regions/{top['id']}", token, json={"region": {"parent_region_id": top["id"]}}
        )
        _error(itself, 400)
        self_parent = cloud.request(
            "PUT", f"{V3}/regions/self-{unique}", token, json={"region": {"parent_region_id": f"self-{unique}"}}
        )
        _error(self_parent, 400)
        under_builtin = cloud.request(
            "PATCH", f"{V3}/regions/{top['id']}", token, json={"region": {"parent_region_id": "RegionOne"}}
        )
        assert _ok(under_builtin)["region"]["parent_region_id"] == "RegionOne"
    finally:
        _delete(cloud, token, "regions", top["id"])  # takes its sub-region with it, as Keystone does
    assert cloud.request("GET", f"{V3}/regions/{mid['id']}", token).status_code == 404


def test_region_with_endpoints_in_it_or_below_cannot_be_deleted(cloud, unique):
    token = cloud.admin_token()
    top = _ok(cloud.request("PUT", f"{V3}/regions/top-{unique}", token, json={"region": {}}), 201)["region"]
    _ok(
        cloud.request("PUT", f"{V3}/regions/sub-{unique}", token, json={"region": {"parent_region_id": top["id"]}}), 201
    )
    service = _service(cloud, token, unique)
    endpoint = _endpoint(
        cloud, token, service_id=service["id"], interface="public", url="http://x.test", region_id=f"sub-{unique}"
    )
    try:
        refused = cloud.request("DELETE", f"{V3}/regions/{top['id']}", token)
        assert "associated endpoints" in _error(refused, 403)
        assert cloud.request("GET", f"{V3}/regions/sub-{unique}", token).status_code == 200
    finally:
        _delete(cloud, token, "endpoints", endpoint["id"])
        _delete(cloud, token, "services", service["id"])
    assert cloud.request("DELETE", f"{V3}/regions/{top['id']}", token).status_code == 204


def test_region_bodies_are_validated(cloud, unique):
    token = cloud.admin_token()
    for body in (
        {"id": ""},
        {"id": "a/b"},
        {"id": "x" * 256},
        {"id": "tab\there"},
        {"description": 5},
        {"parent_region_id": 5},
    ):
        _error(cloud.request("POST", f"{V3}/regions", token, json={"region": body}), 400)
    _error(cloud.request("POST", f"{V3}/regions", token, json={"nothing": {}}), 400)
    _error(cloud.request("PATCH", f"{V3}/regions/RegionOne", token, json={"region": {}}), 400)


def test_service_crud_keeps_extra_attributes_and_deletes_its_endpoints(cloud, unique):
    token = cloud.admin_token()
    service = _service(cloud, token, unique, description="d", color="blue")
    assert service["type"] == f"type-{unique}" and service["name"] == f"svc-{unique}"
    assert service["enabled"] is True and service["description"] == "d" and service["color"] == "blue"
    bare = _ok(cloud.request("POST", f"{V3}/services", token, json={"service": {"type": f"bare-{unique}"}}), 201)
    assert bare["service"]["name"] == "" and "description" not in bare["service"]
    _delete(cloud, token, "services", bare["service"]["id"])

    by_type = _ok(cloud.request("GET", f"{V3}/services?type=type-{unique}", token))["services"]
    assert by_type == [service]
    updated = _ok(
        cloud.request(
            "PATCH", f"{V3}/services/{service['id']}", token, json={"service": {"enabled": False, "name": "n2"}}
        )
    )["service"]
    assert updated["enabled"] is False and updated["name"] == "n2" and updated["color"] == "blue"
    assert _ok(cloud.request("GET", f"{V3}/services/{service['id']}", token))["service"] == updated

    endpoint = _endpoint(cloud, token, service_id=service["id"], interface="admin", url="https://a.test/v1")
    assert cloud.request("DELETE", f"{V3}/services/{service['id']}", token).status_code == 204
    assert cloud.request("GET", f"{V3}/services/{service['id']}", token).status_code == 404
    assert cloud.request("GET", f"{V3}/endpoints/{endpoint['id']}", token).status_code == 404


def test_service_bodies_are_validated(cloud):
    token = cloud.admin_token()
    for body in (
        {},
        {"type": ""},
        {"type": "t" * 256},
        {"type": "t", "name": "n" * 256},
        {"type": "t", "name": "bad\nname"},
        {"type": "t", "enabled": "True"},
    ):
        _error(cloud.request("POST", f"{V3}/services", token, json={"service": body}), 400)


def test_endpoint_crud_filters_and_legacy_region(cloud, unique):
    token = cloud.admin_token()
    service = _service(cloud, token, unique)
    region_name = f"legacy-{unique}"
    endpoint = _endpoint(
        cloud, token, service_id=service["id"], interface="public", url="https://e.test/v2", region=region_name
    )
    internal = _endpoint(cloud, token, service_id=service["id"], interface="internal", url="http://i.test")
    try:
        assert endpoint["region"] == region_name and endpoint["region_id"] == region_name
        assert endpoint["enabled"] is True and endpoint["url"] == "https://e.test/v2"
        assert _ok(cloud.request("GET", f"{V3}/regions/{region_name}", token))["region"]["id"] == region_name
        assert internal["region_id"] is None

        of_service = _ok(cloud.request("GET", f"{V3}/endpoints?service_id={service['id']}", token))["endpoints"]
        assert {e["id"] for e in of_service} == {endpoint["id"], internal["id"]}
        public = _ok(cloud.request("GET", f"{V3}/endpoints?service_id={service['id']}&interface=public", token))
        assert [e["id"] for e in public["endpoints"]] == [endpoint["id"]]
        in_region = _ok(cloud.request("GET", f"{V3}/endpoints?region_id={region_name}", token))["endpoints"]
        assert [e["id"] for e in in_region] == [endpoint["id"]]
        _error(cloud.request("GET", f"{V3}/endpoints?interface=private", token), 400)

        updated = _ok(
            cloud.request(
                "PATCH",
                f"{V3}/endpoints/{endpoint['id']}",
                token,
                json={
                    "endpoint": {"interface": "admin", "url": "http://new.test", "enabled": False, "region_id": None}
                },
            )
        )["endpoint"]
        assert (updated["interface"], updated["url"], updated["enabled"], updated["region"]) == (
            "admin",
            "http://new.test",
            False,
            None,
        )
        assert _ok(cloud.request("GET", f"{V3}/endpoints/{endpoint['id']}", token))["endpoint"] == updated
    finally:
        _delete(cloud, token, "endpoints", endpoint["id"])
        _delete(cloud, token, "endpoints", internal["id"])
        _delete(cloud, token, "services", service["id"])
        _delete(cloud, token, "regions", region_name)
    assert cloud.request("GET", f"{V3}/endpoints/{endpoint['id']}", token).status_code == 404


def test_endpoint_bodies_are_validated(cloud, unique):
    token = cloud.admin_token()
    service = _service(cloud, token, unique)
    good = {"service_id": service["id"], "interface": "public", "url": "http://ok.test"}
    try:
        for change in (
            {"enabled": "True"},
            {"enabled": "False"},
            {"interface": "private"},
            {"url": "ftp://files.test"},
            {"url": "not a url"},
            {"url": "http://bad host.test"},
            {"url": "http://ctrl.test/\u0007"},
            {"url": "http://" + "l" * 230 + ".test"},
            {"service_id": "no-such-service"},
            {"region_id": f"no-such-region-{unique}"},
        ):
            response = cloud.request("POST", f"{V3}/endpoints", token, json={"endpoint": good | change})
            _error(response, 400)
        for missing in ("service_id", "interface", "url"):
            body = {k: v for k, v in good.items() if k != missing}
            _error(cloud.request("POST", f"{V3}/endpoints", token, json={"endpoint": body}), 400)
        endpoint = _endpoint(cloud, token, **good)
        for change in ({"enabled": "True"}, {"enabled": "False"}, {}, {"service_id": "nope"}):
            response = cloud.request("PATCH", f"{V3}/endpoints/{endpoint['id']}", token, json={"endpoint": change})
            _error(response, 400)
    finally:
        _delete(cloud, token, "services", service["id"])


def test_builtin_entries_are_listed_and_read_only(cloud):
    token = cloud.admin_token()
    services = _ok(cloud.request("GET", f"{V3}/services?type=compute", token))["services"]
    compute = services[0]
    endpoints = _ok(cloud.request("GET", f"{V3}/endpoints?service_id={compute['id']}", token))["endpoints"]
    assert len(endpoints) == 3 and {e["region_id"] for e in endpoints} == {"RegionOne"}

    refusals = [
        cloud.request("PATCH", f"{V3}/services/{compute['id']}", token, json={"service": {"enabled": False}}),
        cloud.request("DELETE", f"{V3}/services/{compute['id']}", token),
        cloud.request("PATCH", f"{V3}/endpoints/{endpoints[0]['id']}", token, json={"endpoint": {"url": "http://x.y"}}),
        cloud.request("DELETE", f"{V3}/endpoints/{endpoints[0]['id']}", token),
        cloud.request("PATCH", f"{V3}/regions/RegionOne", token, json={"region": {"description": "x"}}),
        cloud.request("DELETE", f"{V3}/regions/RegionOne", token),
    ]
    for refused in refusals:
        assert "Stratus's own" in _error(refused, 403)
    assert _ok(cloud.request("GET", f"{V3}/services/{compute['id']}", token))["service"]["enabled"] is True


def test_only_admins_change_the_catalog(cloud, unique):
    member = cloud.demo().get_token()
    admin = cloud.admin_token()
    service = _service(cloud, admin, unique)
    try:
        attempts = [
            cloud.request("POST", f"{V3}/services", member, json={"service": {"type": "t"}}),
            cloud.request("PATCH", f"{V3}/services/{service['id']}", member, json={"service": {"name": "x"}}),
            cloud.request("DELETE", f"{V3}/services/{service['id']}", member),
            cloud.request("POST", f"{V3}/regions", member, json={"region": {}}),
            cloud.request("PUT", f"{V3}/regions/r-{unique}", member, json={"region": {}}),
            cloud.request(
                "POST",
                f"{V3}/endpoints",
                member,
                json={"endpoint": {"service_id": service["id"], "interface": "public", "url": "http://m.test"}},
            ),
        ]
        for attempt in attempts:
            _error(attempt, 403)
        assert _ok(cloud.request("GET", f"{V3}/services/{service['id']}", member))["service"]["id"] == service["id"]
        assert _ok(cloud.request("GET", f"{V3}/regions", member))["regions"]
    finally:
        _delete(cloud, admin, "services", service["id"])


def test_tokens_and_auth_catalog_carry_enabled_services_and_endpoints(cloud, unique):
    admin = cloud.admin_token()
    service = _service(cloud, admin, unique)
    public = _endpoint(cloud, admin, service_id=service["id"], interface="public", url="https://p.test")
    hidden = _endpoint(cloud, admin, service_id=service["id"], interface="admin", url="https://h.test", enabled=False)
    identity = _ok(cloud.request("GET", f"{V3}/services?type=identity", admin))["services"][0]
    extra = _endpoint(cloud, admin, service_id=identity["id"], interface="internal", url="http://10.0.0.1/identity")
    try:
        token = cloud.demo().get_token()
        shown = _ok(cloud.request("GET", f"{V3}/auth/tokens", token, headers={"X-Subject-Token": token}))
        entry = _catalog_entry(shown["token"]["catalog"], service["id"])
        assert entry["type"] == service["type"] and entry["name"] == service["name"]
        assert entry["endpoints"] == [
            {"id": public["id"], "interface": "public", "region": None, "region_id": None, "url": "https://p.test"}
        ]
        builtin = _catalog_entry(shown["token"]["catalog"], identity["id"])
        assert extra["id"] in {e["id"] for e in builtin["endpoints"]} and len(builtin["endpoints"]) == 4

        cloud.request("PATCH", f"{V3}/services/{service['id']}", admin, json={"service": {"enabled": False}})
        catalog = _ok(cloud.request("GET", f"{V3}/auth/catalog", token))["catalog"]
        assert _catalog_entry(catalog, service["id"]) is None
        cloud.request("PATCH", f"{V3}/services/{service['id']}", admin, json={"service": {"enabled": True}})
        cloud.request("PATCH", f"{V3}/endpoints/{hidden['id']}", admin, json={"endpoint": {"enabled": True}})
        catalog = _ok(cloud.request("GET", f"{V3}/auth/catalog", token))["catalog"]
        assert {e["id"] for e in _catalog_entry(catalog, service["id"])["endpoints"]} == {public["id"], hidden["id"]}
    finally:
        _delete(cloud, admin, "endpoints", extra["id"])
        _delete(cloud, admin, "services", service["id"])
    catalog = _ok(cloud.request("GET", f"{V3}/auth/catalog", cloud.demo().get_token()))["catalog"]
    assert _catalog_entry(catalog, service["id"]) is None
    assert len(_catalog_entry(catalog, identity["id"])["endpoints"]) == 3


def test_endpoint_urls_substitute_the_tokens_project_as_keystones_do(cloud, unique):
    admin = cloud.admin_token()
    service = _service(cloud, admin, unique)
    endpoint = _endpoint(
        cloud, admin, service_id=service["id"], interface="public", url="https://s.test/v1/AUTH_$(project_id)s"
    )
    try:
        unknown = {"service_id": service["id"], "interface": "public", "url": "https://s.test/$(password)s"}
        assert "invalid URL" in _error(cloud.request("POST", f"{V3}/endpoints", admin, json={"endpoint": unknown}), 400)
        assert _ok(cloud.request("GET", f"{V3}/endpoints/{endpoint['id']}", admin))["endpoint"]["url"].endswith(
            "AUTH_$(project_id)s"
        )
        demo = cloud.demo()
        catalog = _ok(cloud.request("GET", f"{V3}/auth/catalog", demo.get_token()))["catalog"]
        url = _catalog_entry(catalog, service["id"])["endpoints"][0]["url"]
        assert url == f"https://s.test/v1/AUTH_{demo.get_project_id()}"
    finally:
        _delete(cloud, admin, "services", service["id"])
    assert cloud.request("GET", f"{V3}/endpoints/{endpoint['id']}", admin).status_code == 404


@pytest.mark.one_database
@pytest.mark.timeout(600)  # fifteen CLI runs of a few seconds each, on a machine that may be busy
def test_openstack_cli_manages_regions_services_and_endpoints(cloud, unique):
    def cli(*args: str) -> dict | list:
        return json.loads(cloud.openstack("stratus-admin", *args, "-f", "json").stdout)

    token = cloud.admin_token()
    region = f"cli-region-{unique}"
    service_name = f"cli-svc-{unique}"
    cli("region", "create", "--description", "made by the CLI", region)
    try:
        cloud.openstack("stratus-admin", "region", "set", "--description", "changed", region)
        assert cli("region", "show", region)["description"] == "changed"
        assert region in {r["Region"] for r in cli("region", "list")}

        service = cli("service", "create", "--name", service_name, "--description", "d", f"type-{unique}")
        cloud.openstack("stratus-admin", "service", "set", "--description", "d2", service_name)
        assert cli("service", "show", service_name)["description"] == "d2"
        assert service_name in {s["Name"] for s in cli("service", "list")}

        endpoint = cli("endpoint", "create", "--region", region, service_name, "public", "https://cli.test/v1")
        assert endpoint["region"] == region and endpoint["url"] == "https://cli.test/v1"
        cloud.openstack("stratus-admin", "endpoint", "set", "--url", "https://cli.test/v2", endpoint["id"])
        assert cli("endpoint", "show", endpoint["id"])["url"] == "https://cli.test/v2"
        listed = cli("endpoint", "list", "--service", service_name, "--interface", "public")
        assert [e["ID"] for e in listed] == [endpoint["id"]]
        catalog = _ok(cloud.request("GET", f"{V3}/auth/catalog", token))["catalog"]
        assert _catalog_entry(catalog, service["id"])["endpoints"][0]["url"] == "https://cli.test/v2"

        cloud.openstack("stratus-admin", "endpoint", "delete", endpoint["id"])
        cloud.openstack("stratus-admin", "service", "delete", service_name)
        assert cloud.request("GET", f"{V3}/services/{service['id']}", token).status_code == 404
    finally:
        cloud.openstack("stratus-admin", "region", "delete", region, check=False)
    assert cloud.request("GET", f"{V3}/regions/{region}", token).status_code == 404
