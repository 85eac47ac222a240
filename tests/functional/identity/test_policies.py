"""Keystone's /v3/policies over real HTTP: blobs stored and returned as given, admin only, and the CLI."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

V3 = "/identity/v3"


def test_policy_create_list_show_update_delete(cloud, unique):
    token = cloud.admin_token()
    blob = json.dumps({"compute:start": "rule:admin"})
    created = cloud.request("POST", f"{V3}/policies", token, json={"policy": {"blob": blob, "type": unique, "x": 1}})
    assert created.status_code == 201, created.text
    policy = created.json()["policy"]
    assert policy["blob"] == blob and policy["type"] == unique and policy["x"] == 1
    assert policy["links"]["self"].endswith(f"{V3}/policies/{policy['id']}")
    url = f"{V3}/policies/{policy['id']}"

    assert policy["id"] in {p["id"] for p in cloud.request("GET", f"{V3}/policies", token).json()["policies"]}
    assert [p["id"] for p in cloud.request("GET", f"{V3}/policies?type={unique}", token).json()["policies"]] == [
        policy["id"]
    ]
    updated = cloud.request("PATCH", url, token, json={"policy": {"type": unique + "-2"}})
    assert updated.status_code == 200 and updated.json()["policy"]["blob"] == blob
    shown = cloud.request("GET", url, token).json()["policy"]
    assert shown["type"] == unique + "-2" and shown["x"] == 1

    assert cloud.request("DELETE", url, token).status_code == 204
    assert cloud.request("GET", url, token).status_code == 404
    assert cloud.request("DELETE", url, token).status_code == 404


def test_bad_policy_requests_are_400_or_404(cloud, unique):
    token = cloud.admin_token()
    for body in ({"policy": {"type": "t"}}, {"policy": {"blob": "b"}}, {"policy": {"blob": 1, "type": "t"}}, {}):
        response = cloud.request("POST", f"{V3}/policies", token, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == 400
    created = cloud.request("POST", f"{V3}/policies", token, json={"policy": {"blob": "b", "type": unique}})
    url = f"{V3}/policies/{created.json()['policy']['id']}"
    assert cloud.request("PATCH", url, token, json={"policy": {}}).status_code == 400
    assert cloud.request("PATCH", url, token, json={"policy": {"type": ""}}).status_code == 400
    missing = cloud.request("GET", f"{V3}/policies/nope", token)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
    assert cloud.request("PATCH", f"{V3}/policies/nope", token, json={"policy": {"type": "t"}}).status_code == 404


def test_only_admins_manage_policies(cloud, unique):
    token = cloud.admin_token()
    user = cloud.request("POST", f"{V3}/users", token, json={"user": {"name": unique, "password": "pw"}}).json()["user"]
    auth = {"identity": {"methods": ["password"], "password": {"user": {"id": user["id"], "password": "pw"}}}}
    user_token = cloud.request("POST", f"{V3}/auth/tokens", json={"auth": auth}).headers["X-Subject-Token"]
    created = cloud.request("POST", f"{V3}/policies", token, json={"policy": {"blob": "b", "type": unique}})
    url = f"{V3}/policies/{created.json()['policy']['id']}"
    assert (
        cloud.request("POST", f"{V3}/policies", user_token, json={"policy": {"blob": "b", "type": "t"}}).status_code
        == 403
    )
    assert cloud.request("GET", f"{V3}/policies", user_token).status_code == 403
    assert cloud.request("GET", url, user_token).status_code == 403
    assert cloud.request("PATCH", url, user_token, json={"policy": {"type": "t"}}).status_code == 403
    assert cloud.request("DELETE", url, user_token).status_code == 403


@pytest.mark.one_database
def test_openstack_cli_manages_policies(cloud, unique, tmp_path):
    blob = tmp_path / "policy.json"
    blob.write_text('{"a": "rule:b"}')
    created = json.loads(
        cloud.openstack("stratus-admin", "policy", "create", "--type", unique, str(blob), "-f", "json").stdout
    )
    assert created["type"] == unique and json.loads(created["rules"]) == {"a": "rule:b"}
    cloud.openstack("stratus-admin", "policy", "set", "--type", unique + "-2", created["id"])
    listed = json.loads(cloud.openstack("stratus-admin", "policy", "list", "-f", "json").stdout)
    assert {"ID": created["id"], "Type": unique + "-2"} in listed
    cloud.openstack("stratus-admin", "policy", "delete", created["id"])
    assert cloud.openstack("stratus-admin", "policy", "show", created["id"], check=False).returncode != 0
