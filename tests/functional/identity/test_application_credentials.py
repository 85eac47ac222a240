"""Application credentials over real HTTP: what automation signs in with instead of a password, with Keystone's
shapes and status codes, and tokens that stop working when the credential or the user's role goes away."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openstack
import openstack.config
import pytest
import yaml

from tests import warm_cli

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]  # a unique name per user, cascades

AUTH = "/identity/v3/auth/tokens"


@dataclass
class Person:
    """A user with the member role on a project of their own, and a project-scoped token."""

    id: str
    name: str
    password: str
    project_id: str
    project_name: str
    token: str

    @property
    def credentials(self) -> str:
        return f"/identity/v3/users/{self.id}/application_credentials"


def _person(cloud, unique: str) -> Person:
    admin = cloud.admin_token()
    project = cloud.request("POST", "/identity/v3/projects", admin, json={"project": {"name": unique}}).json()
    user = cloud.request("POST", "/identity/v3/users", admin, json={"user": {"name": unique, "password": "pw"}}).json()
    project_id, user_id = project["project"]["id"], user["user"]["id"]
    member = cloud.request("GET", "/identity/v3/roles?name=member", admin).json()["roles"][0]["id"]
    grant = f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{member}"
    assert cloud.request("PUT", grant, admin).status_code == 204
    token = cloud.session(unique, "pw", project=unique).get_token()
    return Person(user_id, unique, "pw", project_id, unique, token)


def _create(cloud, person: Person, token: str | None = None, **fields) -> dict:
    response = cloud.request("POST", person.credentials, token or person.token, json={"application_credential": fields})
    assert response.status_code == 201, response.text
    return response.json()["application_credential"]


def _sign_in(cloud, credential: dict) -> object:
    body = {"auth": {"identity": {"methods": ["application_credential"], "application_credential": credential}}}
    return cloud.request("POST", AUTH, json=body)


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["title"]


@pytest.fixture
def person(cloud, unique) -> Person:
    return _person(cloud, unique)


def test_the_secret_is_shown_once_and_signs_in_to_the_project_with_the_roles_of_the_token(cloud, person):
    made = _create(cloud, person, name="ci", description="for CI")
    shown = cloud.request("GET", f"{person.credentials}/{made['id']}", person.token).json()["application_credential"]
    signed_in = _sign_in(cloud, {"id": made["id"], "secret": made["secret"]})

    assert len(made["secret"]) >= 64 and "secret" not in shown
    assert shown == {k: v for k, v in made.items() if k != "secret"}
    assert made["project_id"] == person.project_id and made["unrestricted"] is False and made["expires_at"] is None
    assert {r["name"] for r in made["roles"]} == {"member", "reader"}  # the token's roles, implied ones included
    assert made["links"]["self"].endswith(f"/identity/v3/users/{person.id}/application_credentials/{made['id']}")
    assert signed_in.status_code == 201, signed_in.text
    token = signed_in.json()["token"]
    assert token["methods"] == ["application_credential"] and token["project"]["id"] == person.project_id
    assert token["user"]["id"] == person.id and {r["name"] for r in token["roles"]} == {"member", "reader"}
    assert token["application_credential"] == {"id": made["id"], "name": "ci", "restricted": True}
    assert token["catalog"]


def test_sign_in_by_name_with_the_user_by_id_or_by_name_and_domain(cloud, person):
    made = _create(cloud, person, name="by-name", secret="chosen-secret")
    by_user_id = _sign_in(cloud, {"name": "by-name", "user": {"id": person.id}, "secret": "chosen-secret"})
    by_user_name = _sign_in(
        cloud,
        {"name": "by-name", "user": {"name": person.name, "domain": {"name": "Default"}}, "secret": "chosen-secret"},
    )
    assert made["secret"] == "chosen-secret"
    assert by_user_id.status_code == 201 and by_user_name.status_code == 201
    assert by_user_name.json()["token"]["application_credential"]["id"] == made["id"]


def test_a_wrong_secret_an_unknown_credential_or_a_scope_is_401(cloud, person):
    made = _create(cloud, person, name="x")
    wrong = _sign_in(cloud, {"id": made["id"], "secret": "wrong"})
    unknown = _sign_in(cloud, {"id": "0" * 32, "secret": made["secret"]})
    other_user = _sign_in(cloud, {"name": "x", "user": {"name": "admin", "domain": {"id": "default"}}, "secret": "s"})
    scoped = cloud.request(
        "POST",
        AUTH,
        json={
            "auth": {
                "identity": {"methods": ["application_credential"], "application_credential": {**made}},
                "scope": {"project": {"id": person.project_id}},
            }
        },
    )
    no_secret = _sign_in(cloud, {"id": made["id"]})
    assert [_error(r) for r in (wrong, unknown, other_user, scoped)] == [(401, "Unauthorized")] * 4
    assert no_secret.status_code == 400 and "secret" in no_secret.json()["error"]["message"]


def test_roles_are_a_subset_of_the_token_s_a_role_the_user_lacks_is_400_an_unknown_one_404(cloud, person):
    reader_only = _create(cloud, person, name="reader", roles=[{"name": "reader"}])
    token = _sign_in(cloud, {"id": reader_only["id"], "secret": reader_only["secret"]}).json()["token"]
    lacking = cloud.request(
        "POST",
        person.credentials,
        person.token,
        json={"application_credential": {"name": "a", "roles": [{"name": "admin"}]}},
    )
    unknown = cloud.request(
        "POST",
        person.credentials,
        person.token,
        json={"application_credential": {"name": "b", "roles": [{"id": "nope"}]}},
    )
    assert [r["name"] for r in reader_only["roles"]] == ["reader"]
    assert [r["name"] for r in token["roles"]] == ["reader"]
    assert _error(lacking) == (400, "Bad Request") and _error(unknown) == (404, "Not Found")
    listed = cloud.request("GET", person.credentials, person.token).json()["application_credentials"]
    assert [c["name"] for c in listed] == ["reader"]  # the refused ones left nothing behind


def test_names_are_unique_per_user_and_the_list_filters_by_name(cloud, person, unique):
    _create(cloud, person, name="one")
    two = _create(cloud, person, name="two", secret="")  # an empty secret is generated, as a missing one
    again = cloud.request("POST", person.credentials, person.token, json={"application_credential": {"name": "one"}})
    other = _person(cloud, unique + "-b")
    same_name_other_user = _create(cloud, other, name="one")
    listed = cloud.request("GET", person.credentials, person.token).json()
    filtered = cloud.request("GET", f"{person.credentials}?name=two", person.token).json()["application_credentials"]

    assert _error(again) == (409, "Conflict") and same_name_other_user["name"] == "one"
    assert len(two["secret"]) >= 64
    assert [c["name"] for c in listed["application_credentials"]] == ["one", "two"]
    assert listed["links"]["self"].endswith(f"/users/{person.id}/application_credentials")
    assert [c["name"] for c in filtered] == ["two"]


def test_expires_at_is_echoed_and_one_in_the_past_or_malformed_is_400(cloud, person):
    later = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None)
    made = _create(cloud, person, name="later", expires_at=later.isoformat())
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    bad_requests = [
        cloud.request("POST", person.credentials, person.token, json={"application_credential": body})
        for body in (
            {"name": "p", "expires_at": past},
            {"name": "q", "expires_at": "tomorrow"},
            {"description": "x"},
            {"name": "r", "expires_at": "9999-12-31T23:59:59-23:59"},  # past year 9999 in UTC: was a 500
        )
    ]
    assert made["expires_at"] == later.isoformat()  # Tempest compares exactly: microseconds, no zone
    assert [_error(r) for r in bad_requests] == [(400, "Bad Request")] * 4


def test_only_the_user_themself_makes_one_with_a_project_scoped_token(cloud, person):
    admin = cloud.admin_token()
    for_someone_else = cloud.request("POST", person.credentials, admin, json={"application_credential": {"name": "a"}})
    unscoped = cloud.session(person.name, person.password).get_token()
    with_unscoped = cloud.request("POST", person.credentials, unscoped, json={"application_credential": {"name": "b"}})
    made = _create(cloud, person, name="mine")
    admin_reads = cloud.request("GET", f"{person.credentials}/{made['id']}", admin)
    demo = cloud.demo().get_token()
    stranger_reads = cloud.request("GET", f"{person.credentials}/{made['id']}", demo)
    elsewhere = cloud.request("GET", f"/identity/v3/users/{person.id}/application_credentials/nope", person.token)

    assert _error(for_someone_else) == (403, "Forbidden") and _error(with_unscoped) == (403, "Forbidden")
    assert admin_reads.status_code == 200 and _error(stranger_reads) == (403, "Forbidden")
    assert _error(elsewhere) == (404, "Not Found")


def test_a_restricted_credential_cannot_make_or_delete_credentials_an_unrestricted_one_can(cloud, person):
    restricted = _create(cloud, person, name="restricted")
    unrestricted = _create(cloud, person, name="unrestricted", unrestricted=True)
    restricted_token = _sign_in(cloud, {"id": restricted["id"], "secret": restricted["secret"]}).headers[
        "X-Subject-Token"
    ]
    free_token = _sign_in(cloud, {"id": unrestricted["id"], "secret": unrestricted["secret"]}).headers[
        "X-Subject-Token"
    ]

    refused = cloud.request(
        "POST", person.credentials, restricted_token, json={"application_credential": {"name": "child"}}
    )
    refused_delete = cloud.request("DELETE", f"{person.credentials}/{unrestricted['id']}", restricted_token)
    child = _create(cloud, person, token=free_token, name="child")
    reads = cloud.request("GET", person.credentials, restricted_token)

    assert _error(refused) == (403, "Forbidden") and "application_credential" in refused.json()["error"]["message"]
    assert _error(refused_delete) == (403, "Forbidden")
    assert {r["name"] for r in child["roles"]} == {"member", "reader"} and reads.status_code == 200
    assert cloud.request("DELETE", f"{person.credentials}/{child['id']}", free_token).status_code == 204


def test_tokens_stop_working_when_the_credential_is_deleted(cloud, person):
    made = _create(cloud, person, name="short-lived")
    token = _sign_in(cloud, {"id": made["id"], "secret": made["secret"]}).headers["X-Subject-Token"]
    before = cloud.request("GET", "/compute/v2.1/servers", token)
    deleted = cloud.request("DELETE", f"{person.credentials}/{made['id']}", person.token)
    after = cloud.request("GET", "/compute/v2.1/servers", token)
    validated = cloud.request("GET", AUTH, cloud.admin_token(), headers={"X-Subject-Token": token})
    again = _sign_in(cloud, {"id": made["id"], "secret": made["secret"]})

    assert before.status_code == 200 and deleted.status_code == 204
    assert after.status_code == 401 and validated.status_code == 404 and again.status_code == 401
    assert cloud.request("DELETE", f"{person.credentials}/{made['id']}", person.token).status_code == 404


def test_tokens_stop_working_when_the_user_loses_the_role_on_the_project(cloud, person):
    made = _create(cloud, person, name="role-bound", roles=[{"name": "member"}])
    token = _sign_in(cloud, {"id": made["id"], "secret": made["secret"]}).headers["X-Subject-Token"]
    assert cloud.request("GET", "/compute/v2.1/servers", token).status_code == 200
    admin = cloud.admin_token()
    member = next(r["id"] for r in made["roles"] if r["name"] == "member")
    revoked = cloud.request(
        "DELETE", f"/identity/v3/projects/{person.project_id}/users/{person.id}/roles/{member}", admin
    )

    assert revoked.status_code == 204
    assert cloud.request("GET", "/compute/v2.1/servers", token).status_code == 401
    assert _sign_in(cloud, {"id": made["id"], "secret": made["secret"]}).status_code == 401


def test_a_token_made_from_one_keeps_its_credential_and_project_and_cannot_be_rescoped(cloud, person):
    made = _create(cloud, person, name="rescoping", roles=[{"name": "reader"}])
    token = _sign_in(cloud, {"id": made["id"], "secret": made["secret"]}).headers["X-Subject-Token"]
    by_token = {"methods": ["token"], "token": {"id": token}}
    remade = cloud.request("POST", AUTH, json={"auth": {"identity": by_token}})
    rescoped = cloud.request(
        "POST", AUTH, json={"auth": {"identity": by_token, "scope": {"project": {"id": person.project_id}}}}
    )
    mixed = _sign_in(cloud, {"id": made["id"], "secret": made["secret"]})
    both = cloud.request(
        "POST",
        AUTH,
        json={
            "auth": {
                "identity": {
                    "methods": ["application_credential", "token"],
                    "application_credential": {"id": made["id"], "secret": made["secret"]},
                    "token": {"id": mixed.headers["X-Subject-Token"]},
                }
            }
        },
    )

    assert remade.status_code == 201, remade.text
    body = remade.json()["token"]
    assert body["project"]["id"] == person.project_id and [r["name"] for r in body["roles"]] == ["reader"]
    assert body["application_credential"]["id"] == made["id"]
    assert set(body["methods"]) == {"token", "application_credential"}
    assert _error(rescoped) == (401, "Unauthorized") and _error(both) == (401, "Unauthorized")


def test_an_expiring_credential_makes_tokens_that_end_with_it_and_none_after(cloud, person):
    ends = datetime.now(UTC) + timedelta(seconds=4)
    made = _create(cloud, person, name="expiring", expires_at=ends.isoformat())
    signed_in = _sign_in(cloud, {"id": made["id"], "secret": made["secret"]})
    token = signed_in.headers["X-Subject-Token"]
    expires_at = datetime.fromisoformat(signed_in.json()["token"]["expires_at"].replace("Z", "+00:00"))
    assert expires_at <= ends
    time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.5)

    assert cloud.request("GET", "/compute/v2.1/servers", token).status_code == 401
    assert _sign_in(cloud, {"id": made["id"], "secret": made["secret"]}).status_code == 401


def test_access_rules_are_stored_shared_between_credentials_and_deletable_once_unused(cloud, person):
    rule = {"service": "compute", "path": "/v2.1/servers/*/ips", "method": "GET"}
    first = _create(cloud, person, name="first", access_rules=[rule])
    second = _create(cloud, person, name="second", access_rules=[rule, {"id": first["access_rules"][0]["id"]}])
    rules_url = f"/identity/v3/users/{person.id}/access_rules"
    listed = cloud.request("GET", rules_url, person.token).json()
    rule_id = first["access_rules"][0]["id"]
    shown = cloud.request("GET", f"{rules_url}/{rule_id}", person.token).json()["access_rule"]
    token = _sign_in(cloud, {"id": first["id"], "secret": first["secret"]}).json()["token"]
    in_use = cloud.request("DELETE", f"{rules_url}/{rule_id}", person.token)

    assert {k: v for k, v in first["access_rules"][0].items() if k != "id"} == rule
    assert second["access_rules"] == first["access_rules"]  # the same rule, not a copy
    assert [r["id"] for r in listed["access_rules"]] == [rule_id]
    assert shown["service"] == "compute" and shown["links"]["self"].endswith(f"/access_rules/{rule_id}")
    assert token["application_credential"]["access_rules"] == first["access_rules"]
    assert _error(in_use) == (403, "Forbidden")

    for made in (first, second):
        assert cloud.request("DELETE", f"{person.credentials}/{made['id']}", person.token).status_code == 204
    still_there = cloud.request("GET", rules_url, person.token).json()["access_rules"]
    assert [r["id"] for r in still_there] == [rule_id]
    assert cloud.request("DELETE", f"{rules_url}/{rule_id}", person.token).status_code == 204
    assert cloud.request("GET", rules_url, person.token).json()["access_rules"] == []
    assert _error(cloud.request("GET", f"{rules_url}/{rule_id}", person.token)) == (404, "Not Found")
    bad = cloud.request(
        "POST",
        person.credentials,
        person.token,
        json={"application_credential": {"name": "bad", "access_rules": [{"service": "compute", "method": "BREW"}]}},
    )
    assert _error(bad) == (400, "Bad Request")


def test_a_token_of_a_credential_with_access_rules_reaches_only_what_they_allow(cloud, person):
    rules = [
        {"service": "compute", "method": "GET", "path": "/v2.1/servers"},
        {"service": "identity", "method": "GET", "path": "/v3/users/*/application_credentials"},
    ]
    made = _create(cloud, person, name="ruled", access_rules=rules)
    token = _sign_in(cloud, {"id": made["id"], "secret": made["secret"]}).headers["X-Subject-Token"]

    assert cloud.request("GET", "/compute/v2.1/servers", token).status_code == 200
    assert cloud.request("GET", person.credentials, token).status_code == 200
    outside = [
        cloud.request("GET", "/compute/v2.1/flavors", token),
        cloud.request("POST", "/compute/v2.1/servers", token, json={}),
        cloud.request("GET", "/network/v2.0/networks", token),
        cloud.request("GET", f"{person.credentials}/{made['id']}", token),
    ]
    assert [r.status_code for r in outside] == [401] * 4  # each in its own API's fault format
    assert cloud.request("GET", "/compute/v2.1/flavors", person.token).status_code == 200  # others are unaffected


# ---------------------------------------------------------------------------------------------------------------
# The clients automation uses: the openstack CLI and openstacksdk, from a clouds.yaml entry of type
# v3applicationcredential.


def _clouds_yaml(path: Path, cloud, person: Person, credential: dict | None = None) -> Path:
    clouds: dict[str, dict] = {
        "person": {
            "auth": {
                "auth_url": cloud.server.auth_url,
                "username": person.name,
                "password": person.password,
                "project_name": person.project_name,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": "RegionOne",
            "identity_api_version": 3,
        }
    }
    if credential:
        clouds["automation"] = {
            "auth_type": "v3applicationcredential",
            "auth": {
                "auth_url": cloud.server.auth_url,
                "application_credential_id": credential["id"],
                "application_credential_secret": credential["secret"],
            },
            "region_name": "RegionOne",
            "identity_api_version": 3,
        }
    path.write_text(yaml.safe_dump({"clouds": clouds}))
    return path


def _cli(clouds_yaml: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return warm_cli.run_cloud(clouds_yaml, name, *args)


def _cli_json(clouds_yaml: Path, name: str, *args: str):
    result = _cli(clouds_yaml, name, *args, "-f", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.one_database
def test_openstack_cli_manages_credentials_and_signs_in_with_one(cloud, person, tmp_path):
    config = _clouds_yaml(tmp_path / "clouds.yaml", cloud, person)
    made = _cli_json(config, "person", "application", "credential", "create", "--role", "member", "automation")
    listed = _cli_json(config, "person", "application", "credential", "list")
    shown = _cli_json(config, "person", "application", "credential", "show", "automation")
    _clouds_yaml(config, cloud, person, {"id": made["ID"], "secret": made["Secret"]})

    token = _cli_json(config, "automation", "token", "issue")
    servers = _cli(config, "automation", "server", "list")
    deleted = _cli(config, "person", "application", "credential", "delete", "automation")
    after = _cli(config, "automation", "token", "issue")

    assert made["Secret"] and made["Project ID"] == person.project_id
    assert [c["Name"] for c in listed] == ["automation"] and shown["ID"] == made["ID"] and shown.get("Secret") is None
    assert token["project_id"] == person.project_id and token["user_id"] == person.id
    assert servers.returncode == 0, servers.stderr
    assert deleted.returncode == 0, deleted.stderr
    assert after.returncode != 0 and "401" in after.stderr


@pytest.mark.one_database
def test_openstacksdk_connects_with_a_clouds_yaml_application_credential(cloud, person, tmp_path):
    made = _create(cloud, person, name="sdk")
    config = _clouds_yaml(tmp_path / "clouds.yaml", cloud, person, made)
    region = openstack.config.OpenStackConfig(config_files=[str(config)]).get_one(cloud="automation")
    conn = openstack.connection.Connection(config=region)

    assert conn.current_project_id == person.project_id and conn.current_user_id == person.id
    assert list(conn.compute.servers()) == []
    mine = conn.identity.get_application_credential(person.id, made["id"])
    assert mine.name == "sdk" and mine.unrestricted is False
