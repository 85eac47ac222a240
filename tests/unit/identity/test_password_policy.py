"""The password policies' settings and pure rules, and their migration (0028) against the models; the policies
themselves run over HTTP in tests/functional/identity/test_password_policy.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import manage.models  # noqa: F401 - every model on the metadata
from common import settings
from common.db import Base, make_engine
from common.exceptions import ConfigError, ValidationError
from identity import password_policy
from manage.migrate import upgrade
from tests.unit.identity.test_migrations import _tables
from tests.unit.in_process import ADMIN_PASSWORD, bootstrapped_app
from tests.unit.portal.conftest import csrf_of


def test_the_policies_are_off_by_default_as_in_keystone(tmp_path):
    loaded = settings.load({"STRATUS_STATE_DIR": str(tmp_path)})
    assert (loaded.password_expires_days, loaded.unique_last_password_count, loaded.minimum_password_age) == (0, 0, 0)
    assert (loaded.password_regex, loaded.disable_user_account_days_inactive) == ("", 0)
    assert loaded.change_password_upon_first_use is False


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("off", False), ("False", False)])
def test_a_boolean_setting_reads_the_usual_words_from_the_environment(tmp_path, raw, expected):
    env = {"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_CHANGE_PASSWORD_UPON_FIRST_USE": raw}
    assert settings.load(env).change_password_upon_first_use is expected


def test_a_boolean_setting_takes_a_toml_boolean_and_refuses_anything_else(tmp_path):
    (tmp_path / "stratus.toml").write_text("change_password_upon_first_use = true\n")
    assert settings.load({"STRATUS_STATE_DIR": str(tmp_path)}).change_password_upon_first_use is True
    (tmp_path / "stratus.toml").write_text('change_password_upon_first_use = "maybe"\n')
    with pytest.raises(ConfigError, match="change_password_upon_first_use"):
        settings.load({"STRATUS_STATE_DIR": str(tmp_path)})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PASSWORD_REGEX", "^(unclosed"),
        ("PASSWORD_EXPIRES_DAYS", "-1"),
        ("UNIQUE_LAST_PASSWORD_COUNT", "-3"),
        ("MINIMUM_PASSWORD_AGE", "-1"),
        ("DISABLE_USER_ACCOUNT_DAYS_INACTIVE", "-30"),
    ],
)
def test_a_policy_that_cannot_work_is_refused_at_load_naming_the_setting(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name.lower()):
        settings.load({"STRATUS_STATE_DIR": str(tmp_path), f"STRATUS_{name}": value})


def test_options_are_merged_null_removes_and_unknown_names_are_refused():
    current = {"lock_password": True, "ignore_password_expiry": True}
    changes = password_policy.validated_options({"lock_password": None, "ignore_user_inactivity": False})
    assert password_policy.merged_options(current, changes) == {
        "ignore_password_expiry": True,
        "ignore_user_inactivity": False,
    }
    for bad in ({"lock": True}, {"lock_password": "true"}, {"multi_factor_auth_enabled": True}, ["lock_password"]):
        with pytest.raises(ValidationError):
            password_policy.validated_options(bad)
    # --disable-multi-factor-auth (false) is what this cloud does anyway: accepted.
    assert password_policy.validated_options({"multi_factor_auth_enabled": False}) == {
        "multi_factor_auth_enabled": False
    }


def test_the_migration_matches_the_models(tmp_path: Path):
    loaded = settings.load({"STRATUS_STATE_DIR": str(tmp_path)})
    upgrade(loaded)
    engine = make_engine(loaded.effective_database_url)
    try:
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diffs if _tables(d) & {"users", "password_history"}] == []


def test_the_portal_says_a_password_must_be_changed_but_not_for_a_wrong_one(tmp_path: Path):
    """The expiry message comes only after the right password, so the sign-in form may show it (it tells no more
    than a success would); a wrong password still gets the one sentence for every cause."""
    (tmp_path / "stratus.toml").write_text("change_password_upon_first_use = true\n")
    app = bootstrapped_app(tmp_path)
    try:
        client = app.test_client()
        auth = {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}}}}  # fmt: skip
        admin = client.post("/identity/v3/auth/tokens", json={"auth": auth}).headers["X-Subject-Token"]
        body = {"user": {"name": "first-use", "password": "set-by-admin"}}
        assert client.post("/identity/v3/users", json=body, headers={"X-Auth-Token": admin}).status_code == 201

        def portal_sign_in(password: str) -> str:
            page = client.get("/sign-in").get_data(as_text=True)
            form = {"csrf_token": csrf_of(page), "username": "first-use", "password": password}
            response = client.post("/sign-in", data=form)
            assert response.status_code != 303
            return response.get_data(as_text=True)

        assert "The password is expired and needs to be changed for user:" in portal_sign_in("set-by-admin")
        assert "The password is expired" not in portal_sign_in("wrong-password")
    finally:
        app.extensions["stratus"].db.dispose()
