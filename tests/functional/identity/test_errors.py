"""Bad input gets Keystone's error body with the right status and a message naming the field; never a 500."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.functional


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status and error["title"] and error["message"]
    return error["message"]


def test_malformed_json_is_400(cloud):
    response = cloud.request(
        "POST", "/identity/v3/auth/tokens", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert "Malformed request body" in _error(response, 400)


def test_empty_body_is_400(cloud):
    assert "empty" in _error(cloud.request("POST", "/identity/v3/auth/tokens"), 400)


def test_wrong_type_names_the_field(cloud):
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "demo", "domain": {"id": "default"}, "password": 123}},
            }
        }
    }
    message = _error(cloud.request("POST", "/identity/v3/auth/tokens", json=body), 400)
    assert "auth.identity.password.user.password" in message


def test_missing_field_names_the_field(cloud):
    message = _error(cloud.request("POST", "/identity/v3/auth/tokens", json={"auth": {}}), 400)
    assert "identity" in message


def test_bad_entity_bodies_name_the_field(cloud):
    token = cloud.admin_token()
    enabled = cloud.request("POST", "/identity/v3/projects", token, json={"project": {"name": "x", "enabled": "yes"}})
    blank = cloud.request("POST", "/identity/v3/projects", token, json={"project": {"name": "   "}})
    unknown = cloud.request("POST", "/identity/v3/projects", token, json={"project": {"name": "y", "colour": 1}})
    no_wrapper = cloud.request("POST", "/identity/v3/users", token, json={"name": "x"})

    assert "project.enabled" in _error(enabled, 400)
    assert "project.name" in _error(blank, 400)
    assert "colour" in _error(unknown, 400)
    assert "user" in _error(no_wrapper, 400)


def test_unknown_domain_on_create_is_404(cloud):
    response = cloud.request(
        "POST", "/identity/v3/projects", cloud.admin_token(), json={"project": {"name": "z", "domain_id": "nope"}}
    )
    assert "domain" in _error(response, 404)


def test_bad_query_boolean_is_400(cloud):
    response = cloud.request("GET", "/identity/v3/projects?enabled=maybe", cloud.admin_token())
    assert "enabled" in _error(response, 400)


def test_unsupported_method_and_missing_token_are_401(cloud):
    body = {"auth": {"identity": {"methods": ["totp"], "totp": {}}}}
    assert "totp" in _error(cloud.request("POST", "/identity/v3/auth/tokens", json=body), 401)
    _error(cloud.request("GET", "/identity/v3/projects"), 401)


def test_unknown_path_and_method_use_the_fault_format(cloud):
    _error(cloud.request("GET", "/identity/v3/no-such-collection"), 404)
    response = cloud.request("PUT", "/identity/v3/auth/catalog", cloud.admin_token())
    _error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_oversized_body_is_413(cloud):
    response = cloud.request(
        "POST", "/identity/v3/auth/tokens", data=b"x" * (2 << 20), headers={"Content-Type": "application/json"}
    )
    _error(response, 413)
