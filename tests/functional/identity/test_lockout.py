"""Password sign-in lockout per user (Keystone's ``lockout_failure_attempts``) and throttling per client address,
over real HTTP against API processes that share the count only through the database.

Each test signs in from a loopback address of its own (127.0.0.0/8 all reaches the API on 127.0.0.1), so its
failures never count against the address every other test uses.
"""

from __future__ import annotations

import http.client
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

from common.settings import Settings
from tests.functional.conftest import DEMO_PASSWORD

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]

USER_ATTEMPTS = Settings.lockout_failure_attempts
ADDRESS_ATTEMPTS = Settings.lockout_address_failure_attempts


def _source() -> str:
    """A loopback address no other test uses (the API binds 127.0.0.1; the kernel answers all of 127/8)."""
    raw = os.urandom(3)
    return f"127.{raw[0] % 250 + 2}.{raw[1]}.{raw[2] % 250 + 2}"


def _auth(name: str, password: str) -> dict[str, Any]:
    user = {"name": name, "domain": {"id": "default"}, "password": password}
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": user}}}}


def _sign_in(cloud, source: str, name: str, password: str, headers: dict[str, str] | None = None):
    """POST /v3/auth/tokens from ``source``: (status, headers, body)."""
    url = urlsplit(cloud.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60, source_address=(source, 0))
    try:
        body = json.dumps(_auth(name, password))
        connection.request(
            "POST", "/identity/v3/auth/tokens", body, {"Content-Type": "application/json", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")
    finally:
        connection.close()


def _new_user(cloud, name: str, password: str) -> str:
    token = cloud.admin_token()
    body = {"user": {"name": name, "password": password, "domain_id": "default"}}
    response = cloud.request("POST", "/identity/v3/users", token, json=body)
    assert response.status_code == 201, response.text
    return response.json()["user"]["id"]


def test_a_user_is_locked_after_the_failure_limit_even_with_the_right_password(cloud, unique):
    source = _source()
    _new_user(cloud, unique, "right-secret")
    for _ in range(USER_ATTEMPTS):
        status, _, body = _sign_in(cloud, source, unique, "wrong")
        assert status == 401 and "locked" not in body["error"]["message"]

    status, _, body = _sign_in(cloud, source, unique, "right-secret")
    assert status == 401
    assert body["error"]["message"].startswith(f"The account is locked for user: {unique}.")
    # Another address is no way around a user's lock: it is the account that is locked.
    assert _sign_in(cloud, _source(), unique, "right-secret")[0] == 401


def test_an_unknown_name_locks_like_a_real_one(cloud, unique):
    source = _source()
    answers = [_sign_in(cloud, source, f"nobody-{unique}", "wrong") for _ in range(USER_ATTEMPTS + 1)]
    assert [status for status, _, _ in answers] == [401] * (USER_ATTEMPTS + 1)
    assert answers[-1][2]["error"]["message"].startswith(f"The account is locked for user: nobody-{unique}.")


def test_success_clears_the_count_and_enabling_a_user_ends_its_lock(cloud, unique):
    source = _source()
    user_id = _new_user(cloud, unique, "right-secret")
    for _ in range(USER_ATTEMPTS - 1):
        assert _sign_in(cloud, source, unique, "wrong")[0] == 401
    assert _sign_in(cloud, source, unique, "right-secret")[0] == 201  # below the limit: the count starts again
    for _ in range(USER_ATTEMPTS):
        assert _sign_in(cloud, source, unique, "wrong")[0] == 401
    assert _sign_in(cloud, source, unique, "right-secret")[0] == 401  # locked

    enable = {"user": {"enabled": True}}
    assert cloud.request("PATCH", f"/identity/v3/users/{user_id}", cloud.admin_token(), json=enable).ok
    assert _sign_in(cloud, source, unique, "right-secret")[0] == 201


def test_an_address_over_its_limit_gets_429_for_every_user_until_the_period_ends(cloud, unique):
    source = _source()
    # Spraying: a few guesses on each of many names, never enough to lock any one of them.
    for n in range(ADDRESS_ATTEMPTS):
        status, _, body = _sign_in(cloud, source, f"spray-{n % 10}-{unique}", "guess")
        assert status == 401, body

    status, headers, body = _sign_in(cloud, source, "demo", DEMO_PASSWORD)
    assert status == 429
    assert body["error"]["code"] == 429 and body["error"]["title"] == "Too Many Requests"
    assert 0 < int(headers["Retry-After"]) <= Settings.lockout_address_period
    # A forwarded-for header is not believed: the address is the connection's.
    assert _sign_in(cloud, source, "demo", DEMO_PASSWORD, {"X-Forwarded-For": "192.0.2.7"})[0] == 429
    # Other addresses, and the same user from them, are not affected.
    assert _sign_in(cloud, _source(), "demo", DEMO_PASSWORD)[0] == 201


def _change_password(cloud, source: str, user_id: str, original: str) -> tuple[int, Any]:
    """POST /v3/users/{id}/password from ``source`` with no token (Keystone's route asks for none)."""
    url = urlsplit(cloud.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60, source_address=(source, 0))
    try:
        body = json.dumps({"user": {"password": "a-new-password", "original_password": original}})
        connection.request("POST", f"/identity/v3/users/{user_id}/password", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_original_password_guesses_count_towards_the_users_lockout(cloud, unique):
    """The password-change route needs no token: without the count it would be a free password oracle."""
    source = _source()
    user_id = _new_user(cloud, unique, "right-pw")
    guesses = [_change_password(cloud, source, user_id, f"guess-{i}")[0] for i in range(USER_ATTEMPTS)]

    status, body = _change_password(cloud, source, user_id, "right-pw")

    assert guesses == [401] * USER_ATTEMPTS
    assert status == 401 and "locked" in body["error"]["message"]
    assert _sign_in(cloud, _source(), unique, "right-pw")[0] == 401


def test_concurrent_sign_ins_of_one_user_from_one_address_all_succeed(cloud, unique):
    """Regression: a sign-in giving its attempt back (user row, then address row) while another took one (address
    row, then user row) deadlocked on PostgreSQL and answered 500."""
    _new_user(cloud, unique, DEMO_PASSWORD)
    source = _source()
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda _: _sign_in(cloud, source, unique, DEMO_PASSWORD)[0], range(36)))
    assert statuses == [201] * 36
