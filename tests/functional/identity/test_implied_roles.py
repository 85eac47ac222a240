"""Role inference rules (Keystone's implied roles) over real HTTP: the API's shapes and refusals, and a rule's effect
on tokens, on the effective role assignments report and on policy, from the moment it is written or deleted."""

from __future__ import annotations

import json

import pytest

from tests.functional.identity import V3, create, role_id

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def _project_token(cloud, user: str, password: str, project: str) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }
    response = cloud.request("POST", f"{V3}/auth/tokens", json=body)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def _token_roles(cloud, token: str) -> set[str]:
    shown = cloud.request("GET", f"{V3}/auth/tokens", token, headers={"X-Subject-Token": token})
    assert shown.status_code == 200, shown.text
    return {r["name"] for r in shown.json()["token"]["roles"]}


def test_a_rule_is_created_checked_shown_listed_and_deleted_in_keystones_shapes(cloud, unique):
    token = cloud.admin_token()
    prior = create(cloud, "role", {"name": f"{unique}-prior"}, token)
    implied = create(cloud, "role", {"name": f"{unique}-implied"}, token)
    rule = f"{V3}/roles/{prior['id']}/implies/{implied['id']}"

    created = cloud.request("PUT", rule, token)
    checked = cloud.request("HEAD", rule, token)
    shown = cloud.request("GET", rule, token)
    listed = cloud.request("GET", f"{V3}/roles/{prior['id']}/implies", token)
    everything = cloud.request("GET", f"{V3}/role_inferences", token).json()["role_inferences"]
    deleted = cloud.request("DELETE", rule, token)

    assert created.status_code == 201
    body = created.json()
    assert body["role_inference"]["prior_role"] == {
        "id": prior["id"],
        "name": prior["name"],
        "links": {"self": prior["links"]["self"]},
    }
    assert body["role_inference"]["implies"]["id"] == implied["id"]
    assert body["links"]["self"].endswith(rule)
    assert checked.status_code == 204 and shown.json() == body
    assert [r["id"] for r in listed.json()["role_inference"]["implies"]] == [implied["id"]]
    [mine] = [i for i in everything if i["prior_role"]["id"] == prior["id"]]
    assert [r["name"] for r in mine["implies"]] == [implied["name"]]
    assert deleted.status_code == 204
    assert cloud.request("GET", rule, token).status_code == 404
    assert cloud.request("HEAD", rule, token).status_code == 404
    assert cloud.request("DELETE", rule, token).status_code == 404


def test_the_built_in_admin_manager_member_reader_rules_are_rows_like_any_other(cloud):
    token = cloud.admin_token()
    inferences = cloud.request("GET", f"{V3}/role_inferences", token).json()["role_inferences"]
    by_prior = {i["prior_role"]["name"]: {r["name"] for r in i["implies"]} for i in inferences}
    assert by_prior["admin"] >= {"manager"} and by_prior["manager"] >= {"member"} and by_prior["member"] >= {"reader"}


@pytest.mark.parametrize(
    ("case", "status"),
    [("unknown prior", 404), ("unknown implied", 404), ("implies admin", 403), ("cycle", 403), ("self", 403)],
)
def test_invalid_rules_are_refused_with_keystones_errors(cloud, unique, case, status):
    token = cloud.admin_token()
    first = create(cloud, "role", {"name": f"{unique}-1"}, token)
    second = create(cloud, "role", {"name": f"{unique}-2"}, token)
    assert cloud.request("PUT", f"{V3}/roles/{first['id']}/implies/{second['id']}", token).status_code == 201
    prior, implied = {
        "unknown prior": ("no-such-role", second["id"]),
        "unknown implied": (first["id"], "no-such-role"),
        "implies admin": (first["id"], role_id(cloud, "admin", token)),
        "cycle": (second["id"], first["id"]),
        "self": (first["id"], first["id"]),
    }[case]

    refused = cloud.request("PUT", f"{V3}/roles/{prior}/implies/{implied}", token)

    assert refused.status_code == status and refused.json()["error"]["code"] == status
    assert cloud.request("GET", f"{V3}/roles/{prior}/implies/{implied}", token).status_code == 404


def test_a_duplicate_rule_is_409_and_only_admins_write_rules(cloud, unique):
    admin = cloud.admin_token()
    demo = cloud.demo().get_token()
    prior = create(cloud, "role", {"name": f"{unique}-prior"}, admin)
    implied = create(cloud, "role", {"name": f"{unique}-implied"}, admin)
    rule = f"{V3}/roles/{prior['id']}/implies/{implied['id']}"

    assert cloud.request("PUT", rule, demo).status_code == 403
    assert cloud.request("PUT", rule, admin).status_code == 201
    assert cloud.request("PUT", rule, admin).status_code == 409
    assert cloud.request("DELETE", rule, demo).status_code == 403
    assert cloud.request("GET", f"{V3}/role_inferences", demo).status_code == 403


def test_a_rule_reaches_tokens_the_effective_report_and_policy_at_once(cloud, unique):
    """A user holding only a new role gets ``member`` (and ``reader``) through a rule: in a token validated before
    and after the rule was written (no cached validation outlives it), in the report, and in what policy allows."""
    admin = cloud.admin_token()
    role = create(cloud, "role", {"name": unique}, admin)
    user = create(cloud, "user", {"name": unique, "password": "pw"}, admin)
    project_id = cloud.request("GET", f"{V3}/projects?name=demo", admin).json()["projects"][0]["id"]
    assert cloud.request("PUT", f"{V3}/projects/{project_id}/users/{user['id']}/roles/{role['id']}", admin).ok
    token = _project_token(cloud, unique, "pw", "demo")
    assert _token_roles(cloud, token) == {unique}
    servers = "/compute/v2.1/servers"  # listing servers asks for the reader role in the token's project
    assert cloud.request("GET", servers, token).status_code == 403

    rule = f"{V3}/roles/{role['id']}/implies/{role_id(cloud, 'member', admin)}"
    assert cloud.request("PUT", rule, admin).status_code == 201

    assert _token_roles(cloud, token) == {unique, "member", "reader"}
    report = cloud.request("GET", f"{V3}/role_assignments?effective&user.id={user['id']}&include_names", admin).json()[
        "role_assignments"
    ]
    assert {a["role"]["name"] for a in report} == {unique, "member", "reader"}
    assert cloud.request("GET", servers, token).status_code == 200

    assert cloud.request("DELETE", rule, admin).status_code == 204
    assert _token_roles(cloud, token) == {unique}
    assert cloud.request("GET", servers, token).status_code == 403


@pytest.mark.one_database
def test_openstack_cli_creates_lists_and_deletes_implied_roles(cloud, unique):
    admin = cloud.admin_token()
    prior = create(cloud, "role", {"name": f"{unique}-prior"}, admin)
    implied = create(cloud, "role", {"name": f"{unique}-implied"}, admin)

    created = json.loads(
        cloud.openstack(
            "stratus-admin", "implied", "role", "create", prior["name"], "--implied-role", implied["name"], "-f", "json"
        ).stdout
    )
    listed = json.loads(cloud.openstack("stratus-admin", "implied", "role", "list", "-f", "json").stdout)
    cloud.openstack("stratus-admin", "implied", "role", "delete", prior["name"], "--implied-role", implied["name"])
    after = json.loads(cloud.openstack("stratus-admin", "implied", "role", "list", "-f", "json").stdout)

    assert created == {"implies": implied["id"], "prior_role": prior["id"]}
    assert {"Prior Role ID": prior["id"], "Prior Role Name": prior["name"], "Implied Role ID": implied["id"],
            "Implied Role Name": implied["name"]} in listed  # fmt: skip
    assert prior["id"] not in {row["Prior Role ID"] for row in after}
    assert {"Prior Role Name": "admin", "Implied Role Name": "manager"}.items() <= next(
        row for row in after if row["Prior Role Name"] == "admin"
    ).items()
