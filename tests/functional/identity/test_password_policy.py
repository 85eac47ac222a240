"""Keystone's ``[security_compliance]`` password policies, each proved on a cloud started with its setting:
expiry, change on first use, history, regex, minimum age, inactivity; the user options that exempt a user
(stored, shown, validated), the service account's exemption, hostile inputs, and the openstack CLI's flags.

Time-based policies are proved by moving a user's recorded times into the past in the cloud's own database (what
days of waiting would do), never by changing how the cloud counts.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy import select, update

from common.accounts import SERVICE_USER
from common.db import Database
from common.settings import load
from identity.models import PasswordHistory, User
from manage.clouds import write_clouds_yaml
from tests import warm_cli
from tests.functional.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, CloudClient
from tests.harness import Cloud, running_cloud

pytestmark = pytest.mark.functional

EXPIRES_DAYS = 90
HISTORY = 3
INACTIVE_DAYS = 30
REGEX_DESCRIPTION = "at least 8 characters"
POLICIES = {
    "STRATUS_PASSWORD_EXPIRES_DAYS": str(EXPIRES_DAYS),
    "STRATUS_UNIQUE_LAST_PASSWORD_COUNT": str(HISTORY),
    "STRATUS_PASSWORD_REGEX": "^.{8,}$",
    "STRATUS_PASSWORD_REGEX_DESCRIPTION": REGEX_DESCRIPTION,
    "STRATUS_CHANGE_PASSWORD_UPON_FIRST_USE": "true",
    "STRATUS_DISABLE_USER_ACCOUNT_DAYS_INACTIVE": str(INACTIVE_DAYS),
}


def _start(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> Iterator[CloudClient]:
    state = tmp_path_factory.mktemp(name)
    with running_cloud(state, env) as server:
        server.bootstrap(ADMIN_PASSWORD, DEMO_PASSWORD)
        clouds_yaml = state / "clouds.yaml"
        write_clouds_yaml(clouds_yaml, server.auth_url, "RegionOne", {"stratus-admin": ("admin", ADMIN_PASSWORD)})
        yield CloudClient(server, clouds_yaml)


@pytest.fixture(scope="module")
def policed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudClient]:
    """A cloud with every policy on but the minimum age (which would stop the history tests' chains of changes)."""
    yield from _start(tmp_path_factory, "password-policies", POLICIES)


@pytest.fixture
def aged(policed: CloudClient) -> Iterator[CloudClient]:
    """The policed cloud with a minimum password age of a day too, for one test: its API restarted with the
    setting, and again without it afterwards (the history tests' chains of changes need none)."""
    server = Cloud(policed.server.state_dir, policed.server.env | {"STRATUS_MINIMUM_PASSWORD_AGE": "1"})
    server.restart_api()
    try:
        yield CloudClient(server, policed.clouds_yaml)
    finally:
        policed.server.restart_api()


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _sign_in(cloud: CloudClient, password: str, *, name: str | None = None, user_id: str | None = None, source=None):
    """POST /v3/auth/tokens with a password (from loopback ``source`` when given): (status, body)."""
    user = {"id": user_id} if user_id else {"name": name, "domain": {"id": "default"}}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user | {"password": password}}}}}
    if source is None:
        response = cloud.request("POST", "/identity/v3/auth/tokens", json=body)
        return response.status_code, response.json()
    url = urlsplit(cloud.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60, source_address=(source, 0))
    try:
        connection.request("POST", "/identity/v3/auth/tokens", json.dumps(body), {"Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"null")
    finally:
        connection.close()


def _source() -> str:
    """A loopback address no other test uses, so this test's failures count against no one else's address."""
    raw = os.urandom(3)
    return f"127.{raw[0] % 250 + 2}.{raw[1]}.{raw[2] % 250 + 2}"


def _create(cloud: CloudClient, name: str, password: Any, **fields: Any):
    body = {"user": {"name": name, "password": password, "domain_id": "default", **fields}}
    return cloud.request("POST", "/identity/v3/users", cloud.admin_token(), json=body)


def _user(cloud: CloudClient, name: str, password: str, **options: bool) -> str:
    response = _create(cloud, name, password, options=options)
    assert response.status_code == 201, response.text
    return response.json()["user"]["id"]


def _change(cloud: CloudClient, user_id: str, original: Any, password: Any):
    """The self-service change, with no token: Keystone's route authenticates with the original password."""
    body = {"user": {"original_password": original, "password": password}}
    return cloud.request("POST", f"/identity/v3/users/{user_id}/password", json=body)


def _reset(cloud: CloudClient, user_id: str, **fields: Any):
    return cloud.request("PATCH", f"/identity/v3/users/{user_id}", cloud.admin_token(), json={"user": fields})


def _show(cloud: CloudClient, user_id: str) -> dict[str, Any]:
    return cloud.request("GET", f"/identity/v3/users/{user_id}", cloud.admin_token()).json()["user"]


def _backdate(cloud: CloudClient, user_id: str, **values: Any) -> None:
    """Move the user's recorded times into the past in the cloud's database: what waiting days would do."""
    db = Database(load(cloud.server.env).effective_database_url)
    try:
        with db.session() as session:
            session.execute(update(User).where(User.id == user_id).values(**values))
    finally:
        db.dispose()


def _stored(cloud: CloudClient, user_id: str) -> User:
    db = Database(load(cloud.server.env).effective_database_url)
    try:
        with db.session() as session:
            user = session.get(User, user_id)
            session.expunge(user)
            return user
    finally:
        db.dispose()


def _expired_message(user_id: str) -> str:
    return f"The password is expired and needs to be changed for user: {user_id}."


def _when(shown: str) -> datetime:
    return datetime.strptime(shown, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------------------
# change_password_upon_first_use and password_expires_days


def test_a_password_an_admin_set_must_be_changed_before_any_token(policed, unique):
    user_id = _user(policed, unique, "first-password")

    status, body = _sign_in(policed, "first-password", name=unique)
    assert (status, body["error"]["message"]) == (401, _expired_message(user_id))
    assert _when(_show(policed, user_id)["password_expires_at"]) <= datetime.now(UTC)

    assert _change(policed, user_id, "first-password", "my-own-password").status_code == 204
    status, body = _sign_in(policed, "my-own-password", name=unique)
    assert status == 201
    expires = _when(body["token"]["user"]["password_expires_at"])
    assert timedelta(days=EXPIRES_DAYS - 1) < expires - datetime.now(UTC) <= timedelta(days=EXPIRES_DAYS)
    assert _show(policed, user_id)["password_expires_at"] == body["token"]["user"]["password_expires_at"]

    # An admin's reset must be changed again; the old password no longer counts at all.
    assert _reset(policed, user_id, password="reset-by-admin").status_code == 200
    assert _sign_in(policed, "reset-by-admin", name=unique) == (401, _error(_expired_message(user_id)))
    assert _sign_in(policed, "my-own-password", name=unique)[0] == 401


def _error(message: str) -> dict[str, Any]:
    return {"error": {"code": 401, "title": "Unauthorized", "message": message}}


def test_an_admin_setting_their_own_password_need_not_change_it(policed):
    admin_id = _sign_in(policed, ADMIN_PASSWORD, name="admin")[1]["token"]["user"]["id"]

    assert _reset(policed, admin_id, password=ADMIN_PASSWORD).status_code == 200

    assert _sign_in(policed, ADMIN_PASSWORD, name="admin")[0] == 201


def test_an_expired_password_is_refused_until_the_user_changes_it(policed, unique):
    user_id = _user(policed, unique, "soon-expired", ignore_change_password_upon_first_use=True)
    assert _sign_in(policed, "soon-expired", user_id=user_id)[0] == 201

    _backdate(policed, user_id, password_expires_at=datetime.now(UTC) - timedelta(minutes=1))

    status, body = _sign_in(policed, "soon-expired", user_id=user_id)
    assert (status, body["error"]["message"]) == (401, _expired_message(user_id))
    assert _sign_in(policed, "wrong-password", user_id=user_id)[1]["error"]["message"] != _expired_message(user_id)
    assert _change(policed, user_id, "soon-expired", "renewed-password").status_code == 204
    assert _sign_in(policed, "renewed-password", user_id=user_id)[0] == 201


def test_ignore_options_exempt_a_user_from_expiry_and_first_use(policed, unique):
    user_id = _user(
        policed, unique, "exempt-password", ignore_password_expiry=True, ignore_change_password_upon_first_use=True
    )
    _backdate(policed, user_id, password_expires_at=datetime.now(UTC) - timedelta(days=1))

    status, body = _sign_in(policed, "exempt-password", user_id=user_id)

    assert status == 201 and body["token"]["user"]["password_expires_at"] is None
    assert _show(policed, user_id)["password_expires_at"] is None
    # The option taken away: the stamped expiry holds again.
    assert _reset(policed, user_id, options={"ignore_password_expiry": None}).status_code == 200
    assert _sign_in(policed, "exempt-password", user_id=user_id)[0] == 401


# ---------------------------------------------------------------------------------------------------------------
# unique_last_password_count and password_regex


def test_a_self_service_change_cannot_reuse_the_last_passwords(policed, unique):
    user_id = _user(policed, unique, "password-0", ignore_change_password_upon_first_use=True)
    assert _change(policed, user_id, "password-0", "password-1").status_code == 204

    for reused in ("password-0", "password-1"):
        refused = _change(policed, user_id, "password-1", reused)
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == (
            "The new password cannot be identical to a previous password. The total number which includes the "
            f"new password must be unique is {HISTORY}."
        )
    assert _change(policed, user_id, "password-1", "password-2").status_code == 204
    assert _change(policed, user_id, "password-2", "password-3").status_code == 204
    # password-0 is now the fourth last: free again.
    assert _change(policed, user_id, "password-3", "password-0").status_code == 204
    assert _sign_in(policed, "password-0", user_id=user_id)[0] == 201


def test_an_admin_reset_is_not_held_to_the_history(policed, unique):
    """Tempest's test_password_history_not_enforced_in_admin_reset."""
    user_id = _user(policed, unique, "same-password", ignore_change_password_upon_first_use=True)

    assert _reset(policed, user_id, password="same-password").status_code == 200
    assert _reset(policed, user_id, password="same-password").status_code == 200
    assert _sign_in(policed, "same-password", user_id=user_id)[0] == 201


def test_every_new_password_must_match_the_regex_with_its_description_as_the_message(policed, unique):
    message = f"The password does not match the requirements: {REGEX_DESCRIPTION}."
    user_id = _user(policed, unique, "long-enough", ignore_change_password_upon_first_use=True)

    for refused in (
        _create(policed, f"{unique}-2", "short"),
        _reset(policed, user_id, password="short"),
        _change(policed, user_id, "long-enough", "short"),
    ):
        assert refused.status_code == 400 and refused.json()["error"]["message"] == message
    assert _sign_in(policed, "long-enough", user_id=user_id)[0] == 201
    assert policed.request("GET", f"/identity/v3/users?name={unique}-2", policed.admin_token()).json()["users"] == []


# ---------------------------------------------------------------------------------------------------------------
# disable_user_account_days_inactive


def test_a_user_inactive_too_long_is_disabled_at_sign_in_until_an_admin_enables_them(policed, unique):
    user_id = _user(policed, unique, "idle-password", ignore_change_password_upon_first_use=True)
    assert _sign_in(policed, "idle-password", user_id=user_id)[0] == 201
    _backdate(policed, user_id, last_active_at=(datetime.now(UTC) - timedelta(days=INACTIVE_DAYS)).date())

    status, body = _sign_in(policed, "idle-password", user_id=user_id)

    assert (status, body["error"]["message"]) == (401, f"The account is disabled for user: {user_id}.")
    assert _show(policed, user_id)["enabled"] is False
    assert _reset(policed, user_id, enabled=True).status_code == 200
    assert _sign_in(policed, "idle-password", user_id=user_id)[0] == 201


def test_an_inactive_user_cannot_change_their_password_either_and_a_change_counts_as_activity(policed, unique):
    """Keystone authenticates the original password like a sign-in: inactivity disables there too."""
    idle = _user(policed, unique, "idle-changer", ignore_change_password_upon_first_use=True)
    active = _user(policed, f"{unique}-a", "busy-changer", ignore_change_password_upon_first_use=True)
    _backdate(policed, idle, last_active_at=(datetime.now(UTC) - timedelta(days=INACTIVE_DAYS)).date())
    _backdate(policed, active, last_active_at=(datetime.now(UTC) - timedelta(days=INACTIVE_DAYS - 1)).date())

    refused = _change(policed, idle, "idle-changer", "new-password-1")

    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == f"The account is disabled for user: {idle}."
    assert _show(policed, idle)["enabled"] is False
    assert _change(policed, active, "busy-changer", "new-password-2").status_code == 204
    assert _stored(policed, active).last_active_at == datetime.now(UTC).date()


def test_ignore_user_inactivity_and_recent_sign_ins_keep_a_user_enabled(policed, unique):
    exempt = _user(policed, unique, "idle-but-exempt", ignore_change_password_upon_first_use=True,
                   ignore_user_inactivity=True)  # fmt: skip
    recent = _user(policed, f"{unique}-r", "active-password", ignore_change_password_upon_first_use=True)
    _backdate(policed, exempt, last_active_at=(datetime.now(UTC) - timedelta(days=400)).date())
    _backdate(policed, recent, last_active_at=(datetime.now(UTC) - timedelta(days=INACTIVE_DAYS - 1)).date())

    assert _sign_in(policed, "idle-but-exempt", user_id=exempt)[0] == 201
    assert _sign_in(policed, "active-password", user_id=recent)[0] == 201
    assert _stored(policed, recent).last_active_at == datetime.now(UTC).date()  # that sign-in counted


# ---------------------------------------------------------------------------------------------------------------
# The service account, and the options


def test_the_service_account_is_exempt_from_every_policy(policed):
    password = policed.server.env["STRATUS_SERVICE_PASSWORD"]
    status, body = _sign_in(policed, password, name=SERVICE_USER)
    assert status == 201
    service_id = body["token"]["user"]["id"]
    long_ago = datetime.now(UTC) - timedelta(days=400)
    _backdate(policed, service_id, password_expires_at=long_ago, password_must_change=True,
              last_active_at=long_ago.date())  # fmt: skip

    status, body = _sign_in(policed, password, name=SERVICE_USER)

    assert status == 201 and body["token"]["user"]["password_expires_at"] is None


def test_lock_password_forbids_self_service_changes_but_not_an_admin_reset(policed, unique):
    user_id = _user(policed, unique, "locked-password", ignore_change_password_upon_first_use=True, lock_password=True)

    refused = _change(policed, user_id, "locked-password", "another-password")

    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "You cannot change your password at this time due to password policy disallowing password changes. "
        "Please contact your administrator to reset your password."
    )
    assert _sign_in(policed, "locked-password", user_id=user_id)[0] == 201
    assert _reset(policed, user_id, password="admin-chosen-password").status_code == 200


def test_ignore_lockout_failure_attempts_keeps_a_user_from_being_locked(policed, unique):
    source = _source()
    exempt = _user(policed, unique, "right-password", ignore_change_password_upon_first_use=True,
                   ignore_lockout_failure_attempts=True)  # fmt: skip
    for _ in range(8):  # more than lockout_failure_attempts (6)
        assert _sign_in(policed, "wrong-password", user_id=exempt, source=source)[0] == 401

    assert _sign_in(policed, "right-password", user_id=exempt, source=source)[0] == 201


def test_options_are_stored_shown_changed_and_removed(policed, unique):
    options = {"ignore_password_expiry": True, "lock_password": False}
    user_id = _user(policed, unique, "options-password", **options)
    assert _show(policed, user_id)["options"] == options

    changed = _reset(policed, user_id, options={"lock_password": None, "ignore_lockout_failure_attempts": True})

    assert changed.status_code == 200
    expected = {"ignore_password_expiry": True, "ignore_lockout_failure_attempts": True}
    assert changed.json()["user"]["options"] == expected
    listed = policed.request("GET", f"/identity/v3/users?name={unique}", policed.admin_token()).json()["users"]
    assert listed[0]["options"] == changed.json()["user"]["options"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"no_such_option": True}, "options.no_such_option"),
        ({"lock_password": "yes"}, "options.lock_password"),
        ({"ignore_password_expiry": 1}, "options.ignore_password_expiry"),
        ({"multi_factor_auth_enabled": True}, "options.multi_factor_auth_enabled"),
        ({"multi_factor_auth_rules": [["password", "totp"]]}, "options.multi_factor_auth_rules"),
        ([], "options"),
        ("lock_password", "options"),
    ],
)
def test_bad_options_are_refused_with_the_field_named(policed, unique, options, field):
    created = _create(policed, unique, "valid-password", options=options)
    assert created.status_code == 400 and field in created.json()["error"]["message"], created.text

    user_id = _user(policed, f"{unique}-u", "valid-password")
    updated = _reset(policed, user_id, options=options)
    assert updated.status_code == 400 and field in updated.json()["error"]["message"]
    assert _show(policed, user_id)["options"] == {}


def test_hostile_passwords_are_refused_without_a_trace(policed, unique):
    user_id = _user(policed, unique, "valid-password", ignore_change_password_upon_first_use=True)
    for bad in ("x" * 5000, 12345678, ["a-list-password"], {"a": "dict"}, True):
        assert _create(policed, f"{unique}-h", bad).status_code == 400
        assert _reset(policed, user_id, password=bad).status_code == 400
        assert _change(policed, user_id, "valid-password", bad).status_code == 400
        assert _change(policed, user_id, bad, "another-password").status_code == 400
    assert _sign_in(policed, "x" * 5000, user_id=user_id)[0] == 400
    assert _sign_in(policed, "valid-password", user_id=user_id)[0] == 201
    assert policed.request("GET", f"/identity/v3/users?name={unique}-h", policed.admin_token()).json()["users"] == []


def test_users_are_listed_by_password_expiry_with_keystones_operators(policed, unique):
    user_id = _user(policed, unique, "filtered-password", ignore_change_password_upon_first_use=True)
    stamp = _show(policed, user_id)["password_expires_at"][:19] + "Z"
    token = policed.admin_token()

    def listed(value: str) -> list[str]:
        query = {"name": unique, "password_expires_at": value}
        return [u["id"] for u in policed.request("GET", "/identity/v3/users", token, params=query).json()["users"]]

    assert listed(f"lte:{stamp}") == listed(f"gte:{stamp}") == listed(stamp) == [user_id]
    assert listed(f"lt:{stamp}") == listed(f"neq:{stamp}") == []
    for bad, message in (("since:2027-01-01T00:00:00Z", "The given operator since is not valid"),
                         ("lt:next-tuesday", "Timestamp not in expected format")):  # fmt: skip
        refused = policed.request("GET", "/identity/v3/users", token, params={"password_expires_at": bad})
        assert refused.status_code == 400 and refused.json()["error"]["message"].startswith(message)


def test_deleting_a_user_deletes_their_password_history(policed, unique):
    user_id = _user(policed, unique, "history-0", ignore_change_password_upon_first_use=True)
    assert _change(policed, user_id, "history-0", "history-1").status_code == 204

    assert policed.request("DELETE", f"/identity/v3/users/{user_id}", policed.admin_token()).status_code == 204

    db = Database(load(policed.server.env).effective_database_url)
    try:
        with db.session() as session:
            left = session.scalars(select(PasswordHistory).where(PasswordHistory.user_id == user_id)).all()
    finally:
        db.dispose()
    assert left == []


# ---------------------------------------------------------------------------------------------------------------
# minimum_password_age


def test_a_password_the_user_chose_cannot_be_changed_again_before_the_minimum_age(aged, unique):
    user_id = _user(aged, unique, "admin-chosen")
    # An admin's password may be changed at once; then the user's own must be kept a day.
    assert _change(aged, user_id, "admin-chosen", "user-chosen-1").status_code == 204

    refused = _change(aged, user_id, "user-chosen-1", "user-chosen-2")

    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "You cannot change your password at this time due to the minimum password age. Once you change your "
        "password, it must be used for 1 day(s) before it can be changed. Please try again in 1 day(s) or contact "
        "your administrator to reset your password."
    )
    _backdate(aged, user_id, password_changed_at=datetime.now(UTC) - timedelta(days=1, minutes=1))
    assert _change(aged, user_id, "user-chosen-1", "user-chosen-2").status_code == 204
    # An admin can always reset, and the user may change that one at once.
    assert _reset(aged, user_id, password="admin-reset").status_code == 200
    assert _change(aged, user_id, "admin-reset", "user-chosen-3").status_code == 204


def test_policies_are_off_by_default(cloud, unique):
    user_id = _user(cloud, unique, "x")
    status, body = _sign_in(cloud, "x", user_id=user_id)
    assert status == 201 and body["token"]["user"]["password_expires_at"] is None
    assert _change(cloud, user_id, "x", "x").status_code == 204  # no history, no regex


# ---------------------------------------------------------------------------------------------------------------
# The openstack CLI


def _user_clouds(cloud: CloudClient, name: str, password: str, path) -> None:
    """A clouds.yaml for the user, scoped to a project of their name where they are a member."""
    token = cloud.admin_token()
    project = cloud.request("POST", "/identity/v3/projects", token, json={"project": {"name": name}}).json()
    user = cloud.request("GET", f"/identity/v3/users?name={name}", token).json()["users"][0]
    member = cloud.request("GET", "/identity/v3/roles?name=member", token).json()["roles"][0]
    grant = f"/identity/v3/projects/{project['project']['id']}/users/{user['id']}/roles/{member['id']}"
    assert cloud.request("PUT", grant, token).status_code == 204
    write_clouds_yaml(path, cloud.server.auth_url, "RegionOne", {"me": (name, password)})


def test_the_openstack_cli_sets_options_and_passwords(policed, unique, tmp_path):
    admin = policed.openstack
    created = admin("stratus-admin", "user", "create", "--password", "cli-first-password",
                    "--ignore-change-password-upon-first-use", "--ignore-lockout-failure-attempts",
                    "-f", "json", unique)  # fmt: skip
    options = json.loads(created.stdout)["options"]
    assert options == {"ignore_change_password_upon_first_use": True, "ignore_lockout_failure_attempts": True}

    mine = tmp_path / "clouds.yaml"
    _user_clouds(policed, unique, "cli-first-password", mine)
    changed = warm_cli.run_cloud(mine, "me", "user", "password", "set", "--original-password", "cli-first-password",
                                 "--password", "cli-second-password")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    write_clouds_yaml(mine, policed.server.auth_url, "RegionOne", {"me": (unique, "cli-second-password")})
    assert warm_cli.run_cloud(mine, "me", "token", "issue").returncode == 0

    admin("stratus-admin", "user", "set", "--enable-lock-password", unique)
    locked = warm_cli.run_cloud(mine, "me", "user", "password", "set", "--original-password", "cli-second-password",
                                "--password", "cli-third-password")  # fmt: skip
    assert locked.returncode != 0 and "password policy disallowing password changes" in locked.stderr

    # An admin's reset, once the user no longer ignores first use: no token until the user changes it.
    admin("stratus-admin", "user", "set", "--no-ignore-change-password-upon-first-use", "--password",
          "cli-admin-reset", unique)  # fmt: skip
    write_clouds_yaml(mine, policed.server.auth_url, "RegionOne", {"me": (unique, "cli-admin-reset")})
    refused = warm_cli.run_cloud(mine, "me", "token", "issue")
    assert refused.returncode != 0 and "The password is expired" in refused.stderr
    shown = json.loads(admin("stratus-admin", "user", "show", "-f", "json", unique).stdout)
    assert shown["options"] == {
        "ignore_change_password_upon_first_use": False,
        "ignore_lockout_failure_attempts": True,
        "lock_password": True,
    }
    assert shown["password_expires_at"] is not None
    assert yaml.safe_load(mine.read_text())["clouds"]["me"]["auth"]["username"] == unique
