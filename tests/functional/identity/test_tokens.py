"""Tokens over real HTTP: issue, validate, revoke, re-scope, expiry, rotation and restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from identity import fernet as tokens
from identity.fernet import KeyRepository, TokenPayload
from tests.functional.conftest import ADMIN_PASSWORD, DEMO_PASSWORD

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

PASSWORD_AUTH = {
    "auth": {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": "demo", "domain": {"id": "default"}, "password": DEMO_PASSWORD}},
        },
        "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}},
    }
}


def test_password_auth_returns_a_project_scoped_token_with_catalog(cloud):
    response = cloud.request("POST", "/identity/v3/auth/tokens", json=PASSWORD_AUTH)

    assert response.status_code == 201
    assert response.headers["X-Subject-Token"]
    token = response.json()["token"]
    assert token["methods"] == ["password"]
    assert token["user"]["name"] == "demo" and token["user"]["domain"] == {"id": "default", "name": "Default"}
    assert token["project"]["name"] == "demo" and token["project"]["domain"]["id"] == "default"
    assert {r["name"] for r in token["roles"]} == {"member", "reader"}
    assert len(token["audit_ids"]) == 1
    assert token["expires_at"].endswith("Z") and token["issued_at"].endswith("Z")
    issued = datetime.fromisoformat(token["issued_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expires - issued <= timedelta(hours=1)


def test_catalog_lists_every_api_on_every_interface_in_the_region(cloud):
    """Stratus's own services (the catalog tests of this cloud add services and endpoints of their own beside them)."""
    token = cloud.request("POST", "/identity/v3/auth/tokens", json=PASSWORD_AUTH).json()["token"]
    builtin = ("keystone", "nova", "neutron", "glance", "cinder", "cinderv3", "placement")
    catalog = {entry["type"]: entry for entry in token["catalog"] if entry["name"] in builtin}

    assert set(catalog) == {"identity", "compute", "network", "image", "block-storage", "volumev3", "placement"}
    assert [entry["name"] for entry in token["catalog"]][: len(builtin)] == list(builtin)
    for entry in catalog.values():
        assert {e["interface"] for e in entry["endpoints"]} == {"public", "internal", "admin"}
        assert all(e["region"] == e["region_id"] == "RegionOne" for e in entry["endpoints"])
    urls = {t: e["endpoints"][0]["url"] for t, e in catalog.items()}
    assert urls == {
        "identity": f"{cloud.url}/identity",
        "compute": f"{cloud.url}/compute/v2.1",
        "network": f"{cloud.url}/network",
        "image": f"{cloud.url}/image",
        "block-storage": f"{cloud.url}/volume/v3",
        "volumev3": f"{cloud.url}/volume/v3",
        "placement": f"{cloud.url}/placement",
    }


def test_unscoped_and_domain_scoped_tokens(cloud):
    body = {"auth": {"identity": PASSWORD_AUTH["auth"]["identity"], "scope": "unscoped"}}
    unscoped = cloud.request("POST", "/identity/v3/auth/tokens", json=body).json()["token"]
    assert "project" not in unscoped and "catalog" not in unscoped and "roles" not in unscoped

    admin = cloud.admin()
    admin_id = admin.get_user_id()
    grant = f"/identity/v3/domains/default/users/{admin_id}/roles/"
    role_id = cloud.request("GET", "/identity/v3/roles?name=admin", cloud.admin_token()).json()["roles"][0]["id"]
    assert cloud.request("PUT", grant + role_id, cloud.admin_token()).status_code == 204
    session = cloud.session("admin", ADMIN_PASSWORD, domain="default")
    token = session.auth.get_access(session)
    assert token.domain_id == "default" and token.project_id is None
    assert "admin" in token.role_names


def test_token_is_validated_by_its_owner_and_by_an_admin_and_head_works(cloud):
    demo_token = cloud.demo().get_token()
    headers = {"X-Subject-Token": demo_token}

    own = cloud.request("GET", "/identity/v3/auth/tokens", demo_token, headers=headers)
    by_admin = cloud.request("GET", "/identity/v3/auth/tokens", cloud.admin_token(), headers=headers)
    head = cloud.request("HEAD", "/identity/v3/auth/tokens", demo_token, headers=headers)
    nocatalog = cloud.request("GET", "/identity/v3/auth/tokens?nocatalog", demo_token, headers=headers)

    assert own.status_code == by_admin.status_code == head.status_code == 200
    assert own.headers["X-Subject-Token"] == demo_token
    assert by_admin.json()["token"]["user"]["name"] == "demo"
    assert "catalog" not in nocatalog.json()["token"]


def test_revoked_token_is_refused_everywhere_and_its_validation_is_404(cloud):
    token = cloud.demo().get_token()
    revoke = cloud.request("DELETE", "/identity/v3/auth/tokens", token, headers={"X-Subject-Token": token})
    assert revoke.status_code == 204

    validate = cloud.request("GET", "/identity/v3/auth/tokens", cloud.admin_token(), headers={"X-Subject-Token": token})
    use = cloud.request("GET", "/identity/v3/auth/catalog", token)

    assert validate.status_code == 404 and validate.json()["error"]["code"] == 404
    assert use.status_code == 401 and use.json()["error"]["title"] == "Unauthorized"
    assert "WWW-Authenticate" in use.headers


def test_revocation_survives_an_api_restart(cloud):
    token = cloud.demo().get_token()
    cloud.request("DELETE", "/identity/v3/auth/tokens", token, headers={"X-Subject-Token": token})
    cloud.server.restart_api()  # new API processes: nothing they know comes from the ones that revoked it

    assert cloud.request("GET", "/identity/v3/auth/catalog", token).status_code == 401
    assert cloud.request("GET", "/identity/v3/auth/catalog", cloud.demo().get_token()).status_code == 200


def test_token_method_rescopes_and_keeps_expiry_and_audit_chain(cloud):
    body = {"auth": {"identity": PASSWORD_AUTH["auth"]["identity"], "scope": "unscoped"}}
    first = cloud.request("POST", "/identity/v3/auth/tokens", json=body)
    parent = first.json()["token"]
    rescope = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": first.headers["X-Subject-Token"]}},
            "scope": {"project": {"name": "demo", "domain": {"id": "default"}}},
        }
    }

    response = cloud.request("POST", "/identity/v3/auth/tokens", json=rescope)

    assert response.status_code == 201
    child = response.json()["token"]
    assert child["project"]["name"] == "demo"
    assert child["expires_at"] == parent["expires_at"]
    assert child["audit_ids"][1] == parent["audit_ids"][0] and len(child["audit_ids"]) == 2
    assert set(child["methods"]) == {"token", "password"}


def test_expired_token_is_refused(cloud):
    keys = KeyRepository(cloud.server.state_dir / "fernet-keys")
    demo_user = cloud.demo().get_user_id()
    past = datetime.now(UTC) - timedelta(hours=2)
    payload = TokenPayload(
        user_id=demo_user,
        methods=("password",),
        expires_at=past + timedelta(hours=1),
        issued_at=past,
        audit_ids=(tokens.new_audit_id(),),
    )
    expired = tokens.encode(payload, keys)

    response = cloud.request("GET", "/identity/v3/auth/catalog", expired)

    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_forged_token_is_refused(cloud):
    token = cloud.demo().get_token()
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    assert cloud.request("GET", "/identity/v3/auth/catalog", forged).status_code == 401
    assert cloud.request("GET", "/identity/v3/auth/catalog", "not-a-token").status_code == 401


def test_tokens_survive_key_rotation_until_their_key_is_dropped(cloud):
    token = cloud.demo().get_token()
    cloud.server.manage("fernet-rotate")
    assert cloud.request("GET", "/identity/v3/auth/catalog", token).status_code == 200
    fresh = cloud.demo().get_token()

    cloud.server.manage("fernet-rotate")

    # Three keys are kept (staged, primary, one secondary): the key of ``token`` is gone, that of ``fresh`` stays.
    assert cloud.request("GET", "/identity/v3/auth/catalog", token).status_code == 401
    assert cloud.request("GET", "/identity/v3/auth/catalog", fresh).status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_401(cloud):
    wrong = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "demo", "domain": {"id": "default"}, "password": "wrong"}},
            }
        }
    }
    unknown = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "nobody-here", "domain": {"id": "default"}, "password": "wrong"}},
            }
        }
    }

    a = cloud.request("POST", "/identity/v3/auth/tokens", json=wrong)
    b = cloud.request("POST", "/identity/v3/auth/tokens", json=unknown)

    assert a.status_code == b.status_code == 401
    assert a.json()["error"]["message"] == b.json()["error"]["message"]
