"""Host agents load settings without the database (DESIGN §1: a host holds no database credentials), even on one
machine where they read the control side's file and inherit its environment."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from common import settings, signing
from common.exceptions import ConfigError
from common.hostnames import agent_names

SECRET_URL = "postgresql://stratus:db-secret@db.example/stratus"


def test_host_settings_drop_the_database_url_of_the_shared_file_and_environment(tmp_path):
    (tmp_path / "stratus.toml").write_text(f'database_url = "{SECRET_URL}"\napi_port = 9000\n')
    env = {"STRATUS_STATE_DIR": str(tmp_path), "STRATUS_DATABASE_URL": SECRET_URL}

    host = settings.load_host(env)

    assert host.api_port == 9000  # the rest of the file is read
    assert not hasattr(host, "database_url") and not hasattr(host, "effective_database_url")
    assert "db-secret" not in repr(host)
    assert not any("db-secret" in str(value) for value in dataclasses.asdict(host).values())
    assert settings.load(env).effective_database_url == SECRET_URL  # the control side still has it


def test_the_host_type_declares_no_database_field():
    host_fields = {f.name for f in dataclasses.fields(settings.HostSettings)}
    assert not {name for name in host_fields if "database" in name}
    assert "database_url" in settings.CONTROL_ONLY  # with the console proxy's settings, also control side only


def test_a_host_cannot_be_given_a_database_url(tmp_path):
    with pytest.raises(ConfigError, match="database_url"):
        settings.load_host({"STRATUS_STATE_DIR": str(tmp_path)}, database_url=SECRET_URL)


def test_host_settings_still_refuse_an_unknown_key(tmp_path):
    (tmp_path / "stratus.toml").write_text("colour = 1\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        settings.load_host({"STRATUS_STATE_DIR": str(tmp_path)})


AGENT_PROBE = """
import sys, dataclasses, importlib
module = importlib.import_module(sys.argv[1])
values = dataclasses.asdict(module.settings)
print(type(module.settings).__name__, hasattr(module.settings, "database_url"),
      any("db-secret" in str(v) for v in values.values()), "common.db" in sys.modules)
"""


@pytest.mark.parametrize("module_name", ["compute.host.agent", "network.host.agent"])
def test_an_agent_process_started_beside_a_database_url_holds_none(module_name, tmp_path):
    """The real agent module, in a process of its own (as `services up` starts it), with the database URL in the
    machine's file and in its environment."""
    (tmp_path / "stratus.toml").write_text(f'database_url = "{SECRET_URL}"\n')
    env = {
        **os.environ, "STRATUS_STATE_DIR": str(tmp_path), "STRATUS_HOST": "probe", "STRATUS_DATABASE_URL": SECRET_URL,
        "STRATUS_COMPUTE_DRIVER": "fake", "STRATUS_NETWORK_DATAPLANE": "fake",
    }  # fmt: skip
    master = signing.ensure_master_key(tmp_path / "queue-keys" / "master.key")
    names = agent_names(settings.load_host(env))
    signing.write_host_keys(tmp_path / "queue-keys" / "hosts" / "probe.keys", master, names)

    probe = subprocess.run(
        [sys.executable, "-c", AGENT_PROBE, module_name], env=env, capture_output=True, text=True, check=False
    )

    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["HostSettings", "False", "False", "False"]
