"""``stratus-manage services host-keys``: the key file a host on another machine is given holds its own key only."""

from __future__ import annotations

from click.testing import CliRunner

from common import signing
from common.settings import load
from manage import broker_acl
from manage.services import services


def test_host_keys_writes_only_that_hosts_key_readable_by_root_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATUS_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "remote.keys"
    result = CliRunner().invoke(services, ["host-keys", "compute-7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    master = signing.read_master_key(tmp_path / "state" / "queue-keys" / "master.key")
    assert signing.read_host_keys(out) == {"compute-7": signing.host_key(master, "compute-7")}
    assert out.stat().st_mode & 0o777 == 0o600


def test_no_host_may_be_named_as_the_control_side(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATUS_STATE_DIR", str(tmp_path / "state"))
    result = CliRunner().invoke(services, ["host-keys", signing.CONTROL, "--out", str(tmp_path / "k")])
    assert result.exit_code != 0 and not (tmp_path / "k").exists()


def test_host_keys_writes_the_hosts_own_broker_password_beside_its_key_file(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATUS_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "remote.keys"
    result = CliRunner().invoke(services, ["host-keys", "compute-7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    master = signing.read_master_key(tmp_path / "state" / "queue-keys" / "master.key")
    password = tmp_path / "compute-7.broker-password"
    assert password.read_text() == broker_acl.host_password(master, "compute-7")
    assert password.stat().st_mode & 0o777 == 0o600
    assert broker_acl.known_hosts(load(environ={"STRATUS_STATE_DIR": str(tmp_path / "state")}))[-1] == "compute-7"


def test_a_host_name_that_is_not_a_plain_name_gets_no_key_and_no_redis_user(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATUS_STATE_DIR", str(tmp_path / "state"))
    for name in ("a*", "a b", "x/y", 'q"', "-lead"):
        result = CliRunner().invoke(services, ["host-keys", name, "--out", str(tmp_path / "k")])
        assert result.exit_code != 0 and not (tmp_path / "k").exists(), name
