"""A domain whose users and groups come from a real OpenLDAP directory shaped like Active Directory (read-only).

slapd runs on a loopback port with its own config (tests/functional/identity/slapd_server.py); the domain's
configuration is Keystone's ``[identity] driver = ldap`` and ``[ldap]`` options, PUT through the API.
"""

from __future__ import annotations

import http.client
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from common.settings import Settings
from tests import warm_cli
from tests.functional.identity import slapd_server

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(not slapd_server.available(), reason="slapd (Debian's slapd package) is not installed"),
]

SUFFIX = slapd_server.SUFFIX
USERS = [
    # cn (the local id), sAMAccountName (the name), password, userAccountControl (514: disabled), memberOf
    ("Alice Smith", "alice", "alice-pw", 512, ["devs"]),
    ("Bob Jones", "bob", "bob-pw", 514, ["devs"]),
    ("Carol King", "carol", "carol-pw", 512, ["ops"]),
]
GROUPS = {"devs": ["Alice Smith", "Bob Jones"], "ops": []}  # carol is in ops by her own memberOf only

_RAW = os.urandom(3)
SOURCE = f"127.{_RAW[0] % 250 + 2}.{_RAW[1]}.{_RAW[2] % 250 + 2}"
"""This module's own loopback address: its failed sign-ins never count against the address other tests use."""


def ldap_config(url: str) -> dict:
    """The worked AD-style configuration of the README."""
    return {
        "identity": {"driver": "ldap"},
        "ldap": {
            "url": url,
            "user": slapd_server.BIND_DN,
            "password": slapd_server.BIND_PASSWORD,
            "suffix": SUFFIX,
            "query_scope": "one",
            "page_size": 2,
            "user_tree_dn": f"ou=People,{SUFFIX}",
            "user_objectclass": "user",
            "user_id_attribute": "cn",
            "user_name_attribute": "sAMAccountName",
            "user_mail_attribute": "mail",
            "user_enabled_attribute": "userAccountControl",
            "user_enabled_mask": 2,
            "user_enabled_default": "512",
            "user_filter": "(objectClass=person)",
            "group_tree_dn": f"ou=Groups,{SUFFIX}",
            "group_objectclass": "group",
            "group_id_attribute": "cn",
            "group_name_attribute": "cn",
            "group_member_attribute": "member",
            "group_members_are_ids": False,
            "group_ad_nesting": True,
        },
    }


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    with slapd_server.running(tmp_path_factory.mktemp("slapd") / "run", USERS, GROUPS) as server:
        yield server


def _domain(cloud, token: str, config: dict) -> str:
    name = f"ldap-{uuid.uuid4().hex[:8]}"
    made = cloud.request("POST", "/identity/v3/domains", token, json={"domain": {"name": name}})
    assert made.status_code == 201, made.text
    domain_id = made.json()["domain"]["id"]
    put = cloud.request("PUT", f"/identity/v3/domains/{domain_id}/config", token, json={"config": config})
    assert put.status_code == 201, put.text
    return domain_id


@pytest.fixture(scope="module")
def domain(cloud, slapd) -> dict:
    token = cloud.admin_token()
    domain_id = _domain(cloud, token, ldap_config(slapd.url))
    name = cloud.request("GET", f"/identity/v3/domains/{domain_id}", token).json()["domain"]["name"]
    return {"id": domain_id, "name": name}


def _users(cloud, token: str, domain_id: str, query: str = "") -> dict[str, dict]:
    answer = cloud.request("GET", f"/identity/v3/users?domain_id={domain_id}{query}", token)
    assert answer.status_code == 200, answer.text
    return {u["name"]: u for u in answer.json()["users"]}


@dataclass
class Answer:
    status_code: int
    text: str
    token_id: str | None = None

    def json(self) -> Any:
        return json.loads(self.text)


def _sign_in(cloud, domain_name: str, name: str, password: str, project: str | None = None) -> Answer:
    """POST /v3/auth/tokens from this module's own address."""
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": name, "password": password, "domain": {"name": domain_name}}},
        }
    }
    if project:
        auth["scope"] = {"project": {"id": project}}
    url = urlsplit(cloud.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60, source_address=(SOURCE, 0))
    try:
        headers = {"Content-Type": "application/json"}
        connection.request("POST", "/identity/v3/auth/tokens", json.dumps({"auth": auth}), headers)
        response = connection.getresponse()
        return Answer(response.status, response.read().decode(), response.getheader("X-Subject-Token"))
    finally:
        connection.close()


def test_bad_ldap_options_are_a_400_at_put_and_the_bind_password_is_never_shown(cloud, domain):
    token = cloud.admin_token()
    path = f"/identity/v3/domains/{domain['id']}/config"
    bad = [
        {"url": "ldap://"},
        {"user_tree_dn": "not a dn"},
        {"user_filter": "(objectClass=person"},
        {"group_filter": "(a=b)(c=d)"},
        {"page_size": "ten"},
        {"user_enabled_mask": -1},
        {"query_scope": "everything"},
        {"user_name_attribute": "bad attr)"},
        {"use_tls": "maybe"},
    ]
    for options in bad:
        answer = cloud.request("PUT", path, token, json={"config": {"identity": {"driver": "ldap"}, "ldap": options}})
        assert answer.status_code == 400, (options, answer.text)
        assert answer.json()["error"]["code"] == 400

    shown = cloud.request("GET", path, token).json()["config"]
    assert "password" not in shown["ldap"] and shown["ldap"]["page_size"] == 2
    assert cloud.request("GET", f"{path}/ldap/password", token).status_code in (403, 404)


def test_users_and_groups_are_listed_and_shown_from_the_directory(cloud, domain):
    token = cloud.admin_token()
    users = _users(cloud, token, domain["id"])
    again = _users(cloud, token, domain["id"])

    assert set(users) == {"alice", "bob", "carol"}  # three users on two pages of page_size 2
    assert {n: u["id"] for n, u in users.items()} == {n: u["id"] for n, u in again.items()}  # stable public ids
    assert users["alice"]["enabled"] is True and users["bob"]["enabled"] is False  # userAccountControl 514
    assert users["alice"]["email"] == "alice@corp.example" and users["alice"]["domain_id"] == domain["id"]
    shown = cloud.request("GET", f"/identity/v3/users/{users['alice']['id']}", token).json()["user"]
    assert shown["name"] == "alice"
    assert set(_users(cloud, token, domain["id"], "&name=carol")) == {"carol"}

    groups = cloud.request("GET", f"/identity/v3/groups?domain_id={domain['id']}", token).json()["groups"]
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"devs", "ops"} and by_name["devs"]["description"] == "the devs"
    members = cloud.request("GET", f"/identity/v3/groups/{by_name['devs']['id']}/users", token).json()["users"]
    ops = cloud.request("GET", f"/identity/v3/groups/{by_name['ops']['id']}/users", token).json()["users"]
    assert sorted(u["name"] for u in members) == ["alice", "bob"]
    assert [u["name"] for u in ops] == ["carol"]  # from carol's memberOf (group_ad_nesting)


def test_the_domains_list_limit_truncates_its_lists(cloud, slapd):
    token = cloud.admin_token()
    config = ldap_config(slapd.url)
    config["identity"]["list_limit"] = 2
    domain_id = _domain(cloud, token, config)
    users = cloud.request("GET", f"/identity/v3/users?domain_id={domain_id}", token).json()
    groups = cloud.request("GET", f"/identity/v3/groups?domain_id={domain_id}", token).json()
    assert len(users["users"]) == 2 and users["truncated"] is True
    assert len(groups["groups"]) == 2 and "truncated" not in groups  # two groups: nothing left out


def test_sign_in_binds_as_the_user_and_refuses_wrong_empty_and_disabled(cloud, domain):
    right = _sign_in(cloud, domain["name"], "alice", "alice-pw")
    wrong = _sign_in(cloud, domain["name"], "alice", "not-her-password")
    empty = _sign_in(cloud, domain["name"], "alice", "")
    disabled = _sign_in(cloud, domain["name"], "bob", "bob-pw")
    nobody = _sign_in(cloud, domain["name"], "nobody", "x")

    assert right.status_code == 201, right.text
    assert right.json()["token"]["user"]["domain"]["id"] == domain["id"]
    assert right.json()["token"]["user"]["name"] == "alice"
    assert wrong.status_code == 401 and empty.status_code in (400, 401)
    assert disabled.status_code == 401 and nobody.status_code == 401
    assert wrong.json()["error"]["code"] == 401


def test_a_role_on_an_ldap_group_lets_its_members_in(cloud, domain, unique):
    token = cloud.admin_token()
    project = cloud.request("POST", "/identity/v3/projects", token, json={"project": {"name": unique}}).json()
    project_id = project["project"]["id"]
    role = cloud.request("POST", "/identity/v3/roles", token, json={"role": {"name": unique}}).json()["role"]
    groups = cloud.request("GET", f"/identity/v3/groups?domain_id={domain['id']}&name=devs", token).json()["groups"]
    devs = groups[0]["id"]
    granted = cloud.request("PUT", f"/identity/v3/projects/{project_id}/groups/{devs}/roles/{role['id']}", token)
    assert granted.status_code == 204, granted.text

    alice = _sign_in(cloud, domain["name"], "alice", "alice-pw", project=project_id)
    carol = _sign_in(cloud, domain["name"], "carol", "carol-pw", project=project_id)
    assert alice.status_code == 201, alice.text
    assert role["name"] in {r["name"] for r in alice.json()["token"]["roles"]}
    assert carol.status_code == 401  # not in devs: no role on the project

    alice_id = alice.json()["token"]["user"]["id"]
    effective = cloud.request(
        "GET", f"/identity/v3/role_assignments?effective&user.id={alice_id}&scope.project.id={project_id}", token
    ).json()["role_assignments"]
    assert [(a["role"]["id"], a["links"].get("membership", "")) for a in effective] == [
        (role["id"], effective[0]["links"]["membership"])
    ]
    assert devs in effective[0]["links"]["membership"]


def test_writes_to_an_ldap_domain_are_refused(cloud, domain):
    token = cloud.admin_token()
    users = _users(cloud, token, domain["id"])
    alice = users["alice"]["id"]
    groups = cloud.request("GET", f"/identity/v3/groups?domain_id={domain['id']}", token).json()["groups"]
    group = groups[0]["id"]
    attempts = [
        ("POST", "/identity/v3/users", {"user": {"name": "mallory", "domain_id": domain["id"], "password": "p"}}),
        ("PATCH", f"/identity/v3/users/{alice}", {"user": {"description": "changed"}}),
        ("DELETE", f"/identity/v3/users/{alice}", None),
        ("POST", "/identity/v3/groups", {"group": {"name": "new", "domain_id": domain["id"]}}),
        ("PATCH", f"/identity/v3/groups/{group}", {"group": {"description": "changed"}}),
        ("DELETE", f"/identity/v3/groups/{group}", None),
        ("PUT", f"/identity/v3/groups/{group}/users/{users['carol']['id']}", None),
        ("DELETE", f"/identity/v3/groups/{group}/users/{alice}", None),
    ]
    for method, path, body in attempts:
        answer = cloud.request(method, path, token, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["error"]["message"] == "LDAP does not support write operations"
    change = cloud.request(
        "POST",
        f"/identity/v3/users/{alice}/password",
        json={"user": {"original_password": "alice-pw", "password": "new-pw"}},
    )
    assert change.status_code == 403
    assert _sign_in(cloud, domain["name"], "alice", "alice-pw").status_code == 201  # nothing changed


@pytest.mark.parametrize("hostile", ["*", "a*", ")(cn=*", "*)(|(sAMAccountName=*", "alice\x00", "\\2a"])
def test_hostile_names_find_nothing_and_break_nothing(cloud, domain, hostile):
    token = cloud.admin_token()
    listed = cloud.request("GET", "/identity/v3/users", token, params={"domain_id": domain["id"], "name": hostile})
    groups = cloud.request("GET", "/identity/v3/groups", token, params={"domain_id": domain["id"], "name": hostile})
    signed = _sign_in(cloud, domain["name"], hostile, "alice-pw")

    if "\x00" in hostile:  # refused in any URL before a handler runs; the JSON sign-in below still carries it
        assert listed.status_code == groups.status_code == 400 and listed.json()["error"]["code"] == 400
    else:
        assert listed.status_code == 200 and listed.json()["users"] == [], listed.text
        assert groups.status_code == 200 and groups.json()["groups"] == []
    assert signed.status_code in (400, 401)
    assert set(_users(cloud, token, domain["id"])) == {"alice", "bob", "carol"}


def test_a_directory_that_is_down_is_a_503_not_a_500(cloud):
    token = cloud.admin_token()
    domain_id = _domain(cloud, token, ldap_config(f"ldap://127.0.0.1:{slapd_server.free_port()}"))
    name = cloud.request("GET", f"/identity/v3/domains/{domain_id}", token).json()["domain"]["name"]

    listed = cloud.request("GET", f"/identity/v3/users?domain_id={domain_id}", token)
    signed = _sign_in(cloud, name, "alice", "alice-pw")
    assert listed.status_code == 503 and listed.json()["error"]["code"] == 503
    assert "unavailable" in listed.json()["error"]["message"]
    assert signed.status_code == 503
    # and a directory down in one domain leaves every other listing working
    assert cloud.request("GET", "/identity/v3/users?domain_id=default", token).status_code == 200
    assert cloud.request("GET", "/identity/v3/users", token).status_code == 200


def test_a_url_keystone_stores_but_no_directory_speaks_is_a_503_when_used(cloud):
    """Keystone (and Tempest's domain configuration tests) store any URL; using an https:// one explains itself."""
    token = cloud.admin_token()
    domain_id = _domain(cloud, token, ldap_config("https://url-1234.com"))
    listed = cloud.request("GET", f"/identity/v3/users?domain_id={domain_id}", token)
    assert listed.status_code == 503 and "ldap:// or ldaps://" in listed.json()["error"]["message"]


def test_openstack_cli_lists_the_directory_and_an_ldap_user_gets_a_token(cloud, domain, tmp_path: Path):
    listed = cloud.openstack("stratus-admin", "user", "list", "--domain", domain["id"], "-f", "json")
    groups = cloud.openstack("stratus-admin", "group", "list", "--domain", domain["id"], "-f", "json")
    members = cloud.openstack(
        "stratus-admin", "user", "list", "--group", "devs", "--domain", domain["id"], "-f", "json"
    )
    assert {u["Name"] for u in json.loads(listed.stdout)} == {"alice", "bob", "carol"}
    assert {g["Name"] for g in json.loads(groups.stdout)} == {"devs", "ops"}
    assert {u["Name"] for u in json.loads(members.stdout)} == {"alice", "bob"}

    entry = {
        "auth": {
            "auth_url": cloud.server.auth_url,
            "username": "alice",
            "password": "alice-pw",
            "user_domain_name": domain["name"],
            "domain_name": domain["name"],
        },
        "region_name": "RegionOne",
        "identity_api_version": 3,
    }
    config = tmp_path / "clouds.yaml"
    config.write_text(yaml.safe_dump({"clouds": {"alice": entry}}))
    alice_id = listed_id(listed, "alice")
    path = f"/identity/v3/domains/{domain['id']}/users/{alice_id}/roles/{role_id(cloud, 'reader')}"
    assert cloud.request("PUT", path, cloud.admin_token()).status_code == 204  # a direct grant to an LDAP user
    issued = warm_cli.run_cloud(config, "alice", "token", "issue", "-f", "json")
    assert issued.returncode == 0, issued.stderr
    assert json.loads(issued.stdout)["user_id"] == alice_id


def listed_id(listed, name: str) -> str:
    return next(u["ID"] for u in json.loads(listed.stdout) if u["Name"] == name)


def role_id(cloud, name: str) -> str:
    roles = cloud.request("GET", f"/identity/v3/roles?name={name}", cloud.admin_token()).json()["roles"]
    return roles[0]["id"]


def test_lockout_counts_an_ldap_users_wrong_passwords(cloud, domain):
    """carol (no test after this one signs her in) is locked after the limit, even with her right password."""
    for _ in range(Settings.lockout_failure_attempts):
        assert _sign_in(cloud, domain["name"], "carol", "wrong").status_code == 401
    locked = _sign_in(cloud, domain["name"], "carol", "carol-pw")
    assert locked.status_code == 401 and "locked" in locked.json()["error"]["message"]


def _directory_admin(slapd) -> Any:
    from identity.backends.ldap import ldap3  # imported there with pyasn1's deprecation warnings silenced

    host, port = urlsplit(slapd.url).hostname, urlsplit(slapd.url).port
    return ldap3.Connection(
        ldap3.Server(host, port=port), slapd_server.ROOT_DN, slapd_server.ROOT_PASSWORD, auto_bind=True
    )


def test_showing_a_user_reads_the_directory_again(cloud, domain, slapd):
    """Last in the module: it adds dave to the directory, disables him there, then removes him."""
    admin = _directory_admin(slapd)
    try:
        _dave_comes_and_goes(cloud, domain, admin)
    finally:
        admin.unbind()


def _dave_comes_and_goes(cloud, domain, admin) -> None:
    token = cloud.admin_token()
    dn = f"cn=Dave Null,ou=People,{SUFFIX}"
    attributes = {"cn": "Dave Null", "sn": "Null", "sAMAccountName": "dave", "userAccountControl": "512"}
    assert admin.add(dn, ["user"], {**attributes, "userPassword": "dave-pw"}), admin.result
    dave = _users(cloud, token, domain["id"], "&name=dave")["dave"]
    signed = _sign_in(cloud, domain["name"], "dave", "dave-pw")
    assert signed.status_code == 201
    dave_token = signed.json()["token"]
    subject = {"X-Subject-Token": signed.token_id}
    assert cloud.request("GET", "/identity/v3/auth/tokens", token, headers=subject).status_code == 200

    assert admin.modify(dn, {"userAccountControl": [("MODIFY_REPLACE", ["514"])]}), admin.result
    shown = cloud.request("GET", f"/identity/v3/users/{dave['id']}", token)
    assert shown.status_code == 200 and shown.json()["user"]["enabled"] is False
    assert cloud.request("GET", "/identity/v3/auth/tokens", token, headers=subject).status_code == 404

    assert admin.delete(dn), admin.result
    gone = cloud.request("GET", f"/identity/v3/users/{dave['id']}", token)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == 404
    assert dave_token["user"]["id"] == dave["id"]
