"""Changing one's password checks the original password: a guess like any sign-in, held to the same counts."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from tests.unit.api.conftest import InProcessCloud

PASSWORD = "right-password-1"


def _user(cloud: InProcessCloud, client: FlaskClient) -> tuple[str, str]:
    """A new user (so the lock touches no other test) and an unscoped token of theirs."""
    name = f"changer-{uuid.uuid4().hex[:8]}"
    body = {"user": {"name": name, "password": PASSWORD, "domain_id": "default"}}
    created = client.post("/identity/v3/users", json=body, headers={"X-Auth-Token": cloud.admin_token})
    assert created.status_code == 201, created.get_data(as_text=True)
    auth = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"id": created.json["user"]["id"], "password": PASSWORD}},
        }
    }
    token = client.post("/identity/v3/auth/tokens", json={"auth": auth})
    assert token.status_code == 201, token.get_data(as_text=True)
    return created.json["user"]["id"], token.headers["X-Subject-Token"]


def _change(client: FlaskClient, user_id: str, token: str, original: str) -> int:
    body = {"user": {"original_password": original, "password": "new-password-2"}}
    return client.post(f"/identity/v3/users/{user_id}/password", json=body, headers={"X-Auth-Token": token}).status_code


def test_wrong_original_passwords_lock_the_account_as_failed_sign_ins_do(api_cloud: InProcessCloud) -> None:
    """Before, the original password could be guessed without limit by anyone holding the user's token."""
    client = api_cloud.client()
    user_id, token = _user(api_cloud, client)
    attempts = api_cloud.app.extensions["stratus"].settings.lockout_failure_attempts
    for _ in range(attempts):
        assert _change(client, user_id, token, "a-wrong-guess") == 401
    locked = client.post(
        f"/identity/v3/users/{user_id}/password",
        json={"user": {"original_password": PASSWORD, "password": "new-password-2"}},
        headers={"X-Auth-Token": token},
    )
    assert locked.status_code == 401 and "locked" in locked.json["error"]["message"]
    auth = {"identity": {"methods": ["password"], "password": {"user": {"id": user_id, "password": PASSWORD}}}}
    assert client.post("/identity/v3/auth/tokens", json={"auth": auth}).status_code == 401  # the same lock


def test_a_right_original_password_changes_it_and_clears_the_count(api_cloud: InProcessCloud) -> None:
    client = api_cloud.client()
    user_id, token = _user(api_cloud, client)
    assert _change(client, user_id, token, "a-wrong-guess") == 401
    assert _change(client, user_id, token, PASSWORD) == 204
