from __future__ import annotations

import pytest

from common import settings
from common.exceptions import ConfigError


def test_defaults_work_on_one_machine(tmp_path):
    loaded = settings.load({"STRATUS_STATE_DIR": str(tmp_path)})
    assert loaded.effective_database_url == f"sqlite:///{tmp_path}/stratus.db"
    assert loaded.effective_public_url == "http://127.0.0.1:8000"
    assert loaded.api_host == "127.0.0.1"
    assert loaded.password_hash_rounds == 12
    assert loaded.token_expiration == 3600
    assert loaded.effective_key_repository == tmp_path / "fernet-keys"


def test_file_then_environment_override_defaults(tmp_path):
    (tmp_path / "stratus.toml").write_text('api_port = 9000\nregion = "East"\ntoken_expiration = 60\n')
    loaded = settings.load({"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_API_PORT": "9100"})
    assert loaded.api_port == 9100 and loaded.region == "East" and loaded.token_expiration == 60


def test_explicit_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        settings.load({"STRATUS_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("content", "message"),
    [("colour = 1\n", "unknown setting"), ("api_port = 'x'\n", "integer"), ("api_port = \n", "Invalid")],
)
def test_bad_config_file_names_the_setting(tmp_path, content, message):
    path = tmp_path / "c.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        settings.load({"STRATUS_CONFIG": str(path)})


def test_bad_environment_value_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="api_port"):
        settings.load({"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_API_PORT": "eighty"})


def test_relative_state_dir_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert settings.load({"STRATUS_STATE_DIR": "state"}).state_dir == str(tmp_path / "state")


def test_every_setting_is_documented():
    for name, _default, help_text in settings.describe():
        assert help_text and help_text.endswith("."), name


def test_unknown_log_level_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="log_level"):
        settings.load({"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_LOG_LEVEL": "chatty"})


def test_numbers_are_coerced_from_the_environment(tmp_path):
    loaded = settings.load({"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_COMPUTE_REPORT_INTERVAL": "2.5"})
    assert loaded.compute_report_interval == 2.5
    with pytest.raises(ConfigError, match="a number"):
        settings.load({"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_COMPUTE_REPORT_INTERVAL": "soon"})


def test_a_hosts_broker_url_carries_its_own_user_and_password_never_the_ones_in_the_url(tmp_path):
    keys = tmp_path / "queue-keys" / "hosts"
    keys.mkdir(parents=True)
    (keys / "box.broker-password").write_text("own secret/\n")
    env = {"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_HOST": "box", "STRATUS_BROKER_USER": "host-box"}
    loaded = settings.load({**env, "STRATUS_BROKER_URL": "redis://:control-password@127.0.0.1:6379/0"})
    assert loaded.effective_broker_url == "redis://host-box:own%20secret%2F@127.0.0.1:6379/0"
    (keys / "box.broker-password").unlink()  # its file gone: no password at all, Redis refuses it
    assert loaded.effective_broker_url == "redis://host-box:@127.0.0.1:6379/0"
    control = settings.load({"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_BROKER_URL": "redis://:pw@127.0.0.1:6379/0"})
    assert control.effective_broker_url == "redis://:pw@127.0.0.1:6379/0"
