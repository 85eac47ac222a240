"""Keystone's system scope over real HTTP: grants on the system, system-scoped tokens, and what a system admin and
a system reader may do (and what a project member still may not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import warm_cli
from tests.functional.identity import V3, create, role_id

pytestmark = [pytest.mark.functional]

SYSTEM = {"system": {"all": True}}


def _issue(cloud, user_id: str, scope: dict[str, Any] | None = None, password: str = "pw") -> Any:
    auth: dict[str, Any] = {
        "identity": {"methods": ["password"], "password": {"user": {"id": user_id, "password": password}}}
    }
    if scope:
        auth["scope"] = scope
    return cloud.request("POST", f"{V3}/auth/tokens", json={"auth": auth})


def _system_user(cloud, name: str, role: str) -> tuple[dict, str]:
    """A new user holding ``role`` on the system, and a system-scoped token of theirs."""
    admin = cloud.admin_token()
    user = create(cloud, "user", {"name": name, "password": "pw"}, admin)
    granted = cloud.request("PUT", f"{V3}/system/users/{user['id']}/roles/{role_id(cloud, role, admin)}", admin)
    assert granted.status_code == 204, granted.text
    issued = _issue(cloud, user["id"], SYSTEM)
    assert issued.status_code == 201, issued.text
    return user, issued.headers["X-Subject-Token"]


def test_grant_list_check_revoke_roles_on_the_system_for_users_and_groups(cloud, unique):
    admin = cloud.admin_token()
    user = create(cloud, "user", {"name": unique, "password": "pw"}, admin)
    group = create(cloud, "group", {"name": unique}, admin)
    member = role_id(cloud, "member", admin)
    for actor, actor_id in (("users", user["id"]), ("groups", group["id"])):
        grant = f"{V3}/system/{actor}/{actor_id}/roles/{member}"
        assert cloud.request("HEAD", grant, admin).status_code == 404
        assert cloud.request("PUT", grant, admin).status_code == 204
        assert cloud.request("PUT", grant, admin).status_code == 204  # idempotent, as Keystone
        listed = cloud.request("GET", f"{V3}/system/{actor}/{actor_id}/roles", admin).json()
        assert [r["id"] for r in listed["roles"]] == [member]
        assert listed["links"]["self"].endswith(f"/system/{actor}/{actor_id}/roles")
        assert cloud.request("HEAD", grant, admin).status_code == 204
        assert cloud.request("GET", grant, admin).status_code == 204
        assert cloud.request("DELETE", grant, admin).status_code == 204
        missing = cloud.request("DELETE", grant, admin)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == 404
        assert cloud.request("GET", f"{V3}/system/{actor}/{actor_id}/roles", admin).json()["roles"] == []
        assert cloud.request("PUT", f"{V3}/system/{actor}/{actor_id}/roles/nope", admin).status_code == 404
    assert cloud.request("PUT", f"{V3}/system/users/nobody/roles/{member}", admin).status_code == 404
    assert cloud.request("PUT", f"{V3}/system/groups/nobody/roles/{member}", admin).status_code == 404
    assert cloud.request("PUT", f"{V3}/system/projects/x/roles/{member}", admin).status_code == 404


def test_system_scoped_token_carries_system_roles_catalog_and_validates_the_same(cloud, unique):
    admin = cloud.admin_token()
    user = create(cloud, "user", {"name": unique, "password": "pw"}, admin)
    refused = _issue(cloud, user["id"], SYSTEM)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == 401
    assert (
        cloud.request("GET", f"{V3}/auth/system", _issue(cloud, user["id"]).headers["X-Subject-Token"]).json()["system"]
        == []
    )

    # The role comes through a group, and brings the roles it implies.
    group = create(cloud, "group", {"name": unique}, admin)
    assert cloud.request("PUT", f"{V3}/groups/{group['id']}/users/{user['id']}", admin).status_code == 204
    grant = f"{V3}/system/groups/{group['id']}/roles/{role_id(cloud, 'member', admin)}"
    assert cloud.request("PUT", grant, admin).status_code == 204
    issued = _issue(cloud, user["id"], SYSTEM)
    assert issued.status_code == 201, issued.text
    body = issued.json()["token"]
    assert body["system"] == {"all": True} and "project" not in body and "domain" not in body
    assert {r["name"] for r in body["roles"]} == {"member", "reader"}
    assert body["catalog"] and {e["type"] for e in body["catalog"]} >= {"identity"}
    token = issued.headers["X-Subject-Token"]

    validated = cloud.request("GET", f"{V3}/auth/tokens", admin, headers={"X-Subject-Token": token})
    assert validated.status_code == 200 and validated.json()["token"]["system"] == {"all": True}
    assert validated.json()["token"]["roles"] == body["roles"]
    assert cloud.request("GET", f"{V3}/auth/system", token).json()["system"] == [{"all": True}]

    # Losing the grant ends the token at once (the grant table is an identity table: the generation moves).
    assert cloud.request("DELETE", grant, admin).status_code == 204
    assert cloud.request("GET", f"{V3}/auth/tokens", admin, headers={"X-Subject-Token": token}).status_code == 404
    assert _issue(cloud, user["id"], SYSTEM).status_code == 401
    bad = _issue(cloud, user["id"], {"system": {"all": False}})
    assert bad.status_code == 400 and bad.json()["error"]["title"] == "Bad Request"


def test_role_assignments_list_system_grants_and_expand_group_ones(cloud, unique):
    admin = cloud.admin_token()
    user = create(cloud, "user", {"name": unique, "password": "pw"}, admin)
    group = create(cloud, "group", {"name": unique}, admin)
    assert cloud.request("PUT", f"{V3}/groups/{group['id']}/users/{user['id']}", admin).status_code == 204
    reader, member = role_id(cloud, "reader", admin), role_id(cloud, "member", admin)
    assert cloud.request("PUT", f"{V3}/system/users/{user['id']}/roles/{reader}", admin).status_code == 204
    assert cloud.request("PUT", f"{V3}/system/groups/{group['id']}/roles/{member}", admin).status_code == 204

    stored = cloud.request("GET", f"{V3}/role_assignments?scope.system=all&user.id={user['id']}", admin).json()
    assert stored["role_assignments"] == [
        {
            "role": {"id": reader},
            "user": {"id": user["id"]},
            "scope": {"system": {"all": True}},
            "links": {"assignment": stored["role_assignments"][0]["links"]["assignment"]},
        }
    ]
    assert stored["role_assignments"][0]["links"]["assignment"].endswith(f"/system/users/{user['id']}/roles/{reader}")
    by_group = cloud.request("GET", f"{V3}/role_assignments?scope.system=all&group.id={group['id']}", admin).json()
    assert [(a["role"]["id"], a["scope"]) for a in by_group["role_assignments"]] == [(member, SYSTEM)]

    effective = cloud.request(
        "GET", f"{V3}/role_assignments?effective&include_names&scope.system=all&user.id={user['id']}", admin
    ).json()["role_assignments"]
    assert sorted(a["role"]["name"] for a in effective) == ["member", "reader", "reader"]
    via_group = [a for a in effective if "membership" in a["links"]]
    assert {a["role"]["name"] for a in via_group} == {"member", "reader"}
    assert all(a["scope"] == SYSTEM and a["user"]["id"] == user["id"] for a in effective)

    everything = cloud.request("GET", f"{V3}/role_assignments", admin).json()["role_assignments"]
    assert any(a.get("group", {}).get("id") == group["id"] and a["scope"] == SYSTEM for a in everything)
    both = cloud.request("GET", f"{V3}/role_assignments?scope.system=all&scope.project.id=x", admin)
    assert both.status_code == 400
    assert cloud.request("GET", f"{V3}/role_assignments?scope.system=some", admin).status_code == 400


def test_system_admin_administers_the_cloud(cloud, unique):
    _, token = _system_user(cloud, unique, "admin")
    projects = cloud.request("GET", f"{V3}/projects", token)
    assert projects.status_code == 200 and {"admin", "demo"} <= {p["name"] for p in projects.json()["projects"]}
    created = create(cloud, "project", {"name": unique}, token)
    assert cloud.request("DELETE", f"{V3}/projects/{created['id']}", token).status_code == 204
    assert cloud.request("GET", f"{V3}/role_assignments", token).status_code == 200
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", token).status_code == 200
    assert cloud.request("GET", "/compute/v2.1/servers?all_tenants=1", token).status_code == 200


def test_system_reader_reads_identity_but_cannot_change_it(cloud, unique):
    user, token = _system_user(cloud, unique, "reader")
    admin = cloud.admin_token()
    demo = cloud.request("GET", f"{V3}/projects?name=demo", admin).json()["projects"][0]
    demo_user = cloud.request("GET", f"{V3}/users?name=demo", admin).json()["users"][0]
    member = role_id(cloud, "member", admin)

    for path in (
        "/projects",
        f"/projects/{demo['id']}",
        "/users",
        f"/users/{demo_user['id']}",
        f"/users/{demo_user['id']}/projects",
        "/roles",
        f"/roles/{member}",
        "/domains",
        "/domains/default",
        "/groups",
        "/role_assignments",
        f"/projects/{demo['id']}/users/{demo_user['id']}/roles",
        f"/system/users/{user['id']}/roles",
    ):
        assert cloud.request("GET", f"{V3}{path}", token).status_code == 200, path

    writes = [
        ("POST", "/projects", {"project": {"name": unique}}),
        ("PATCH", f"/projects/{demo['id']}", {"project": {"description": "x"}}),
        ("DELETE", f"/projects/{demo['id']}", None),
        ("POST", "/users", {"user": {"name": unique + "-2"}}),
        ("PATCH", f"/users/{demo_user['id']}", {"user": {"enabled": False}}),
        ("POST", "/roles", {"role": {"name": unique}}),
        ("POST", "/domains", {"domain": {"name": unique}}),
        ("POST", "/groups", {"group": {"name": unique}}),
        ("PUT", f"/projects/{demo['id']}/users/{user['id']}/roles/{member}", None),
        ("PUT", f"/system/users/{user['id']}/roles/{role_id(cloud, 'admin', admin)}", None),
        ("DELETE", f"/system/users/{user['id']}/roles/{role_id(cloud, 'reader', admin)}", None),
    ]
    for method, path, body in writes:
        response = cloud.request(method, f"{V3}{path}", token, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["title"] == "Forbidden"
    # Nor is it an admin of the services: no hypervisors, no other tenants' servers.
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", token).status_code == 403
    assert cloud.request("GET", "/compute/v2.1/servers?all_tenants=1", token).status_code == 403


def test_system_member_is_no_admin_and_system_reader_validates_but_cannot_revoke_tokens(cloud, unique):
    user, token = _system_user(cloud, unique, "member")
    admin = cloud.admin_token()
    issued = _issue(cloud, user["id"], SYSTEM).json()["token"]
    assert {r["name"] for r in issued["roles"]} == {"member", "reader"}
    assert cloud.request("POST", f"{V3}/projects", token, json={"project": {"name": unique}}).status_code == 403
    member = role_id(cloud, "member", admin)
    assert cloud.request("PUT", f"{V3}/system/users/{user['id']}/roles/{member}", token).status_code == 403
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", token).status_code == 403

    demo_token = cloud.demo().get_token()
    shown = cloud.request("GET", f"{V3}/auth/tokens", token, headers={"X-Subject-Token": demo_token})
    assert shown.status_code == 200 and shown.json()["token"]["project"]["name"] == "demo"
    revoked = cloud.request("DELETE", f"{V3}/auth/tokens", token, headers={"X-Subject-Token": demo_token})
    assert revoked.status_code == 403
    # A system token re-made through the token method keeps the system scope only when asked for again.
    remade = cloud.request(
        "POST",
        f"{V3}/auth/tokens",
        json={"auth": {"identity": {"methods": ["token"], "token": {"id": token}}, "scope": SYSTEM}},
    )
    assert remade.status_code == 201 and remade.json()["token"]["system"] == {"all": True}


def test_project_member_still_sees_only_its_project_and_cannot_read_the_system(cloud, unique):
    admin = cloud.admin_token()
    demo_token = cloud.demo().get_token()
    demo_user = cloud.request("GET", f"{V3}/users?name=demo", admin).json()["users"][0]
    admin_project = cloud.request("GET", f"{V3}/projects?name=admin", admin).json()["projects"][0]
    other = create(cloud, "user", {"name": unique, "password": "pw"}, admin)

    assert cloud.request("GET", f"{V3}/projects", demo_token).status_code == 403
    assert cloud.request("GET", f"{V3}/projects/{admin_project['id']}", demo_token).status_code == 403
    assert cloud.request("GET", f"{V3}/role_assignments", demo_token).status_code == 403
    assert cloud.request("GET", f"{V3}/system/users/{other['id']}/roles", demo_token).status_code == 403
    member = role_id(cloud, "member", admin)
    grant = cloud.request("PUT", f"{V3}/system/users/{demo_user['id']}/roles/{member}", demo_token)
    assert grant.status_code == 403
    # A user may look at their own system grants (none), and cannot scope a token to the system without one.
    own = cloud.request("GET", f"{V3}/system/users/{demo_user['id']}/roles", demo_token)
    assert own.status_code == 200 and own.json()["roles"] == []
    assert cloud.request("GET", f"{V3}/auth/system", demo_token).json()["system"] == []


def test_old_tokens_without_extras_still_decode(tmp_path):
    """The system scope rides in the payload's optional extras: a token written without any still decodes."""
    from datetime import UTC, datetime, timedelta

    from identity import fernet

    keys = fernet.KeyRepository(tmp_path / "keys")
    keys.setup()
    now = datetime.now(UTC)
    plain = fernet.TokenPayload("u", ("password",), now + timedelta(hours=1), now, ("a",), project_id="p")
    system = fernet.TokenPayload("u", ("password",), now + timedelta(hours=1), now, ("a",), system="all")
    assert fernet.decode(fernet.encode(plain, keys), keys).system is None
    decoded = fernet.decode(fernet.encode(system, keys), keys)
    assert decoded.system == "all" and decoded.scope == "system" and decoded.project_id is None


def _cli(clouds_yaml: Path, name: str, *args: str) -> str:
    result = warm_cli.run_cloud(clouds_yaml, name, *args)
    assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.mark.one_database
def test_openstack_cli_grants_lists_and_uses_system_scope(cloud, unique, tmp_path):
    admin = cloud.admin_token()
    create(cloud, "user", {"name": unique, "password": "pw"}, admin)
    cloud.openstack("stratus-admin", "role", "add", "--system", "all", "--user", unique, "admin")
    listed = json.loads(
        cloud.openstack(
            "stratus-admin", "role", "assignment", "list", "--system", "all", "--names", "-f", "json"
        ).stdout
    )
    assert ("admin", f"{unique}@Default", "all") in {(a["Role"], a["User"], a["System"]) for a in listed}

    # The operator's cloud has no project: keystoneauth refuses a project and the system scope at once.
    clouds_yaml = tmp_path / "clouds.yaml"
    auth = {"auth_url": cloud.server.auth_url, "username": unique, "password": "pw", "user_domain_name": "Default"}
    operator = {"auth": auth, "region_name": "RegionOne", "identity_api_version": 3}
    clouds_yaml.write_text(yaml.safe_dump({"clouds": {"operator": operator}}))
    token = json.loads(_cli(clouds_yaml, "operator", "--os-system-scope", "all", "token", "issue", "-f", "json"))
    assert token["user_id"] and "project_id" not in token
    projects = json.loads(_cli(clouds_yaml, "operator", "--os-system-scope", "all", "project", "list", "-f", "json"))
    assert {"admin", "demo"} <= {p["Name"] for p in projects}

    cloud.openstack("stratus-admin", "role", "remove", "--system", "all", "--user", unique, "admin")
    after = json.loads(
        cloud.openstack(
            "stratus-admin", "role", "assignment", "list", "--system", "all", "--user", unique, "-f", "json"
        ).stdout
    )
    assert after == []
