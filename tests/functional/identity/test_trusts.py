"""Trusts (OS-TRUST) over real HTTP: a trustor delegates roles on a project to a trustee, who signs in with the
trust; Keystone's shapes, checks and errors, and trust-scoped tokens that stop working when the trust, the role or
either user goes away."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests import warm_cli

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]  # uses taken by a compare-and-swap, cascades

TRUSTS = "/identity/v3/OS-TRUST/trusts"
AUTH = "/identity/v3/auth/tokens"


@dataclass
class Person:
    """A user with the member role on a project of their own, and a token scoped to it."""

    id: str
    name: str
    password: str
    project_id: str
    token: str


def _person(cloud, name: str) -> Person:
    admin = cloud.admin_token()
    project = cloud.request("POST", "/identity/v3/projects", admin, json={"project": {"name": name}}).json()
    user = cloud.request("POST", "/identity/v3/users", admin, json={"user": {"name": name, "password": "pw"}}).json()
    project_id, user_id = project["project"]["id"], user["user"]["id"]
    grant = f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{_role_id(cloud, 'member')}"
    assert cloud.request("PUT", grant, admin).status_code == 204
    token = cloud.session(name, "pw", project=name).get_token()
    return Person(user_id, name, "pw", project_id, token)


def _role_id(cloud, name: str) -> str:
    return cloud.request("GET", f"/identity/v3/roles?name={name}", cloud.admin_token()).json()["roles"][0]["id"]


@pytest.fixture
def trustor(cloud, unique) -> Person:
    return _person(cloud, unique + "-or")


@pytest.fixture
def trustee(cloud, unique) -> Person:
    return _person(cloud, unique + "-ee")


def _body(trustor: Person, trustee: Person, **fields) -> dict:
    trust = {
        "trustor_user_id": trustor.id,
        "trustee_user_id": trustee.id,
        "project_id": trustor.project_id,
        "impersonation": False,
        "roles": [{"name": "member"}],
    }
    return {"trust": trust | fields}


def _create(cloud, trustor: Person, trustee: Person, **fields) -> dict:
    response = cloud.request("POST", TRUSTS, trustor.token, json=_body(trustor, trustee, **fields))
    assert response.status_code == 201, response.text
    return response.json()["trust"]


def _trust_token(cloud, person: Person, trust_id: str):
    """A trust-scoped sign-in by ``person`` with their password, as keystoneauth sends it."""
    identity = {"methods": ["password"], "password": {"user": {"id": person.id, "password": person.password}}}
    body = {"auth": {"identity": identity, "scope": {"OS-TRUST:trust": {"id": trust_id}}}}
    return cloud.request("POST", AUTH, json=body)


def _trust_token_from(cloud, token: str, trust_id: str):
    """A trust-scoped token for the trustee's own token (the ``token`` method)."""
    body = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": token}},
            "scope": {"OS-TRUST:trust": {"id": trust_id}},
        }
    }
    return cloud.request("POST", AUTH, json=body)


def _validate(cloud, token: str):
    return cloud.request("GET", AUTH, token, headers={"X-Subject-Token": token})


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["message"]


# ---------------------------------------------------------------------------------------------------------------
# Creating, reading and deleting trusts.


def test_the_trustor_makes_a_trust_that_both_users_see_with_its_delegated_roles(cloud, trustor, trustee):
    member, reader = _role_id(cloud, "member"), _role_id(cloud, "reader")
    made = _create(cloud, trustor, trustee)
    path = f"{TRUSTS}/{made['id']}"
    by_trustor = cloud.request("GET", path, trustor.token).json()["trust"]
    by_trustee = cloud.request("GET", path, trustee.token).json()["trust"]
    roles = cloud.request("GET", f"{path}/roles", trustee.token).json()
    role = cloud.request("GET", f"{path}/roles/{member}", trustor.token)
    head = cloud.request("HEAD", f"{path}/roles/{member}", trustor.token)
    other = cloud.request("GET", f"{path}/roles/{reader}", trustor.token)
    other_head = cloud.request("HEAD", f"{path}/roles/{reader}", trustor.token)

    assert made == by_trustor == by_trustee
    assert made["trustor_user_id"] == trustor.id and made["trustee_user_id"] == trustee.id
    assert made["project_id"] == trustor.project_id and made["impersonation"] is False
    assert made["expires_at"] is None and made["remaining_uses"] is None and made["redelegation_count"] == 0
    assert made["links"]["self"].endswith(f"/v3/OS-TRUST/trusts/{made['id']}")
    assert [(r["id"], r["name"]) for r in made["roles"]] == [(member, "member")]
    assert made["roles"][0]["links"]["self"].endswith(f"/v3/roles/{member}")
    assert made["roles_links"]["self"].endswith(f"/v3/OS-TRUST/trusts/{made['id']}/roles")
    assert [r["id"] for r in roles["roles"]] == [member] and "links" in roles
    assert role.status_code == 200 and role.json()["role"]["name"] == "member"
    assert head.status_code == 200 and head.content == b""
    assert _error(other) == (404, f"Could not find role: {reader}.") and other_head.status_code == 404


def test_an_expiry_is_kept_to_the_second_and_shown_with_microseconds(cloud, trustor, trustee):
    expires = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    made = _create(cloud, trustor, trustee, expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"))
    shown = cloud.request("GET", f"{TRUSTS}/{made['id']}", trustee.token).json()["trust"]

    assert made["expires_at"] == shown["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def test_the_trustor_deletes_the_trust_and_its_tokens_stop_working_at_once(cloud, trustor, trustee):
    made = _create(cloud, trustor, trustee)
    token = _trust_token(cloud, trustee, made["id"]).headers["X-Subject-Token"]
    assert cloud.request("GET", "/compute/v2.1/flavors", token).status_code == 200
    by_trustee = cloud.request("DELETE", f"{TRUSTS}/{made['id']}", trustee.token)
    deleted = cloud.request("DELETE", f"{TRUSTS}/{made['id']}", trustor.token)

    assert by_trustee.status_code == 403
    assert deleted.status_code == 204
    assert cloud.request("GET", "/compute/v2.1/flavors", token).status_code == 401
    assert cloud.request("GET", f"{TRUSTS}/{made['id']}", trustor.token).status_code == 404
    assert cloud.request("DELETE", f"{TRUSTS}/{made['id']}", trustor.token).status_code == 404
    assert _error(_trust_token(cloud, trustee, made["id"])) == (404, f"Could not find trust: {made['id']}.")


def test_an_unknown_or_overlong_trust_id_is_404(cloud, trustor):
    for trust_id in ("nope", "x" * 300):
        for method, suffix in (("GET", ""), ("DELETE", ""), ("GET", "/roles"), ("HEAD", "/roles/r")):
            response = cloud.request(method, f"{TRUSTS}/{trust_id}{suffix}", trustor.token)
            assert response.status_code == 404, (method, suffix, response.text)


# ---------------------------------------------------------------------------------------------------------------
# Hostile and bad requests.


def test_nobody_makes_a_trust_in_another_users_name(cloud, trustor, trustee):
    response = cloud.request("POST", TRUSTS, trustee.token, json=_body(trustor, trustee))

    assert _error(response) == (403, "You are not authorized to perform the requested action: identity:create_trust.")


def test_a_role_the_trustor_does_not_hold_there_is_404_as_in_keystone(cloud, trustor, trustee):
    admin, member = _role_id(cloud, "admin"), _role_id(cloud, "member")
    not_held = cloud.request("POST", TRUSTS, trustor.token, json=_body(trustor, trustee, roles=[{"id": admin}]))
    unknown = cloud.request("POST", TRUSTS, trustor.token, json=_body(trustor, trustee, roles=[{"name": "nope-x"}]))
    # member on their own project, but not on the trustee's
    elsewhere = _body(trustor, trustee, project_id=trustee.project_id, roles=[{"id": member}])
    other_project = cloud.request("POST", TRUSTS, trustor.token, json=elsewhere)
    no_project = cloud.request("POST", TRUSTS, trustor.token, json=_body(trustor, trustee, project_id="nope"))

    assert _error(not_held) == (404, f"Could not find role: {admin}.")
    assert _error(unknown) == (404, "Could not find role: nope-x.")
    assert _error(other_project) == (404, f"Could not find role: {member}.")
    assert _error(no_project) == (404, "Could not find project: nope.")


def test_an_implied_role_may_be_delegated(cloud, trustor, trustee):
    made = _create(cloud, trustor, trustee, roles=[{"name": "reader"}])
    token = _trust_token(cloud, trustee, made["id"]).json()["token"]

    assert [r["name"] for r in made["roles"]] == ["reader"]
    assert [r["name"] for r in token["roles"]] == ["reader"]


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"impersonation": None}, 400),
        ({"impersonation": "yes"}, 400),
        ({"trustee_user_id": None}, 400),
        ({"remaining_uses": 0}, 400),
        ({"remaining_uses": -1}, 400),
        ({"remaining_uses": "2"}, 400),
        ({"expires_at": "bad.123Z"}, 400),
        ({"expires_at": "2001-01-01T00:00:00Z"}, 400),
        ({"expires_at": "9999-12-31T23:59:59-23:59"}, 400),
        ({"remaining_uses": 2**40}, 400),
        ({"roles": [{"id": "a", "name": "b"}]}, 400),
        ({"roles": [{"domain": "x"}]}, 400),
        ({"roles": "member"}, 400),
        ({"redelegation_count": -1}, 400),
        ({"roles": []}, 403),
        ({"trustee_user_id": "nobody"}, 404),
    ],
)
def test_a_bad_trust_is_refused_with_keystones_status(cloud, trustor, trustee, fields, status):
    body = _body(trustor, trustee, **fields)
    body["trust"] = {k: v for k, v in body["trust"].items() if v is not None}
    response = cloud.request("POST", TRUSTS, trustor.token, json=body)

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == status
    assert cloud.request("GET", f"{TRUSTS}?trustor_user_id={trustor.id}", trustor.token).json()["trusts"] == []


def test_no_role_on_a_project_is_keystones_403_and_a_malformed_document_400(cloud, trustor, trustee):
    no_roles = cloud.request("POST", TRUSTS, trustor.token, json=_body(trustor, trustee, roles=[]))
    not_an_object = cloud.request("POST", TRUSTS, trustor.token, json={"trust": []})
    extra_top = cloud.request("POST", TRUSTS, trustor.token, json=_body(trustor, trustee) | {"other": 1})

    assert _error(no_roles) == (
        403,
        "You are not authorized to perform the requested action: At least one role should be specified.",
    )
    assert not_an_object.status_code == 403  # the policy sees no trustor in it, as Keystone's
    assert extra_top.status_code == 400


def test_redelegation_is_refused_as_keystone_does_with_a_depth_of_zero(cloud, trustor, trustee):
    deep = cloud.request(
        "POST", TRUSTS, trustor.token, json=_body(trustor, trustee, allow_redelegation=True, redelegation_count=2)
    )
    counted = _body(trustor, trustee, allow_redelegation=True, remaining_uses=3)
    limited = cloud.request("POST", TRUSTS, trustor.token, json=counted)
    plain = _create(cloud, trustor, trustee, allow_redelegation=True)

    assert _error(deep) == (403, "Requested redelegation depth of 2 is greater than allowed 0.")
    assert _error(limited) == (400, "remaining_uses must not be set if redelegation is allowed.")
    assert plain["redelegation_count"] == 0


def test_a_user_lists_only_the_trusts_they_made_or_were_given(cloud, trustor, trustee, unique):
    stranger = _person(cloud, unique + "-x")
    made = _create(cloud, trustor, trustee)
    mine = cloud.request("GET", f"{TRUSTS}?trustor_user_id={trustor.id}", trustor.token).json()["trusts"]
    given = cloud.request("GET", f"{TRUSTS}?trustee_user_id={trustee.id}", trustee.token).json()["trusts"]
    others = cloud.request("GET", f"{TRUSTS}?trustor_user_id={trustor.id}", stranger.token)
    others_given = cloud.request("GET", f"{TRUSTS}?trustee_user_id={trustee.id}", stranger.token)
    everyone = cloud.request("GET", TRUSTS, trustor.token)
    by_admin = cloud.request("GET", TRUSTS, cloud.admin_token()).json()["trusts"]
    peek = cloud.request("GET", f"{TRUSTS}/{made['id']}", stranger.token)
    peek_roles = cloud.request("GET", f"{TRUSTS}/{made['id']}/roles", stranger.token)
    steal = cloud.request("DELETE", f"{TRUSTS}/{made['id']}", stranger.token)

    summary = {k: v for k, v in made.items() if k not in ("roles", "roles_links")}
    assert mine == given == [summary]
    assert others.status_code == others_given.status_code == everyone.status_code == 403
    assert summary in by_admin
    assert peek.status_code == peek_roles.status_code == steal.status_code == 403
    assert cloud.request("GET", f"{TRUSTS}/{made['id']}", trustor.token).status_code == 200


# ---------------------------------------------------------------------------------------------------------------
# Trust-scoped tokens.


def test_the_trustee_gets_the_trust_roles_on_the_trustors_project_as_themself(cloud, trustor, trustee):
    made = _create(cloud, trustor, trustee)
    issued = _trust_token(cloud, trustee, made["id"])
    token = issued.json()["token"]
    validated = _validate(cloud, issued.headers["X-Subject-Token"]).json()["token"]

    assert issued.status_code == 201
    assert token["user"]["id"] == trustee.id and token["project"]["id"] == trustor.project_id
    assert sorted(r["name"] for r in token["roles"]) == ["member", "reader"]
    assert token["OS-TRUST:trust"] == {
        "id": made["id"],
        "impersonation": False,
        "trustor_user": {"id": trustor.id},
        "trustee_user": {"id": trustee.id},
    }
    assert validated["OS-TRUST:trust"] == token["OS-TRUST:trust"] and validated["user"] == token["user"]


def test_an_impersonating_trust_makes_the_trustor_the_tokens_user(cloud, trustor, trustee):
    made = _create(cloud, trustor, trustee, impersonation=True)
    issued = _trust_token(cloud, trustee, made["id"])
    token = issued.json()["token"]
    servers = cloud.request("GET", "/compute/v2.1/servers", issued.headers["X-Subject-Token"])

    assert token["user"]["id"] == trustor.id and token["user"]["name"] == trustor.name
    assert token["OS-TRUST:trust"]["impersonation"] is True
    assert token["OS-TRUST:trust"]["trustee_user"] == {"id": trustee.id}
    assert servers.status_code == 200


def test_only_the_trustee_signs_in_with_a_trust(cloud, trustor, trustee, unique):
    stranger = _person(cloud, unique + "-x")
    made = _create(cloud, trustor, trustee)

    assert _error(_trust_token(cloud, stranger, made["id"])) == (403, "User is not a trustee.")
    assert _error(_trust_token(cloud, trustor, made["id"])) == (403, "User is not a trustee.")
    assert _trust_token(cloud, trustee, "").status_code == 400
    assert _error(_trust_token(cloud, trustee, "nope")) == (404, "Could not find trust: nope.")


def test_remaining_uses_give_that_many_tokens_then_the_trust_is_404(cloud, trustor, trustee):
    made = _create(cloud, trustor, trustee, remaining_uses=2)
    first, second = (_trust_token(cloud, trustee, made["id"]) for _ in range(2))
    third = _trust_token(cloud, trustee, made["id"])

    assert first.status_code == second.status_code == 201
    assert _error(third) == (404, f"Could not find trust: {made['id']}.")
    assert cloud.request("GET", f"{TRUSTS}/{made['id']}", trustor.token).status_code == 404
    listed = cloud.request("GET", f"{TRUSTS}?trustor_user_id={trustor.id}", trustor.token).json()["trusts"]
    assert [t["remaining_uses"] for t in listed] == [0]
    # A token already issued keeps working: its use was taken when it was made.
    assert _validate(cloud, first.headers["X-Subject-Token"]).status_code == 200


def test_concurrent_sign_ins_never_take_more_uses_than_a_trust_has(cloud, trustor, trustee):
    made = _create(cloud, trustor, trustee, remaining_uses=3)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: _trust_token_from(cloud, trustee.token, made["id"]).status_code, range(8)))

    assert codes.count(201) == 3 and set(codes) <= {201, 403, 404}


def test_an_expired_trust_stops_its_tokens_and_is_404(cloud, trustor, trustee):
    expires = datetime.now(UTC) + timedelta(seconds=3)
    made = _create(cloud, trustor, trustee, expires_at=expires.isoformat())
    issued = _trust_token(cloud, trustee, made["id"])
    token = issued.json()["token"]
    assert datetime.fromisoformat(token["expires_at"]) <= expires
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.5)

    assert cloud.request("GET", "/compute/v2.1/flavors", issued.headers["X-Subject-Token"]).status_code == 401
    assert _error(_trust_token(cloud, trustee, made["id"])) == (404, f"Could not find trust: {made['id']}.")
    assert cloud.request("GET", f"{TRUSTS}/{made['id']}", trustor.token).status_code == 404


def test_the_trustor_losing_the_role_revokes_the_tokens_and_refuses_new_ones(cloud, trustor, trustee):
    made = _create(cloud, trustor, trustee)
    token = _trust_token(cloud, trustee, made["id"]).headers["X-Subject-Token"]
    grant = f"/identity/v3/projects/{trustor.project_id}/users/{trustor.id}/roles/{_role_id(cloud, 'member')}"
    assert cloud.request("DELETE", grant, cloud.admin_token()).status_code == 204

    assert cloud.request("GET", "/compute/v2.1/flavors", token).status_code == 401
    assert _error(_trust_token(cloud, trustee, made["id"])) == (403, "Trustee has no delegated roles.")


@pytest.mark.parametrize("who", ["trustor", "trustee"])
def test_disabling_either_user_revokes_the_trust_tokens(cloud, trustor, trustee, who):
    made = _create(cloud, trustor, trustee, impersonation=True)
    token = _trust_token(cloud, trustee, made["id"]).headers["X-Subject-Token"]
    user = trustor if who == "trustor" else trustee
    disable = {"user": {"enabled": False}}
    assert cloud.request("PATCH", f"/identity/v3/users/{user.id}", cloud.admin_token(), json=disable).ok

    assert cloud.request("GET", "/compute/v2.1/flavors", token).status_code == 401
    assert _trust_token(cloud, trustee, made["id"]).status_code in (401, 403)


def test_deleting_the_trustee_deletes_the_trust_and_its_tokens(cloud, trustor, trustee):
    made = _create(cloud, trustor, trustee)
    token = _trust_token(cloud, trustee, made["id"]).headers["X-Subject-Token"]
    assert cloud.request("DELETE", f"/identity/v3/users/{trustee.id}", cloud.admin_token()).status_code == 204

    assert cloud.request("GET", "/compute/v2.1/flavors", token).status_code == 401
    assert cloud.request("GET", f"{TRUSTS}/{made['id']}", trustor.token).status_code == 404


def test_a_trust_scoped_token_makes_no_trust_no_credential_and_no_other_token(cloud, trustor, trustee, unique):
    third = _person(cloud, unique + "-3")
    made = _create(cloud, trustor, trustee, impersonation=True)
    token = _trust_token(cloud, trustee, made["id"]).headers["X-Subject-Token"]
    redelegate = cloud.request("POST", TRUSTS, token, json=_body(trustor, third))
    credential = cloud.request(
        "POST",
        f"/identity/v3/users/{trustor.id}/application_credentials",
        token,
        json={"application_credential": {"name": "escape"}},
    )
    rescope = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}}
    again = cloud.request("POST", AUTH, json=rescope)

    assert _error(redelegate) == (403, "Remaining redelegation depth of 0 out of allowed range of [0..0].")
    assert credential.status_code == 403
    assert _error(again) == (
        403,
        "You are not authorized to perform the requested action: Using trust-scoped token to create another token. "
        "Create a new trust-scoped token instead.",
    )


# ---------------------------------------------------------------------------------------------------------------
# The clients: the openstack CLI and keystoneauth's trust sign-in.


def _clouds_yaml(path: Path, cloud, person: Person) -> Path:
    entry = {
        "auth": {
            "auth_url": cloud.server.auth_url,
            "username": person.name,
            "password": person.password,
            "project_name": person.name,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": "RegionOne",
        "identity_api_version": 3,
    }
    path.write_text(yaml.safe_dump({"clouds": {"person": entry}}))
    return path


def _cli_json(config: Path, *args: str):
    result = warm_cli.run_cloud(config, "person", *args, "-f", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.one_database
def test_openstack_cli_manages_trusts_and_keystoneauth_signs_in_with_one(cloud, trustor, trustee, tmp_path):
    config = _clouds_yaml(tmp_path / "clouds.yaml", cloud, trustor)
    made = _cli_json(
        config,
        "trust",
        "create",
        "--project",
        trustor.project_id,
        "--role",
        _role_id(cloud, "member"),
        "--impersonate",
        trustor.id,
        trustee.id,
    )
    listed = _cli_json(config, "trust", "list", "--trustor", trustor.id)
    shown = _cli_json(config, "trust", "show", made["id"])
    auth = v3.Password(
        auth_url=cloud.server.auth_url, user_id=trustee.id, password=trustee.password, trust_id=made["id"]
    )
    access = ks_session.Session(auth=auth).auth.get_access(ks_session.Session(auth=auth))
    deleted = warm_cli.run_cloud(config, "person", "trust", "delete", made["id"])

    assert made["project_id"] == trustor.project_id and made["is_impersonation"] is True
    assert made["trustor_user_id"] == trustor.id and made["trustee_user_id"] == trustee.id
    assert [t["ID"] for t in listed] == [made["id"]] and shown["id"] == made["id"]
    assert access.trust_scoped and access.trust_id == made["id"] and access.project_id == trustor.project_id
    assert access.user_id == trustor.id and "member" in access.role_names
    assert deleted.returncode == 0, deleted.stderr
    assert warm_cli.run_cloud(config, "person", "trust", "show", made["id"]).returncode != 0
