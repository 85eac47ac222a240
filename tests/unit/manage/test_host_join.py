"""``stratus-manage host join`` / ``host setup``: hostile names, addresses and bundles are refused with a clear
error and leave nothing behind; what is written reads back exactly (``manage.host_join``)."""

from __future__ import annotations

import io
import tarfile
import tomllib

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from common.exceptions import ConfigError
from common.settings import load
from manage import host_join
from manage.cli import cli

CONTROL = "192.0.2.10"


@pytest.fixture
def control(tmp_path, monkeypatch):
    state = tmp_path / "control"
    state.mkdir()
    (state / "stratus.toml").write_text(
        f'broker_bind = "127.0.0.1 {CONTROL}"\npublic_url = "http://{CONTROL}:8000"\n'
        'database_url = "postgresql://u:p@db/stratus"\n'
    )
    monkeypatch.setenv("STRATUS_STATE_DIR", str(state))
    return load(environ={"STRATUS_STATE_DIR": str(state)})


def join(*args: str):
    return CliRunner().invoke(cli, ["host", "join", *args])


@pytest.mark.parametrize(
    "name", ["a b", "x/y", "../etc", 'q"', "-lead", "a*", "under_score", "control", "a\nb", "é", "a" * 64, ""]
)
def test_join_refuses_a_name_that_is_not_a_host_name_and_writes_nothing(control, tmp_path, name):
    result = join("--address", "10.0.0.5", "--out", str(tmp_path / "b.tar"), "--", name)
    assert result.exit_code != 0 and "is not a host name" in result.output
    assert not (tmp_path / "b.tar").exists()


@pytest.mark.parametrize("address", ["10.0.0", "10.0.0.5/24", "127.0.0.1", "0.0.0.0", "node-2", "10.0.0.5 x"])
def test_join_refuses_an_address_that_is_not_a_hosts_ip_and_writes_nothing(control, tmp_path, address):
    result = join("node-1", "--address", address, "--out", str(tmp_path / "b.tar"))
    assert result.exit_code != 0 and "address" in result.output
    assert not (tmp_path / "b.tar").exists()


def test_join_says_what_to_set_when_the_broker_listens_on_loopback_only(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATUS_STATE_DIR", str(tmp_path / "control"))
    result = join("node-1", "--address", "10.0.0.5", "--out", str(tmp_path / "b.tar"))
    assert result.exit_code != 0 and "broker_bind" in result.output


def test_join_refuses_an_api_url_other_machines_cannot_reach(control, tmp_path, monkeypatch):
    monkeypatch.setenv("STRATUS_PUBLIC_URL", "http://127.0.0.1:8000")
    result = join("node-1", "--address", "10.0.0.5", "--out", str(tmp_path / "b.tar"))
    assert result.exit_code != 0 and "public_url" in result.output


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "ftp://10.0.0.1/", "http://10.0.0.1:8000/?x=1", "http://a b/"]
)
def test_join_refuses_a_given_api_url_that_is_not_one_a_host_can_use(control, tmp_path, url):
    result = join("node-1", "--address", "10.0.0.5", "--public-url", url, "--out", str(tmp_path / "b.tar"))
    assert result.exit_code != 0 and "public_url" in result.output and not (tmp_path / "b.tar").exists()


def test_a_given_api_url_is_the_hosts(control, tmp_path):
    bundle, _ = host_join.join(control, "node-1", "10.0.0.5", tmp_path / "b.tar", public_url="http://10.9.0.1:8000/")
    manifest = tomllib.loads(host_join.read_bundle(bundle)["bundle.toml"].decode())
    assert manifest["settings"]["public_url"] == "http://10.9.0.1:8000"


def test_join_refuses_a_control_address_the_broker_does_not_listen_on(control, tmp_path):
    result = join("node-1", "--address", "10.0.0.5", "--control-address", "10.9.9.9", "--out", str(tmp_path / "b"))
    assert result.exit_code != 0 and "broker_bind" in result.output


def test_a_bundle_carries_no_control_only_setting(control, tmp_path):
    bundle, _ = host_join.join(control, "node-1", "10.0.0.5", tmp_path / "b.tar")
    manifest = tomllib.loads(host_join.read_bundle(bundle)["bundle.toml"].decode())
    assert "database_url" not in manifest["settings"] and b"postgresql://" not in bundle.read_bytes()
    assert manifest["settings"]["broker_url"] == f"rediss://{CONTROL}:6380/0"


def _rewrite(bundle, tmp_path, change):
    """A copy of ``bundle`` with its members passed through ``change`` (name -> (TarInfo, data) or None)."""
    members = host_join.read_bundle(bundle)
    out = tmp_path / "tampered.tar"
    with tarfile.open(out, "w") as tar:
        for name, data in members.items():
            for info, payload in change(name, data):
                tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return out


def _file(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _paths(tmp_path):
    return host_join.HostPaths(tmp_path / "host", tmp_path / "pki", None, None, None)


def test_setup_refuses_a_bundle_with_a_member_it_does_not_know_or_a_link(control, tmp_path):
    bundle, _ = host_join.join(control, "node-1", "10.0.0.5", tmp_path / "b.tar")

    def extra(name, data):
        yield _file(name, data)
        if name == "host.keys":
            yield _file("../../etc/cron.d/x", b"* * * * * root sh\n")

    def link(name, data):
        if name == "metadata-secret":
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
            yield info, None
        else:
            yield _file(name, data)

    for change in (extra, link):
        with pytest.raises(ConfigError):
            host_join.setup(_rewrite(bundle, tmp_path, change), _paths(tmp_path))
        assert not (tmp_path / "host").exists()
    assert not (tmp_path.parent / "etc").exists()


@pytest.mark.parametrize(
    "settings_line",
    [
        'database_url = "postgresql://evil"',  # control-only
        'state_dir = "/"',  # the host's own choice
        'api_port = "8000"\n',  # wrong type
        'no_such_setting = "x"',
    ],
)
def test_setup_refuses_a_bundle_whose_settings_a_host_may_not_take(control, tmp_path, settings_line):
    bundle, _ = host_join.join(control, "node-1", "10.0.0.5", tmp_path / "b.tar")

    def tamper(name, data):
        yield _file(name, data + settings_line.encode() + b"\n" if name == "bundle.toml" else data)

    with pytest.raises(ConfigError):
        host_join.setup(_rewrite(bundle, tmp_path, tamper), _paths(tmp_path))
    assert not (tmp_path / "host").exists()


def test_setup_keeps_the_hosts_own_settings_but_drops_a_database(control, tmp_path):
    bundle, _ = host_join.join(control, "node-1", "10.0.0.5", tmp_path / "b.tar")
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "stratus.toml").write_text('libvirt_virt_type = "kvm"\ndatabase_url = "sqlite:///x"\n')
    host_join.setup(bundle, _paths(tmp_path))
    written = tomllib.loads((tmp_path / "host" / "stratus.toml").read_text())
    assert written["libvirt_virt_type"] == "kvm" and written["host"] == "node-1" and "database_url" not in written


def test_the_units_environment_names_the_host_and_the_log_level_its_command_lines_take(control, tmp_path, monkeypatch):
    monkeypatch.setenv("STRATUS_LOG_LEVEL", "DEBUG")
    bundle, _ = host_join.join(load(), "node-1", "10.0.0.5", tmp_path / "b.tar")
    paths = host_join.HostPaths(tmp_path / "host", tmp_path / "pki", None, None, tmp_path / "stratus.env")
    host_join.setup(bundle, paths)
    lines = (tmp_path / "stratus.env").read_text().splitlines()
    assert lines == [f"STRATUS_STATE_DIR={tmp_path / 'host'}", "STRATUS_HOST=node-1", "STRATUS_LOG_LEVEL=DEBUG"]


def test_setup_through_the_command_prints_what_to_start(control, tmp_path):
    bundle, _ = host_join.join(control, "node-1", "10.0.0.5", tmp_path / "b.tar")
    result = CliRunner().invoke(
        cli,
        ["host", "setup", str(bundle), "--state-dir", str(tmp_path / "host"), "--libvirt-pki-dir",
         str(tmp_path / "pki"), "--libvirtd-conf", str(tmp_path / "libvirtd.conf"), "--systemd-dir",
         str(tmp_path / "systemd"), "--env-file", str(tmp_path / "stratus.env")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "systemctl enable --now stratus-compute.service" in result.output


@given(st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), st.text() | st.integers() | st.booleans()))
def test_toml_written_reads_back_exactly_whatever_the_strings_hold(values):
    try:
        text = host_join.dump_toml(values)
    except ConfigError:  # a lone surrogate: refused, never written
        assert any(isinstance(v, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in v) for v in values.values())
        return
    assert tomllib.loads(text) == values
