"""Keystone's domain configuration API over real HTTP: stored per domain, only Keystone's options, password hidden."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

V3 = "/identity/v3"
CONFIG = {
    "identity": {"driver": "ldap"},
    "ldap": {"url": "ldap://myldap.com:389/", "user_tree_dn": "ou=Users,dc=example,dc=org", "password": "s3cret"},
}
SHOWN = {
    "identity": {"driver": "ldap"},
    "ldap": {"url": "ldap://myldap.com:389/", "user_tree_dn": "ou=Users,dc=example,dc=org"},
}


def _domain(cloud, name: str, token: str) -> str:
    response = cloud.request("POST", f"{V3}/domains", token, json={"domain": {"name": name}})
    assert response.status_code == 201, response.text
    return response.json()["domain"]["id"]


def test_defaults_list_keystones_options_without_the_password(cloud):
    token = cloud.admin_token()
    everything = cloud.request("GET", f"{V3}/domains/config/default", token).json()["config"]
    assert everything["identity"] == {"driver": "sql", "list_limit": None}
    assert "url" in everything["ldap"] and "password" not in everything["ldap"]
    ldap = cloud.request("GET", f"{V3}/domains/config/ldap/default", token).json()["config"]
    assert ldap == {"ldap": everything["ldap"]}
    for option in ldap["ldap"]:
        one = cloud.request("GET", f"{V3}/domains/config/ldap/{option}/default", token)
        assert one.status_code == 200 and one.json()["config"] == {option: ldap["ldap"][option]}
    assert cloud.request("GET", f"{V3}/domains/config/identity/driver/default", token).json() == {
        "config": {"driver": "sql"}
    }
    assert cloud.request("GET", f"{V3}/domains/config/nova/default", token).status_code == 403
    assert cloud.request("GET", f"{V3}/domains/config/ldap/password/default", token).status_code == 403
    assert cloud.request("GET", f"{V3}/domains/config/ldap/colour/default", token).status_code == 403


def test_create_show_update_and_delete_a_domain_config(cloud, unique):
    token = cloud.admin_token()
    domain = _domain(cloud, unique, token)
    config = f"{V3}/domains/{domain}/config"
    assert cloud.request("GET", config, token).status_code == 404

    created = cloud.request("PUT", config, token, json={"config": CONFIG})
    assert created.status_code == 201 and created.json()["config"] == SHOWN
    assert cloud.request("GET", config, token).json()["config"] == SHOWN
    assert cloud.request("GET", f"{config}/ldap", token).json()["config"] == {"ldap": SHOWN["ldap"]}
    assert cloud.request("GET", f"{config}/ldap/url", token).json()["config"] == {"url": "ldap://myldap.com:389/"}
    assert cloud.request("GET", f"{config}/ldap/password", token).status_code == 404  # stored, never shown
    assert cloud.request("GET", f"{config}/ldap/group_tree_dn", token).status_code == 404  # not set

    whole = cloud.request("PATCH", config, token, json={"config": {"ldap": {"url": "ldap://other/"}}})
    assert whole.status_code == 200 and whole.json()["config"]["ldap"]["url"] == "ldap://other/"
    group = cloud.request("PATCH", f"{config}/identity", token, json={"config": {"identity": {"list_limit": 5}}})
    assert group.json()["config"]["identity"] == {"driver": "ldap", "list_limit": 5}
    option = cloud.request("PATCH", f"{config}/identity/driver", token, json={"config": {"driver": "sql"}})
    assert option.status_code == 200 and option.json()["config"]["identity"]["driver"] == "sql"

    assert cloud.request("DELETE", f"{config}/identity/driver", token).status_code == 204
    assert cloud.request("GET", f"{config}/identity/driver", token).status_code == 404
    assert cloud.request("DELETE", f"{config}/identity/driver", token).status_code == 404
    assert cloud.request("DELETE", f"{config}/identity", token).status_code == 204
    assert cloud.request("GET", f"{config}/identity", token).status_code == 404

    replaced = cloud.request("PUT", config, token, json={"config": {"identity": {"driver": "ldap"}}})
    assert replaced.status_code == 200 and replaced.json()["config"] == {"identity": {"driver": "ldap"}}
    assert cloud.request("DELETE", config, token).status_code == 204
    assert cloud.request("GET", config, token).status_code == 404
    assert cloud.request("DELETE", config, token).status_code == 404


def test_only_keystones_groups_and_options_are_accepted(cloud, unique):
    token = cloud.admin_token()
    domain = _domain(cloud, unique, token)
    config = f"{V3}/domains/{domain}/config"
    forbidden = [
        {"nova": {"x": 1}},
        {"ldap": {"colour": "blue"}},
        {"identity": {"password": "x"}},
        {},
        {"ldap": {}},
        {"ldap": "ldap://x"},
    ]
    for body in forbidden:
        response = cloud.request("PUT", config, token, json={"config": body})
        assert response.status_code == 403, (body, response.text)
        assert response.json()["error"]["code"] == 403
    for body in ({}, {"config": CONFIG, "other": 1}, [1]):
        assert cloud.request("PUT", config, token, json=body).status_code == 400
    assert cloud.request("GET", config, token).status_code == 404  # nothing stored by any of them

    assert cloud.request("PUT", config, token, json={"config": CONFIG}).status_code == 201
    wrong_group = cloud.request("PATCH", f"{config}/ldap", token, json={"config": {"identity": {"driver": "x"}}})
    assert wrong_group.status_code == 403
    wrong_option = cloud.request("PATCH", f"{config}/ldap/url", token, json={"config": {"suffix": "x"}})
    assert wrong_option.status_code == 403
    unset = cloud.request("PATCH", f"{config}/ldap/suffix", token, json={"config": {"suffix": "x"}})
    assert unset.status_code == 404
    assert cloud.request("GET", f"{config}/nova", token).status_code == 403
    assert cloud.request("PUT", f"{V3}/domains/nowhere/config", token, json={"config": CONFIG}).status_code == 404
    assert cloud.request("GET", config, token).json()["config"] == SHOWN


def test_only_admins_see_or_change_domain_configs(cloud, unique):
    token = cloud.admin_token()
    domain = _domain(cloud, unique, token)
    user = cloud.request("POST", f"{V3}/users", token, json={"user": {"name": unique, "password": "pw"}}).json()["user"]
    auth = {"identity": {"methods": ["password"], "password": {"user": {"id": user["id"], "password": "pw"}}}}
    user_token = cloud.request("POST", f"{V3}/auth/tokens", json={"auth": auth}).headers["X-Subject-Token"]
    config = f"{V3}/domains/{domain}/config"
    assert cloud.request("PUT", config, user_token, json={"config": CONFIG}).status_code == 403
    assert cloud.request("PUT", config, token, json={"config": CONFIG}).status_code == 201
    assert cloud.request("GET", config, user_token).status_code == 403
    assert cloud.request("DELETE", config, user_token).status_code == 403


def test_deleting_a_domain_deletes_its_config(cloud, unique):
    token = cloud.admin_token()
    domain = _domain(cloud, unique, token)
    assert cloud.request("PUT", f"{V3}/domains/{domain}/config", token, json={"config": CONFIG}).status_code == 201
    assert (
        cloud.request("PATCH", f"{V3}/domains/{domain}", token, json={"domain": {"enabled": False}}).status_code == 200
    )
    assert cloud.request("DELETE", f"{V3}/domains/{domain}", token).status_code == 204
    again = _domain(cloud, unique, token)
    assert cloud.request("GET", f"{V3}/domains/{again}/config", token).status_code == 404
